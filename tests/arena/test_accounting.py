"""Scoring of predictions and savings on scripted stored rows (no server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from arena.accounting import account_game
from arena.store import MoveRow, PredictionRow


def move(
    ply: int, seat: int, uci: str, received_at: float, response_ms: int, meta: dict[str, Any] | None
) -> MoveRow:
    return MoveRow(
        ply=ply,
        seat=seat,
        move=uci,
        display=uci.upper(),
        state_after="-",
        turn_started_at=received_at - response_ms,
        received_at=received_at,
        committed_at=received_at + 1,
        response_ms=response_ms,
        clocks=(None, None),
        meta=meta,
    )


def pred(
    ply: int, seat: int, moves: list[str], at: float, probs: list[float] | None = None
) -> PredictionRow:
    return PredictionRow(ply=ply, seat=seat, moves=moves, probs=probs, received_at=at)


MOVES = [
    move(0, 0, "e2e4", 1000, 100, {"actor_ms": 100, "prompt_tokens": 10, "completion_tokens": 5}),
    move(
        1,
        1,
        "e7e5",
        2000,
        300,
        {
            "actor_ms": 1000,
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "spec_calls": 2,
            "spec_tokens": 60,
            "wasted_tokens": 30,
            "speculation": "hit",
        },
    ),
    move(
        2,
        0,
        "g1f3",
        3000,
        500,
        {
            "actor_ms": 800.5,
            "prompt_tokens": 80,
            "completion_tokens": 20,
            "spec_calls": 3,
            "spec_tokens": 100,
            "wasted_tokens": 100,
            "speculation": "miss",
        },
    ),
    move(
        3,
        1,
        "b8c6",
        4000,
        900,
        {
            "actor_ms": 400,
            "prompt_tokens": 50,
            "completion_tokens": 10,
            "spec_calls": 1,
            "spec_tokens": 40,
            "wasted_tokens": 40,
            "speculation": "miss",
        },
    ),
    move(4, 0, "f1b5", 5000, 200, None),
]

PREDICTIONS = [
    pred(0, 0, ["e2e4"], 500),  # seat 0 predicting its own move: never scored
    pred(0, 1, ["e2e4", "d2d4"], 900, [0.6, 0.3]),  # hit at rank 1
    pred(1, 0, ["e7e5"], 1200),  # superseded by the later one
    pred(1, 0, ["c7c5", "e7e5"], 1500),  # the last before the move: hit at rank 2
    pred(1, 0, ["e7e5"], 2000),  # received with the move, not before: late
    pred(2, 1, ["d2d4"], 2500),  # miss
    pred(3, 0, ["b8c6"], 4100),  # only a late one: no prediction for ply 4
    pred(4, 1, ["f8c5"], 5100),  # for a move never played
]


def test_move_figures() -> None:
    """Each move gets the last prediction received before the opponent's move, and its rank."""
    account = account_game(MOVES, PREDICTIONS)
    got = [
        (m.ply, m.predictions, m.hit_rank, m.late_predictions, m.saved_ms) for m in account.moves
    ]
    assert got == [
        (0, None, None, 0, 0.0),
        (1, ("e2e4", "d2d4"), 1, 0, 700.0),
        (2, ("c7c5", "e7e5"), 2, 1, 300.5),
        (3, ("d2d4",), None, 0, -500.0),  # a miss that cost time: negative saving kept
        (4, None, None, 1, None),  # no meta: no actor time, no saving
    ]
    first_reply = account.moves[1]
    assert first_reply.probs == (0.6, 0.3)
    assert (first_reply.actor_tokens, first_reply.spec_calls) == (120, 2)
    assert (first_reply.spec_tokens, first_reply.wasted_tokens) == (60, 30)
    assert first_reply.speculation == "hit"
    last = account.moves[4]
    assert (last.actor_ms, last.actor_tokens, last.spec_tokens, last.speculation) == (
        None,
        0,
        0,
        None,
    )


def test_player_totals() -> None:
    """Per-seat accuracy, saving, share and token overhead are the exact ratios."""
    white, black = account_game(list(reversed(MOVES)), PREDICTIONS).players
    assert (white.seat, white.moves, white.predicted) == (0, 3, 1)
    assert (white.top1_hits, white.topk_hits, white.late_predictions) == (0, 1, 2)
    assert (white.top1_accuracy, white.topk_accuracy) == (0.0, 1.0)
    assert (white.saved_ms, white.sequential_ms) == (300.5, 900.5)
    assert white.saved_share == pytest.approx(300.5 / 900.5)
    assert (white.actor_tokens, white.spec_tokens, white.wasted_tokens) == (115, 100, 100)
    assert white.token_overhead == pytest.approx(215 / 115)

    assert (black.seat, black.moves, black.predicted) == (1, 2, 2)
    assert (black.top1_hits, black.topk_hits) == (1, 1)
    assert (black.top1_accuracy, black.topk_accuracy) == (0.5, 0.5)
    assert (black.saved_ms, black.sequential_ms) == (200.0, 1400.0)
    assert black.saved_share == pytest.approx(1 / 7)
    assert (black.actor_tokens, black.spec_calls, black.spec_tokens) == (180, 3, 100)
    assert black.token_overhead == pytest.approx(280 / 180)


def test_to_json_rounds_and_names() -> None:
    """The JSON form is serialisable, rounds ratios to 4 places and names the seats."""
    data = account_game(MOVES, PREDICTIONS).to_json(["alice", "bob"])
    json.dumps(data)
    assert [p["name"] for p in data["players"]] == ["alice", "bob"]
    white, black = data["players"]
    assert (white["saved_share"], white["token_overhead"]) == (0.3337, 1.8696)
    assert (black["saved_share"], black["token_overhead"]) == (0.1429, 1.5556)
    assert data["moves"][2]["predictions"] == ["c7c5", "e7e5"]
    assert data["moves"][2]["saved_ms"] == 300.5
    assert data["moves"][0]["predictions"] is None


def test_a_player_that_does_not_speculate_has_no_saved_share() -> None:
    """A player whose moves all say speculation "off" (or nothing) gets no share: its
    ``actor_ms - response_ms`` is the harness's cost of every move, not a saving or
    cost of speculation (a random player showed -873% that way)."""
    moves = [
        move(0, 0, "e2e4", 1000, 3, {"actor_ms": 0.02, "speculation": "off"}),
        move(1, 1, "e7e5", 2000, 40, {"actor_ms": 38, "speculation": "miss"}),
        move(2, 0, "g1f3", 3000, 2, {"actor_ms": 0.01}),
        move(3, 1, "b8c6", 4000, 1, {"actor_ms": 30, "speculation": "hit"}),
    ]
    white, black = account_game(moves, []).players
    assert (white.speculated, white.saved_ms, white.saved_share) == (0, 0.0, None)
    assert black.speculated == 2
    assert black.saved_ms == pytest.approx((38 - 40) + (30 - 1))
    assert black.saved_share == pytest.approx(27 / 68)


def test_nothing_to_score() -> None:
    """Without predictions, meta or tokens the ratios are None, not a division by zero."""
    account = account_game([move(0, 0, "e2e4", 1000, 50, None)], [])
    white, black = account.players
    assert (white.moves, black.moves) == (1, 0)
    for p in (white, black):
        assert p.top1_accuracy is None and p.topk_accuracy is None
        assert p.saved_share is None and p.token_overhead is None
    assert account.to_json()["players"][1]["top1_accuracy"] is None
