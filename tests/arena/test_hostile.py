"""Hostile input against a real ``arena serve`` (issue 20): each attack gets the right
error or close, changes nothing it should not, leaves no page or API answering 5xx,
and other games keep moving."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from arena.clock import TimeControl
from arena.errors import ErrorCode
from arena.limits import Limits
from arena.match import MatchConfig
from arena.serve import RunningServer, running_server
from clients.players import parse_player_spec
from clients.sdk import BotClient
from tests.arena.test_server import expect_error, started_game, stored
from tests.conftest import connect_bot, new_bot, recv_json, recv_type

PAGES = ("/", "/games", "/tournaments", "/api/health", "/api/games", "/api/leaderboard")


@pytest.fixture
async def arena(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server with the default frame size (64 KiB) and short timeouts."""
    limits = Limits(hello_timeout_s=5, http_header_timeout_s=0.5)
    async with running_server(str(tmp_path / "h.db"), limits=limits) as srv:
        yield srv


async def bystanders(server: RunningServer) -> tuple[str, asyncio.Task[Any]]:
    """A game between two SDK bots, played while the test attacks the server."""
    (a, ta), (b, tb) = await new_bot(server, "calm-a"), await new_bot(server, "calm-b")
    config = MatchConfig(time_control=TimeControl.parse("60+0"), max_plies=30)
    game_id = await server.host.create_game("chess", (a, b), config)
    clients = [
        BotClient(parse_player_spec(f"random:seed={s}").build(), server.ws_url, t, max_games=1)
        for s, t in ((1, ta), (2, tb))
    ]
    return game_id, asyncio.gather(*(c.run() for c in clients))


async def finished(server: RunningServer, game_id: str, play: asyncio.Task[Any]) -> None:
    """The bystanders' game ended normally (30 plies)."""
    async with asyncio.timeout(60):
        await play
    row = await server.store.get_game(game_id)
    assert row is not None and (row.status, row.reason, row.ply) == ("finished", "max_plies", 30)


async def no_5xx(server: RunningServer, game_id: str | None = None, *names: str) -> None:
    """Every page and API route answers below 500; a game page's embedded data parses."""
    paths = list(PAGES)
    if game_id is not None:
        paths += [
            f"/games/{game_id}",
            f"/api/games/{game_id}",
            f"/api/games/{game_id}/timeline",
            f"/api/games/{game_id}/svg",
        ]
    paths += [f"/players/{name}" for name in names]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for path in paths:
            answer = await http.get(path)
            assert answer.status_code < 500, (path, answer.status_code, answer.text[:300])
            if answer.headers["content-type"].startswith("application/json"):
                strict_json(answer.text)
            if path.startswith("/games/"):
                data = answer.text.split('id="game-data">', 1)[1].split("</script>", 1)[0]
                strict_json(data)


def strict_json(text: str) -> Any:
    """Parse as a browser's JSON.parse would: no NaN or Infinity."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


# ------------------------------------------------------------- 1. non-finite numbers


@pytest.mark.parametrize(
    "meta",
    [
        '{"actor_ms": 1e999, "wait_ms": 1e999}',
        '{"actor_ms": NaN}',
        '{"actor_ms": -Infinity}',
        '{"actor_ms": 1e12}',  # finite but out of range (a day at most)
        '{"prompt_tokens": 100000000000000000000000}',
        '{"branches": [{"line": ["e2e4"], "rank": 1, "started_ms": 1e999, '
        '"ended_ms": 0, "outcome": "kept"}]}',
    ],
)
async def test_non_finite_numbers_are_refused(arena: RunningServer, meta: str) -> None:
    """A move whose meta holds a non-finite or absurd number is refused with 4000
    naming the frame (game, ply, type); nothing is stored and every page still works."""
    game_id, ws_a, _, _ = await started_game(arena)
    before = await stored(arena, game_id)
    await ws_a.send(
        f'{{"type": "move", "game_id": "{game_id}", "ply": 0, "move": "e2e4", "meta": {meta}}}'
    )
    error = await expect_error(ws_a, ErrorCode.BAD_MESSAGE)
    assert (error["game_id"], error["ply"], error["ref"]) == (game_id, 0, "move")
    assert await stored(arena, game_id) == before
    await no_5xx(arena, game_id, "white", "black")


async def test_stored_non_finite_numbers_do_not_break_pages(arena: RunningServer) -> None:
    """A database written by an older version with 1e999 and NaN in a move's meta and a
    prediction's probabilities still renders every page and API answer (no 500)."""
    game_id, ws_a, ws_b, _ = await started_game(arena)
    await ws_b.send(
        json.dumps({"type": "predict", "game_id": game_id, "ply": 0, "moves": ["e2e4"]})
    )
    await ws_a.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e2e4"}))
    await recv_type(ws_a, "move_ack")
    await ws_a.send(json.dumps({"type": "resign", "game_id": game_id}))
    await recv_type(ws_a, "game_over")
    await arena.store.flush()
    with sqlite3.connect(arena.store.url.split("///", 1)[1]) as db:  # as an older version wrote
        db.execute(
            "UPDATE moves SET meta = ? WHERE game_id = ?",
            (
                '{"actor_ms": 1e999, "wait_ms": Infinity, "speculator_ms": NaN, '
                '"spec_tokens": 1e308, "branches": [{"line": ["e7e5"], "rank": 1, '
                '"started_ms": -1e999, "ended_ms": 1e999, "outcome": "kept"}]}',
                game_id,
            ),
        )
        db.execute("UPDATE predictions SET probs = '[NaN]' WHERE game_id = ?", (game_id,))
    await no_5xx(arena, game_id, "white", "black")
    async with httpx.AsyncClient(base_url=arena.url) as http:
        detail = (await http.get(f"/api/games/{game_id}")).json()
    assert detail["moves"][0]["meta"]["actor_ms"] is None  # read as missing, not as a number


