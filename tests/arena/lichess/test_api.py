"""The lichess Bot API driven by berserk against a real server on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any, cast

import chess
import httpx
import pytest
from berserk.exceptions import ResponseError

from arena.clock import TimeControl
from arena.limits import Limits
from arena.match import MatchConfig
from arena.presence import grace_ms
from arena.serve import RunningServer, running_server
from arena.store import BotRow
from clients.players import parse_player_spec
from clients.sdk import BotClient
from tests.arena.lichess import berserk_bot
from tests.arena.lichess.schema import check_event, check_game_full, check_game_state
from tests.conftest import connect_bot, new_bot

TIMEOUT_S = 20


def sdk_bot(server: RunningServer, token: str, seed: int = 1) -> BotClient:
    """A websocket SDK bot playing random moves, for one game."""
    player = parse_player_spec(f"random:seed={seed}").build()
    return BotClient(player, server.ws_url, token, max_games=1)


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel an SDK bot (that may have finished its game already)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def new_game(
    server: RunningServer, white: BotRow, black: BotRow, *, max_plies: int | None = 40
) -> str:
    config = MatchConfig(time_control=TimeControl.parse("60+1"), max_plies=max_plies)
    return await server.host.create_game("chess", (white, black), config)


async def test_berserk_bot_plays_a_whole_game_against_an_sdk_bot(server: RunningServer) -> None:
    """A berserk bot (lichess API) and a websocket SDK bot play one game through the same
    host: gameStart, gameFull, gameState after every move, gameFinish, the store agrees."""
    (lbot, ltoken), (wbot, wtoken) = await new_bot(server, "Lichessy"), await new_bot(server, "ws")
    game_id = await new_game(server, lbot, wbot, max_plies=None)
    ws = sdk_bot(server, wtoken)
    async with asyncio.timeout(TIMEOUT_S):
        (seen_id, seen), _ = await asyncio.gather(
            asyncio.to_thread(berserk_bot.play_one, server.url, ltoken, 7), ws.run()
        )
    assert seen_id == game_id
    row = await server.store.get_game(game_id)
    assert row is not None and row.status == "finished"
    stored = [m.move for m in await server.store.get_moves(game_id)]
    assert stored[0::2] == seen.played  # the lichess bot is white
    start, finish = seen.events[0], seen.events[-1]
    assert (start["type"], finish["type"]) == ("gameStart", "gameFinish")
    for event in (start, finish):
        check_event(event)
    assert start["game"]["color"] == "white" and start["game"]["isMyTurn"] is True
    assert start["game"]["opponent"]["username"] == "ws"
    full = seen.game[0]
    check_game_full(full)
    assert full["id"] == game_id and full["initialFen"] == "startpos"
    assert full["white"]["name"] == "Lichessy" and full["white"]["id"] == "lichessy"
    assert full["clock"] == {"initial": 60_000, "increment": 1_000}
    for state in seen.game[1:]:
        check_game_state(state)
    last = seen.last_state
    assert last["moves"].split() == stored
    assert last["status"] != "started"
    assert finish["game"]["status"]["name"] == last["status"]
    if row.winner is not None:
        assert last["winner"] == ("white", "black")[row.winner]
    # the response time of each of its moves is measured like a websocket bot's
    assert all(m.response_ms >= 0 for m in await server.store.get_moves(game_id))


async def test_account_endpoints_answer_as_lichess(server: RunningServer) -> None:
    """Account, token test, upgrade, user, status and online bots, as berserk reads them."""
    (_, token), _other = await new_bot(server, "Alpha"), await new_bot(server, "beta")
    api = berserk_bot.client(server.url, token)

    def calls() -> dict[str, Any]:
        return {
            "account": api.account.get(),
            "upgrade": api.account.upgrade_to_bot(),  # type: ignore[no-untyped-call]
            "user": api.users.get_public_data("alpha"),
            "status": api.users.get_realtime_statuses("Alpha", "beta", "nobody"),
            "playing": api.games.get_ongoing(),
            "online": list(api.bots.get_online_bots()),
        }

    got = await asyncio.to_thread(calls)
    assert got["account"]["username"] == "Alpha" and got["account"]["title"] == "BOT"
    assert got["account"]["id"] == "alpha"
    assert got["user"]["username"] == "Alpha" and got["user"]["online"] is False
    assert [s["name"] for s in got["status"]] == ["Alpha", "beta"]
    assert got["playing"] == [] and got["online"] == []
    async with httpx.AsyncClient(base_url=server.url) as http:
        test = (await http.post("/api/token/test", content=f"{token},nope")).json()
    assert test[token]["userId"] == "alpha" and "bot:play" in test[token]["scopes"]
    assert test["nope"] is None


async def test_bad_input_gets_lichess_answers(server: RunningServer) -> None:
    """Illegal move, move out of turn, unknown game, another bot's game, bad and revoked
    tokens: lichess's status codes with an {"error": ...} body, never a traceback."""
    (a, ta), (b, tb), (c, tc) = [await new_bot(server, n) for n in ("a", "b", "c")]
    game_id = await new_game(server, a, b)
    ws = sdk_bot(server, tb)
    runner = asyncio.create_task(ws.run())
    api_a, api_b, api_c = (berserk_bot.client(server.url, t) for t in (ta, tb, tc))

    def status_of(call: Any, *args: Any) -> tuple[int, dict[str, Any]]:
        try:
            call(*args)
        except ResponseError as exc:
            return exc.status_code, exc.response.json() if exc.response is not None else {}
        return 200, {}

    try:
        async with asyncio.timeout(TIMEOUT_S):
            seen = berserk_bot.Seen()
            events = berserk_bot.event_stream(api_a)
            await asyncio.to_thread(next, events)  # gameStart: both are connected

            def bad_calls() -> dict[str, tuple[int, dict[str, Any]]]:
                return {
                    "illegal": status_of(api_a.bots.make_move, game_id, "e2e5"),
                    "garbage": status_of(api_a.bots.make_move, game_id, "zz"),
                    "out_of_turn": status_of(api_b.bots.make_move, game_id, "e7e5"),
                    "unknown": status_of(api_a.bots.make_move, "nosuchgame", "e2e4"),
                    "not_mine": status_of(api_c.bots.make_move, game_id, "e2e4"),
                    "not_mine_stream": status_of(
                        lambda: next(berserk_bot.game_stream(api_c, game_id))
                    ),
                    "claim": status_of(api_a.bots.claim_victory, game_id)
                    if hasattr(api_a.bots, "claim_victory")
                    else (400, {"error": "n/a"}),
                    "takeback": status_of(
                        lambda: api_a._r.post(f"/api/bot/game/{game_id}/takeback/yes")
                    ),
                    "bad_token": status_of(
                        berserk_bot.client(server.url, "not-a-token").account.get
                    ),
                }

            got = await asyncio.to_thread(bad_calls)
            assert got["illegal"][0] == 400 and "e2e5" in got["illegal"][1]["error"]
            assert got["garbage"][0] == 400
            assert got["out_of_turn"][0] == 400 and "turn" in got["out_of_turn"][1]["error"]
            assert got["unknown"][0] == 404 and got["unknown"][1]["error"]
            assert got["not_mine"][0] == 404 and got["not_mine_stream"][0] == 404
            assert got["claim"][0] == 400 and got["takeback"][0] == 400
            assert got["bad_token"] == (401, {"error": "No such token"})
            await server.store.revoke_bot_tokens(c.id)
            revoked_at = time.monotonic()
            # refused within the revocation poll, as an open websocket of it is closed
            while (await asyncio.to_thread(status_of, api_c.account.get))[0] != 401:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            waited = time.monotonic() - revoked_at
            assert waited <= server.host.limits.revocation_poll_s + 1.0
            # the legal move is still accepted after all that
            await asyncio.to_thread(api_a.bots.make_move, game_id, "e2e4")
            await asyncio.to_thread(berserk_bot.play_game, api_a, game_id, "white", seen)
            events.close()
    finally:
        await stop(runner)
    assert seen.game[0]["state"]["moves"].split()[0] == "e2e4"
    row = await server.store.get_game(game_id)
    assert row is not None and row.status == "finished"


