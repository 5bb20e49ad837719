"""The real local LLM (Gemma 3 270M on llama.cpp's server, through xllamacpp) playing
over the real server. Slow."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from arena.play import play_game
from arena.serve import running_server
from arena.store import Store
from clients.llm.prompt import actor_prompt, legal_sorted, moves_grammar
from clients.local_llm import (
    MODEL_NAME,
    LocalLLMActor,
    LocalLLMError,
    LocalLLMOptions,
    LocalLLMServer,
    model_path,
)
from clients.players import parse_player_spec
from clients.speculation import Meter, Position, speculative
from games import replay
from games.registry import get_game

pytestmark = pytest.mark.slow

LINES = (
    ("e2e4", "e7e5", "g1f3", "b8c6", "f1b5"),
    ("d2d4", "d7d5", "c2c4", "e7e6", "b1c3", "g8f6"),
    ("e2e4", "c7c5", "g1f3", "d7d6", "d2d4", "c5d4", "f3d4"),
    ("g1f3", "g8f6", "c2c4", "e7e6", "b1c3", "f8b4", "d1c2"),
)


def position(moves: tuple[str, ...]) -> Position:
    chess = get_game("chess")
    return Position(chess, replay(chess, list(moves)), moves)


def request(moves: tuple[str, ...], *, cache: bool) -> dict[str, Any]:
    """The body the local player sends for ``moves``, asking for the first token's
    top log-probabilities too."""
    pos = position(moves)
    options = LocalLLMOptions()
    prompt = actor_prompt(
        pos,
        structured=True,
        show_legal=options.show_legal,
        show_board=options.show_board,
        show_state=options.show_state,
        bare=True,
    )
    return {
        "model": MODEL_NAME,
        "messages": [{"role": m.role, "content": m.content} for m in prompt],
        "temperature": 0,
        "max_tokens": 8,
        "grammar": moves_grammar(legal_sorted(pos), dialect="llguidance"),
        "cache_prompt": cache,
        "n_probs": 4,
    }


async def test_server_starts_and_stops() -> None:
    """A local server answers /v1/models once ready and is gone after close()."""
    server = LocalLLMServer(LocalLLMOptions())
    url = await server.url()
    try:
        async with httpx.AsyncClient() as http:
            models = (await http.get(f"{url}/models")).json()
        assert MODEL_NAME in [m["id"] for m in models["data"]]
    finally:
        await server.close()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"{url}/models")


def test_the_model_is_assembled_once_and_cached() -> None:
    """The GGUF file is assembled into the cache once; later calls return the same file."""
    first = model_path()
    stamp = first.stat().st_mtime_ns
    model_path.cache_clear()
    again = model_path()
    assert again == first and again.stat().st_mtime_ns == stamp
    assert first.stat().st_size > 100_000_000


async def test_a_dead_server_is_reported_as_dead_not_as_a_connection_error() -> None:
    """When the llama.cpp process is gone, the actor's error names its exit and quotes
    the end of its output, not a socket error."""
    actor = LocalLLMActor(LocalLLMOptions(retries=0))
    try:
        await actor.inner()  # starts the server
        process = actor.server._process
        assert process is not None
        process.send_signal(signal.SIGKILL)
        await process.wait()
        with pytest.raises(
            LocalLLMError, match=r"local llama\.cpp server was killed by SIGKILL"
        ) as e:
            await actor.act(position(()), Meter())
        assert "llama" in str(e.value).split("SIGKILL: ", 1)[1]  # its own log lines
    finally:
        await actor.close()


async def test_a_server_that_cannot_start_is_reported_with_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model file llama.cpp cannot load ends the server process; start-up fails with
    its exit and output instead of waiting for the timeout."""
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setattr("clients.local_llm.model_path", lambda: bad)
    server = LocalLLMServer(LocalLLMOptions(startup_timeout_s=60))
    try:
        with pytest.raises(LocalLLMError, match=r"local llama\.cpp server exited with code") as e:
            await server.url()
        assert "not-a-model.gguf" in str(e.value)
    finally:
        await server.close()


