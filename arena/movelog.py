"""A hosted game's accepted moves, kept where the garbage collector never looks at them.

A server keeps every move of every game it hosts: a client that reconnects
(or a spectator joining with ``since``) is sent the events it missed,
rebuilt from them. Kept as :class:`~arena.match.MoveRecord` objects, each
with its tuple of clocks, they were most of what the collector had to scan
under load (44,600 records and 47,000 tuples in one 30 s window of ``arena
bench load`` at 2,000 moves/s, docs/scaling.md), and each one counted
towards the growth that sets off the next collection
(:func:`arena.serve.collect_garbage`). :class:`MoveLog` keeps each move as
one JSON text: a string is not a container, so the collector neither counts
nor scans it. The replay that reads them back is rare; the log also keeps the
moves' JSON, grown a move at a time, for the next ``state`` frame.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import overload

from arena.frames import MovesJson
from arena.match import MoveRecord

__all__ = ["MoveLog"]

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _record(row: str) -> MoveRecord:
    ply, seat, move, display, state_after, response_ms, clock0, clock1 = json.loads(row)
    return MoveRecord(ply, seat, move, display, state_after, response_ms, (clock0, clock1))


class MoveLog(Sequence[MoveRecord]):
    """The accepted moves of one game in ply order, read as :class:`MoveRecord` objects."""

    __slots__ = ("_rows", "moves_json")

    def __init__(self, records: Iterable[MoveRecord] = ()) -> None:
        self._rows: list[str] = []
        self.moves_json = MovesJson()
        """The JSON array of the moves (see :func:`arena.events.state_frame`)."""
        for record in records:
            self.append(record)

    def append(self, record: MoveRecord) -> None:
        """Add the next move (its ``ply`` must be the number of moves so far)."""
        if record.ply != len(self._rows):
            raise ValueError(f"move at ply {record.ply} appended after {len(self._rows)} moves")
        clock0, clock1 = record.clocks_after
        self._rows.append(
            _encode(
                [
                    record.ply,
                    record.seat,
                    record.move,
                    record.display,
                    record.state_after,
                    record.response_ms,
                    clock0,
                    clock1,
                ]
            )
        )
        self.moves_json.append(record.move)

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> MoveRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[MoveRecord]: ...

    def __getitem__(self, index: int | slice) -> MoveRecord | list[MoveRecord]:
        if isinstance(index, slice):
            return [_record(row) for row in self._rows[index]]
        return _record(self._rows[index])
