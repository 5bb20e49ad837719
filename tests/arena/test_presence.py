"""The grace period a player may be away, per time control."""

from __future__ import annotations

import pytest

from arena.clock import TimeControl
from arena.presence import grace_ms


@pytest.mark.parametrize(
    ("control", "expected_ms"),
    [
        ("60+0", 10_000),  # 60 s / 6, at the floor
        ("180+2", 43_333),  # (180 + 40 x 2) s / 6
        ("600+5", 120_000),  # capped
        ("5/move", 10_000),  # two moves' time, at the floor
        ("30/move", 60_000),
        ("none", 120_000),
    ],
)
def test_grace_scales_with_the_time_control(control: str, expected_ms: int) -> None:
    """Longer games allow a longer absence, within the floor and the cap."""
    assert grace_ms(TimeControl.parse(control)) == expected_ms


def test_grace_bounds_are_settings() -> None:
    """The floor and the cap are parameters (the server takes them from its limits)."""
    assert grace_ms(TimeControl.parse("1+0"), minimum_ms=300, maximum_ms=1000) == 300
    assert grace_ms(TimeControl.parse("none"), minimum_ms=300, maximum_ms=1000) == 1000
