"""The speculators: engine MultiPV, scripted guesses, weighted ensembles."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from clients.speculation import Guess, Meter, Position
from clients.speculators import (
    EngineSpeculator,
    EnsembleSpeculator,
    ScriptedSpeculator,
    softmax_cp,
)
from games import get_game, replay

SCHOLAR = ["e2e4", "e7e5", "d1h5", "b8c6", "f1c4", "g8f6"]  # White mates with h5f7


def position(moves: list[str], game: str = "chess") -> Position:
    g = get_game(game)
    return Position(g, replay(g, moves), tuple(moves))


@pytest.fixture
async def engine() -> AsyncIterator[EngineSpeculator]:
    speculator = EngineSpeculator(depth=6)
    try:
        yield speculator
    finally:
        await speculator.close()


class Fixed:
    """A member that returns fixed guesses and reports tokens."""

    def __init__(self, guesses: list[Guess], tokens: int = 0) -> None:
        self.guesses = guesses
        self.tokens = tokens

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        meter.prompt_tokens += self.tokens
        return self.guesses[:k]


class Failing:
    """A member that spends tokens, then fails."""

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        meter.completion_tokens += 7
        raise RuntimeError("speculator down")


# ---------------------------------------------------------------------- engine


async def test_engine_returns_k_distinct_legal_moves(engine: EngineSpeculator) -> None:
    """k guesses, distinct, legal, best first, probabilities summing to 1."""
    pos = position(["e2e4", "e7e5"])
    guesses = await engine.predict(pos, 4, Meter())
    moves = [g.move for g in guesses]
    assert len(moves) == 4 and len(set(moves)) == 4
    assert set(moves) <= set(pos.legal_moves())
    probs = [g.prob for g in guesses]
    assert all(p is not None and 0 < p <= 1 for p in probs)
    assert math.isclose(sum(p for p in probs if p is not None), 1.0, rel_tol=1e-9)
    assert probs == sorted(probs, reverse=True)  # type: ignore[type-var]


async def test_engine_finds_mate_in_one(engine: EngineSpeculator) -> None:
    """In the scholar's mate position the mate Qxf7# is top-1 and nearly certain."""
    guesses = await engine.predict(position(SCHOLAR), 3, Meter())
    assert guesses[0].move == "h5f7"
    assert guesses[0].prob is not None and guesses[0].prob > 0.99


async def test_engine_finds_recapture(engine: EngineSpeculator) -> None:
    """After 1.e4 e5 2.d4 exd4 3.Qxd4 Qf6 4.Qxf6, Black's top guess recaptures the queen."""
    pos = position(["e2e4", "e7e5", "d2d4", "e5d4", "d1d4", "d8f6", "d4f6"])
    guesses = await engine.predict(pos, 2, Meter())
    assert guesses[0].move in ("g8f6", "g7f6")


async def test_engine_refuses_other_games(engine: EngineSpeculator) -> None:
    """Connect Four positions are refused with a clear ValueError."""
    with pytest.raises(ValueError, match="chess moves only, not 'connect4'"):
        await engine.predict(position([], "connect4"), 2, Meter())


async def test_engine_cancelled_in_its_preamble_leaves_no_error_and_an_idle_engine(
    engine: EngineSpeculator,
) -> None:
    """A prediction cancelled while the engine clears its hash (``ucinewgame``,
    ``isready``) stops cleanly: nothing reaches the loop's exception handler
    (python-chess would set the result of the cancelled future when ``readyok``
    comes) and the engine is idle and answers the next prediction."""
    await engine.predict(position([]), 2, Meter())  # the engine process is up
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        for _ in range(5):
            task = asyncio.create_task(engine.predict(position(SCHOLAR[:2]), 3, Meter()))
            for _ in range(100):  # until the engine is lent: the preamble is then sent
                if engine.pool.busy:
                    break
                await asyncio.sleep(0)
            assert engine.pool.busy == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert engine.pool.busy == 0
        guesses = await engine.predict(position(SCHOLAR), 1, Meter())
        await asyncio.sleep(0.1)  # a late readyok or bestmove would arrive by now
    finally:
        loop.set_exception_handler(None)
    assert [g.move for g in guesses] == ["h5f7"]
    assert errors == []


