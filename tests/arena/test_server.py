"""The server over real websockets on a free port, with a real SQLite file."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import chess.pgn
import httpx
import pytest
import websockets

from arena.clock import TimeControl
from arena.errors import ErrorCode
from arena.match import MatchConfig
from arena.records import game_pgn
from arena.serve import RunningServer
from clients.players import parse_player_spec
from clients.sdk import BotClient
from games.chess import moves_from_pgn
from tests.conftest import connect_bot, new_bot, recv_json, recv_type


async def play_sdk_game(server: RunningServer, game: str, max_plies: int | None) -> str:
    (a, ta), (b, tb) = await new_bot(server, "alice"), await new_bot(server, "bob")
    config = MatchConfig(time_control=TimeControl.parse("60+0"), max_plies=max_plies)
    game_id = await server.host.create_game(game, (a, b), config)
    clients = [
        BotClient(parse_player_spec(f"random:seed={s}").build(), server.ws_url, t, max_games=1)
        for s, t in ((1, ta), (2, tb))
    ]
    async with asyncio.timeout(60):
        await asyncio.gather(*(c.run() for c in clients))
    assert [r.game_id for r in clients[0].results] == [game_id]
    return game_id


async def test_chess_game_end_to_end_matches_pgn(server: RunningServer) -> None:
    """Two SDK bots play chess to the end; stored moves equal the exported PGN's moves."""
    game_id = await play_sdk_game(server, "chess", max_plies=None)
    row = await server.store.get_game(game_id)
    assert row is not None and row.status == "finished"
    assert row.result in ("1-0", "0-1", "1/2-1/2") and row.reason
    stored = [m.move for m in await server.store.get_moves(game_id)]
    assert len(stored) == row.ply > 0
    pgn = await game_pgn(server.store, game_id)
    assert pgn is not None
    assert moves_from_pgn(pgn) == stored
    parsed = chess.pgn.read_game(__import__("io").StringIO(pgn))
    assert parsed is not None and parsed.headers["Result"] == row.result


async def test_connect4_game_end_to_end(server: RunningServer) -> None:
    """Connect Four is played over the same server and stored with timings."""
    game_id = await play_sdk_game(server, "connect4", max_plies=None)
    async with httpx.AsyncClient(base_url=server.url) as http:
        detail = (await http.get(f"/api/games/{game_id}")).json()
        pgn = await http.get(f"/api/games/{game_id}/pgn")
    assert detail["status"] == "finished" and detail["reason"] in ("four_in_a_row", "board_full")
    assert len(detail["moves"]) == detail["plies"]
    assert all(m["response_ms"] >= 0 and m["meta"]["actor_ms"] >= 0 for m in detail["moves"])
    assert pgn.status_code == 409


async def test_max_plies_adjudicated(server: RunningServer) -> None:
    """A game reaching max plies is a draw with reason max_plies."""
    game_id = await play_sdk_game(server, "chess", max_plies=6)
    row = await server.store.get_game(game_id)
    assert row is not None and (row.result, row.reason, row.ply) == ("1/2-1/2", "max_plies", 6)


# ---------------------------------------------------------------------- bad input


async def started_game(server: RunningServer) -> tuple[str, Any, Any, str]:
    """A chess game between two raw connections, both past game_start."""
    (a, ta), (b, tb) = await new_bot(server, "white"), await new_bot(server, "black")
    ws_a, ws_b = await connect_bot(server, ta), await connect_bot(server, tb)
    game_id = await server.host.create_game("chess", (a, b), MatchConfig())
    start = await recv_type(ws_a, "game_start")
    await recv_type(ws_b, "game_start")
    assert start["seat"] == 0 and start["to_move"] == 0
    return game_id, ws_a, ws_b, tb


async def stored(server: RunningServer, game_id: str) -> tuple[Any, ...]:
    row = await server.store.get_game(game_id)
    assert row is not None
    moves = await server.store.get_moves(game_id)
    return (row.state, row.ply, row.status, len(moves))


async def expect_error(ws: Any, code: ErrorCode) -> dict[str, Any]:
    msg = await recv_type(ws, "error")
    assert msg["code"] == int(code), msg
    assert msg["name"] == code.name.lower() and msg["message"]
    return msg


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", ErrorCode.BAD_MESSAGE),
        ('{"type": "teleport"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "move", "game_id": "x"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "hello", "token": "again"}', ErrorCode.ALREADY_AUTHENTICATED),
    ],
)
async def test_malformed_messages_change_nothing(
    server: RunningServer, frame: str, code: ErrorCode
) -> None:
    """Malformed or unknown messages get their error code; the game is unchanged."""
    game_id, ws_a, _, _ = await started_game(server)
    before = await stored(server, game_id)
    await ws_a.send(frame)
    await expect_error(ws_a, code)
    assert await stored(server, game_id) == before
    # the connection is still usable
    await ws_a.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e2e4"}))
    assert (await recv_type(ws_a, "move_ack"))["move"] == "e2e4"


