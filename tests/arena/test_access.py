"""Access control: every action by every principal, revocation on open connections,
browser origins, and tokens kept out of logs, errors and the API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from arena.errors import ErrorCode
from arena.limits import Limits
from arena.match import MatchConfig
from arena.serve import RunningServer, running_server
from tests.conftest import connect_bot, new_bot, recv_json, recv_type

ACTIONS = ("move", "resign", "predict", "watch", "admin")
PRINCIPALS = (
    "seat",  # the bot of seat 0 (to move) of game G
    "other",  # the bot of seat 1 of game G
    "outsider",  # a bot of another game
    "spectator",  # a /ws/watch connection
    "anonymous",  # no token at all
    "revoked",  # seat 0's bot with a revoked token
    "wrong_scope",  # an admin token on /ws, a bot token on the admin API
    "admin",  # an admin token
)
ALLOW = "allow"
E = ErrorCode
# Expected outcome of each action by each principal: ALLOW, an error code (websocket),
# or an HTTP status (admin API).
EXPECTED: dict[str, dict[str, object]] = {
    "seat": {"move": ALLOW, "resign": ALLOW, "predict": ALLOW, "watch": ALLOW, "admin": 403},
    "other": {
        "move": E.NOT_YOUR_TURN,
        "resign": ALLOW,  # resigns its own seat: seat 0 wins
        "predict": ALLOW,  # its own prediction, for its own seat
        "watch": ALLOW,
        "admin": 403,
    },
    "outsider": {
        "move": E.NOT_YOUR_GAME,
        "resign": E.NOT_YOUR_GAME,
        "predict": E.NOT_YOUR_GAME,
        "watch": ALLOW,
        "admin": 403,
    },
    "spectator": {
        "move": E.READ_ONLY,
        "resign": E.READ_ONLY,
        "predict": E.READ_ONLY,
        "watch": ALLOW,
        "admin": 401,
    },
    "anonymous": {
        "move": E.HELLO_REQUIRED,
        "resign": E.HELLO_REQUIRED,
        "predict": E.HELLO_REQUIRED,
        "watch": ALLOW,
        "admin": 401,
    },
    "revoked": {
        "move": E.BAD_TOKEN,
        "resign": E.BAD_TOKEN,
        "predict": E.BAD_TOKEN,
        "watch": ALLOW,
        "admin": 401,
    },
    "wrong_scope": {
        "move": E.WRONG_SCOPE,
        "resign": E.WRONG_SCOPE,
        "predict": E.WRONG_SCOPE,
        "watch": ALLOW,
        "admin": 403,
    },
    "admin": {
        "move": E.WRONG_SCOPE,
        "resign": E.WRONG_SCOPE,
        "predict": E.WRONG_SCOPE,
        "watch": ALLOW,
        "admin": ALLOW,
    },
}


@dataclass
class World:
    server: RunningServer
    game_id: str
    tokens: dict[str, str]
    """Token per principal (absent for spectator and anonymous)."""
    socks: list[Any]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """Game G (seat and other, both connected), game H (outsider and a partner), an admin."""
    limits = Limits(revocation_poll_s=0.1)
    async with running_server(str(tmp_path / "m.db"), limits=limits) as srv:
        (w, tw), (b, tb) = await new_bot(srv, "seat"), await new_bot(srv, "other")
        (x, tx), (y, ty) = await new_bot(srv, "outsider"), await new_bot(srv, "partner")
        revoked = await srv.store.issue_token(w.id)
        await srv.store.revoke_token(revoked)
        admin = await srv.store.add_bot("root", kind="admin")
        admin_token = await srv.store.issue_token(admin.id, scope="admin")
        socks = [await connect_bot(srv, t) for t in (tw, tb, tx, ty)]
        game_id = await srv.host.create_game("chess", (w, b), MatchConfig())
        await srv.host.create_game("chess", (x, y), MatchConfig())
        for ws in socks:
            await recv_type(ws, "game_start")
        tokens = {
            "seat": tw,
            "other": tb,
            "outsider": tx,
            "revoked": revoked,
            "wrong_scope": admin_token,  # on /ws; on the API a bot token (below)
            "admin": admin_token,
        }
        yield World(srv, game_id, tokens, socks)
        for ws in socks:
            await ws.close()


def snapshot(db: str) -> dict[str, list[Any]]:
    """Every row of every table: what a denied action must leave unchanged."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}"))) for t in tables}
    finally:
        conn.close()


def frame(action: str, game_id: str) -> str:
    if action == "move":
        return json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e2e4"})
    if action == "resign":
        return json.dumps({"type": "resign", "game_id": game_id})
    return json.dumps({"type": "predict", "game_id": game_id, "ply": 1, "moves": ["e7e5"]})


