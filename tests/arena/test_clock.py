"""Time controls and clocks."""

from __future__ import annotations

import pytest

from arena.clock import TimeControl, TimeControlError


def test_parse_fischer() -> None:
    """'60+1' is 60 s base and 1 s increment, and prints back the same."""
    tc = TimeControl.parse("60+1")
    assert (tc.base_ms, tc.increment_ms, tc.per_move_ms) == (60_000, 1_000, None)
    assert str(tc) == "60+1"
    assert str(TimeControl.parse("0.5+0.1")) == "0.5+0.1"


def test_parse_per_move_and_none() -> None:
    """'5/move' is a fixed time per move; 'none' is no clock."""
    assert TimeControl.parse("5/move").per_move_ms == 5_000
    assert str(TimeControl.parse("5/move")) == "5/move"
    assert TimeControl.parse("none").unlimited


@pytest.mark.parametrize("bad", ["", "60", "abc", "0+1", "-5+1", "0/move", "60+1+2"])
def test_parse_rejects_bad_input(bad: str) -> None:
    """A malformed control is an error that quotes it and shows valid forms."""
    with pytest.raises(TimeControlError, match=r"60\+1|positive"):
        TimeControl.parse(bad)


def test_increment_and_charge() -> None:
    """A move charges the elapsed time, adds the increment, and starts the other clock."""
    tc = TimeControl.parse("10+2")
    clock = tc.initial_clock().start(1_000.0)
    after = clock.after_move(0, 4_000.0, tc)
    assert after.remaining_ms == (10_000 - 3_000 + 2_000, 10_000)
    assert after.running_since_ms == 4_000.0
    assert after.deadline_ms(1) == 14_000.0


def test_per_move_resets() -> None:
    """With a per-move control, unused time does not carry over."""
    tc = TimeControl.parse("5/move")
    clock = tc.initial_clock().start(0.0).after_move(0, 1_000.0, tc)
    assert clock.remaining_ms == (5_000, 5_000)


def test_snapshot_charges_running_clock() -> None:
    """A snapshot shows the mover's time as of now."""
    tc = TimeControl.parse("10+0")
    clock = tc.initial_clock().start(0.0)
    assert clock.snapshot(0, 2_500.0) == (7_500, 10_000)