def test_softmax_temperature() -> None:
    """One pawn (100 cp) at the default temperature is a factor e; mates dominate."""
    p = softmax_cp([100, 0])
    assert math.isclose(p[0] / p[1], math.e)
    assert softmax_cp([9_999, 300])[0] > 0.999999
    assert softmax_cp([]) == []


# ---------------------------------------------------------------------- scripted


async def test_scripted_filters_illegal_and_truncates() -> None:
    """Illegal and repeated moves are dropped, SAN is canonicalised, the rest cut to k."""
    speculator = ScriptedSpeculator({0: ["e2e5", "e4", "e2e4", "Nf3", "d2d4", "c2c4"]})
    guesses = await speculator.predict(position([]), 3, Meter())
    assert guesses == [Guess("e2e4"), Guess("g1f3"), Guess("d2d4")]
    assert await speculator.predict(position(["e2e4"]), 3, Meter()) == []


async def test_scripted_works_for_connect4() -> None:
    """The scripted speculator is game-agnostic (Connect Four columns)."""
    speculator = ScriptedSpeculator({1: ["4", "9", "3"]})
    guesses = await speculator.predict(position(["4"], "connect4"), 5, Meter())
    assert [g.move for g in guesses] == ["4", "3"]


# ---------------------------------------------------------------------- ensemble


async def test_ensemble_merge_math() -> None:
    """Rank weights 1/(r+1), normalised per member, times member weights, over the total."""
    a = ScriptedSpeculator({0: ["e2e4", "d2d4"]})  # 2/3, 1/3; weight 2
    b = ScriptedSpeculator({0: ["d2d4", "g1f3", "c2c4"]})  # 6/11, 3/11, 2/11; weight 1
    ensemble = EnsembleSpeculator([(a, 2.0), (b, 1.0)])
    guesses = await ensemble.predict(position([]), 3, Meter())
    # scores (x33): e4 44, d4 22 + 18 = 40, Nf3 9, c4 6; total 99
    assert [g.move for g in guesses] == ["e2e4", "d2d4", "g1f3"]
    expected = [44 / 99, 40 / 99, 9 / 99]
    assert all(
        g.prob is not None and math.isclose(g.prob, e)
        for g, e in zip(guesses, expected, strict=True)
    )


async def test_ensemble_uses_member_probabilities() -> None:
    """A member's own probabilities are used when it gives them; tokens are added up."""
    a = Fixed([Guess("e2e4", 0.9), Guess("d2d4", 0.1)], tokens=5)
    b = Fixed([Guess("d2d4", 0.8), Guess("e2e4", 0.2)], tokens=3)
    meter = Meter()
    guesses = await EnsembleSpeculator([(a, 1.0), (b, 3.0)]).predict(position([]), 2, meter)
    # e4: 0.9 + 0.6 = 1.5; d4: 0.1 + 2.4 = 2.5; total 4
    assert [g.move for g in guesses] == ["d2d4", "e2e4"]
    assert [g.prob for g in guesses] == [pytest.approx(2.5 / 4), pytest.approx(1.5 / 4)]
    assert meter.prompt_tokens == 8


async def test_ensemble_survives_failing_member(caplog: pytest.LogCaptureFixture) -> None:
    """A failing member is logged and ignored; the others decide; its tokens still count."""
    good = ScriptedSpeculator({0: ["d2d4", "e2e4"]})
    meter = Meter()
    ensemble = EnsembleSpeculator([(Failing(), 5.0), (good, 1.0)])
    guesses = await ensemble.predict(position([]), 2, meter)
    assert [g.move for g in guesses] == ["d2d4", "e2e4"]
    assert [g.prob for g in guesses] == [pytest.approx(2 / 3), pytest.approx(1 / 3)]
    assert meter.completion_tokens == 7
    assert "speculator down" in caplog.text


def test_ensemble_rejects_bad_weights() -> None:
    """No members or a negative weight is a ValueError."""
    with pytest.raises(ValueError, match="at least one member"):
        EnsembleSpeculator([])
    with pytest.raises(ValueError, match=">= 0"):
        EnsembleSpeculator([(ScriptedSpeculator({}), -1.0)])
