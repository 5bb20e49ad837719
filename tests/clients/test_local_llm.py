"""The real local LLM (Gemma 3 270M on llama.cpp) playing over the real server. Slow."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from arena.play import play_game
from arena.serve import running_server
from clients.local_llm import LocalLLMActor, LocalLLMError, LocalLLMOptions, LocalLLMServer
from clients.players import parse_player_spec
from clients.speculation import Meter, Position
from games.registry import get_game

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


async def test_a_dead_server_is_reported_as_dead_not_as_a_connection_error() -> None:
    """When the llama.cpp process is gone, the actor's error names its exit, not a socket."""
    actor = LocalLLMActor(LocalLLMOptions(retries=0))
    chess = get_game("chess")
    start = Position(chess, chess.initial_state(), ())
    try:
        await actor.inner()  # starts the server
        process = actor.server._process
        assert process is not None
        process.send_signal(signal.SIGKILL)
        await process.wait()
        with pytest.raises(LocalLLMError, match=r"llama_cpp\.server was killed by SIGKILL"):
            await actor.act(start, Meter())
    finally:
        await actor.close()


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
