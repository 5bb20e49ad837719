"""Two real `arena serve` processes on one PostgreSQL database host games together: bots
and spectators on either process follow and play games hosted by the other; a killed
process's game is carried on by the other, and a live process's games are never taken."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection

from arena.bench.crash import ServerProcess, free_port
from arena.store import Store
from arena.store import schema as t
from tests.arena.cluster.strict import bot_tokens
from tests.conftest import recv_json, recv_type

FOOLS_MATE = ["f2f3", "e7e5", "g2g4", "d8h4"]


@contextlib.contextmanager
def servers(db: str, log_dir: Path, n: int) -> Iterator[list[ServerProcess]]:
    procs = [ServerProcess(db, free_port(), log_dir) for _ in range(n)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.stop()


async def bots(db: str) -> dict[str, str]:
    """Register white-to-be ``y`` and ``x``; their tokens."""
    store = await Store.open(db)
    try:
        return await bot_tokens(store)
    finally:
        await store.close()


async def hello(proc: ServerProcess, token: str, resume: dict[str, int] | None = None) -> Any:
    ws = await websockets.connect(f"ws://127.0.0.1:{proc.port}/ws")
    await ws.send(json.dumps({"type": "hello", "token": token, "resume": resume}))
    assert (await recv_json(ws))["type"] == "welcome"
    return ws


async def seek(ws: ClientConnection, opponent: str) -> None:
    await ws.send(json.dumps({"type": "seek", "game": "chess", "opponent": opponent}))


async def play(
    mover: ClientConnection, game_id: str, ply: int, uci: str, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Send a move; its move_ack comes (only after the move is stored), then its state."""
    move = {"type": "move", "game_id": game_id, "ply": ply, "move": uci, "meta": meta}
    await mover.send(json.dumps(move))
    ack = await recv_type(mover, "move_ack")
    assert (ack["ply"], ack["move"]) == (ply, uci)
    state = await recv_json(mover)
    assert (state["type"], state["seq"], state["last_move"]) == ("state", ply + 1, uci)
    return ack


async def owner_name(db: str, game_id: str) -> str | None:
    """``host:pid`` of the node that owns the game."""
    store = await Store.open(db)
    try:
        async with store.engine.connect() as conn:
            query = (
                select(t.nodes.c.name)
                .join(t.games, t.games.c.owner_node == t.nodes.c.id)
                .where(t.games.c.id == game_id)
            )
            name = (await conn.execute(query)).scalar()
        return None if name is None else str(name)
    finally:
        await store.close()


async def health(proc: ServerProcess) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=proc.url) as http:
        data: dict[str, Any] = (await http.get("/api/health")).json()
        return data


@contextlib.asynccontextmanager
async def spectator(proc: ServerProcess, game_id: str) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(f"ws://127.0.0.1:{proc.port}/ws/watch/{game_id}") as ws:
        yield ws


async def events_until_over(ws: ClientConnection) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await recv_json(ws)
        frames.append(frame)
        if frame["type"] == "game_over":
            return frames


