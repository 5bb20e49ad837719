"""Hostile input against a real ``arena serve`` (issue 20): each attack gets the right
error or close, changes nothing it should not, leaves no page or API answering 5xx,
and other games keep moving."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets
from click.testing import CliRunner
from websockets.asyncio.server import ServerConnection, serve

from arena import match as match_module
from arena.cli import main as cli_main
from arena.clock import TimeControl
from arena.errors import ErrorCode
from arena.headers import CONTENT_SECURITY_POLICY
from arena.limits import Limits
from arena.match import MAX_PLIES, Match, MatchConfig
from arena.protocol import MAX_META_BYTES
from arena.serve import RunningServer, running_server
from arena.specpolicy import SpecPolicy
from clients.players import parse_player_spec
from clients.sdk import BotClient
from games import get_game
from tests.arena.test_server import expect_error, started_game, stored
from tests.conftest import connect_bot, new_bot, recv_json, recv_type

PAGES = ("/", "/games", "/tournaments", "/api/health", "/api/games", "/api/leaderboard")


@pytest.fixture
async def arena(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server with the default frame size (64 KiB) and short timeouts."""
    limits = Limits(hello_timeout_s=5, http_header_timeout_s=0.5)
    async with running_server(str(tmp_path / "h.db"), limits=limits) as srv:
        yield srv


async def bystanders(server: RunningServer) -> tuple[str, asyncio.Future[Any]]:
    """A game between two SDK bots, played while the test attacks the server."""
    (a, ta), (b, tb) = await new_bot(server, "calm-a"), await new_bot(server, "calm-b")
    config = MatchConfig(time_control=TimeControl.parse("60+0"), max_plies=30)
    game_id = await server.host.create_game("chess", (a, b), config)
    clients = [
        BotClient(parse_player_spec(f"random:seed={s}").build(), server.ws_url, t, max_games=1)
        for s, t in ((1, ta), (2, tb))
    ]
    return game_id, asyncio.gather(*(c.run() for c in clients))


async def finished(server: RunningServer, game_id: str, play: asyncio.Future[Any]) -> None:
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


# ------------------------------------------------------------- 3. specs over the admin API


async def admin_headers(server: RunningServer) -> dict[str, str]:
    admin = await server.store.add_bot("root", kind="admin")
    return {"Authorization": f"Bearer {await server.store.issue_token(admin.id, 'admin')}"}


def tournament(*specs: str, name: str = "t") -> dict[str, Any]:
    return {
        "name": name,
        "players": [{"name": f"p{i}", "spec": spec} for i, spec in enumerate(specs)],
        "openings": "none",
        "max_plies": 2,
        "concurrency": 1,
    }


