"""Reconnect and resume: exact replay of missed events by seq, through drops, stalls and delays."""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import chess
import pytest
import websockets

from arena.clock import TimeControl
from arena.limits import Limits
from arena.match import MatchConfig
from arena.protocol import GameOver, GameStart, Resumed, ServerMessage, StateEvent
from arena.serve import RunningServer, running_server
from clients.players import parse_player_spec
from clients.sdk import BotClient
from tests.conftest import connect_bot, new_bot, recv_json, recv_type
from tests.tcp_proxy import tcp_proxy


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[RunningServer]:
    limits = Limits(replay_events=8, ping_interval_s=0.3, ping_timeout_s=0.3)
    async with running_server(str(tmp_path / "r.db"), limits=limits) as server:
        yield server


def move(game_id: str, ply: int, uci: str) -> str:
    return json.dumps({"type": "move", "game_id": game_id, "ply": ply, "move": uci})


OPENING = ["e2e4", "e7e5", "g1f3", "b8c6", "f1c4", "g8f6"]


async def play_raw(server: RunningServer, moves: list[str]) -> tuple[str, Any, Any, str, str]:
    """A chess game between two raw connections, ``moves`` played; both tokens returned."""
    (a, ta), (b, tb) = await new_bot(server, "white"), await new_bot(server, "black")
    ws_a, ws_b = await connect_bot(server, ta), await connect_bot(server, tb)
    game_id = await server.host.create_game("chess", (a, b), MatchConfig())
    await recv_type(ws_a, "game_start")
    await recv_type(ws_b, "game_start")
    for ply, uci in enumerate(moves):
        mover = (ws_a, ws_b)[ply % 2]
        await mover.send(move(game_id, ply, uci))
        await recv_type(mover, "move_ack")
    return game_id, ws_a, ws_b, ta, tb


async def hello(server: RunningServer, token: str, resume: dict[str, int]) -> Any:
    ws = await websockets.connect(server.ws_url)
    await ws.send(json.dumps({"type": "hello", "token": token, "resume": resume}))
    assert (await recv_json(ws))["type"] == "welcome"
    return ws


async def until_resumed(ws: Any) -> list[dict[str, Any]]:
    """Frames after welcome up to and including ``resumed``."""
    frames = []
    while True:
        frames.append(await recv_json(ws))
        if frames[-1]["type"] == "resumed":
            return frames


async def test_reconnecting_bot_gets_exactly_the_missed_events(srv: RunningServer) -> None:
    """Resume at seq 2 after four more moves: events 3..6 once each, in order, then resumed."""
    game_id, ws_a, ws_b, _, tb = await play_raw(srv, OPENING[:2])
    await ws_b.close()
    for ply in (2, 3, 4, 5):
        if ply % 2 == 0:
            await ws_a.send(move(game_id, ply, OPENING[ply]))
            await recv_type(ws_a, "move_ack")
        else:  # black is away: play its moves on a second connection, then drop it
            ws = await connect_bot(srv, tb)
            await ws.send(move(game_id, ply, OPENING[ply]))
            await recv_type(ws, "move_ack")
            await ws.close()
    ws_b2 = await hello(srv, tb, {game_id: 2})
    frames = await until_resumed(ws_b2)
    assert [(f["type"], f.get("seq")) for f in frames] == [
        ("state", 3),
        ("state", 4),
        ("state", 5),
        ("state", 6),
        ("resumed", None),
    ]
    assert [
        {k: g[k] for k in ("game_id", "seq", "status", "mode")} for g in frames[-1]["games"]
    ] == [{"game_id": game_id, "seq": 6, "status": "active", "mode": "events"}]
    assert frames[3]["moves"] == OPENING and frames[3]["to_move"] == 0
    entry = frames[-1]["games"][0]  # enough to rebuild the game without a snapshot
    assert (entry["seat"], entry["game"], entry["players"]) == (1, "chess", ["white", "black"])
    assert entry["initial_state"] == chess.STARTING_FEN


async def test_a_long_gap_gets_a_snapshot(srv: RunningServer) -> None:
    """A gap over the replay limit (8 events here) is answered with one game_start."""
    moves = [*OPENING, "d2d3", "f8c5", "c2c3", "d7d6", "b1d2", "a7a6"]
    game_id, _, ws_b, _, tb = await play_raw(srv, moves)
    await ws_b.close()
    ws_b2 = await hello(srv, tb, {game_id: 1})
    frames = await until_resumed(ws_b2)
    assert [f["type"] for f in frames] == ["game_start", "resumed"]
    assert frames[0]["moves"] == moves and frames[0]["seq"] == len(moves)
    assert frames[1]["games"][0]["mode"] == "snapshot"


async def test_resume_of_a_finished_game_and_nothing_twice(srv: RunningServer) -> None:
    """A game that ended while away: the missed events and game_over; a bot up to date gets none."""
    game_id, ws_a, ws_b, ta, tb = await play_raw(srv, OPENING[:3])
    await ws_b.close()
    await ws_a.send(json.dumps({"type": "resign", "game_id": game_id}))
    await recv_type(ws_a, "game_over")
    ws_b2 = await hello(srv, tb, {game_id: 2})
    frames = await until_resumed(ws_b2)
    assert [(f["type"], f.get("seq")) for f in frames] == [
        ("state", 3),
        ("game_over", 4),
        ("resumed", None),
    ]
    assert frames[-1]["games"][0]["status"] == "finished"
    await ws_a.close()
    ws_a2 = await hello(srv, ta, {game_id: 4})
    assert [f["type"] for f in await until_resumed(ws_a2)] == ["resumed"]


