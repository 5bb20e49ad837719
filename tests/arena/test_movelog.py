"""MoveLog: moves read back as they were appended, kept where the collector never looks."""

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


def test_kept_moves_are_not_tracked_by_the_collector() -> None:
    """The kept moves are neither counted nor scanned by the garbage collector."""
    log = MoveLog(records(3))
    assert log._rows and not any(gc.is_tracked(row) for row in log._rows)


def test_any_text_reads_back_unchanged() -> None:
    """Quotes, backslashes, control and non-ASCII characters survive the kept form."""
    record = MoveRecord(0, 0, 'a"\\b', "x\n\u00e9\u2028", "\x00 state", 0, (None, -5))
    assert MoveLog([record])[0] == record