async def test_dropped_game_stream_is_reopened_mid_game(server: RunningServer) -> None:
    """A game stream closed mid-game and opened again starts with a gameFull holding every
    move so far, and the game goes on to its end."""
    (a, ta), (b, tb) = await new_bot(server, "a"), await new_bot(server, "b")
    game_id = await new_game(server, a, b, max_plies=30)
    ws = sdk_bot(server, tb)
    runner = asyncio.create_task(ws.run())
    api = berserk_bot.client(server.url, ta)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            events = berserk_bot.event_stream(api)
            start = await asyncio.to_thread(next, events)
            assert start["type"] == "gameStart"
            first = berserk_bot.Seen()
            await asyncio.to_thread(
                berserk_bot.play_game, api, game_id, "white", first, stop_after=4
            )
            # the dropped stream: a client that reads a little, then hangs up
            async with (
                httpx.AsyncClient(base_url=server.url) as http,
                http.stream(
                    "GET",
                    f"/api/bot/game/stream/{game_id}",
                    headers={"Authorization": f"Bearer {ta}"},
                ) as response,
            ):
                assert response.headers["content-type"].startswith("application/x-ndjson")
                async for line in response.aiter_lines():
                    if line:
                        break
            again = berserk_bot.Seen(played=list(first.played))
            await asyncio.to_thread(berserk_bot.play_game, api, game_id, "white", again, seed=2)
            events.close()
    finally:
        await stop(runner)
    reopened = again.game[0]
    check_game_full(reopened)
    moves = reopened["state"]["moves"].split()
    assert moves[0::2][:4] == first.played[:4] and len(moves) >= 8
    row = await server.store.get_game(game_id)
    assert row is not None and row.status == "finished"
    stored = [m.move for m in await server.store.get_moves(game_id)]
    assert again.last_state["moves"].split() == stored