async def attempt(w: World, principal: str, action: str) -> object:
    """Do ``action`` as ``principal``; ALLOW, the error code, or the HTTP status."""
    srv, game_id = w.server, w.game_id
    if action == "watch":
        async with websockets.connect(f"{srv.ws_url}/watch/{game_id}") as ws:
            first = await recv_json(ws)
        return ALLOW if first["type"] == "game_start" and first["game_id"] == game_id else first
    if action == "admin":
        token = w.tokens.get(principal)
        if principal == "wrong_scope":
            token = w.tokens["outsider"]  # a bot token where an admin one is needed
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=srv.url) as http:
            answer = await http.post("/api/bots", json={"name": "newcomer"}, headers=headers)
        return ALLOW if answer.status_code == 201 else answer.status_code
    msg = frame(action, game_id)
    if principal == "spectator":
        ws = await websockets.connect(f"{srv.ws_url}/watch/{game_id}")
        await recv_type(ws, "game_start")
        await ws.send(msg)
        return ErrorCode((await recv_type(ws, "error"))["code"])
    ws = await websockets.connect(srv.ws_url)
    if principal != "anonymous":
        await ws.send(json.dumps({"type": "hello", "token": w.tokens[principal]}))
        first = await recv_json(ws)
        if first["type"] == "error":  # refused at hello: the action cannot even be sent
            return ErrorCode(first["code"])
        assert first["type"] == "welcome"
    await ws.send(msg)
    await ws.send(json.dumps({"type": "ping", "id": "done"}))
    while True:
        reply = await recv_json(ws)
        if reply["type"] == "error" and reply.get("ref") in (None, action):
            return ErrorCode(reply["code"])
        if reply["type"] == "pong" or (reply["type"] == "move_ack" and action == "move"):
            return ALLOW
        if reply["type"] == "game_over" and action == "resign":
            return ALLOW


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_access_matrix(world: World, principal: str, action: str) -> None:
    """Each principal may do exactly what the matrix allows; a denied action changes nothing."""
    db = str(Path(world.server.store.engine.url.database or ""))
    before = snapshot(db)
    outcome = await attempt(world, principal, action)
    expected = EXPECTED[principal][action]
    assert outcome == expected, (principal, action, outcome)
    await asyncio.sleep(0.05)  # anything the action might have set off has happened
    await world.server.store.flush()  # an accepted prediction waits for a move's transaction
    after = snapshot(db)
    if expected != ALLOW or action == "watch":
        assert after == before
        return
    store, game_id = world.server.store, world.game_id
    if action == "move":
        assert [m.move for m in await store.get_moves(game_id)] == ["e2e4"]
    elif action == "resign":
        row = await store.get_game(game_id)
        assert row is not None and row.reason == "resign"
        assert row.winner == (1 if principal == "seat" else 0)  # never the other seat's loss
    elif action == "predict":
        (prediction,) = await store.get_predictions(game_id)
        assert prediction.seat == (0 if principal == "seat" else 1)
    else:
        assert await store.bot_by_name("newcomer") is not None


async def test_admin_api_endpoints_need_an_admin_token(world: World) -> None:
    """Register, re-issue, revoke and create-tournament: 403 with a bot token, done with admin."""
    bot_auth = {"Authorization": f"Bearer {world.tokens['seat']}"}
    admin_auth = {"Authorization": f"Bearer {world.tokens['admin']}"}
    tournament = {
        "name": "api",
        "game": "connect4",
        "openings": "none",
        "players": [{"name": "seat", "kind": "external"}, {"name": "other", "kind": "external"}],
    }
    calls = [
        ("/api/bots", {"name": "n1"}),
        ("/api/bots/partner/tokens", None),
        ("/api/bots/partner/revoke", None),
        ("/api/tournaments", tournament),
    ]
    db = str(world.server.store.engine.url.database)
    async with httpx.AsyncClient(base_url=world.server.url) as http:
        before = snapshot(db)
        for path, body in calls:
            answer = await http.post(path, json=body, headers=bot_auth)
            assert answer.status_code == 403, (path, answer.text)
        assert snapshot(db) == before
        assert (
            await http.post(calls[0][0], json=calls[0][1], headers=admin_auth)
        ).status_code == 201
        issued = await http.post(calls[1][0], headers=admin_auth)
        assert issued.status_code == 201 and issued.json()["token"].startswith("arena_")
        revoked = await http.post(calls[2][0], headers=admin_auth)
        assert revoked.json() == {"name": "partner", "revoked_tokens": 2, "closed_connections": 1}
        # this server does not run tournaments (run_tournaments=False): said plainly
        assert (
            await http.post(calls[3][0], json=tournament, headers=admin_auth)
        ).status_code == 501
        bad = await http.post("/api/bots", content=b"[1]", headers=admin_auth)
        assert bad.status_code == 400 and "JSON object" in bad.json()["error"]