async def test_binary_frame_refused(server: RunningServer) -> None:
    """A binary frame gets BINARY_FRAME and changes nothing."""
    game_id, ws_a, _, _ = await started_game(server)
    before = await stored(server, game_id)
    await ws_a.send(b'{"type":"ping"}')
    await expect_error(ws_a, ErrorCode.BINARY_FRAME)
    assert await stored(server, game_id) == before


async def test_oversized_frame_closes_1009(server: RunningServer) -> None:
    """A frame over the size limit closes the connection with 1009; nothing stored."""
    game_id, ws_a, _, _ = await started_game(server)
    before = await stored(server, game_id)
    await ws_a.send(json.dumps({"type": "ping", "id": "x" * 40_000}))
    with pytest.raises(websockets.ConnectionClosed) as info:
        await recv_json(ws_a)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    assert await stored(server, game_id) == before


async def test_wrong_token_refused(server: RunningServer) -> None:
    """An unknown token gets BAD_TOKEN and the connection closes with 4011."""
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": "arena_nope"}))
        await expect_error(ws, ErrorCode.BAD_TOKEN)
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4011


async def test_missing_hello_refused(server: RunningServer) -> None:
    """A first message that is not hello gets HELLO_REQUIRED (4010) and a close."""
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "move", "game_id": "g", "ply": 0, "move": "e2e4"}))
        await expect_error(ws, ErrorCode.HELLO_REQUIRED)
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4010


async def test_hello_without_token_refused(server: RunningServer) -> None:
    """A hello with no token is a BAD_MESSAGE and the connection closes."""
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        await expect_error(ws, ErrorCode.BAD_MESSAGE)
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == int(ErrorCode.BAD_MESSAGE)


async def test_move_out_of_turn(server: RunningServer) -> None:
    """Black moving on White's turn gets NOT_YOUR_TURN; nothing stored."""
    game_id, _, ws_b, _ = await started_game(server)
    before = await stored(server, game_id)
    await ws_b.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e7e5"}))
    await expect_error(ws_b, ErrorCode.NOT_YOUR_TURN)
    assert await stored(server, game_id) == before


async def test_move_by_outsider(server: RunningServer) -> None:
    """A bot that does not sit in the game gets NOT_YOUR_GAME; nothing stored."""
    game_id, _, _, _ = await started_game(server)
    _, tc = await new_bot(server, "mallory")
    ws_c = await connect_bot(server, tc)
    before = await stored(server, game_id)
    await ws_c.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e2e4"}))
    await expect_error(ws_c, ErrorCode.NOT_YOUR_GAME)
    assert await stored(server, game_id) == before


async def test_illegal_move_then_legal(server: RunningServer) -> None:
    """An illegal move is refused with the legal alternatives; a legal one then goes through."""
    game_id, ws_a, ws_b, _ = await started_game(server)
    await ws_a.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e2e5"}))
    err = await expect_error(ws_a, ErrorCode.ILLEGAL_MOVE)
    assert "e2e5" in err["message"] and "e2e4" in err["message"] and err["ply"] == 0
    assert (await stored(server, game_id))[1] == 0
    await ws_a.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "Nf3"}))
    ack = await recv_type(ws_a, "move_ack")
    state = await recv_type(ws_b, "state")
    assert ack["move"] == "g1f3" and state["last_move"] == "g1f3" and state["seq"] == 1
    assert (await stored(server, game_id))[1] == 1


async def test_move_in_finished_game(server: RunningServer) -> None:
    """After resignation, a move gets GAME_FINISHED and nothing is stored."""
    game_id, ws_a, ws_b, _ = await started_game(server)
    await ws_a.send(json.dumps({"type": "resign", "game_id": game_id}))
    over = await recv_type(ws_b, "game_over")
    assert (over["result"], over["reason"]) == ("0-1", "resign")
    before = await stored(server, game_id)
    await ws_b.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e7e5"}))
    await expect_error(ws_b, ErrorCode.GAME_FINISHED)
    assert await stored(server, game_id) == before


