"""The disconnect policy, as pure functions: how long a player may be away.

A player whose connection drops keeps its seat; its clock keeps running (the
time is its own). If it is still away when its *grace period* ends, it loses
with reason ``abandoned``; a game with fewer than two moves is aborted instead
(:meth:`arena.match.Match.abandon`). After a server restart the grace period of
both players starts when the server accepts connections again, and no clock
runs until both are back.

The grace period scales with the time control, as lichess's does: a sixth of
the time a player can expect to spend on a game (``base + 40 x increment``,
or two moves of a per-move control), within ``[minimum, maximum]``; a game
without a clock gets the maximum.
"""

from __future__ import annotations

from arena.clock import TimeControl

__all__ = ["MOVES_PER_GAME", "grace_ms"]

MOVES_PER_GAME = 40
"""Moves per player assumed when estimating the length of a Fischer game."""


def grace_ms(control: TimeControl, minimum_ms: int = 10_000, maximum_ms: int = 120_000) -> int:
    """How long a player of a game under ``control`` may be away before losing."""
    if control.per_move_ms is not None:
        grace = 2 * control.per_move_ms
    elif control.base_ms is not None:
        grace = (control.base_ms + MOVES_PER_GAME * control.increment_ms) // 6
    else:
        return maximum_ms
    return max(minimum_ms, min(maximum_ms, grace))