async def test_admin_specs_run_only_allowed_engines_and_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the admin API an engine path outside the allow-list, a key variable outside
    its allow-list and an openings file are refused (400) and nothing runs; an allowed
    engine named by the list is accepted; public answers never show paths or key names."""
    marker = tmp_path / "ran"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    monkeypatch.setenv("ARENA_TEST_SECRET", "s3cret")
    policy = SpecPolicy.configured(api_key_envs=["ARENA_TEST_KEY"])
    assert "stockfish" in policy.engines  # Debian's, found by default
    async with running_server(
        str(tmp_path / "t.db"), run_tournaments=True, spec_policy=policy
    ) as srv:
        headers = await admin_headers(srv)
        async with httpx.AsyncClient(base_url=srv.url, headers=headers) as http:
            refused = [
                tournament(f"stockfish:path={script}", "random"),
                tournament("stockfish:path=/bin/sh", "random"),
                tournament("llm:model=m,base_url=http://127.0.0.1:9/v1,api_key_env=HOME", "random"),
                tournament("llm:model=m,api_key_env=ARENA_TEST_SECRET", "random"),
                tournament("llm:model=m", "random"),  # the default OPENAI_API_KEY is not listed
                tournament("stockfish:threads=999", "random"),
                tournament("random", "random") | {"openings": "/etc/passwd"},
                tournament("random", "random")
                | {"players": [{"name": "a/b", "spec": "random"}, {"name": "c", "spec": "random"}]},
            ]
            for config in refused:
                answer = await http.post("/api/tournaments", json=config)
                assert answer.status_code == 400, (config, answer.text)
                assert "s3cret" not in answer.text
            assert await srv.store.list_tournaments() == []
            ok = await http.post(
                "/api/tournaments", json=tournament("stockfish:path=stockfish,nodes=1", "random")
            )
            assert ok.status_code == 201, ok.text
            assert srv.tournaments is not None
            async with asyncio.timeout(30):
                await srv.tournaments.wait(ok.json()["id"])
            shown = await http.get(f"/api/tournaments/{ok.json()['id']}")
            page = await http.get("/players/p0")
        assert not marker.exists()
        assert shown.status_code == 200 and page.status_code == 200
        for text in (shown.text, page.text):
            assert "/usr/games" not in text and "base_url" not in text and "api_key_env" not in text
        assert "stockfish:nodes=1" in shown.text and shown.json()["status"] == "finished"
        row = await srv.store.get_tournament(ok.json()["id"])
        assert row is not None and "path=/usr/games/stockfish" in row.config["players"][0]["spec"]
    keyless = "llm:model=m,base_url=http://127.0.0.1:9/v1,api_key_env="
    assert policy.check(keyless) == keyless  # no key at all is always fine


# ------------------------------------------------------------- 4. security headers


async def test_security_headers_on_every_answer(arena: RunningServer) -> None:
    """Pages, the JSON API, static files and errors carry CSP, nosniff, frame and
    referrer policies."""
    async with httpx.AsyncClient(base_url=arena.url) as http:
        for path in (*PAGES, "/static/style.css", "/games/nope", "/api/games/nope"):
            answer = await http.get(path)
            assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
            assert answer.headers["referrer-policy"] == "no-referrer"


# ------------------------------------------------------------- 6. deep JSON, odd digits


async def test_deep_json_is_malformed_everywhere(arena: RunningServer) -> None:
    """60,000 nested '[' is 4000 (and close 4000) as a hello, 4000 after hello (the
    connection stays open), and 400 as an admin body; no traceback, no 5xx."""
    deep = "[" * 60_000
    before_hello = await websockets.connect(arena.ws_url)
    await before_hello.send(deep)
    assert (await recv_json(before_hello))["code"] == int(ErrorCode.BAD_MESSAGE)
    with pytest.raises(websockets.ConnectionClosed) as info:
        await recv_json(before_hello)
    assert info.value.rcvd is not None and info.value.rcvd.code == int(ErrorCode.BAD_MESSAGE)
    game_id, ws_a, _, _ = await started_game(arena)
    await ws_a.send('{"type": "ping", "id": ' + "[" * 40 + "]" * 40 + "}")
    await expect_error(ws_a, ErrorCode.BAD_MESSAGE)
    await ws_a.send(deep)
    await expect_error(ws_a, ErrorCode.BAD_MESSAGE)
    await ws_a.send(json.dumps({"type": "ping", "id": "still here"}))
    assert (await recv_type(ws_a, "pong"))["id"] == "still here"
    headers = await admin_headers(arena)
    async with httpx.AsyncClient(base_url=arena.url, headers=headers) as http:
        assert (await http.post("/api/bots", content=deep)).status_code == 400
    await no_5xx(arena, game_id)


@pytest.mark.parametrize("digits", ["²", "٣", "３", " 3", "3_0", "1e3", "-1", "99999999999"])
async def test_non_ascii_digits_are_malformed(arena: RunningServer, digits: str) -> None:
    """since=, limit= and ply= take ASCII digits only: anything else is 4000 / 400."""
    (a, _), (b, _) = await new_bot(arena, "x"), await new_bot(arena, "y")
    game_id = await arena.host.create_game("chess", (a, b), MatchConfig())
    ws = await websockets.connect(f"{arena.ws_url}/watch/{game_id}?since={quote(digits)}")
    assert (await recv_json(ws))["code"] == int(ErrorCode.BAD_MESSAGE)
    with pytest.raises(websockets.ConnectionClosed) as info:
        await recv_json(ws)
    assert info.value.rcvd is not None and info.value.rcvd.code == int(ErrorCode.BAD_MESSAGE)
    async with httpx.AsyncClient(base_url=arena.url) as http:
        svg = await http.get(f"/api/games/{game_id}/svg", params={"ply": digits})
        listed = await http.get("/api/games", params={"limit": digits})
    assert svg.status_code == 400
    assert listed.status_code == (200 if digits in ("-1", "99999999999") else 400)  # clamped
    await no_5xx(arena, game_id)


# ------------------------------------------------------------- 7. storage per game


async def test_meta_over_its_cap_is_refused_with_the_frame_named(arena: RunningServer) -> None:
    """A move whose meta exceeds MAX_META_BYTES is refused (4000 with game, ply, type)
    and nothing is stored; the same move without meta is then accepted."""
    game_id, ws_a, _, _ = await started_game(arena)
    before = await stored(arena, game_id)
    branches = [
        {"line": ["e2e4"] * 16, "rank": 1, "started_ms": 0, "ended_ms": 1, "outcome": "kept"}
    ] * 64
    frame = {"type": "move", "game_id": game_id, "ply": 0, "move": "e2e4",
             "meta": {"comment": "x" * 16_000, "branches": branches}}  # fmt: skip
    await ws_a.send(json.dumps(frame))
    error = await expect_error(ws_a, ErrorCode.BAD_MESSAGE)
    assert (error["game_id"], error["ply"], error["ref"]) == (game_id, 0, "move")
    assert str(MAX_META_BYTES) in error["message"]
    assert await stored(arena, game_id) == before
    await ws_a.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e2e4"}))
    assert (await recv_type(ws_a, "move_ack"))["ply"] == 0


async def test_a_game_stores_at_most_its_meta_budget(tmp_path: Path) -> None:
    """Past max_game_meta_bytes a move is still accepted, its comment is not stored, and
    the mover gets a warning naming what was dropped; a seek over MAX_PLIES is refused."""
    limits = Limits(max_game_meta_bytes=3000)
    async with running_server(str(tmp_path / "m.db"), limits=limits) as srv:
        game_id, ws_a, ws_b, _ = await started_game(srv)
        for ply, (ws, move) in enumerate([(ws_a, "e2e4"), (ws_b, "e7e5"), (ws_a, "g1f3")]):
            meta = {"actor_ms": 5.0, "comment": "c" * 1400}
            await ws.send(json.dumps(
                {"type": "move", "game_id": game_id, "ply": ply, "move": move, "meta": meta}
            ))  # fmt: skip
            await recv_type(ws, "move_ack")
        warning = await recv_type(ws_a, "warning")
        assert (warning["name"], warning["game_id"], warning["ply"]) == (
            "meta_not_stored", game_id, 2,
        )  # fmt: skip
        assert warning["ignored"] == ["comment"]
        metas = [m.meta for m in await srv.store.get_moves(game_id)]
        assert [m is not None and "comment" in m for m in metas] == [True, True, False]
        assert metas[2] == {"actor_ms": 5.0}
        await ws_a.send(json.dumps({"type": "seek", "max_plies": MAX_PLIES + 1}))
        await expect_error(ws_a, ErrorCode.BAD_MESSAGE)


def test_every_game_ends_by_max_plies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A game without max_plies (or with a larger one) is adjudicated at MAX_PLIES."""
    monkeypatch.setattr(match_module, "MAX_PLIES", 4)
    for max_plies in (None, 10):
        game = get_game("chess")
        m = Match.new(game, MatchConfig(max_plies=max_plies), game.initial_state()).start(0.0)
        for ply, move in enumerate(["g1f3", "g8f6", "f3g1", "f6g8"]):
            m = m.play(ply % 2, ply, move, 1.0).match
        assert (m.finished, m.reason, m.result) == (True, "max_plies", "1/2-1/2")


