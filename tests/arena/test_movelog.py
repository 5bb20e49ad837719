"""MoveLog: moves read back as they were appended, kept in tuples the collector untracks."""

from __future__ import annotations

import gc

import pytest

from arena.frames import MovesJson
from arena.match import MoveRecord
from arena.movelog import MoveLog


def records(n: int) -> list[MoveRecord]:
    return [
        MoveRecord(ply, ply % 2, f"m{ply}", f"D{ply}", f"state {ply}", 10 * ply, (1000 - ply, None))
        for ply in range(n)
    ]


def test_moves_read_back_as_appended() -> None:
    """Index, slice, length and iteration give the records appended, in order."""
    kept = records(5)
    log = MoveLog(kept[:2])
    for record in kept[2:]:
        log.append(record)
    assert len(log) == 5
    assert list(log) == kept
    assert log[3] == kept[3] and log[-1] == kept[-1]
    assert log[1:4] == kept[1:4]
    assert log.moves_json.text == MovesJson(r.move for r in kept).text


def test_a_move_out_of_order_is_refused() -> None:
    """Appending a move whose ply is not the next one is an error naming both."""
    log = MoveLog(records(2))
    with pytest.raises(ValueError, match="ply 3 appended after 2 moves"):
        log.append(records(4)[3])


def test_kept_moves_are_untracked_after_a_collection() -> None:
    """Once the collector has looked at them, the kept moves are no longer scanned."""
    log = MoveLog(records(3))
    gc.collect()
    assert not any(gc.is_tracked(row) for row in log._rows)