async def test_spectator_sees_moves_and_cannot_act(server: RunningServer) -> None:
    """A spectator gets the snapshot and each move, and its messages are refused."""
    game_id, ws_a, _, _ = await started_game(server)
    async with websockets.connect(f"{server.ws_url}/watch/{game_id}") as watcher:
        snap = await recv_json(watcher)
        assert snap["type"] == "game_start" and snap["seat"] is None
        await ws_a.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "d4"}))
        state = await recv_type(watcher, "state")
        assert state["last_move"] == "d2d4"
        await watcher.send(json.dumps({"type": "move", "game_id": game_id, "ply": 1, "move": "d5"}))
        await expect_error(watcher, ErrorCode.READ_ONLY)
    assert (await stored(server, game_id))[1] == 1


async def test_rate_limit(server: RunningServer) -> None:
    """Flooding gets RATE_LIMITED errors and finally a close with 4090."""
    _, token = await new_bot(server, "flood")
    # The client keeps reading while it floods (no queue limit): with websockets'
    # default queue of 16 frames it stops reading, the server's answers back up
    # behind TCP flow control, and its close can take longer than the test waits.
    ws = await connect_bot(server, token, max_queue=None)
    for i in range(2000):
        try:
            await ws.send(json.dumps({"type": "ping", "id": str(i)}))
        except websockets.ConnectionClosed:
            break
    codes: list[int] = []

    async def drain() -> None:
        while True:
            msg = await recv_json(ws)
            if msg["type"] == "error":
                codes.append(msg["code"])

    with pytest.raises(websockets.ConnectionClosed) as info:
        await drain()
    assert info.value.rcvd is not None and info.value.rcvd.code == int(ErrorCode.RATE_LIMITED)
    assert int(ErrorCode.RATE_LIMITED) in codes


async def test_predict_is_stored(server: RunningServer) -> None:
    """A prediction for the opponent's next move is stored with its receive time."""
    game_id, ws_a, _, _ = await started_game(server)
    await ws_a.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e4"}))
    await recv_type(ws_a, "move_ack")
    await ws_a.send(
        json.dumps({"type": "predict", "game_id": game_id, "ply": 1, "moves": ["e7e5", "c7c5"]})
    )
    await ws_a.send(json.dumps({"type": "ping", "id": "sync"}))
    await recv_type(ws_a, "pong")  # frames are handled in order: the prediction is queued
    await server.store.flush()
    preds = await server.store.get_predictions(game_id)
    assert [(p.ply, p.seat, p.moves) for p in preds] == [(1, 0, ["e7e5", "c7c5"])]


async def test_seek_pairs_two_bots(server: RunningServer) -> None:
    """Two matching seeks become a game with both bots seated."""
    _, ta = await new_bot(server, "s1")
    _, tb = await new_bot(server, "s2")
    ws_a, ws_b = await connect_bot(server, ta), await connect_bot(server, tb)
    await ws_a.send(json.dumps({"type": "seek", "game": "connect4", "time_control": "30+0"}))
    assert (await recv_type(ws_a, "seek_ack"))["seek_id"]
    await ws_b.send(json.dumps({"type": "seek", "game": "connect4", "time_control": "30+0"}))
    start_a, start_b = await recv_type(ws_a, "game_start"), await recv_type(ws_b, "game_start")
    assert start_a["game_id"] == start_b["game_id"] and start_a["game"] == "connect4"
    assert {start_a["seat"], start_b["seat"]} == {0, 1}


async def test_bad_seek(server: RunningServer) -> None:
    """A seek for an unknown game gets BAD_SEEK naming the valid games."""
    _, ta = await new_bot(server, "s3")
    ws = await connect_bot(server, ta)
    await ws.send(json.dumps({"type": "seek", "game": "go"}))
    err = await expect_error(ws, ErrorCode.BAD_SEEK)
    assert "chess" in err["message"]


async def test_api_lists_games(server: RunningServer) -> None:
    """The JSON API lists games and 404s an unknown id."""
    game_id, _, _, _ = await started_game(server)
    async with httpx.AsyncClient(base_url=server.url) as http:
        listing = (await http.get("/api/games")).json()
        missing = await http.get("/api/games/nope")
        page = await http.get("/")
    assert game_id in [g["id"] for g in listing["games"]]
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    assert page.status_code == 200 and game_id in page.text


async def test_time_runs_out_over_the_server(server: RunningServer) -> None:
    """A player that does not move loses on time; both sides hear game_over 'timeout'."""
    (a, ta), (b, tb) = await new_bot(server, "slow"), await new_bot(server, "fast")
    ws_a, ws_b = await connect_bot(server, ta), await connect_bot(server, tb)
    config = MatchConfig(time_control=TimeControl.parse("0.3+0"))
    game_id = await server.host.create_game("chess", (a, b), config)
    over = await recv_type(ws_b, "game_over")
    assert (over["result"], over["reason"], over["winner"]) == ("0-1", "timeout", 1)
    assert (await recv_type(ws_a, "game_over"))["reason"] == "timeout"
    row = await server.store.get_game(game_id)
    assert row is not None and row.status == "finished" and row.clocks[0] == 0


