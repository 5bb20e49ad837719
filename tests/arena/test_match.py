"""The pure match state machine: turns, plies, clocks, retries, adjudication."""

from __future__ import annotations

from typing import Any

import pytest

from arena.clock import TimeControl
from arena.errors import ErrorCode, MatchError
from arena.match import Match, MatchConfig, MatchStatus
from games import get_game


def chess_match(tc: str = "60+0", **kw: int | None) -> Match:
    config = MatchConfig(time_control=TimeControl.parse(tc), **kw)  # type: ignore[arg-type]
    return Match.new(get_game("chess"), config).start(0.0)


def test_moves_alternate_and_are_recorded() -> None:
    """Accepted moves are canonicalised (SAN -> UCI) and the turn passes."""
    m = chess_match()
    t = m.play(0, 0, "e4", 100.0)
    assert t.error is None and t.record is not None
    assert t.record.move == "e2e4" and t.record.display == "e4"
    assert t.record.response_ms == 100
    assert t.match.to_move == 1 and t.match.ply == 1


def test_not_your_turn_changes_nothing() -> None:
    """A move by the seat not to move is refused with NOT_YOUR_TURN."""
    m = chess_match()
    with pytest.raises(MatchError) as info:
        m.play(1, 0, "e7e5", 10.0)
    assert info.value.code is ErrorCode.NOT_YOUR_TURN


def test_wrong_ply_refused() -> None:
    """A move for another ply is refused with WRONG_PLY."""
    m = chess_match()
    with pytest.raises(MatchError) as info:
        m.play(0, 3, "e2e4", 10.0)
    assert info.value.code is ErrorCode.WRONG_PLY


def test_illegal_retries_then_forfeit() -> None:
    """Illegal moves are refused with retries left, then the next one forfeits."""
    m = chess_match(max_retries=2)
    for expected_left in (1, 0):
        t = m.play(0, 0, "e2e5", 10.0)
        assert t.error is not None and t.error.code is ErrorCode.ILLEGAL_MOVE
        assert f"retries left this turn: {expected_left}" in t.error.message
        assert "e2e5" in t.error.message and "e2e4" in t.error.message
        assert not t.match.finished
        m = t.match
    t = m.play(0, 0, "e2e5", 10.0)
    assert t.match.finished
    assert (t.match.result, t.match.reason, t.match.winner) == ("0-1", "illegal_move", 1)


def test_illegal_count_resets_after_a_legal_move() -> None:
    """Retries are per turn: a legal move resets the count."""
    m = chess_match(max_retries=1)
    m = m.play(0, 0, "xx", 1.0).match
    m = m.play(0, 0, "e4", 2.0).match
    assert m.illegal_attempts == 0
    t = m.play(1, 1, "zz", 3.0)
    assert not t.match.finished


def test_loss_on_time_by_flag() -> None:
    """When the mover's time runs out, it loses with reason 'timeout'."""
    m = chess_match("1+0")
    assert m.deadline_ms() == 1_000.0
    assert m.flag(999.0) is m  # not yet
    flagged = m.flag(1_000.0)
    assert (flagged.result, flagged.reason) == ("0-1", "timeout")
    assert flagged.clock.remaining_ms[0] == 0


def test_late_move_loses_on_time() -> None:
    """A move arriving after the flag fell is refused and the game is lost on time."""
    m = chess_match("1+0")
    t = m.play(0, 0, "e4", 1_500.0)
    assert t.record is None and t.match.finished and t.match.reason == "timeout"


def test_resign() -> None:
    """Resigning gives the win to the other seat."""
    m = chess_match().resign(0)
    assert (m.result, m.reason, m.winner) == ("0-1", "resign", 1)
    with pytest.raises(MatchError):
        m.resign(1)


def test_max_plies_adjudication() -> None:
    """After max_plies moves with no result, the game is a draw 'max_plies'."""
    m = chess_match(max_plies=2)
    m = m.play(0, 0, "e4", 1.0).match
    m = m.play(1, 1, "e5", 2.0).match
    assert (m.result, m.reason) == ("1/2-1/2", "max_plies")


