"""Restarts and absences: games resume from the store with fair clocks; absent players
lose by abandonment; idle and unauthenticated connections are bounded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from arena.clock import TimeControl
from arena.errors import ErrorCode
from arena.limits import Limits
from arena.match import MatchConfig
from arena.serve import running_server
from tests.conftest import connect_bot, new_bot, recv_json, recv_type

FAST = Limits(grace_min_s=0.3, grace_max_s=0.3, hello_timeout_s=5)


def move(game_id: str, ply: int, uci: str) -> str:
    return json.dumps({"type": "move", "game_id": game_id, "ply": ply, "move": uci})


async def hello(url: str, token: str, resume: dict[str, int] | None = None) -> Any:
    ws = await websockets.connect(url)
    await ws.send(json.dumps({"type": "hello", "token": token, "resume": resume}))
    assert (await recv_json(ws))["type"] == "welcome"
    return ws


async def test_restart_resumes_a_game_without_charging_the_interruption(tmp_path: Path) -> None:
    """After a restart a game comes back paused at its stored clocks; it resumes when both
    bots are back, and neither the think before the crash nor the downtime is charged."""
    db = str(tmp_path / "a.db")
    config = MatchConfig(time_control=TimeControl.parse("10+0"))
    async with running_server(db, limits=FAST) as srv:
        (a, ta), (b, tb) = await new_bot(srv, "white"), await new_bot(srv, "black")
        ws_a, ws_b = await connect_bot(srv, ta), await connect_bot(srv, tb)
        game_id = await srv.host.create_game("chess", (a, b), config)
        await recv_type(ws_a, "game_start")
        await ws_a.send(move(game_id, 0, "e2e4"))
        await recv_type(ws_a, "move_ack")
        await ws_b.send(move(game_id, 1, "e7e5"))
        state = await recv_type(ws_a, "state")
        if state["seq"] == 1:  # white's own move; the next state is black's
            state = await recv_type(ws_a, "state")
        assert state["seq"] == 2
        stored_clocks = state["clocks"]["remaining_ms"]
        await asyncio.sleep(0.4)  # white thinks, then the server goes down
    async with running_server(db, limits=FAST, recover=True) as srv:
        assert srv.host.recovered == [game_id]
        row = await srv.store.get_game(game_id)
        assert row is not None and row.status == "active"
        ws_a = await hello(srv.ws_url, ta, {game_id: 2})
        resumed = await recv_type(ws_a, "resumed")
        assert [
            {k: g[k] for k in ("game_id", "seq", "status", "mode")} for g in resumed["games"]
        ] == [{"game_id": game_id, "seq": 2, "status": "paused", "mode": "events"}]
        await ws_a.send(move(game_id, 2, "g1f3"))
        assert (await recv_type(ws_a, "error"))["code"] == int(ErrorCode.GAME_PAUSED)
        await asyncio.sleep(0.2)  # black is not back yet: white's clock stands still
        ws_b = await hello(srv.ws_url, tb)  # no resume: a snapshot (still paused) first
        assert (await recv_type(ws_b, "game_start"))["status"] == "paused"
        await recv_type(ws_b, "resumed")
        start_a = await recv_type(ws_a, "game_start")
        start_b = await recv_type(ws_b, "game_start")
        assert start_a["status"] == start_b["status"] == "active"
        assert start_a["moves"] == ["e2e4", "e7e5"] and start_a["seq"] == 2
        left = start_a["clocks"]["remaining_ms"]
        assert left[1] == stored_clocks[1] and stored_clocks[0] - 50 <= left[0] <= stored_clocks[0]
        await ws_a.send(move(game_id, 2, "g1f3"))
        ack = await recv_type(ws_a, "move_ack")
        assert ack["response_ms"] < 300  # charged from the resume, not from before the crash
        assert [m.move for m in await srv.store.get_moves(game_id)] == ["e2e4", "e7e5", "g1f3"]


async def test_nobody_back_after_a_restart_ends_without_a_result(tmp_path: Path) -> None:
    """A resumed game whose players both stay away ends '*', abandoned, after the grace."""
    db = str(tmp_path / "b.db")
    async with running_server(db, limits=FAST) as srv:
        (a, ta), (b, tb) = await new_bot(srv, "w"), await new_bot(srv, "b")
        ws_a, ws_b = await connect_bot(srv, ta), await connect_bot(srv, tb)
        game_id = await srv.host.create_game("chess", (a, b), MatchConfig())
        await recv_type(ws_a, "game_start")
        for ply, (ws, uci) in enumerate(((ws_a, "d2d4"), (ws_b, "d7d5"))):
            await ws.send(move(game_id, ply, uci))
            await recv_type(ws, "move_ack")
    async with running_server(db, limits=FAST, recover=True) as srv:
        await asyncio.wait_for(srv.host.wait_finished(game_id), 5)
        row = await srv.store.get_game(game_id)
        assert row is not None and (row.result, row.reason, row.ply) == ("*", "abandoned", 2)


@pytest.mark.parametrize(
    ("moves", "expected"),
    [(["e2e4", "e7e5"], ("1-0", 0, "abandoned")), (["e2e4"], ("*", None, "aborted"))],
    ids=["abandoned", "aborted"],
)
async def test_a_player_away_past_the_grace_period(
    tmp_path: Path, moves: list[str], expected: tuple[Any, ...]
) -> None:
    """Black leaves and stays away: it loses by abandonment, or the game is aborted
    before two moves; coming back within the grace keeps the game going."""
    async with running_server(str(tmp_path / "c.db"), limits=FAST) as srv:
        (a, ta), (b, tb) = await new_bot(srv, "stay"), await new_bot(srv, "leave")
        ws_a, ws_b = await connect_bot(srv, ta), await connect_bot(srv, tb)
        game_id = await srv.host.create_game("chess", (a, b), MatchConfig())
        await recv_type(ws_a, "game_start")
        for ply, uci in enumerate(moves):
            ws = (ws_a, ws_b)[ply % 2]
            await ws.send(move(game_id, ply, uci))
            await recv_type(ws, "move_ack")
        await ws_b.close()
        await asyncio.sleep(0.15)
        ws_b = await hello(srv.ws_url, tb)  # back within the grace: nothing happens
        await ws_b.close()
        over = await recv_type(ws_a, "game_over")
        assert (over["result"], over["winner"], over["reason"]) == expected
        row = await srv.store.get_game(game_id)
        assert row is not None and (row.result, row.winner, row.reason) == expected


async def test_idle_connection_without_a_game_is_closed(tmp_path: Path) -> None:
    """No frame either way for the idle timeout and no game: closed with 4091; a bot
    in a game under way is kept however quiet."""
    limits = Limits(idle_timeout_s=0.3)
    async with running_server(str(tmp_path / "d.db"), limits=limits) as srv:
        (a, ta), (b, tb) = await new_bot(srv, "p1"), await new_bot(srv, "p2")
        loner, tc = await new_bot(srv, "loner")
        ws_c = await connect_bot(srv, tc)
        ws_a, _ws_b = await connect_bot(srv, ta), await connect_bot(srv, tb)
        await srv.host.create_game("chess", (a, b), MatchConfig())
        await recv_type(ws_a, "game_start")
        with pytest.raises(websockets.ConnectionClosed) as info:
            await recv_type(ws_c, "never", timeout=3)
        assert info.value.rcvd is not None and info.value.rcvd.code == int(ErrorCode.IDLE)
        await asyncio.sleep(0.5)
        assert a.id in srv.host.peers and b.id in srv.host.peers
        assert loner.id not in srv.host.peers  # its handler ended with the close


async def test_connections_waiting_for_hello_are_capped(tmp_path: Path) -> None:
    """Beyond max_pending_hello silent connections, handshakes get 503 until one leaves."""
    limits = Limits(max_pending_hello=2, hello_timeout_s=5)
    async with running_server(str(tmp_path / "e.db"), limits=limits) as srv:
        silent = [await websockets.connect(srv.ws_url) for _ in range(2)]
        with pytest.raises(websockets.InvalidStatus) as info:
            await websockets.connect(srv.ws_url)
        assert info.value.response.status_code == 503
        await silent[0].close()
        await asyncio.sleep(0.1)
        _, token = await new_bot(srv, "late")
        ws = await connect_bot(srv, token)  # a slot is free again
        await ws.close()
        await silent[1].close()


async def test_spectators_are_capped(tmp_path: Path) -> None:
    """Beyond max_spectators, a watch handshake gets 503."""
    async with running_server(str(tmp_path / "f.db"), limits=Limits(max_spectators=1)) as srv:
        (a, _), (b, _) = await new_bot(srv, "x"), await new_bot(srv, "y")
        game_id = await srv.host.create_game("chess", (a, b), MatchConfig())
        async with websockets.connect(f"{srv.ws_url}/watch/{game_id}"):
            with pytest.raises(websockets.InvalidStatus) as info:
                await websockets.connect(f"{srv.ws_url}/watch/{game_id}")
            assert info.value.response.status_code == 503