async def test_revocation_closes_an_open_connection_at_once(world: World) -> None:
    """Revoked over the API: the open connection is closed with 4011 and its move is refused."""
    ws_w = world.socks[0]
    async with httpx.AsyncClient(base_url=world.server.url) as http:
        answer = await http.post(
            "/api/bots/seat/revoke", headers={"Authorization": f"Bearer {world.tokens['admin']}"}
        )
    assert answer.json()["closed_connections"] == 1
    with contextlib.suppress(websockets.ConnectionClosed):  # it may already be closed
        await ws_w.send(frame("move", world.game_id))
    with pytest.raises(websockets.ConnectionClosed) as info:
        await recv_type(ws_w, "never")
    assert info.value.rcvd is not None and info.value.rcvd.code == int(ErrorCode.BAD_TOKEN)
    assert await world.server.store.get_moves(world.game_id) == []


async def test_revocation_by_another_process_is_noticed(world: World) -> None:
    """A token revoked in the database (arena bot revoke) closes its connection within the poll."""
    ws_b = world.socks[1]
    other = await world.server.store.bot_by_name("other")
    assert other is not None
    await world.server.store.revoke_bot_tokens(other.id)  # as `arena bot revoke other` does
    with pytest.raises(websockets.ConnectionClosed) as info:
        await recv_type(ws_b, "never", timeout=3)
    assert info.value.rcvd is not None and info.value.rcvd.code == int(ErrorCode.BAD_TOKEN)
    assert other.id not in world.server.host.peers


async def test_browser_origins(tmp_path: Path) -> None:
    """A foreign page's websocket is refused (403); same-origin, listed, and no-Origin pass."""
    async with running_server(
        str(tmp_path / "o.db"), allowed_origins=["https://arena.example"]
    ) as srv:
        (a, _), (b, _) = await new_bot(srv, "p"), await new_bot(srv, "q")
        game_id = await srv.host.create_game("chess", (a, b), MatchConfig())
        url = f"{srv.ws_url}/watch/{game_id}"
        for path in (url, srv.ws_url):
            with pytest.raises(websockets.InvalidStatus) as info:
                await websockets.connect(path, origin="http://evil.example")  # type: ignore[arg-type]
            assert info.value.response.status_code == 403
        for origin in (f"http://127.0.0.1:{srv.port}", "https://arena.example", None):
            async with websockets.connect(url, origin=origin) as ws:  # type: ignore[arg-type]
                assert (await recv_json(ws))["type"] == "game_start"


async def test_tokens_never_appear_in_logs_errors_or_the_api(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Over a game, refused hellos and admin calls, no token shows in any log line,
    frame or API answer other than the one that issued it."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with running_server(str(tmp_path / "t.db"), log_level="debug") as srv:
        (w, tw), (b, tb) = await new_bot(srv, "tw"), await new_bot(srv, "tb")
        admin = await srv.store.add_bot("boss", kind="admin")
        admin_token = await srv.store.issue_token(admin.id, scope="admin")
        secrets = [tw, tb, admin_token, "arena_not-a-real-token-but-secret"]
        ws_w, ws_b = await connect_bot(srv, tw), await connect_bot(srv, tb)
        game_id = await srv.host.create_game("chess", (w, b), MatchConfig())
        await ws_w.send(frame("move", game_id))
        await ws_b.send(json.dumps({"type": "hello", "token": tb}))  # a second hello
        await ws_w.send(json.dumps({"type": "hello", "token": "x" * 300}))  # too long
        await ws_b.send(json.dumps({"type": "resign", "game_id": game_id}))
        for ws in (ws_w, ws_b):
            texts.append(json.dumps(await recv_type(ws, "game_over")))
        for token in (secrets[3], admin_token):  # unknown, wrong scope
            async with websockets.connect(srv.ws_url) as ws:
                await ws.send(json.dumps({"type": "hello", "token": token}))
                texts.append(json.dumps(await recv_json(ws)))
        async with httpx.AsyncClient(base_url=srv.url) as http:
            for token in (tw, secrets[3]):
                answer = await http.post(
                    "/api/bots", json={"name": "zz"}, headers={"Authorization": f"Bearer {token}"}
                )
                texts.append(answer.text)
            issued = await http.post(
                "/api/bots", json={"name": "zz"}, headers={"Authorization": f"Bearer {admin_token}"}
            )
            secrets.append(issued.json()["token"])  # shown once, in this answer only
            for path in ("/api/games", f"/api/games/{game_id}", "/api/tournaments", "/"):
                texts.append((await http.get(path)).text)
        await ws_w.close()
        await ws_b.close()
    texts.extend(record.getMessage() for record in caplog.records)
    texts.extend(str(record.args) for record in caplog.records)
    assert any("move" in t for t in texts) and len(caplog.records) > 5
    for secret in secrets:
        assert not any(secret in text for text in texts), secret