# ------------------------------------------------------------- 9. predictions


async def test_predictions_are_normalised_or_refused(arena: RunningServer) -> None:
    """SAN for the current position is stored as UCI; garbage, an illegal move for the
    current position and a non-canonical move for a later ply are refused with 4027
    quoting it (with game, ply and type); refused ones are not stored."""
    game_id, ws_a, ws_b, _ = await started_game(arena)

    async def predict(ws: Any, ply: int, moves: list[str]) -> None:
        frame = {"type": "predict", "game_id": game_id, "ply": ply, "moves": moves}
        await ws.send(json.dumps(frame))

    for ply, moves in [(0, ["zz99"]), (0, ["e2e5"]), (1, ["e5"]), (1, ["e7e5", "Nf6"])]:
        await predict(ws_b, ply, moves)
        error = await expect_error(ws_b, ErrorCode.BAD_PREDICTION)
        assert (error["game_id"], error["ply"], error["ref"]) == (game_id, ply, "predict")
        assert repr(moves[-1]) in error["message"]
    await predict(ws_b, 0, ["e4", "Nf3"])
    await predict(ws_a, 1, ["e7e5"])
    await ws_a.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e2e4"}))
    await recv_type(ws_a, "move_ack")
    await arena.store.flush()
    kept = [(p.seat, p.ply, p.moves) for p in await arena.store.get_predictions(game_id)]
    assert kept == [(1, 0, ["e2e4", "g1f3"]), (0, 1, ["e7e5"])]