def test_checkmate_ends_the_game() -> None:
    """The game's own outcome (fool's mate) finishes the match."""
    m = chess_match()
    for ply, move in enumerate(["f3", "e5", "g4", "Qh4#"]):
        m = m.play(ply % 2, ply, move, float(ply)).match
    assert (m.result, m.reason, m.status) == ("0-1", "checkmate", MatchStatus.FINISHED)
    with pytest.raises(MatchError) as info:
        m.play(0, 4, "e2e4", 10.0)
    assert info.value.code is ErrorCode.GAME_FINISHED


def test_moves_before_start_refused() -> None:
    """A match that has not started accepts no moves."""
    m = Match.new(get_game("connect4"), MatchConfig())
    with pytest.raises(MatchError):
        m.play(0, 0, "4", 0.0)


def test_connect4_match() -> None:
    """The match engine is game-agnostic: a Connect Four vertical win."""
    m = Match.new(get_game("connect4"), MatchConfig()).start(0.0)
    for ply, move in enumerate(["1", "2", "1", "2", "1", "2", "1"]):
        m = m.play(ply % 2, ply, move, float(ply)).match
    assert (m.result, m.reason) == ("1-0", "four_in_a_row")


def test_restore_pauses_with_the_stored_clocks_and_resume_charges_nobody() -> None:
    """A restored match is paused at its stored clocks; resuming starts the mover's clock then."""
    config = MatchConfig(time_control=TimeControl.parse("60+1"))
    game = get_game("chess")
    m = Match.restore(
        game, config, game.initial_state(), ["e2e4", "e7e5"], (55_000, 58_000), started=True
    )
    assert m.status is MatchStatus.PAUSED and m.ply == 2 and m.to_move == 0
    assert m.deadline_ms() is None and m.clocks(10_000_000.0) == (55_000, 58_000)
    with pytest.raises(MatchError) as info:
        m.play(0, 2, "g1f3", 1.0)
    assert info.value.code is ErrorCode.GAME_PAUSED
    resumed = m.resume(1_000_000.0)
    assert resumed.status is MatchStatus.ACTIVE
    assert resumed.deadline_ms() == 1_000_000.0 + 55_000
    step = resumed.play(0, 2, "g1f3", 1_002_000.0)
    assert step.record is not None and step.record.clocks_after == (54_000, 58_000)


def test_restore_of_a_game_never_started_is_created() -> None:
    """A stored game that never started comes back CREATED and starts as usual."""
    game = get_game("connect4")
    config = MatchConfig(time_control=TimeControl.parse("none"))
    m = Match.restore(game, config, game.initial_state(), [], (None, None), started=False)
    assert m.status is MatchStatus.CREATED
    assert m.start(0.0).status is MatchStatus.ACTIVE


@pytest.mark.parametrize(
    ("moves", "absent", "expected"),
    [
        ([], {0}, ("*", None, "aborted")),
        (["e2e4"], {1}, ("*", None, "aborted")),
        (["e2e4", "e7e5"], {1}, ("1-0", 0, "abandoned")),
        (["e2e4", "e7e5"], {0}, ("0-1", 1, "abandoned")),
        (["e2e4", "e7e5"], {0, 1}, ("*", None, "abandoned")),
    ],
)
def test_abandon(moves: list[str], absent: set[int], expected: tuple[Any, ...]) -> None:
    """Away past the grace: the present seat wins, or no result; under two moves, aborted."""
    m = chess_match()
    for ply, move in enumerate(moves):
        m = m.play(ply % 2, ply, move, float(ply)).match
    over = m.abandon(absent)
    assert over.finished and (over.result, over.winner, over.reason) == expected
    paused = Match.restore(m.game, m.config, m.initial_state, moves, (1, 1), started=True)
    assert (paused.abandon(absent).result, paused.abandon(absent).reason) == expected[::2]


def test_resignation_charges_the_movers_time() -> None:
    """Resigning after thinking 1.5 s leaves 1.5 s less on the mover's clock; the other's is
    untouched."""
    m = chess_match("10+0")  # started at 0.0, White to move
    over = m.resign(0, 1_500.0)
    assert over.clock.remaining_ms == (8_500, 10_000) and over.clock.running_since_ms is None
    assert m.resign(1, 1_500.0).clock.remaining_ms == (
        8_500,
        10_000,
    )  # Black resigns on White's time