async def test_bots_and_spectators_on_either_process_play_and_watch(
    pg_url: str, tmp_path: Path
) -> None:
    """Y on B and X on A play a whole game hosted by A; a spectator on B receives every
    state; X moves to B mid-game and resumes with exactly the events it missed."""
    tokens = await bots(pg_url)
    with servers(pg_url, tmp_path, 2) as (a, b):
        await a.start()
        await b.start()
        y = await hello(b, tokens["y"])
        await seek(y, "x")
        await recv_type(y, "seek_ack")
        x = await hello(a, tokens["x"])
        await seek(x, "y")  # matches y's seek stored by B: A creates and hosts the game
        start_x = await recv_type(x, "game_start")
        start_y = await recv_type(y, "game_start")
        game_id = start_x["game_id"]
        assert start_y["game_id"] == game_id and (start_y["seat"], start_x["seat"]) == (0, 1)
        assert await owner_name(pg_url, game_id) == f"{_host()}:{a.proc.pid}"  # type: ignore[union-attr]
        async with spectator(b, game_id) as watch:
            assert (await recv_json(watch))["type"] == "game_start"
            ack = await play(y, game_id, 0, "f2f3")  # forwarded by B to A, relayed back
            assert ack["response_ms"] >= 0
            assert (await recv_type(x, "state"))["seq"] == 1
            await play(x, game_id, 1, "e7e5")
            assert (await recv_type(y, "state"))["seq"] == 2
            await x.close()
            x = await hello(b, tokens["x"], resume={game_id: 1})  # now on B, resumes at seq 1
            missed = await recv_json(x)
            assert (missed["type"], missed["seq"], missed["last_move"]) == ("state", 2, "e7e5")
            resumed = await recv_type(x, "resumed")
            assert [
                {k: g[k] for k in ("game_id", "seq", "status", "mode")} for g in resumed["games"]
            ] == [{"game_id": game_id, "seq": 2, "status": "active", "mode": "events"}]
            long = {"comment": "w" * 10_000}  # longer than a NOTIFY: forwarded as mail
            await play(y, game_id, 2, "g2g4", meta=long)
            assert (await recv_type(x, "state"))["seq"] == 3
            await play(x, game_id, 3, "d8h4")
            over = await recv_type(y, "game_over")
            assert (over["result"], over["reason"], over["seq"]) == ("0-1", "checkmate", 5)
            seen = await events_until_over(watch)
        states = [f for f in seen if f["type"] == "state"]
        assert [f["seq"] for f in states] == [1, 2, 3, 4]
        assert [f["last_move"] for f in states] == FOOLS_MATE
        store = await Store.open(pg_url)
        try:
            moves = await store.get_moves(game_id)
            assert [m.move for m in moves] == FOOLS_MATE
            assert moves[2].meta == {"comment": "w" * 10_000}
            row = await store.get_game(game_id)
            assert row is not None and (row.status, row.result) == ("finished", "0-1")
        finally:
            await store.close()
        assert a.errors() == [] and b.errors() == []


async def test_a_killed_process_s_game_is_carried_on_and_live_games_are_not_taken(
    pg_url: str, tmp_path: Path
) -> None:
    """A third process starting while A hosts a game takes nothing; after kill -9 of A,
    B takes the game over with every acknowledged move; a restarted A takes nothing from
    B; the game ends normally and B's spectator saw each state once."""
    tokens = await bots(pg_url)
    with servers(pg_url, tmp_path, 3) as (a, b, c):
        await a.start()
        await b.start()
        y = await hello(b, tokens["y"])
        await seek(y, "x")
        await recv_type(y, "seek_ack")
        x = await hello(a, tokens["x"])
        await seek(x, "y")
        game_id = (await recv_type(x, "game_start"))["game_id"]
        await recv_type(y, "game_start")
        async with spectator(b, game_id) as watch:
            assert (await recv_json(watch))["type"] == "game_start"
            await play(y, game_id, 0, "f2f3")
            await play(x, game_id, 1, "e7e5")
            await recv_type(y, "state")
            _, started = await c.start()  # a process starting now takes no live game
            assert started["recovered_games"] == 0
            c.stop()
            a_pid = a.proc.pid  # type: ignore[union-attr]
            assert await owner_name(pg_url, game_id) == f"{_host()}:{a_pid}"
            a.kill()
            with contextlib.suppress(websockets.ConnectionClosed):
                await recv_json(x)
            x = await hello(b, tokens["x"], resume={game_id: 1})  # B takes the game over
            assert (await recv_json(x))["seq"] == 2
            assert (await recv_type(x, "resumed"))["games"][0]["mode"] == "events"
            resumed_x = await recv_type(x, "game_start")  # both bots present on B: resumed
            assert resumed_x["status"] == "active" and resumed_x["moves"] == FOOLS_MATE[:2]
            b_pid = b.proc.pid  # type: ignore[union-attr]
            assert await owner_name(pg_url, game_id) == f"{_host()}:{b_pid}"
            _, restarted = await a.start()  # A comes back: B's game stays with B
            assert restarted["recovered_games"] == 0
            await recv_type(y, "game_start")
            await play(y, game_id, 2, "g2g4")
            await play(x, game_id, 3, "d8h4")
            assert (await recv_type(y, "game_over"))["reason"] == "checkmate"
            seen = await events_until_over(watch)
        assert await owner_name(pg_url, game_id) == f"{_host()}:{b_pid}"
        states = [f["seq"] for f in seen if f["type"] == "state"]
        assert states == [1, 2, 3, 4]  # each state once, across the takeover
        assert (await health(b))["recovered_games"] == 1


def _host() -> str:
    import socket

    return socket.gethostname()


@pytest.fixture(autouse=True)
def _bounded() -> None:
    """These tests start real processes; recv_json bounds every wait."""