async def test_abort_and_resign(server: RunningServer) -> None:
    """Abort before both sides moved ends the game as ``aborted``; later it is refused,
    and resign ends a game with the opponent the winner."""
    (a, ta), (b, tb) = await new_bot(server, "a"), await new_bot(server, "b")
    api = berserk_bot.client(server.url, ta)
    first = await new_game(server, a, b)
    ws = sdk_bot(server, tb)
    runner = asyncio.create_task(ws.run())
    try:
        async with asyncio.timeout(TIMEOUT_S):
            events = berserk_bot.event_stream(api)
            assert (await asyncio.to_thread(next, events))["type"] == "gameStart"
            await asyncio.to_thread(api.bots.abort_game, first)
            finish = await asyncio.to_thread(next, events)
            check_event(finish)
            assert finish["type"] == "gameFinish"
            assert finish["game"]["status"]["name"] == "aborted"
            events.close()
    finally:
        await stop(runner)
    row = await server.store.get_game(first)
    assert row is not None and (row.status, row.result, row.reason) == (
        "finished",
        "*",
        "aborted",
    )
    second = await new_game(server, a, b)
    ws = sdk_bot(server, tb)
    runner = asyncio.create_task(ws.run())
    async with asyncio.timeout(TIMEOUT_S):
        seen = berserk_bot.Seen()
        events = berserk_bot.event_stream(api)
        await asyncio.to_thread(next, events)
        await asyncio.to_thread(berserk_bot.play_game, api, second, "white", seen, stop_after=2)
        with pytest.raises(ResponseError) as refused:
            await asyncio.to_thread(api.bots.abort_game, second)
        assert refused.value.status_code == 400
        await asyncio.to_thread(api.bots.resign_game, second)
        await runner
        events.close()
    row = await server.store.get_game(second)
    assert row is not None and (row.result, row.reason, row.winner) == ("0-1", "resign", 1)


