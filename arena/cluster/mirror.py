"""A game hosted by another process, as this process relays it to its own connections.

The owner stores every move before it tells anyone, then announces "game G
changed" (a few bytes of ``NOTIFY``). A :class:`Mirror` answers by reading what
is new from the store and sending its local players and spectators the same
frames the owner sends its own (built by :mod:`arena.events` from the stored
moves, so byte for byte the same): ``move_ack`` to the mover, ``state`` to
everyone, ``game_over`` at the end, and a ``game_start`` snapshot when the
owner starts or resumes the game. Notifications only say *where to look*, so
one that is late or lost is made up for by the next.

A seated bot is relayed the game only once the mirror has caught it up
(:meth:`Mirror.attach`, or the snapshot of :meth:`Mirror._start`): a bot that
has just connected here gets nothing of the game before its catch-up, so it
sees every event once and in order.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from arena.events import (
    missed_events,
    move_ack_frame,
    record_of,
    snapshot_frames,
)
from arena.host import Host, Peer
from arena.match import MoveRecord
from arena.store import GameRow
from games import Game, get_game

__all__ = ["Mirror"]

log = logging.getLogger(__name__)

Mode = Literal["events", "snapshot"]


class Mirror:
    """Relays one game hosted elsewhere to this process's players and spectators."""

    def __init__(
        self,
        game_id: str,
        host: Host,
        on_done: Callable[[Mirror], None],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
    ) -> None:
        self.game_id = game_id
        self.host = host
        self.lock = asyncio.Lock()
        self.watchers: set[Peer] = set()
        self.seated: dict[int, Peer] = {}
        """The connection caught up for each seat (relayed to while it is the bot's
        current connection here)."""
        self._spawn = spawn
        """Starts the worker as a task its owner (the cluster node) cancels on close."""
        self.row: GameRow | None = None
        self.records: list[MoveRecord] = []
        self.seq = 0
        """The last ``seq`` relayed to this process's connections."""
        self._game: Game[Any] | None = None
        self._pending: collections.deque[str] = collections.deque()
        self._worker: asyncio.Task[None] | None = None
        self._on_done = on_done

    # ------------------------------------------------------------------ notifications

    def push(self, kind: str) -> None:
        """The owner announced ``start`` or ``event``; handled in arrival order."""
        self._pending.append(kind)
        if self._worker is None or self._worker.done():
            self._worker = self._spawn(self._work())

    async def _work(self) -> None:
        while self._pending:
            kind = self._pending.popleft()
            try:
                async with self.lock:
                    if kind == "start":
                        await self._start()
                    else:
                        await self.advance()
            except Exception:
                log.exception("could not relay game %s from its owner", self.game_id)

    # ------------------------------------------------------------------ relaying

    def _follower(self, seat: int) -> Peer | None:
        """The seat's bot's connection here, if it has been caught up."""
        if self.row is None:
            return None
        peer = self.host.peers.get(self.row.seat_bot_ids[seat])
        return peer if peer is not None and self.seated.get(seat) is peer else None

    def _locals(self) -> list[tuple[int | None, Peer]]:
        """This process's connections that follow the game: seated bots, then spectators."""
        out: list[tuple[int | None, Peer]] = []
        if self.row is not None:
            for seat in range(len(self.row.seat_bot_ids)):
                peer = self._follower(seat)
                if peer is not None:
                    out.append((seat, peer))
        out.extend((None, w) for w in self.watchers)
        return out

    async def _load(self) -> GameRow | None:
        """Read what is new in the store (the row first: moves are never behind it)."""
        row = await self.host.store.get_game(self.game_id)
        if row is None:
            return None
        new = await self.host.store.get_moves(self.game_id, from_ply=len(self.records))
        self.records.extend(record_of(m) for m in new)
        self.row = row
        if self._game is None:
            self._game = get_game(row.game)
        return row

    @property
    def _over(self) -> tuple[str | None, int | None, str | None] | None:
        row = self.row
        return (
            None
            if row is None or row.status != "finished"
            else (row.result, row.winner, row.reason)
        )

    @property
    def stored_seq(self) -> int:
        """The ``seq`` of the latest stored event."""
        return len(self.records) + (1 if self._over is not None else 0)

    async def advance(self) -> None:
        """Relay every stored event after :attr:`seq`. Caller holds the lock."""
        row = await self._load()
        if row is None or self._game is None:
            return
        frames = missed_events(
            self.game_id,
            self._game,
            self.records,
            since=self.seq,
            max_plies=row.max_plies,
            time_control=row.time_control,
            over=self._over,
        )
        targets = self._locals()
        for seq, frame in enumerate(frames, start=self.seq + 1):
            if seq <= len(self.records):  # a move's state: its mover gets move_ack first
                record = self.records[seq - 1]
                mover = self._follower(record.seat)
                if mover is not None:
                    mover.send(move_ack_frame(self.game_id, record))
            for _, peer in targets:
                peer.send(frame)
        self.seq = self.stored_seq
        if self._over is not None:
            self._on_done(self)

    async def _start(self) -> None:
        """The owner started or resumed the game: a snapshot to every local follower."""
        row = await self._load()
        if row is None:
            return
        for seat, bot_id in enumerate(row.seat_bot_ids):  # a snapshot catches anyone up
            bot_peer = self.host.peers.get(bot_id)
            if bot_peer is not None:
                self.seated[seat] = bot_peer
        for at, peer in self._locals():
            for frame in self.snapshot(at):
                peer.send(frame)
        self.seq = self.stored_seq
        if self._over is not None:
            self._on_done(self)

    def snapshot(self, seat: int | None) -> list[str]:
        """``game_start`` (and ``game_over`` if the game has ended) from the store."""
        row = self.row
        assert row is not None
        clocks = self.records[-1].clocks_after if self.records else row.clocks
        return snapshot_frames(row, seat, [r.move for r in self.records], clocks, self._over)

    # ------------------------------------------------------------------ followers

    async def attach(self, peer: Peer, seat: int | None, since: int | None) -> Mode | None:
        """Catch ``peer`` up from ``since`` (events, or a snapshot when the gap is long or
        unknown), then follow the game from then on (a seated bot while ``peer`` is its
        connection here). ``None`` (and nothing sent) if the game has not started or no
        longer exists."""
        async with self.lock:
            if self.row is None:
                await self._load()
                self.seq = self.stored_seq
            else:
                await self.advance()  # bring the others up to date first (not ``peer``)
            row = self.row
            if row is None or self._game is None or (row.status == "created" and seat is not None):
                return None
            if seat is not None and self.seated.get(seat) is peer:
                return "snapshot"  # caught up by the owner's (re)start, just now
            last = self.stored_seq
            limit = self.host.limits.replay_events
            mode: Mode
            if since is None or not 0 <= since <= last or last - since > limit:
                frames, mode = self.snapshot(seat), "snapshot"
            else:
                frames = missed_events(
                    self.game_id,
                    self._game,
                    self.records,
                    since=since,
                    max_plies=row.max_plies,
                    time_control=row.time_control,
                    over=self._over,
                )
                mode = "events"
            for frame in frames:
                peer.send(frame)
            if seat is not None:
                self.seated[seat] = peer
            elif self._over is None:
                self.watchers.add(peer)
            return mode

    def interested(self) -> bool:
        """Whether a connection of this process still follows the game."""
        return self._over is None and bool(self._locals())
