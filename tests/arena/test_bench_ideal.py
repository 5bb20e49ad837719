"""The speculation bench's pure parts: the ideal schedulers it compares its measured
saving with, and the player settings it plays with."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from arena.bench.speculation import (
    PIPELINE_THRESHOLD,
    SpeculationBench,
    Workload,
    _ideal_pipelined_saving_ms,
    _ideal_saving_ms,
)
from clients.players import parse_player_spec


def move(
    ply: int, hit_rank: int | None, actor_ms: float = 100.0, response_ms: float = 0.0
) -> object:
    return SimpleNamespace(ply=ply, hit_rank=hit_rank, actor_ms=actor_ms, response_ms=response_ms)


def test_pipelined_ideal_with_every_guess_right() -> None:
    """All hits: moves come one speculator call apart after the first actor call
    (L + n*S in all, about), so 4 moves of L=100 with S=10 take 130."""
    moves = [move(0, None), move(1, 1), move(2, 1), move(3, 1)]
    assert _ideal_pipelined_saving_ms(moves, 10.0, k=1, own_k=1) == 400.0 - 130.0


def test_pipelined_ideal_without_hits_saves_nothing() -> None:
    moves = [move(0, None), move(1, None), move(2, 2), move(3, None)]
    assert _ideal_pipelined_saving_ms(moves, 10.0, k=1, own_k=1) == 0.0


def test_own_window_needs_our_previous_move_guessed() -> None:
    """With our previous move outside own_k, only the one-step branch is ideal."""
    moves = [move(0, None), move(1, 2), move(2, 1)]
    # ply 1: one-step from 0+10 -> 110; ply 2: one-step from 100+10 -> 210 (no own
    # window: ply 1's hit rank 2 > own_k 1), the actor from 110 -> 210 too.
    assert _ideal_pipelined_saving_ms(moves, 10.0, k=2, own_k=1) == 300.0 - 210.0


def test_one_step_ideal() -> None:
    """A hit answers S + L after the opponent's turn began, minus its response."""
    moves = [move(0, None, response_ms=100.0), move(1, 1, response_ms=20.0)]
    assert _ideal_saving_ms(moves, 10.0, k=1) == 100.0 - (10.0 + 100.0 - 100.0)


def test_pipelined_ideal_guesses_from_when_our_move_was_computed() -> None:
    """Our reply known before the opponent's move arrived (a finished branch) lets the
    next window open then, not when the move was sent: ply 1 is computed at 60 but
    sent at 100, so ply 3's branch starts at 60 + 10 and is ready at 170, before the
    real ply 2 arrives at 200."""
    moves = [move(0, None), move(1, 1, actor_ms=50.0), move(2, None), move(3, 1)]
    assert _ideal_pipelined_saving_ms(moves, 10.0, k=1, own_k=0) == 350.0 - 200.0


@pytest.mark.parametrize(
    ("depth", "threshold", "expected"),
    [(1, None, 0.0), (3, None, PIPELINE_THRESHOLD), (3, 0.05, 0.05), (1, 0.2, 0.2)],
)
def test_the_players_get_the_bench_settings(
    depth: int, threshold: float | None, expected: float
) -> None:
    """Speculation on: the bench's k, depth, own_k, branch cap and threshold reach the
    players' configuration; off: no speculation at all."""
    workload = Workload(name="w", actor="stockfish:nodes=1000", speculation="spec=engine")
    bench = SpeculationBench(workload, k=3, depth=depth, own_k=2, threshold=threshold)
    config = parse_player_spec(bench.spec_text("on")).speculation.config()
    assert (config.k, config.depth, config.own_k) == (3, depth, 2)
    assert config.max_branches == 3 * depth and config.threshold == expected
    assert not parse_player_spec(bench.spec_text("off")).speculation.config().enabled


def test_ideal_counts_each_positions_logged_speculator_call() -> None:
    """Where the call that predicted a move is logged, the ideal waits for that call,
    not the mean: ply 3's window took 50 ms, so its branch is ready at 60 + 50 + 100,
    after the real ply 2 arrived at 200; ply 1 (no logged call) counts the mean 10."""
    moves = [move(0, None), move(1, 1, actor_ms=50.0), move(2, None), move(3, 1)]
    logged = {3: 50.0}
    assert _ideal_pipelined_saving_ms(moves, 10.0, k=1, own_k=0, window_ms=logged) == (
        350.0 - 210.0
    )
    # The one-step ideal likewise: ply 1's branch answers 50 + 100 - 100 after the
    # opponent's move instead of 10 + 100 - 100.
    one_step = [move(0, None, response_ms=100.0), move(1, 1, response_ms=20.0)]
    assert _ideal_saving_ms(one_step, 10.0, k=1, window_ms={1: 50.0}) == 100.0 - 50.0


def test_own_window_counts_the_mean_guess_and_the_logged_reply_window() -> None:
    """An own-window branch starts after the guess of our own move (not logged per
    move: the mean) and the logged call on the position after it."""
    moves = [move(0, None), move(1, 1), move(2, 1)]
    # ply 1: one-step from 0+10 -> 110. ply 2: own window from began[0]=0 + 10 + 30
    # -> 140; one-step from known (0+100) + 30 -> 230; the real move at 110 + 100.
    assert _ideal_pipelined_saving_ms(moves, 10.0, k=1, own_k=1, window_ms={2: 30.0}) == (
        300.0 - 140.0
    )