async def test_replayed_events_equal_the_live_ones(srv: RunningServer) -> None:
    """Events replayed to a spectator (live game, then stored game) are the live bytes."""
    game_id, ws_a, ws_b, _, _ = await play_raw(srv, [])
    live: list[str] = []
    async with websockets.connect(f"{srv.ws_url}/watch/{game_id}") as watcher:
        assert json.loads(await watcher.recv())["type"] == "game_start"
        for ply, uci in enumerate(["e2e4", "c7c5", "g1f3", "d7d6", "d2d4"]):
            mover = (ws_a, ws_b)[ply % 2]
            await mover.send(move(game_id, ply, uci))
            live.append(str(await watcher.recv()))
        async with websockets.connect(f"{srv.ws_url}/watch/{game_id}?since=1") as late:
            assert [str(await late.recv()) for _ in range(4)] == live[1:]
        await ws_b.send(json.dumps({"type": "resign", "game_id": game_id}))
        live.append(str(await watcher.recv()))
    assert json.loads(live[-1])["type"] == "game_over"
    async with websockets.connect(f"{srv.ws_url}/watch/{game_id}?since=0") as stored:
        assert [str(await stored.recv()) for _ in range(6)] == live


async def test_half_open_connection_is_noticed_by_keepalive(srv: RunningServer) -> None:
    """A connection that stops answering pings is closed by the server (ping timeout 0.3 s)."""
    bot, token = await new_bot(srv, "silent")
    async with tcp_proxy("127.0.0.1", srv.port) as proxy:
        ws = await websockets.connect(f"ws://127.0.0.1:{proxy.port}/ws", ping_interval=None)
        await ws.send(json.dumps({"type": "hello", "token": token}))
        assert (await recv_json(ws))["type"] == "welcome"
        assert bot.id in srv.host.peers
        proxy.stall()  # a dead path: nothing gets through, nothing is closed
        async with asyncio.timeout(5):
            while bot.id in srv.host.peers:  # noqa: ASYNC110 (state of the server)
                await asyncio.sleep(0.02)
        proxy.release()


# ---------------------------------------------------------------------- chaos


def check_streams(messages: list[ServerMessage]) -> tuple[int, dict[str, int]]:
    """Per game, every event follows the previous one (or the last snapshot) by exactly 1.

    Returns the number of events checked and the final seq per game.
    """
    last: dict[str, int] = {}
    checked = 0
    for msg in messages:
        if isinstance(msg, GameStart):
            last[msg.game_id] = msg.seq
        elif isinstance(msg, StateEvent | GameOver):
            assert msg.seq == last[msg.game_id] + 1, (msg.game_id, last[msg.game_id], msg.seq)
            last[msg.game_id] = msg.seq
            checked += 1
    return checked, last


async def test_games_complete_through_drops_stalls_and_delays(srv: RunningServer) -> None:
    """Two SDK bots behind a faulty proxy play three games: no gap, no duplicate, all finished."""
    (a, ta), (b, tb) = await new_bot(srv, "left"), await new_bot(srv, "right")
    rng = random.Random(8)
    seen: dict[str, list[ServerMessage]] = defaultdict(list)
    modes: list[str] = []

    def recorder(name: str) -> Any:
        def record(msg: ServerMessage) -> None:
            seen[name].append(msg)
            if isinstance(msg, Resumed):
                modes.extend(g.mode for g in msg.games)

        return record

    async with tcp_proxy("127.0.0.1", srv.port) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/ws"
        clients = [
            BotClient(
                parse_player_spec(f"random:seed={seed}").build(),
                url,
                token,
                max_games=3,
                backoff_s=(0.01, 0.05),
                ping_interval_s=0.3,
                ping_timeout_s=0.3,
                on_message=recorder(name),
            )
            for seed, name, token in ((1, "left", ta), (2, "right", tb))
        ]
        # Games long enough for the faults below to land while they are played:
        # since group commit, three 60-ply games could end before three drops.
        config = MatchConfig(time_control=TimeControl.parse("60+0"), max_plies=200)
        game_ids = [await srv.host.create_game("chess", (a, b), config) for _ in range(3)]
        tasks = [asyncio.create_task(c.run()) for c in clients]

        async def chaos() -> None:
            while True:
                await asyncio.sleep(rng.uniform(0.05, 0.2))
                fault = rng.choice(["drop", "stall", "delay"])
                if fault == "drop":
                    proxy.drop()
                elif fault == "stall":
                    proxy.stall()
                    await asyncio.sleep(rng.uniform(0.05, 0.2))
                    proxy.release()
                else:
                    proxy.delay_s = 0.02
                    await asyncio.sleep(0.2)
                    proxy.delay_s = 0.0

        chaos_task = asyncio.create_task(chaos())
        try:
            async with asyncio.timeout(60):
                await asyncio.gather(*tasks)
        finally:
            chaos_task.cancel()
    assert proxy.drops >= 3 and proxy.stalls >= 1
    assert min(c.connections for c in clients) >= 3
    assert "events" in modes  # exact replays happened, not only snapshots
    for client, name in zip(clients, ("left", "right"), strict=True):
        assert sorted(r.game_id for r in client.results) == sorted(game_ids)
        assert client.gaps == 0 and client.duplicates == 0
        checked, last = check_streams(seen[name])
        assert checked > 0
        for game_id in game_ids:
            row = await srv.store.get_game(game_id)
            assert row is not None and row.status == "finished"
            assert row.reason not in ("abandoned", "timeout", "aborted")
            assert last[game_id] == row.ply + 1  # it saw every event up to game_over