async def test_admin_bodies_with_non_finite_numbers_are_400(arena: RunningServer) -> None:
    """An admin body with NaN, Infinity or 1e999 is malformed input (400), not a 500."""
    admin = await arena.store.add_bot("root", kind="admin")
    token = await arena.store.issue_token(admin.id, "admin")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=arena.url, headers=headers) as http:
        for body in ('{"name": NaN}', '{"name": 1e999}', '{"name": Infinity}'):
            answer = await http.post("/api/bots", content=body)
            assert answer.status_code == 400, answer.text
    assert [b.name for b, _ in await arena.store.list_bots()] == ["root"]


# ------------------------------------------------------------- 2. sockets without hello


async def test_a_flood_without_hello_does_not_lock_bots_out(tmp_path: Path) -> None:
    """200 sockets from one address waiting without hello: a bot from another address
    still gets its welcome within a second; the flood's excess is refused with 503."""
    async with running_server(str(tmp_path / "f.db")) as srv:
        _, token = await new_bot(srv, "legit")
        flood: list[Any] = []
        refused: list[int] = []

        async def open_one() -> None:
            try:
                flood.append(await websockets.connect(srv.ws_url, local_addr=("127.0.0.2", 0)))
            except websockets.InvalidStatus as exc:
                refused.append(exc.response.status_code)

        await asyncio.gather(*(open_one() for _ in range(200)))
        limit = srv.host.limits.max_pending_hello_per_address
        assert (len(flood), refused) == (limit, [503] * (200 - limit))
        async with asyncio.timeout(1.0):
            ws = await connect_bot(srv, token)  # from 127.0.0.1
        await ws.close()
        for silent in flood:
            await silent.close()


async def test_a_crowded_address_gets_less_time_to_say_hello(tmp_path: Path) -> None:
    """Once an address has half its share of sockets waiting, its next ones must say
    hello within the short timeout (4010), while the first ones keep the long one."""
    limits = Limits(
        hello_timeout_s=30, hello_timeout_crowded_s=0.3, max_pending_hello_per_address=4
    )
    async with running_server(str(tmp_path / "c.db"), limits=limits) as srv:
        first = [await websockets.connect(srv.ws_url) for _ in range(2)]
        crowded = await websockets.connect(srv.ws_url)
        async with asyncio.timeout(3):
            error = await recv_json(crowded)
            assert error["code"] == int(ErrorCode.HELLO_REQUIRED)
            with pytest.raises(websockets.ConnectionClosed) as info:
                await crowded.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4010
        _, token = await new_bot(srv, "late")
        await first[0].send(json.dumps({"type": "hello", "token": token}))
        assert (await recv_json(first[0]))["type"] == "welcome"  # the long timeout held
        for ws in first:
            await ws.close()


async def test_spectators_are_capped_per_address(tmp_path: Path) -> None:
    """One address may hold max_spectators_per_address spectator sockets; another
    address may still watch."""
    async with running_server(
        str(tmp_path / "s.db"), limits=Limits(max_spectators_per_address=2)
    ) as srv:
        (a, _), (b, _) = await new_bot(srv, "x"), await new_bot(srv, "y")
        game_id = await srv.host.create_game("chess", (a, b), MatchConfig())
        url = f"{srv.ws_url}/watch/{game_id}"
        held = [await websockets.connect(url) for _ in range(2)]
        with pytest.raises(websockets.InvalidStatus) as info:
            await websockets.connect(url)
        assert info.value.response.status_code == 503
        other = await websockets.connect(url, local_addr=("127.0.0.2", 0))
        assert (await recv_json(other))["type"] == "game_start"
        for ws in [*held, other]:
            await ws.close()
