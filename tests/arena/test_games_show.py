"""Speculation accounting over a real server: the API record and `arena games show`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from arena.cli import main
from arena.errors import ErrorCode
from arena.serve import RunningServer
from tests.arena.test_server import expect_error, started_game
from tests.conftest import recv_type


async def send(ws: Any, **message: Any) -> None:
    await ws.send(json.dumps(message))


async def sync(ws: Any) -> None:
    """Wait until the server has handled everything sent so far on ``ws``."""
    await send(ws, type="ping", id="sync")
    await recv_type(ws, "pong")


async def cli(*args: str) -> Result:
    """Run the CLI in a thread: it runs its own event loop, beside the server's."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


BLACK_META = {
    "actor_ms": 5000,
    "prompt_tokens": 100,
    "completion_tokens": 20,
    "spec_calls": 2,
    "spec_tokens": 60,
    "wasted_tokens": 30,
    "speculation": "hit",
}


async def play_scored_game(server: RunningServer) -> str:
    """Three moves with predictions sent before (and after) the moves they predict."""
    game_id, ws_a, ws_b, _ = await started_game(server)
    # black predicts white's first move before it is played: a hit at rank 1
    await send(ws_b, type="predict", game_id=game_id, ply=0, moves=["e2e4", "d2d4"])
    await sync(ws_b)
    await send(ws_a, type="move", game_id=game_id, ply=0, move="e2e4", meta={"actor_ms": 40})
    await recv_type(ws_a, "move_ack")
    await recv_type(ws_b, "state")
    # white predicts black's reply; e7e5 is its second choice
    await send(ws_a, type="predict", game_id=game_id, ply=1, moves=["c7c5", "e7e5"])
    await sync(ws_a)
    # a prediction for a move already played is refused, so it can never count
    await send(ws_b, type="predict", game_id=game_id, ply=0, moves=["e2e4"])
    await expect_error(ws_b, ErrorCode.BAD_PREDICTION)
    await send(ws_b, type="move", game_id=game_id, ply=1, move="e7e5", meta=BLACK_META)
    await recv_type(ws_b, "move_ack")
    await recv_type(ws_a, "state")
    # a prediction received while black's move was being committed (the only window in
    # which the server stores one after the move arrived): stored, but late
    black_move = (await server.store.get_moves(game_id))[1]
    await server.store.add_prediction(
        game_id,
        ply=1,
        seat=0,
        moves=["e7e5"],
        probs=None,
        received_at=black_move.received_at + 1,
    )
    meta = {"actor_ms": 10, "prompt_tokens": 50, "completion_tokens": 10, "speculation": "miss"}
    await send(ws_a, type="move", game_id=game_id, ply=2, move="g1f3", meta=meta)
    await recv_type(ws_a, "move_ack")
    await recv_type(ws_b, "state")
    await send(ws_b, type="resign", game_id=game_id)
    await recv_type(ws_a, "game_over")
    return game_id


async def test_api_scores_predictions(server: RunningServer) -> None:
    """/api/games/{id} scores hits by rank, ignores late predictions and computes savings."""
    game_id = await play_scored_game(server)
    async with httpx.AsyncClient(base_url=server.url) as http:
        detail = (await http.get(f"/api/games/{game_id}")).json()
    assert len(detail["predictions"]) == 3  # the refused one was never stored
    moves = detail["speculation"]["moves"]
    assert [(m["ply"], m["predictions"], m["hit_rank"], m["late_predictions"]) for m in moves] == [
        (0, None, None, 0),
        (1, ["e2e4", "d2d4"], 1, 0),
        (2, ["c7c5", "e7e5"], 2, 1),
    ]
    for m, raw in zip(moves, detail["moves"], strict=True):
        assert m["response_ms"] == raw["response_ms"]
        assert m["saved_ms"] == raw["meta"]["actor_ms"] - raw["response_ms"]
    assert (moves[1]["actor_tokens"], moves[1]["spec_tokens"], moves[1]["wasted_tokens"]) == (
        120,
        60,
        30,
    )
    white, black = detail["speculation"]["players"]
    assert (white["name"], white["moves"], white["predicted"]) == ("white", 2, 1)
    assert (white["top1_accuracy"], white["topk_accuracy"], white["late_predictions"]) == (
        0.0,
        1.0,
        1,
    )
    assert white["token_overhead"] == 1.0 and white["sequential_ms"] == 50.0
    assert (black["name"], black["top1_accuracy"], black["topk_accuracy"]) == ("black", 1.0, 1.0)
    assert black["token_overhead"] == round(180 / 120, 4)
    assert black["saved_ms"] == 5000 - detail["moves"][1]["response_ms"]


async def test_games_show_cli(server: RunningServer, db_path: str) -> None:
    """`arena games show ID` prints the same record as the API (--json) and the tables."""
    game_id = await play_scored_game(server)
    async with httpx.AsyncClient(base_url=server.url) as http:
        api = (await http.get(f"/api/games/{game_id}")).json()

    as_json = await cli("games", "show", game_id, "--db", db_path, "--json")
    assert as_json.exit_code == 0, as_json.output
    shown = json.loads(as_json.output)
    assert shown["speculation"] == api["speculation"] and shown["moves"] == api["moves"]

    table = await cli("games", "show", game_id, "--db", db_path)
    assert table.exit_code == 0, table.output
    assert f"game {game_id} (chess): white white vs black black" in table.output
    assert "result 1-0 (resign), 3 plies" in table.output
    assert "e2e4*" in table.output and "e7e5*" in table.output  # the hits, marked
    assert "+1 late" in table.output
    assert "speculation totals" in table.output and "1/1 100.0%" in table.output

    listed = await cli("games", "--db", db_path, "--json")
    assert listed.exit_code == 0, listed.output
    assert [g["id"] for g in json.loads(listed.output)] == [game_id]


def test_games_show_unknown_game(tmp_path: Path) -> None:
    """Showing a game that does not exist is a clear error."""
    db = str(tmp_path / "empty.db")
    result = CliRunner().invoke(main, ["games", "show", "nope", "--db", db])
    assert result.exit_code == 1 and f"no game 'nope' in {db}" in result.output