async def test_answers_are_bare_legal_moves_and_prompts_reuse_their_prefix() -> None:
    """A move is a few generated tokens, always legal; the next position's call reads
    only what changed since the last one (the server's cached prefix)."""
    options = LocalLLMOptions()
    actor = LocalLLMActor(options)
    try:
        for moves in LINES:
            pos = position(moves)
            meter = Meter()
            action = await actor.act(pos, meter)
            assert action.move in pos.legal_moves()
            assert action.comment is not None and action.comment.strip() in pos.legal_moves()
            assert meter.completion_tokens <= 6
        url = await actor.server.url()
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            line = LINES[2]
            await http.post("/chat/completions", json=request(line[:-2], cache=True))
            reply = (await http.post("/chat/completions", json=request(line, cache=True))).json()
        timings = reply["timings"]
        assert timings["cache_n"] > 0.75 * (timings["cache_n"] + timings["prompt_n"])
    finally:
        await actor.close()


async def test_the_same_prompt_gives_the_same_logits_cached_or_not() -> None:
    """Temperature 0 at the server: a prompt read whole, or from a cached prefix left
    by another position, gives the same answer and the same log-probabilities, bit
    for bit (what keeps speculation lossless with prompt caching on)."""
    server = LocalLLMServer(LocalLLMOptions())
    url = await server.url()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            for line in LINES:

                async def ask(body: dict[str, Any]) -> tuple[str, object]:
                    data = (await http.post("/chat/completions", json=body)).json()
                    choice = data["choices"][0]
                    return choice["message"]["content"], choice["logprobs"]

                cold = await ask(request(line, cache=False))
                await http.post("/chat/completions", json=request(line[:-1], cache=True))
                warm = await ask(request(line, cache=True))
                assert warm == cold, line
    finally:
        await server.close()


async def test_speculative_calls_run_on_an_idle_server_with_the_same_moves() -> None:
    """A branch's call (``speculative`` set) goes to the player's second server, at the
    lowest CPU priority, and returns the move the real call returns on the main one."""
    actor = LocalLLMActor(LocalLLMOptions())

    async def branch(pos: Position) -> str:
        speculative.set(True)  # as Speculation._run_branch does, in the branch's own task
        return (await actor.act(pos, Meter())).move

    try:
        for line in LINES[:3]:
            pos = position(line)
            real = (await actor.act(pos, Meter())).move
            assert await asyncio.create_task(branch(pos)) == real
        assert actor.idle_server is not None
        idle, main = actor.idle_server._process, actor.server._process
        assert idle is not None and main is not None and idle.pid != main.pid
        threads = os.listdir(f"/proc/{idle.pid}/task")
        assert len(threads) > 1  # llama.cpp's server threads, all at the lowest priority
        assert {os.getpriority(os.PRIO_PROCESS, int(t)) for t in threads} == {19}
        assert os.getpriority(os.PRIO_PROCESS, main.pid) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        await actor.close()


async def moves_of(db: str, game_id: str) -> list[str]:
    store = await Store.open(db)
    try:
        return [m.move for m in await store.get_moves(game_id)]
    finally:
        await store.close()


async def test_lossless_local_llm_off_one_step_pipelined(tmp_path: Path) -> None:
    """Two local players play the same moves with speculation off, one-step (the model
    as its own speculator, branches on the idle server) and pipelined (an engine
    speculator, k=2, branches on the player's own server), prefixes cached."""
    db = str(tmp_path / "l.db")
    lines = []
    spec_calls = []
    for extra in (
        ",spec=none",
        ",spec=llm,k=1,depth=1,adaptive=false",
        ",spec=engine,spec_depth=4,k=2,depth=2,adaptive=false,spec_server=shared",
    ):
        text = f"local-llm:seed=0{extra}"
        result = await play_game(
            db,
            (parse_player_spec(text), parse_player_spec(text)),
            time_control="none",
            max_plies=12,
        )
        lines.append(await moves_of(db, result.game_id))
        async with running_server(db) as server, httpx.AsyncClient(base_url=server.url) as http:
            detail = (await http.get(f"/api/games/{result.game_id}")).json()
        spec_calls.append(sum(p["spec_calls"] for p in detail["speculation"]["players"]))
    assert len(lines[0]) == 12 or lines[0]
    assert lines[0] == lines[1] == lines[2]
    assert spec_calls[0] == 0 and spec_calls[1] > 0 and spec_calls[2] > 0


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
