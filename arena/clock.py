"""Time controls and chess clocks, as pure values (times are passed in, in ms).

Three kinds of control:

- ``"60+1"``: 60 s for the game plus 1 s added after each move (Fischer);
- ``"5/move"``: 5 s for every move, unused time does not carry over;
- ``"none"``: no clock at all (for analysis or very slow agents; use with care).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

__all__ = ["ClockState", "TimeControl", "TimeControlError"]

_FISCHER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*\+\s*(\d+(?:\.\d+)?)\s*$")
_PER_MOVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*move\s*$")


class TimeControlError(ValueError):
    """A time control string that does not parse."""


@dataclass(frozen=True, slots=True)
class TimeControl:
    """How much time each player gets."""

    base_ms: int | None
    """Time for the whole game; ``None`` with a per-move control or no clock."""
    increment_ms: int = 0
    """Added to the mover's clock after each of its moves."""
    per_move_ms: int | None = None
    """Time for each move, not carried over; exclusive with ``base_ms``."""

    @classmethod
    def parse(cls, text: str) -> TimeControl:
        """Parse ``"60+1"``, ``"0.5+0"``, ``"5/move"`` or ``"none"``."""
        if text.strip().lower() in ("none", "-", "unlimited"):
            return cls(base_ms=None)
        if m := _FISCHER.match(text):
            base, inc = (round(float(g) * 1000) for g in m.groups())
            if base <= 0:
                raise TimeControlError(f"time control {text!r}: base time must be positive")
            return cls(base_ms=base, increment_ms=inc)
        if m := _PER_MOVE.match(text):
            per_move = round(float(m.group(1)) * 1000)
            if per_move <= 0:
                raise TimeControlError(f"time control {text!r}: time per move must be positive")
            return cls(base_ms=None, per_move_ms=per_move)
        raise TimeControlError(
            f"invalid time control {text!r}; expected BASE+INC in seconds (e.g. '60+1'), "
            "N/move (e.g. '5/move'), or 'none'"
        )

    @property
    def unlimited(self) -> bool:
        """True when there is no clock."""
        return self.base_ms is None and self.per_move_ms is None

    def __str__(self) -> str:
        if self.per_move_ms is not None:
            return f"{_seconds(self.per_move_ms)}/move"
        if self.base_ms is None:
            return "none"
        return f"{_seconds(self.base_ms)}+{_seconds(self.increment_ms)}"

    def initial_clock(self) -> ClockState:
        """Both clocks full, none running."""
        start = self.per_move_ms if self.per_move_ms is not None else self.base_ms
        return ClockState(remaining_ms=(start, start), running_since_ms=None)


def _seconds(ms: int) -> str:
    return f"{ms // 1000}" if ms % 1000 == 0 else f"{ms / 1000:g}"


@dataclass(frozen=True, slots=True)
class ClockState:
    """Remaining time of both seats, and since when the mover's clock runs."""

    remaining_ms: tuple[int | None, int | None]
    running_since_ms: float | None
    """Monotonic ms when the current mover's clock started, ``None`` when stopped."""

    def start(self, now_ms: float) -> ClockState:
        """Start the mover's clock at ``now_ms``."""
        return replace(self, running_since_ms=now_ms)

    def stop(self) -> ClockState:
        """Stop the clock without charging anyone (e.g. when the game ends)."""
        return replace(self, running_since_ms=None)

    def elapsed_ms(self, now_ms: float) -> float:
        """Time on the running clock so far."""
        return 0.0 if self.running_since_ms is None else max(0.0, now_ms - self.running_since_ms)

    def left_ms(self, seat: int, now_ms: float) -> float | None:
        """Time ``seat`` (the mover) has left at ``now_ms``; ``None`` without a clock."""
        remaining = self.remaining_ms[seat]
        return None if remaining is None else remaining - self.elapsed_ms(now_ms)

    def deadline_ms(self, seat: int) -> float | None:
        """Monotonic ms at which the mover ``seat`` runs out of time."""
        remaining = self.remaining_ms[seat]
        if remaining is None or self.running_since_ms is None:
            return None
        return self.running_since_ms + remaining

    def after_move(self, seat: int, now_ms: float, control: TimeControl) -> ClockState:
        """Charge ``seat`` for its move, add the increment (or reset per-move time),
        and start the other seat's clock at ``now_ms``."""
        remaining = list(self.remaining_ms)
        if control.per_move_ms is not None:
            remaining[seat] = control.per_move_ms
        elif (left := remaining[seat]) is not None:
            used = round(self.elapsed_ms(now_ms))
            remaining[seat] = max(0, left - used) + control.increment_ms
        return ClockState(remaining_ms=(remaining[0], remaining[1]), running_since_ms=now_ms)

    def charged(self, seat: int, now_ms: float) -> ClockState:
        """The clock stopped at ``now_ms`` with the mover ``seat`` charged for its time
        so far (no increment: the game ends without its move)."""
        remaining = list(self.remaining_ms)
        if (left := remaining[seat]) is not None:
            remaining[seat] = max(0, left - round(self.elapsed_ms(now_ms)))
        return ClockState(remaining_ms=(remaining[0], remaining[1]), running_since_ms=None)

    def flagged(self, seat: int, now_ms: float) -> ClockState:
        """The clock after ``seat`` ran out: its time is zero and nothing runs."""
        remaining = list(self.remaining_ms)
        remaining[seat] = 0
        return ClockState(remaining_ms=(remaining[0], remaining[1]), running_since_ms=None)

    def snapshot(self, seat: int | None, now_ms: float) -> tuple[int | None, int | None]:
        """Remaining times with the running clock charged up to ``now_ms``."""
        if seat is None or self.running_since_ms is None:
            return self.remaining_ms
        left = self.left_ms(seat, now_ms)
        values = list(self.remaining_ms)
        values[seat] = None if left is None else max(0, round(left))
        return (values[0], values[1])