# ------------------------------------------------------------- 10. unknown meta fields


async def test_an_unknown_meta_field_warns_and_keeps_the_move(arena: RunningServer) -> None:
    """A misspelt meta field does not cost the move: a warning names it (with game, ply,
    type), the move is acknowledged and stored without it. A bad value of a known field
    is refused with the frame's game, ply and type."""
    game_id, ws_a, _, _ = await started_game(arena)
    bad = {"type": "move", "game_id": game_id, "ply": 0, "move": "e2e4",
           "meta": {"actor_ms": "fast"}}  # fmt: skip
    await ws_a.send(json.dumps(bad))
    error = await expect_error(ws_a, ErrorCode.BAD_MESSAGE)
    assert (error["game_id"], error["ply"], error["ref"]) == (game_id, 0, "move")
    assert "meta.actor_ms" in error["message"]
    typo = bad | {"meta": {"actor_ms": 3.5, "actor_msec": 3.5, "tokens": 1}}
    await ws_a.send(json.dumps(typo))
    warning = await recv_json(ws_a)
    assert warning["type"] == "warning" and warning["name"] == "ignored_fields"
    assert (warning["game_id"], warning["ply"], warning["ref"]) == (game_id, 0, "move")
    assert warning["ignored"] == ["actor_msec", "tokens"]
    assert (await recv_json(ws_a))["type"] == "move_ack"
    assert [m.meta for m in await arena.store.get_moves(game_id)] == [{"actor_ms": 3.5}]
    await ws_a.send(json.dumps({"type": "resign", "game_id": "nope", "extra": 1}))
    error = await expect_error(ws_a, ErrorCode.BAD_MESSAGE)
    assert (error["game_id"], error["ref"]) == ("nope", "resign")


# ------------------------------------------------------------- 8. smaller items


