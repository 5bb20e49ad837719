"""The real local LLM (Gemma 3 270M on llama.cpp) playing over the real server. Slow."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from arena.play import play_game
from arena.serve import running_server
from clients.local_llm import LocalLLMOptions, LocalLLMServer
from clients.players import parse_player_spec

pytestmark = pytest.mark.slow


async def test_server_starts_and_stops() -> None:
    """A local server answers /v1/models once ready and is gone after close()."""
    server = LocalLLMServer(LocalLLMOptions())
    url = await server.url()
    try:
        async with httpx.AsyncClient() as http:
            models = (await http.get(f"{url}/models")).json()
        assert models["data"][0]["id"] == "gemma-3-270m"
    finally:
        await server.close()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"{url}/models")


async def test_two_local_players_play_a_game(tmp_path: Path) -> None:
    """Two speculating local-llm players finish a game over websockets, with tokens recorded."""
    db = str(tmp_path / "llm.db")
    specs = (parse_player_spec("local-llm"), parse_player_spec("local-llm:seed=1"))
    result = await play_game(db, specs, time_control="none", max_plies=8)
    assert result.plies == 8 or result.reason in ("checkmate", "stalemate", "insufficient_material")
    assert result.reason != "illegal_move"
    async with running_server(db) as server, httpx.AsyncClient(base_url=server.url) as http:
        detail = (await http.get(f"/api/games/{result.game_id}")).json()
    moves = detail["moves"]
    assert len(moves) == result.plies
    assert all(m["meta"]["prompt_tokens"] > 0 for m in moves)
    assert all(m["meta"]["actor_ms"] > 0 for m in moves)
    speculation = detail["speculation"]["players"]
    assert sum(p["spec_calls"] for p in speculation) > 0  # the speculator ran
