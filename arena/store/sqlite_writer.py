"""Batches of moves written to a SQLite file by one thread of our own, with ``sqlite3``.

The async driver (aiosqlite) hands every statement to its thread and back; a
busy event loop then takes a while to notice each answer, so one group
transaction of a few statements took tens of milliseconds under load, and
SQLAlchemy's per-row parameter processing held the GIL against the event
loop. :class:`SqliteMoveWriter` does a whole batch in one hop to its thread:
``BEGIN IMMEDIATE``, one multi-row ``INSERT`` and one ``UPDATE ... FROM
(VALUES ...)`` per 500 moves, ``COMMIT`` (``synchronous=FULL``, so the batch
is on disk when it returns). Other writes keep going through the async
engine; SQLite's lock (and its busy timeout) orders the two connections.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from arena.store import schema as t
from arena.store.group import PendingMove, PendingPrediction

__all__ = ["SqliteMoveWriter"]

_MOVE_COLUMNS = tuple(c.name for c in t.moves.columns)
_INSERT_MOVES = f"INSERT INTO moves ({', '.join(_MOVE_COLUMNS)}) VALUES "
_MOVE_ROW = f"({', '.join('?' * len(_MOVE_COLUMNS))})"
_PREDICTION_COLUMNS = tuple(c.name for c in t.predictions.columns if c.name != "id")
_JSON_COLUMNS = ("moves", "probs")
_INSERT_PREDICTIONS = f"INSERT INTO predictions ({', '.join(_PREDICTION_COLUMNS)}) VALUES "
_PREDICTION_ROW = f"({', '.join('?' * len(_PREDICTION_COLUMNS))})"
_UPDATE_POSITIONS = (
    "UPDATE games SET state = v.column2, ply = v.column3, clock0_ms = v.column4, "
    "clock1_ms = v.column5 FROM (VALUES "
)
_UPDATE_POSITIONS_WHERE = ") AS v WHERE games.id = v.column1"
_POSITION_ROW = "(?, ?, ?, ?, ?)"
CHUNK_ROWS = 500
"""Rows per statement (14 parameters each: well under SQLite's 32,766)."""
_UPDATE_FINISHED = (
    "UPDATE games SET state = ?, ply = ?, clock0_ms = ?, clock1_ms = ?, status = 'finished', "
    "result = ?, winner = ?, reason = ?, finished_at = ? WHERE id = ?"
)


def _chunked(
    head: str, row: str, rows: Sequence[tuple[object, ...]]
) -> Iterator[tuple[str, list[object]]]:
    """Multi-row statements ``head (row), (row), ...`` over ``rows``, with flat parameters."""
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        params: list[object] = []
        for values in chunk:
            params.extend(values)
        yield head + ", ".join([row] * len(chunk)), params


class SqliteMoveWriter:
    """Writes batches of moves to the SQLite database at ``path`` in a thread of its own."""

    def __init__(self, path: str, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="arena-moves")
        self._conn: sqlite3.Connection | None = None

    async def write(
        self,
        batch: Sequence[PendingMove],
        predictions: Sequence[PendingPrediction],
        committed_at: float,
    ) -> None:
        """Store ``batch`` and ``predictions`` in one transaction; returns once it has committed."""
        # The rows are built here, holding the GIL anyway; the thread then
        # runs one statement per table and chunk, each one sqlite3 call (one
        # GIL hand-over), where executemany would hand the GIL back and forth
        # per row and wait for the busy event loop's thread each time.
        moves: list[tuple[object, ...]] = []
        positions: list[tuple[object, ...]] = []
        finished: list[tuple[object, ...]] = []
        for m in batch:
            r = m.record
            clock0, clock1 = r.clocks_after
            row = {
                "game_id": m.game_id,
                "ply": r.ply,
                "seat": r.seat,
                "move": r.move,
                "display": r.display,
                "state_after": r.state_after,
                "turn_started_at": m.turn_started_at,
                "received_at": m.received_at,
                "committed_at": committed_at,
                "response_ms": r.response_ms,
                "clock0_ms": clock0,
                "clock1_ms": clock1,
                "meta": json.dumps(m.meta),  # as SQLAlchemy's JSON type stores it
                "position_key": m.position_key,
            }
            moves.append(tuple(row[c] for c in _MOVE_COLUMNS))
            if m.finish is None:
                positions.append((m.game_id, r.state_after, r.ply + 1, clock0, clock1))
            else:
                result, winner, reason = m.finish
                row_end = (result, winner, reason, int(committed_at), m.game_id)
                finished.append((r.state_after, r.ply + 1, clock0, clock1, *row_end))
        predicted: list[tuple[object, ...]] = []
        for p in predictions:
            row = p.row()
            for column in _JSON_COLUMNS:  # as SQLAlchemy's JSON type stores them
                row[column] = json.dumps(row[column])
            predicted.append(tuple(row[c] for c in _PREDICTION_COLUMNS))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._write, moves, positions, finished, predicted)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
        return self._conn

    def _write(
        self,
        moves: list[tuple[object, ...]],
        positions: list[tuple[object, ...]],
        finished: list[tuple[object, ...]],
        predicted: list[tuple[object, ...]],
    ) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement, params in _chunked(_INSERT_MOVES, _MOVE_ROW, moves):
                conn.execute(statement, params)
            for statement, params in _chunked(_UPDATE_POSITIONS, _POSITION_ROW, positions):
                conn.execute(statement + _UPDATE_POSITIONS_WHERE, params)
            conn.executemany(_UPDATE_FINISHED, finished)
            for statement, params in _chunked(_INSERT_PREDICTIONS, _PREDICTION_ROW, predicted):
                conn.execute(statement, params)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the connection and stop the thread (after the writes already asked for)."""

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._thread.submit(shut).result()
        self._thread.shutdown(wait=True)
