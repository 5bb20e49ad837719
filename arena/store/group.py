"""Group commit: the moves (and predictions) of many games stored in one transaction.

With ``synchronous=FULL`` every SQLite commit waits for the disk, and every
statement crosses to the driver's thread and back; one transaction per move
caps a server at a few hundred moves per second whatever the CPU. The
:class:`GroupCommitter` keeps at most one transaction in flight: the first
move that arrives while none is running is written at once (no added
latency when the server is quiet), and the moves of every game that arrive
while it runs are written together in the next one.

What stays true:

- **Commit before acknowledge.** :meth:`GroupCommitter.commit` returns only
  after the transaction holding the move has committed, so the host still
  acknowledges and relays a move only once it is on disk.
- **Per-game order.** The host commits a game's moves one at a time (under the
  game's lock), and batches are written in arrival order.
- **One bad move fails alone.** When a batch's transaction fails, each of its
  moves is written again on its own, so only the move that cannot be stored
  gets the error.

Predictions ride in the same transactions (:class:`PendingPrediction`): on
SQLite a second writer would contend for the database's one write lock, and
SQLite's busy handler sleeps 1-40 ms at a time while it waits; measured with
``arena bench speculation``, the moves' ``BEGIN`` waited 6.7 ms on average
behind prediction writes. Nobody waits for a prediction's commit (the bot
gets no acknowledgement of it), so predictions never start a transaction of
their own at once: they wait up to ``prediction_delay`` for a move to ride
with. A speculating bot sends its prediction of the reply just before its
move, and an opponent whose branch hit answers within milliseconds of the
prediction of its move: written at once, those predictions would hold the
move behind a commit of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arena.match import MoveRecord

__all__ = ["GroupCommitter", "PendingMove", "PendingPrediction", "PendingWrite"]


@dataclass(frozen=True, slots=True)
class PendingMove:
    """A move waiting to be stored, with what is stored beside it."""

    game_id: str
    record: MoveRecord
    turn_started_at: float
    received_at: float
    meta: dict[str, Any] | None
    finish: tuple[str, int | None, str] | None
    """``(result, winner, reason)`` when the move ended the game."""
    position_key: str | None


@dataclass(frozen=True, slots=True)
class PendingPrediction:
    """A ``predict`` waiting to be stored, with the server's receive time."""

    game_id: str
    ply: int
    seat: int
    moves: tuple[str, ...]
    probs: tuple[float, ...] | None
    received_at: float

    def row(self) -> dict[str, Any]:
        """Its row of the ``predictions`` table (JSON columns as lists)."""
        return {
            "game_id": self.game_id,
            "ply": self.ply,
            "seat": self.seat,
            "moves": list(self.moves),
            "probs": None if self.probs is None else list(self.probs),
            "received_at": self.received_at,
        }


PendingWrite = PendingMove | PendingPrediction

Writer = Callable[[Sequence[PendingWrite]], Awaitable[float]]
"""Stores moves and predictions in one transaction; returns the commit time (wall ms)."""


PREDICTION_DELAY_S = 0.05
"""How long queued predictions wait for a move to share its transaction."""


class GroupCommitter:
    """Writes pending moves and predictions in batches, one transaction in flight at a time."""

    def __init__(
        self, write: Writer, *, max_batch: int = 1000, prediction_delay: float = PREDICTION_DELAY_S
    ) -> None:
        self._write = write
        self.max_batch = max_batch
        self.prediction_delay = prediction_delay
        self._queue: list[tuple[PendingWrite, asyncio.Future[float]]] = []
        self._batch: list[tuple[PendingWrite, asyncio.Future[float]]] = []
        """The batch being written."""
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.transactions = 0
        """Transactions committed so far (batches and single retries)."""
        self.largest_batch = 0

    async def commit(self, item: PendingWrite) -> float:
        """Store ``item`` (a move or a prediction); return its commit time once its
        transaction has committed."""
        return await self.submit(item)

    def submit(self, item: PendingWrite) -> asyncio.Future[float]:
        """Queue ``item`` now; the future gives its commit time (or the error).

        Items commit in the order they were queued (a batch at a time), so an
        item queued before a move is stored no later than that move. A move
        starts a transaction at once if none is in flight; predictions alone
        wait up to ``prediction_delay`` for one.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        self._queue.append((item, future))
        if isinstance(item, PendingMove):
            self._start()
        else:
            self._start_later()
        return future

    def _start(self, *, everything: bool = False) -> None:
        """Write what is queued now (predictions alone too with ``everything``),
        unless a transaction is in flight (its task takes the queue when done)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._queue and (self._task is None or self._task.done()):
            drain = self._drain(everything=everything)
            self._task = asyncio.get_running_loop().create_task(drain)

    def _start_later(self) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.prediction_delay, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        self._start(everything=True)

    async def _drain(self, *, everything: bool = False) -> None:
        try:
            await self._drain_queue(everything)
        except BaseException as exc:  # cancelled: nobody may wait forever
            for _, future in (*self._batch, *self._queue):
                _settle(future, exc)
            self._batch = []
            self._queue.clear()
            raise

    async def _drain_queue(self, everything: bool) -> None:
        while self._queue:
            if not everything and not any(isinstance(i, PendingMove) for i, _ in self._queue):
                self._start_later()  # predictions only: they wait for a move
                return
            batch = self._batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            self.largest_batch = max(self.largest_batch, len(batch))
            try:
                committed_at = await self._write([move for move, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                else:
                    await self._one_by_one(batch)
            else:
                self.transactions += 1
                for _, future in batch:
                    _settle(future, committed_at)
            self._batch = []

    async def _one_by_one(self, batch: list[tuple[PendingWrite, asyncio.Future[float]]]) -> None:
        for move, future in batch:
            try:
                committed_at = await self._write([move])
            except Exception as exc:
                _settle(future, exc)
            else:
                self.transactions += 1
                _settle(future, committed_at)

    async def flush(self) -> None:
        """Write everything queued so far, predictions included, and wait until it is
        written (or has failed)."""
        while self._queue or (self._task is not None and not self._task.done()):
            self._start(everything=True)
            assert self._task is not None
            await asyncio.shield(self._task)


def _settle(future: asyncio.Future[float], outcome: float | BaseException) -> None:
    if future.done():  # the waiter was cancelled; the move is stored all the same
        return
    if isinstance(outcome, asyncio.CancelledError):
        future.cancel()
    elif isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