async def test_sdk_reconnects_and_resumes(server: RunningServer) -> None:
    """When the server drops a bot's connection mid-game, the SDK reconnects and finishes it."""
    (a, ta), (b, tb) = await new_bot(server, "steady"), await new_bot(server, "dropped")
    config = MatchConfig(time_control=TimeControl.parse("30+0"), max_plies=300)
    game_id = await server.host.create_game("chess", (a, b), config)
    clients = [
        BotClient(parse_player_spec(f"random:seed={s}").build(), server.ws_url, t, max_games=1)
        for s, t in ((1, ta), (2, tb))
    ]
    clients[1].backoff_s = (0.05, 0.2)
    tasks = [asyncio.create_task(c.run()) for c in clients]
    async with asyncio.timeout(30):
        for _ in range(3000):
            row = await server.store.get_game(game_id)
            if row is not None and row.ply >= 4:
                break
            await asyncio.sleep(0.001)
        server.host.peers[b.id].close(1012, "test: dropping this connection")
        dropped_at = row.ply if row else 0
        await asyncio.gather(*tasks)
    final = await server.store.get_game(game_id)
    assert final is not None and final.status == "finished" and final.reason != "timeout"
    assert final.ply > dropped_at
    assert clients[1].connections == 2
    assert [r.game_id for r in clients[1].results] == [game_id]


async def test_game_over_reaches_a_bot_that_was_away(server: RunningServer) -> None:
    """A bot disconnected when its game ended gets the game_over when it reconnects."""
    game_id, ws_a, ws_b, tb = await started_game(server)
    await ws_b.close()
    await ws_a.send(json.dumps({"type": "resign", "game_id": game_id}))
    await recv_type(ws_a, "game_over")
    ws_b2 = await connect_bot(server, tb)
    over = await recv_type(ws_b2, "game_over")
    assert (over["game_id"], over["reason"]) == (game_id, "resign")


def test_client_ignores_unknown_server_fields() -> None:
    """Server messages with fields this client does not know still parse (forward compatible)."""
    from arena.protocol import Pong, parse_server_message

    assert parse_server_message('{"type": "pong", "id": "1", "new_field": 3}') == Pong(id="1")


async def test_prediction_sent_with_the_move_counts(server: RunningServer) -> None:
    """The prediction of the reply may go out right before one's own move: the
    move does not wait for its commit, and it counts against an instant reply."""
    game_id, ws_a, ws_b, _ = await started_game(server)
    await ws_a.send(
        json.dumps({"type": "predict", "game_id": game_id, "ply": 1, "moves": ["c7c5", "e7e5"]})
    )
    await ws_a.send(json.dumps({"type": "move", "game_id": game_id, "ply": 0, "move": "e4"}))
    await recv_type(ws_b, "state")
    await ws_b.send(json.dumps({"type": "move", "game_id": game_id, "ply": 1, "move": "e5"}))
    await recv_type(ws_a, "state")
    await ws_a.send(json.dumps({"type": "move", "game_id": game_id, "ply": 2, "move": "Nf3"}))
    await recv_type(ws_b, "state")
    async with httpx.AsyncClient(base_url=server.url) as http:
        detail = (await http.get(f"/api/games/{game_id}")).json()
    scored = detail["speculation"]["moves"][2]  # scored on white's next move
    assert (scored["predictions"], scored["hit_rank"], scored["late_predictions"]) == (
        ["c7c5", "e7e5"],
        2,
        0,
    )


async def test_predictions_per_ply_are_capped(server: RunningServer) -> None:
    """A seat may store a few predictions per ply; more are refused and not stored."""
    from arena.host import MAX_PREDICTS_PER_PLY

    game_id, ws_a, _, _ = await started_game(server)
    frame = json.dumps({"type": "predict", "game_id": game_id, "ply": 1, "moves": ["e7e5"]})
    for _ in range(MAX_PREDICTS_PER_PLY):
        await ws_a.send(frame)
    await ws_a.send(frame)
    err = await expect_error(ws_a, ErrorCode.BAD_PREDICTION)
    assert "at most" in err["message"]
    await server.store.flush()
    rows = await server.store.get_predictions(game_id)
    assert len(rows) == MAX_PREDICTS_PER_PLY