async def test_client_frames_are_never_logged_before_auth(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At --log-level debug, a hello split across frames leaves no piece of its token
    in the server's logs (frames from clients are not logged at all)."""
    caplog.set_level(logging.DEBUG)
    uvicorn_log = logging.getLogger("uvicorn.error")  # uvicorn's loggers do not propagate
    async with running_server(str(tmp_path / "l.db"), log_level="debug") as srv:
        uvicorn_log.addHandler(caplog.handler)
        _, token = await new_bot(srv, "split")
        ws = await websockets.connect(srv.ws_url)
        hello = json.dumps({"type": "hello", "token": token})
        await ws.send([hello[i : i + 7] for i in range(0, len(hello), 7)])  # fragments
        assert (await recv_json(ws))["type"] == "welcome"
        await ws.close()
        uvicorn_log.removeHandler(caplog.handler)
    server_side = [r for r in caplog.records if r.name != "websockets.client"]  # not this test's
    logged = "\n".join(r.getMessage() for r in server_side)
    assert "> TEXT" in logged  # debug logging was on: frames sent to clients are logged
    pieces = [token[i : i + 6] for i in range(0, len(token) - 6, 3)]
    assert not [p for p in pieces if p in logged]


async def test_half_sent_http_requests_are_dropped(arena: RunningServer) -> None:
    """Connections whose request head never completes are closed after the head
    timeout (0.5 s here), while complete requests are answered."""
    sockets = []
    for _ in range(100):
        reader, writer = await asyncio.open_connection("127.0.0.1", arena.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sockets.append((reader, writer))
    async with httpx.AsyncClient(base_url=arena.url) as http:
        assert (await http.get("/api/health")).status_code == 200
    async with asyncio.timeout(3):
        closed = [await reader.read() for reader, _ in sockets]
    assert closed == [b""] * 100
    for _, writer in sockets:
        writer.close()


def test_one_name_rule_for_cli_and_api(tmp_path: Path) -> None:
    """`arena bot add` refuses the names the admin API refuses (a slash, a space)."""
    runner = CliRunner()
    db = str(tmp_path / "n.db")
    for name in ("a/b", "two words", "_x", "x" * 65):
        result = runner.invoke(cli_main, ["bot", "add", "--db", db, "--", name])
        assert result.exit_code != 0 and "not valid" in result.output, result.output
    assert runner.invoke(cli_main, ["bot", "add", "ok.bot-1", "--db", db]).exit_code == 0


async def test_a_name_with_a_slash_has_a_player_page(arena: RunningServer) -> None:
    """A bot stored by an older version under a name with '/' still has its page."""
    await arena.store.add_bot("old/name")
    async with httpx.AsyncClient(base_url=arena.url) as http:
        assert (await http.get("/players/old/name")).status_code == 200


def test_serve_exits_promptly_after_sigint(tmp_path: Path) -> None:
    """`arena serve` with open connections (a silent websocket, a keep-alive HTTP
    connection) exits within a few seconds of SIGINT."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    arena_bin = str(Path(sys.executable).parent / "arena")
    proc = subprocess.Popen(
        [arena_bin, "serve", "--port", "0", "--db", str(tmp_path / "s.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if "arena serving" in line:
                url = line.split("arena serving ", 1)[1].split()[0]
                break
        assert url.startswith("http://"), url

        async def hold_and_stop() -> float:
            ws = await websockets.connect(url.replace("http", "ws", 1) + "/ws")
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.get("/api/health")).status_code == 200
                began = time.monotonic()
                proc.send_signal(signal.SIGINT)
                await asyncio.to_thread(proc.wait, 15)
            await ws.close()
            return time.monotonic() - began

        assert asyncio.run(hold_and_stop()) < 6.0
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# ------------------------------------------------------------- 12. SDK backoff


async def test_sdk_backoff_resets_once_a_session_is_established() -> None:
    """A server that welcomes the bot and then drops the connection (an exception on
    the client's side) is reconnected to after the minimum backoff every time."""
    arrivals: list[float] = []
    seventh = asyncio.Event()

    async def welcome_then_drop(ws: ServerConnection) -> None:
        arrivals.append(time.monotonic())
        if len(arrivals) == 7:
            seventh.set()
        await ws.recv()  # hello
        welcome = {"type": "welcome", "protocol": 1, "bot": "b", "server": "s",
                   "max_message_bytes": 65536, "rate_limit_per_s": 200.0}  # fmt: skip
        await ws.send(json.dumps(welcome))
        await ws.send(json.dumps({"type": "resumed", "games": []}))
        ws.transport.abort()  # no close frame: ConnectionClosedError on the client

    async with serve(welcome_then_drop, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = BotClient(
            parse_player_spec("random").build(), f"ws://127.0.0.1:{port}", "t", backoff_s=(0.05, 5)
        )
        run = asyncio.create_task(client.run())
        async with asyncio.timeout(10):
            await seventh.wait()
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) < 0.4, gaps  # without the reset: 0.05, 0.1, 0.2, 0.4, 0.8, 1.6


# ------------------------------------------------------------- all at once


async def test_other_games_keep_moving_through_an_attack(arena: RunningServer) -> None:
    """While one address floods the server (silent sockets, spectators, half-sent HTTP
    requests) and a bot sends deep, non-finite and garbage frames, a game between two
    other bots plays to its end; afterwards no page or API answers 5xx."""
    calm_id, play = await bystanders(arena)
    game_id, ws_a, ws_b, _ = await started_game(arena)
    attacker = ("127.0.0.2", 0)
    silent: list[Any] = []
    for _ in range(20):
        with contextlib.suppress(websockets.InvalidStatus):
            silent.append(
                await websockets.connect(arena.ws_url, local_addr=attacker, close_timeout=1)
            )
    url = f"{arena.ws_url}/watch/{calm_id}"
    watchers = [
        await websockets.connect(url, local_addr=attacker, close_timeout=1) for _ in range(20)
    ]
    slow = []
    for _ in range(50):
        _, writer = await asyncio.open_connection("127.0.0.1", arena.port)
        writer.write(b"POST /api/bots HTTP/1.1\r\nHost: x\r\n")
        slow.append(writer)
    frames = [
        "[" * 60_000,
        f'{{"type":"move","game_id":"{game_id}","ply":0,"move":"e2e4","meta":{{"actor_ms":1e999}}}}',
        f'{{"type":"predict","game_id":"{game_id}","ply":0,"moves":["zz99"]}}',
        '{"type":"move","game_id":"' + game_id + '","ply":0,"move":"e2e4","meta":{"x":NaN}}',
        "\x00" * 1000,
    ]
    for frame in frames * 5:
        await ws_a.send(frame)
    await finished(arena, calm_id, play)
    ws_a.transport.abort()  # the attacker vanishes without reading its 25 answers
    await asyncio.gather(*(ws.close() for ws in [*silent, *watchers, ws_b]))
    for writer in slow:
        writer.close()
    await no_5xx(arena, calm_id, "calm-a", "calm-b")
    await no_5xx(arena, game_id, "white", "black")


# ------------------------------------------------------------- 11. docs and behaviour


async def test_the_forfeiting_illegal_move_is_refused_before_game_over(
    arena: RunningServer,
) -> None:
    """After max_retries illegal moves, the next one's 4024 arrives before the game_over
    it causes (the error about a frame precedes the events the frame caused)."""
    game_id, ws_a, _, _ = await started_game(arena)
    for _ in range(4):  # max_retries = 3: the fourth forfeits
        await ws_a.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e2e5"}))
        error = await recv_json(ws_a)
        assert (error["type"], error["code"], error["ply"]) == ("error", 4024, 0)
    over = await recv_json(ws_a)
    assert (over["type"], over["reason"]) == ("game_over", "illegal_move")


# ------------------------------------------------------------- 5. page readers


async def test_pages_read_by_many_are_rate_limited_per_address(tmp_path: Path) -> None:
    """Past its burst, one address gets 429 with Retry-After for the leaderboard pages
    (answered before any page work); another address, a game's own page and the game
    API are not limited."""
    limits = Limits(page_rate_per_s=1.0, page_burst=5)
    async with running_server(str(tmp_path / "r.db"), limits=limits) as srv:
        (a, _), (b, _) = await new_bot(srv, "x"), await new_bot(srv, "y")
        game_id = await srv.host.create_game("chess", (a, b), MatchConfig())
        async with httpx.AsyncClient(base_url=srv.url) as http:
            codes = [(await http.get(path)).status_code for path in ["/", "/api/leaderboard"] * 4]
            assert codes == [200] * 5 + [429] * 3
            limited = await http.get("/players/x")
            assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
            assert limited.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            for path in (f"/games/{game_id}", f"/api/games/{game_id}", "/static/style.css"):
                assert (await http.get(path)).status_code == 200, path
        other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=srv.url, transport=other) as http:
            assert (await http.get("/")).status_code == 200
