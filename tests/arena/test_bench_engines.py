"""``arena bench engines``: the same match through the arena and a direct-UCI harness."""

from __future__ import annotations

import pytest

import arena.bench.engines as engines
from arena.bench.engines import EngineBench, MovesDifferError


def small(**extra: object) -> EngineBench:
    options: dict[str, object] = {
        "white": "stockfish:nodes=2000",
        "black": "stockfish:nodes=1000",
        "openings": 1,
        "concurrency": 2,
        "max_plies": 16,
    }
    options.update(extra)
    return EngineBench(**options)  # type: ignore[arg-type]


async def test_the_three_modes_play_identical_games() -> None:
    """Reference, arena and arena with speculation: the same moves, every figure measured."""
    result = await small(spec="spec=engine,k=1").run()
    assert result.identical_moves and result.games == 2
    assert result.reference.plies == result.arena.plies == 32  # two games of 16 plies
    assert result.reference.wall_s > 0 and result.arena.wall_s > 0
    assert result.arena_spec is not None and result.spec_ratio is not None
    # Overhead is measured on every move after the first of each game.
    assert len(result.arena.overhead_ms) == 30
    assert result.overhead_p50_ms is not None and result.overhead_p50_ms >= 0
    assert result.to_json()["identical_moves"] is True


async def test_different_games_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mode that plays other moves is an error, not a ratio."""
    real = engines.reference_game

    async def off_by_one(*args: object) -> tuple[str, ...]:
        moves = await real(*args)  # type: ignore[arg-type]
        return moves[:-1]

    monkeypatch.setattr(engines, "reference_game", off_by_one)
    with pytest.raises(MovesDifferError, match="different games"):
        await small().run()


async def test_players_that_cannot_replay_their_games_are_refused() -> None:
    """A time limit or several threads would not play the same games twice."""
    with pytest.raises(ValueError, match="fixed limit"):
        await small(white="stockfish:movetime=50").run()
    with pytest.raises(ValueError, match="stockfish players"):
        await small(black="random").run()