async def test_export_and_chat(server: RunningServer) -> None:
    """A finished game exports as PGN and as lichess JSON; chat is accepted and relayed."""
    (a, ta), (b, tb) = await new_bot(server, "a"), await new_bot(server, "b")
    game_id = await new_game(server, a, b, max_plies=6)
    ws = sdk_bot(server, tb)
    api = berserk_bot.client(server.url, ta)
    async with asyncio.timeout(TIMEOUT_S):
        (_, seen), _ = await asyncio.gather(
            asyncio.to_thread(berserk_bot.play_one, server.url, ta, 3), ws.run()
        )
        pgn = await asyncio.to_thread(lambda: str(api.games.export(game_id, as_pgn=True)))
        data = await asyncio.to_thread(lambda: cast(dict[str, Any], api.games.export(game_id)))
    assert '[White "a"]' in pgn and '[Black "b"]' in pgn
    assert data["id"] == game_id and data["status"] == "draw"  # max_plies
    assert data["players"]["white"]["user"]["name"] == "a"
    assert len(data["moves"].split()) == 6
    assert seen.last_state["status"] == "draw"


async def test_predictions_through_the_extension_are_scored(server: RunningServer) -> None:
    """A lichess bot's guesses sent to ``/predict`` are stored before the reply and scored
    like a websocket bot's; bad predictions get 400."""
    (a, ta), (b, tb) = await new_bot(server, "seer"), await new_bot(server, "ws")
    game_id = await new_game(server, a, b, max_plies=10)
    ws = sdk_bot(server, tb)
    runner = asyncio.create_task(ws.run())
    api = berserk_bot.client(server.url, ta)
    async with asyncio.timeout(TIMEOUT_S):
        events = berserk_bot.event_stream(api)
        assert (await asyncio.to_thread(next, events))["type"] == "gameStart"
        seen = berserk_bot.Seen()
        await asyncio.to_thread(
            berserk_bot.play_game, api, game_id, "white", seen, predict=(server.url, ta)
        )
        await runner
        events.close()
        async with httpx.AsyncClient(base_url=server.url) as http:
            bad = await http.post(
                f"/api/bot/game/{game_id}/predict",
                json={"moves": []},
                headers={"Authorization": f"Bearer {ta}"},
            )
            detail = (await http.get(f"/api/games/{game_id}")).json()
    assert bad.status_code == 400 and "error" in bad.json()
    predictions = await server.store.get_predictions(game_id)
    assert {p.seat for p in predictions} == {0}
    assert sorted(p.ply for p in predictions) == [1, 3, 5, 7, 9]
    moves = [m.move for m in await server.store.get_moves(game_id)]
    for p in predictions:  # the bot's guesses, as sent: the first 8 legal replies
        board = chess.Board()
        for move in moves[: p.ply]:
            board.push_uci(move)
        assert p.moves == sorted(m.uci() for m in board.legal_moves)[:8]
    scored = detail["speculation"]
    assert "seer" in json.dumps(scored)


async def test_chat_is_relayed_as_a_chat_line(server: RunningServer) -> None:
    """A chat message (berserk's JSON body or lichess-bot's form) reaches the game streams of
    both lichess players as ``chatLine``; a game not the bot's is 404."""
    (a, ta), (b, tb) = await new_bot(server, "talker"), await new_bot(server, "listener")
    (_c, tc) = await new_bot(server, "outsider")
    game_id = await new_game(server, a, b)
    api_a, api_b = berserk_bot.client(server.url, ta), berserk_bot.client(server.url, tb)
    async with asyncio.timeout(TIMEOUT_S):
        events_a, events_b = berserk_bot.event_stream(api_a), berserk_bot.event_stream(api_b)
        await asyncio.gather(*(asyncio.to_thread(next, e) for e in (events_a, events_b)))
        stream = berserk_bot.game_stream(api_b, game_id)
        assert (await asyncio.to_thread(next, stream))["type"] == "gameFull"
        await asyncio.to_thread(api_a.bots.post_message, game_id, "good luck")
        async with httpx.AsyncClient(base_url=server.url) as http:
            form = await http.post(
                f"/api/bot/game/{game_id}/chat",
                data={"room": "spectator", "text": "hello room"},
                headers={"Authorization": f"Bearer {ta}"},
            )
            outsider = await http.post(
                f"/api/bot/game/{game_id}/chat",
                data={"room": "player", "text": "hi"},
                headers={"Authorization": f"Bearer {tc}"},
            )
        first = await asyncio.to_thread(next, stream)
        second = await asyncio.to_thread(next, stream)
        await asyncio.to_thread(api_a.bots.abort_game, game_id)
        for generator in (stream, events_a, events_b):
            generator.close()
    assert form.json() == {"ok": True}
    assert outsider.status_code == 404 and outsider.json() == {"error": "No such game"}
    assert first == {
        "type": "chatLine",
        "room": "player",
        "username": "talker",
        "text": "good luck",
    }
    assert (second["room"], second["text"]) == ("spectator", "hello room")


async def test_requests_beyond_the_rate_limit_get_429(tmp_path: Path) -> None:
    """A bot's requests are limited like a websocket connection's messages: past the burst,
    lichess's 429 with an error body."""
    limits = Limits(rate_per_s=0.01, burst=3)
    async with running_server(str(tmp_path / "rl.db"), limits=limits) as srv:
        _, token = await new_bot(srv, "hasty")
        async with httpx.AsyncClient(
            base_url=srv.url, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            codes = [(await http.get("/api/account")).status_code for _ in range(5)]
            refused = await http.get("/api/account")
    assert codes == [200, 200, 200, 429, 429]
    assert refused.json() == {"error": "Too many requests. Try again later."}


async def test_opponent_gone_and_back(server: RunningServer) -> None:
    """When the websocket opponent's connection drops, the lichess bot's game stream gets
    ``opponentGone`` (gone, with the seconds until the arena adjudicates); when it
    reconnects, ``opponentGone`` with gone false."""
    (a, ta), (b, tb) = await new_bot(server, "stays"), await new_bot(server, "leaves")
    game_id = await new_game(server, a, b)
    api = berserk_bot.client(server.url, ta)
    async with asyncio.timeout(TIMEOUT_S):
        events = berserk_bot.event_stream(api)
        ws = await connect_bot(server, tb)
        assert (await asyncio.to_thread(next, events))["type"] == "gameStart"
        stream = berserk_bot.game_stream(api, game_id)
        assert (await asyncio.to_thread(next, stream))["type"] == "gameFull"
        await ws.close()
        gone = await asyncio.to_thread(next, stream)
        ws = await connect_bot(server, tb)
        back = await asyncio.to_thread(next, stream)
        await asyncio.to_thread(api.bots.abort_game, game_id)
        await ws.close()
        for generator in (stream, events):
            generator.close()
    limits = server.host.limits
    grace = grace_ms(
        TimeControl.parse("60+1"),
        round(limits.grace_min_s * 1000),
        round(limits.grace_max_s * 1000),
    )
    assert gone == {"type": "opponentGone", "gone": True, "claimWinInSeconds": -(-grace // 1000)}
    assert back == {"type": "opponentGone", "gone": False}


async def test_a_bot_that_never_opens_the_game_stream_loses_on_time(
    server: RunningServer,
) -> None:
    """A lichess bot told of a game (gameStart) that never plays it loses by its clock:
    the game ends with a recorded reason, and gameFinish says outoftime."""
    (a, ta), (b, tb) = await new_bot(server, "sleepy"), await new_bot(server, "ws")
    config = MatchConfig(time_control=TimeControl.parse("1+0"))
    game_id = await server.host.create_game("chess", (a, b), config)
    runner = asyncio.create_task(sdk_bot(server, tb).run())
    api = berserk_bot.client(server.url, ta)
    async with asyncio.timeout(TIMEOUT_S):
        events = berserk_bot.event_stream(api)
        start = await asyncio.to_thread(next, events)
        finish = await asyncio.to_thread(next, events)
        events.close()
        await runner
    assert start["type"] == "gameStart" and finish["type"] == "gameFinish"
    check_event(finish)
    assert finish["game"]["status"]["name"] == "outoftime"
    assert finish["game"]["winner"] == "black"
    row = await server.store.get_game(game_id)
    assert row is not None and (row.result, row.reason) == ("0-1", "timeout")
