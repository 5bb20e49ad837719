"""The host: runs matches for connected bots (seats, clocks, storage, relays).

The async shell around the pure :class:`~arena.match.Match`. For each event it
computes the match's next value, commits what must be stored, then makes the
new value current and tells the players and spectators: a move is committed
before it is acknowledged or relayed. Outgoing messages go through
:class:`Peer` objects, whose ``send`` never blocks (the websocket layer queues
them), so a slow spectator cannot stall a game.

Reliability:

- **Recovery.** :meth:`Host.recover` rebuilds every unfinished game from its
  stored moves after a restart. A game that had started comes back paused
  with the clocks stored with its last move; it resumes (the mover's clock
  starts) when both players are connected again, so the interruption is
  charged to nobody.
- **Resume.** Every event of a game has a ``seq`` derived from the stored
  moves. A reconnecting bot names the last ``seq`` it saw per game and gets
  exactly the events after it (rebuilt from the move records, so identical to
  the live ones), or a snapshot when the gap is long; then ``resumed``.
- **Presence.** A player whose bot is not connected is *away*; after its grace
  period (:mod:`arena.presence`) it loses by ``abandoned`` (or the game is
  aborted before two moves).
- **Revocation.** :meth:`Host.revoke` closes the connections of revoked tokens
  at once; their messages are refused from that moment.

Several processes (:mod:`arena.cluster`, on PostgreSQL) plug in through
:class:`ClusterHooks`: the host hosts the games it owns as before, tells the
cluster after each event it broadcasts (other processes relay it, read from the
store, to their own connections), hands the cluster the moves of games owned
elsewhere, and counts a bot connected to another process as present.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import time
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from arena.clock import TimeControl, TimeControlError
from arena.errors import ErrorCode, MatchError
from arena.events import (
    game_over_frame,
    game_start,
    missed_events,
    move_ack_frame,
    record_of,
    snapshot_frames,
    state_frame,
    status_of,
)
from arena.limits import Limits
from arena.match import Match, MatchConfig, MatchStatus, Transition
from arena.movelog import MoveLog
from arena.positions import position_key
from arena.presence import grace_ms
from arena.protocol import (
    Clocks,
    ErrorMessage,
    GameStart,
    Move,
    Ping,
    Pong,
    Predict,
    Resign,
    Resumed,
    ResumedGame,
    Seek,
    SeekAck,
    WarningMessage,
    dump,
)
from arena.store import BotRow, GameRow, Store, now_ms
from arena.store.db import GameNotOwnedError
from games import GameError, IllegalMoveError, get_game

__all__ = ["ClusterHooks", "Host", "HostedGame", "Peer", "PendingSeek", "error_message"]

log = logging.getLogger(__name__)

MAX_PREDICT_AHEAD = 32
"""How many plies beyond the current one a ``predict`` may target."""
MAX_PREDICTS_PER_PLY = 4
"""How many ``predict`` messages a seat may send for one ply (the last counts)."""


class Peer(Protocol):
    """One connection, as the host sees it."""

    bot: BotRow | None
    """The authenticated bot, or ``None`` for a spectator."""

    def send(self, *texts: str) -> None:
        """Queue text frames, in order (written together when the connection can
        take them at once: one system call for a mover's ``move_ack`` and
        ``state``); never blocks."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Close the connection (asynchronously)."""
        ...


def error_message(
    code: ErrorCode,
    message: str,
    *,
    game_id: str | None = None,
    ply: int | None = None,
    ref: str | None = None,
) -> str:
    """An ``error`` frame."""
    return dump(
        ErrorMessage(
            code=int(code),
            name=code.name.lower(),
            message=message,
            game_id=game_id,
            ply=ply,
            ref=ref,
        )
    )


BULKY_META = frozenset({"comment", "branches"})
"""``meta`` fields dropped once a game has stored its budget (the rest is a few figures)."""


def meta_size(meta: dict[str, Any]) -> int:
    """A ``meta`` dict's size as compact UTF-8 JSON (how the budget counts it)."""
    return len(json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode())


def normalized_prediction(match: Match, ply: int, moves: list[str]) -> list[str]:
    """Predicted moves in the game's canonical notation, or :class:`MatchError` (4027)
    quoting the first that cannot be a move.

    For the current ply the position is known: each move must be legal there and
    is normalised like a played move (SAN accepted in chess). For a later ply
    each must already be in canonical notation (``GameInfo.move_pattern``).
    """
    if ply == match.ply:
        normalized = []
        for move in moves:
            try:
                normalized.append(match.game.normalize_move(match.state, move))
            except IllegalMoveError as exc:
                raise MatchError(
                    ErrorCode.BAD_PREDICTION,
                    f"predicted move {move!r} is not legal at ply {ply} ({exc})",
                ) from None
        return normalized
    pattern = match.game.info.move_pattern
    for move in moves:
        if pattern is not None and not re.fullmatch(pattern, move):
            raise MatchError(
                ErrorCode.BAD_PREDICTION,
                f"predicted move {move!r} for ply {ply} is not a move in "
                f"{match.game.info.name}'s notation ({match.game.info.move_notation}); "
                "moves for a later ply than the current one must be written canonically",
            )
    return moves


def _log_unstored_prediction(stored: asyncio.Future[float]) -> None:
    if not stored.cancelled() and stored.exception() is not None:
        log.error("a prediction could not be stored", exc_info=stored.exception())


@dataclass(eq=False)
class HostedGame:
    """A game in progress and everything the host keeps for it."""

    id: str
    bots: tuple[BotRow, BotRow]
    match: Match
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    watchers: set[Peer] = field(default_factory=set)
    turn_started_at: float = 0.0
    """Wall ms when the current mover was sent the position."""
    flag_timer: asyncio.TimerHandle | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    predictions: dict[tuple[int, int], int] = field(default_factory=dict)
    """Predictions stored per (seat, ply), to cap them."""
    records: MoveLog = field(default_factory=MoveLog)
    """Every accepted (stored) move, from which the events of the game are (re)built."""
    grace_ms: int = 0
    """How long a seat may be away before it loses (``abandoned``)."""
    away_since: dict[int, float] = field(default_factory=dict)
    """Monotonic ms since when each away seat's bot has not been connected."""
    grace_timer: asyncio.TimerHandle | None = None
    meta_bytes: int = 0
    """Client-reported ``meta`` stored for this game so far (encoded bytes)."""

    def seat_of(self, bot_id: int) -> int | None:
        for seat, bot in enumerate(self.bots):
            if bot.id == bot_id:
                return seat
        return None

    @property
    def seq(self) -> int:
        """The ``seq`` of the game's latest event."""
        return self.match.ply + (1 if self.match.finished else 0)

    @property
    def under_way(self) -> bool:
        """Started and not finished (active or paused)."""
        return self.match.status in (MatchStatus.ACTIVE, MatchStatus.PAUSED)


class ClusterHooks(Protocol):
    """What the host asks of the cluster (:class:`arena.cluster.Cluster`) when several
    processes share one database. Without a cluster the host is on its own."""

    def published(self, hosted: HostedGame, kind: Literal["start", "event"]) -> None:
        """The host started (or resumed) a game, or broadcast an event of it (already
        stored): tell the other processes. Never blocks."""
        ...

    def present_elsewhere(self, bot_id: int) -> bool:
        """Whether the bot is connected to another process."""
        ...

    async def sweep(self) -> None:
        """Adopt the games of processes that are gone (before a bot is caught up)."""
        ...

    async def take_over(self, game_ids: Collection[str]) -> None:
        """Adopt those of these games whose process is gone (never a live one's)."""
        ...

    async def wait_finished(self, game_id: str) -> None:
        """Return once a game hosted by any process has finished."""
        ...

    async def connected(self, peer: Peer, resume: dict[str, int]) -> list[ResumedGame]:
        """A bot connected here: record its presence and catch it up on its games
        hosted elsewhere; their ``resumed`` entries."""
        ...

    def disconnected(self, peer: Peer) -> None:
        """A connection closed (a bot's or a spectator's)."""
        ...

    def disowned(self, hosted: HostedGame) -> None:
        """Another process took ``hosted`` over: this one's players and spectators of
        it follow it from the new owner, from the event they last got."""
        ...

    async def forward(self, peer: Peer, msg: Move | Predict | Resign) -> bool:
        """Send a bot's message to the process hosting its game; False if no other
        process hosts it."""
        ...

    async def watch(self, peer: Peer, game_id: str, since: int | None) -> bool:
        """Add a spectator of a game hosted elsewhere; False if no other process hosts it."""
        ...

    async def match_seek(self, seek: PendingSeek) -> BotRow | None:
        """The bot whose stored seek (on any process) matches ``seek``, taken; or
        ``None``, and ``seek`` is stored for others to match."""
        ...

    def seek_dropped(self, seek: PendingSeek) -> None:
        """A seek made here is gone (its connection closed)."""
        ...


@dataclass(frozen=True)
class PendingSeek:
    id: str
    peer: Peer
    bot: BotRow
    game: str
    time_control: TimeControl
    max_plies: int | None
    opponent: str | None

    def matches(self, other: PendingSeek) -> bool:
        return (
            self.bot.id != other.bot.id
            and self.game == other.game
            and self.time_control == other.time_control
            and self.max_plies == other.max_plies
            and self.opponent in (None, other.bot.name)
            and other.opponent in (None, self.bot.name)
        )


class Host:
    """Hosts every live game of one server process."""

    def __init__(
        self,
        store: Store,
        *,
        limits: Limits | None = None,
        monotonic_ms: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.limits = limits or Limits()
        self._now = monotonic_ms or (lambda: time.monotonic() * 1000.0)
        self.peers: dict[int, Peer] = {}
        """The current connection of each connected bot, by bot id."""
        self.games: dict[str, HostedGame] = {}
        self.recovered: list[str] = []
        """Ids of the games :meth:`recover` brought back."""
        self._tokens: dict[int, int] = {}
        """The token id behind each connected bot's connection, by bot id."""
        self._refused: set[Peer] = set()
        """Connections whose token was revoked (closing; every message refused)."""
        self._seeks: list[PendingSeek] = []
        self._seek_ids = itertools.count(1)
        self._finished: dict[str, asyncio.Event] = {}
        self._disowned: set[str] = set()
        """Games this process stopped hosting because another one took them over."""
        self._missed: dict[int, list[tuple[str, str]]] = {}
        """``(game_id, game_over frame)`` for bots that were away when their game ended."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        """Set by :meth:`close`: no timer is armed any more (the server is stopping)."""
        self.cluster: ClusterHooks | None = None
        """Set by :mod:`arena.cluster` when this process shares its database with others."""
        self.on_presence: Callable[[HostedGame, int, bool], None] | None = None
        """Told ``(game, seat, away)`` when a seat of a game under way leaves or comes
        back (the lichess API's ``opponentGone``, :mod:`arena.lichess`)."""

    # ------------------------------------------------------------------ creating games

    async def create_game(
        self,
        game_name: str,
        bots: tuple[BotRow, BotRow],
        config: MatchConfig,
        *,
        initial_state: str | None = None,
        tournament_id: str | None = None,
        opening: str | None = None,
        round_no: int | None = None,
        pairing_key: str | None = None,
    ) -> str:
        """Store a new game between two bots; it starts once both are connected."""
        if bots[0].id == bots[1].id:
            raise ValueError(f"a bot cannot play itself ({bots[0].name!r} on both seats)")
        game = get_game(game_name)
        state = game.initial_state() if initial_state is None else game.decode_state(initial_state)
        match = Match.new(game, config, state)
        game_id = await self.store.create_game(
            game=game_name,
            seat_bot_ids=(bots[0].id, bots[1].id),
            time_control=str(config.time_control),
            max_plies=config.max_plies,
            max_retries=config.max_retries,
            initial_state=game.encode_state(state),
            clocks=match.clock.remaining_ms,
            tournament_id=tournament_id,
            opening=opening,
            round_no=round_no,
            pairing_key=pairing_key,
        )
        hosted = HostedGame(id=game_id, bots=bots, match=match, grace_ms=self._grace(config))
        self.games[game_id] = hosted
        self._finished[game_id] = hosted.done
        await self._maybe_start(hosted)
        return game_id

    def _grace(self, config: MatchConfig) -> int:
        return grace_ms(
            config.time_control,
            round(self.limits.grace_min_s * 1000),
            round(self.limits.grace_max_s * 1000),
        )

    async def recover(self, include: Callable[[GameRow], bool] = lambda _row: True) -> list[str]:
        """Bring back the unfinished games in the store (those ``include`` accepts).

        Run once at start-up, before connections are accepted. A game that
        had started comes back paused, both players away: the grace period of
        each starts now, and the mover's clock when both are back. A game that
        cannot be rebuilt (an unknown game plug-in, say) is closed as
        ``interrupted`` and logged. Returns the ids of the games brought back.
        """
        brought: list[str] = []
        for row in await self.store.unfinished_games():
            if row.id in self.games or not include(row):
                continue
            try:
                hosted = await self._rebuild(row)
            except Exception:
                log.exception("game %s cannot be resumed; closing it as interrupted", row.id)
                await self.store.mark_interrupted(row.id)
                continue
            self.games[row.id] = hosted
            self._finished[row.id] = hosted.done
            if hosted.match.status is MatchStatus.PAUSED:
                now = self._now()
                hosted.away_since = {0: now, 1: now}
                self._arm_grace(hosted)
            brought.append(row.id)
        if brought:
            log.info("resumed %d unfinished game(s) from the store", len(brought))
        self.recovered.extend(brought)
        return brought

    async def _rebuild(self, row: GameRow) -> HostedGame:
        game = get_game(row.game)
        config = MatchConfig(
            time_control=TimeControl.parse(row.time_control),
            max_plies=row.max_plies,
            max_retries=row.max_retries,
        )
        stored = await self.store.get_moves(row.id)
        if [m.ply for m in stored] != list(range(len(stored))):
            raise ValueError(f"game {row.id}: stored plies are not 0..{len(stored) - 1}")
        bots = []
        for name in row.players:
            bot = await self.store.bot_by_name(name)
            if bot is None:
                raise ValueError(f"game {row.id}: no bot {name!r}")
            bots.append(bot)
        clocks = stored[-1].clocks if stored else row.clocks
        match = Match.restore(
            game,
            config,
            game.decode_state(row.initial_state),
            [m.move for m in stored],
            clocks,
            started=row.status != "created",
        )
        return HostedGame(
            id=row.id,
            bots=(bots[0], bots[1]),
            match=match,
            records=MoveLog(record_of(m) for m in stored),
            grace_ms=self._grace(config),
            meta_bytes=sum(meta_size(m.meta) for m in stored if m.meta),
        )

    async def wait_finished(self, game_id: str) -> None:
        """Return once the game has finished (in a cluster, wherever it is hosted)."""
        event = self._finished.get(game_id)
        if event is not None:
            await event.wait()
            if game_id not in self._disowned:
                return
        if self.cluster is not None:
            await self.cluster.wait_finished(game_id)

    # ------------------------------------------------------------------ connections

    async def connect(
        self, peer: Peer, *, resume: dict[str, int] | None = None, token_id: int | None = None
    ) -> None:
        """A bot authenticated: make ``peer`` its connection and bring it up to date.

        For each game of the bot under way, ``peer`` gets the events after the
        ``seq`` named in ``resume`` (or a ``game_start`` snapshot), then one
        ``resumed`` listing where every game stands. Games waiting for this
        bot start (or resume after a restart) once both players are here.
        """
        assert peer.bot is not None
        bot = peer.bot
        resume = resume or {}
        entries: list[ResumedGame] = []
        if self.cluster is not None:
            await self.cluster.sweep()
        mine = sorted(
            (h for h in self.games.values() if h.seat_of(bot.id) is not None), key=lambda h: h.id
        )
        async with contextlib.AsyncExitStack() as locks:
            # No event of these games can be relayed while the peer is swapped
            # and caught up, so it gets each event exactly once.
            for hosted in mine:
                await locks.enter_async_context(hosted.lock)
            old = self.peers.get(bot.id)
            self.peers[bot.id] = peer
            if token_id is not None:
                self._tokens[bot.id] = token_id
            if old is not None and old is not peer:
                self._drop_seeks(old)
                old.close(int(ErrorCode.REPLACED), "replaced by a newer connection of the same bot")
            for game_id, frame in self._missed.pop(bot.id, []):
                if game_id not in resume:  # named games are caught up from the store below
                    peer.send(frame)
            for hosted in mine:
                seat = hosted.seat_of(bot.id)
                assert seat is not None
                self._back(hosted, seat)
                if hosted.id not in self.games or not hosted.under_way:
                    continue  # not started yet, or ended while we waited for its lock
                frames, mode = self._catch_up(hosted, seat, resume.get(hosted.id))
                for frame in frames:
                    peer.send(frame)
                match = hosted.match
                entries.append(
                    ResumedGame(
                        game_id=hosted.id,
                        seq=hosted.seq,
                        status=status_of(match),
                        mode=mode,
                        seat=seat,
                        game=match.game.info.name,
                        players=(hosted.bots[0].name, hosted.bots[1].name),
                        initial_state=match.game.encode_state(match.initial_state),
                    )
                )
        if self.cluster is not None:
            entries.extend(await self.cluster.connected(peer, resume))
        listed = {e.game_id for e in entries}
        for game_id, since in resume.items():
            if game_id in listed:
                continue
            row = await self.store.get_game(game_id)
            if row is None or row.status != "finished" or bot.id not in row.seat_bot_ids:
                continue  # not this bot's game, or not started: nothing to catch up
            seat = row.seat_bot_ids.index(bot.id)
            frames, mode = await self._stored_catch_up(row, seat, since)
            for frame in frames:
                peer.send(frame)
            entries.append(
                ResumedGame(
                    game_id=row.id,
                    seq=row.ply + 1,
                    status="finished",
                    mode=mode,
                    seat=seat,
                    game=row.game,
                    players=row.players,
                    initial_state=row.initial_state,
                )
            )
        peer.send(dump(Resumed(games=entries)))
        for hosted in mine:
            await self._maybe_start(hosted)

    def disconnect(self, peer: Peer) -> None:
        """Forget a closed connection. Its games go on (its clock keeps running)
        and its grace period starts."""
        self._refused.discard(peer)
        if peer.bot is not None and self.peers.get(peer.bot.id) is peer:
            self._leave(peer.bot.id)
        self._drop_seeks(peer)
        for hosted in self.games.values():
            hosted.watchers.discard(peer)
        if self.cluster is not None:
            self.cluster.disconnected(peer)

    def _leave(self, bot_id: int) -> None:
        del self.peers[bot_id]
        self._tokens.pop(bot_id, None)
        self._mark_away(bot_id)

    def _present(self, bot_id: int) -> bool:
        """Whether the bot is connected here or (in a cluster) to another process."""
        return bot_id in self.peers or (
            self.cluster is not None and self.cluster.present_elsewhere(bot_id)
        )

    def _mark_away(self, bot_id: int) -> None:
        if self._present(bot_id):
            return
        now = self._now()
        for hosted in self.games.values():
            seat = hosted.seat_of(bot_id)
            if seat is not None and hosted.under_way and seat not in hosted.away_since:
                hosted.away_since[seat] = now
                self._arm_grace(hosted)
                if self.on_presence is not None:
                    self.on_presence(hosted, seat, True)

    async def presence_changed(self, bot_id: int) -> None:
        """The cluster saw the bot connect to or leave another process: its games here
        start, resume, or start counting its grace period."""
        if not self._present(bot_id):
            self._mark_away(bot_id)
            return
        for hosted in list(self.games.values()):
            seat = hosted.seat_of(bot_id)
            if seat is None:
                continue
            self._back(hosted, seat)
            await self._maybe_start(hosted)

    def _back(self, hosted: HostedGame, seat: int) -> None:
        """The seat's bot is connected again: its grace period stops."""
        was_away = hosted.away_since.pop(seat, None) is not None
        self._arm_grace(hosted)
        if was_away and self.on_presence is not None:
            self.on_presence(hosted, seat, False)

    def seek_taken(self, bot_id: int) -> None:
        """Another process matched this bot's seek (the cluster says so)."""
        self._seeks = [s for s in self._seeks if s.bot.id != bot_id]

    def connected_tokens(self) -> list[int]:
        """Token ids behind the open bot connections."""
        return list(self._tokens.values())

    def revoke(self, token_ids: set[int]) -> int:
        """Close, at once, every connection opened with one of these (revoked) tokens.

        From this call on the connection's messages are refused and it gets no
        events; the bot is away (its grace period starts). Returns how many
        connections were closed.
        """
        closed = 0
        for bot_id, token_id in list(self._tokens.items()):
            if token_id not in token_ids:
                continue
            peer = self.peers[bot_id]
            self._refused.add(peer)
            self._drop_seeks(peer)
            self._leave(bot_id)
            peer.send(error_message(ErrorCode.BAD_TOKEN, "token revoked"))
            peer.close(int(ErrorCode.BAD_TOKEN), "token revoked")
            closed += 1
        return closed

    def has_game_under_way(self, bot_id: int) -> bool:
        """Whether the bot sits in a game that is not finished (for the idle limit)."""
        return any(
            h.seat_of(bot_id) is not None and not h.match.finished for h in self.games.values()
        )

    async def watch(self, peer: Peer, game_id: str, since: int | None = None) -> bool:
        """Add a spectator: the events after ``since`` (or a snapshot), then every
        event. False if there is no such game."""
        hosted = self.games.get(game_id)
        if hosted is not None:
            async with hosted.lock:
                if hosted.id in self.games:
                    frames, _ = self._catch_up(hosted, None, since)
                    for frame in frames:
                        peer.send(frame)
                    hosted.watchers.add(peer)
                    return True
        if self.cluster is not None and await self.cluster.watch(peer, game_id, since):
            return True
        row = await self.store.get_game(game_id)
        if row is None:
            return False
        frames, _ = await self._stored_catch_up(row, None, since)
        for frame in frames:
            peer.send(frame)
        return True

    async def close(self) -> None:
        """Stop timers and let the handlers already running finish (games stay stored
        as they are: a restart resumes them). No timer is armed after this."""
        self._closed = True
        for hosted in self.games.values():
            for timer in (hosted.flag_timer, hosted.grace_timer):
                if timer is not None:
                    timer.cancel()
        tasks = list(self._tasks)
        if tasks:  # short commits: cancelling one mid-way would strand its connection
            _, pending = await asyncio.wait(tasks, timeout=5.0)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # ------------------------------------------------------------------ messages

    async def handle(self, peer: Peer, msg: Move | Predict | Resign | Seek | Ping) -> None:
        """Act on one message from an authenticated bot; errors go back to ``peer``."""
        if peer in self._refused:
            peer.send(error_message(ErrorCode.BAD_TOKEN, "token revoked", ref=msg.type))
            return
        try:
            if await self._forwarded(peer, msg):
                return  # hosted by another process, which answers through the cluster
            try:
                await self._dispatch(peer, msg)
            except GameNotOwnedError:
                # Another process took the game over while this one had lost its
                # database session: the message changed nothing here (the game is no
                # longer hosted here), so the new owner answers it.
                if not await self._forwarded(peer, msg):
                    raise
        except MatchError as exc:
            peer.send(
                error_message(
                    exc.code,
                    exc.message,
                    game_id=getattr(msg, "game_id", None),
                    ply=getattr(msg, "ply", None),
                    ref=msg.type,
                )
            )
        except GameNotOwnedError as exc:
            peer.send(
                error_message(
                    ErrorCode.INTERNAL,
                    str(exc),
                    game_id=getattr(msg, "game_id", None),
                    ply=getattr(msg, "ply", None),
                    ref=msg.type,
                )
            )

    async def _forwarded(self, peer: Peer, msg: Move | Predict | Resign | Seek | Ping) -> bool:
        """Hand a game message to the process hosting its game, if that is another one."""
        return (
            self.cluster is not None
            and isinstance(msg, Move | Predict | Resign)
            and msg.game_id not in self.games
            and await self.cluster.forward(peer, msg)
        )

    async def _dispatch(self, peer: Peer, msg: Move | Predict | Resign | Seek | Ping) -> None:
        if isinstance(msg, Move):
            await self._on_move(peer, msg)
        elif isinstance(msg, Predict):
            await self._on_predict(peer, msg)
        elif isinstance(msg, Resign):
            await self._on_resign(peer, msg)
        elif isinstance(msg, Seek):
            await self._on_seek(peer, msg)
        else:
            peer.send(dump(Pong(id=msg.id)))

    async def _seat(self, peer: Peer, game_id: str) -> tuple[HostedGame, int]:
        assert peer.bot is not None
        hosted = self.games.get(game_id)
        if hosted is None:
            row = await self.store.get_game(game_id)
            if row is None:
                raise MatchError(ErrorCode.UNKNOWN_GAME, f"no game {game_id!r}")
            if peer.bot.id not in row.seat_bot_ids:
                raise MatchError(
                    ErrorCode.NOT_YOUR_GAME,
                    f"bot {peer.bot.name!r} does not play in game {game_id!r}",
                )
            raise MatchError(
                ErrorCode.GAME_FINISHED,
                f"game {game_id!r} is {row.status}"
                + (f" ({row.result}, {row.reason})" if row.result else "")
                + "; it accepts no moves",
            )
        seat = hosted.seat_of(peer.bot.id)
        if seat is None:
            raise MatchError(
                ErrorCode.NOT_YOUR_GAME,
                f"bot {peer.bot.name!r} does not play in game {game_id!r}",
            )
        return hosted, seat

    async def _on_move(self, peer: Peer, msg: Move) -> None:
        hosted, seat = await self._seat(peer, msg.game_id)
        received_at = now_ms()
        received_mono = self._now()
        async with hosted.lock:
            transition = hosted.match.play(seat, msg.ply, msg.move, received_mono)
            meta = None if msg.meta is None else msg.meta.model_dump(exclude_none=True)
            meta, size, dropped = self._within_meta_budget(hosted, meta)
            if transition.error is not None:
                # The refusal first, then what it caused (a forfeit's or a flag's game_over).
                peer.send(
                    error_message(
                        transition.error.code,
                        transition.error.message,
                        game_id=msg.game_id,
                        ply=msg.ply,
                        ref="move",
                    )
                )
            await self._commit(hosted, transition, received_at=received_at, meta=meta)
            if transition.record is not None:
                hosted.meta_bytes += size
                if dropped:
                    peer.send(
                        dump(
                            WarningMessage(
                                name="meta_not_stored",
                                message=(
                                    f"move accepted; meta field(s) {', '.join(dropped)} not "
                                    f"stored: this game has stored its limit of "
                                    f"{self.limits.max_game_meta_bytes} bytes of meta"
                                ),
                                game_id=msg.game_id,
                                ply=msg.ply,
                                ref="move",
                                ignored=dropped,
                            )
                        )
                    )

    def _within_meta_budget(
        self, hosted: HostedGame, meta: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, int, list[str]]:
        """``meta`` as it may be stored, its size, and the fields dropped: past the
        game's budget (``limits.max_game_meta_bytes``) only the small figures are kept."""
        if not meta:
            return meta, 0, []
        size = meta_size(meta)
        if hosted.meta_bytes + size <= self.limits.max_game_meta_bytes:
            return meta, size, []
        dropped = sorted(k for k in meta if k in BULKY_META)
        kept = {k: v for k, v in meta.items() if k not in BULKY_META}
        return kept or None, meta_size(kept), dropped

    async def _commit(
        self,
        hosted: HostedGame,
        transition: Transition,
        *,
        received_at: float,
        meta: dict[str, Any] | None,
    ) -> None:
        """Store a transition, make it current, and tell everyone. Caller holds the lock.

        Raises :class:`~arena.store.db.GameNotOwnedError` (nothing stored, nothing
        told, the game no longer hosted here) if another process took the game over.
        """
        try:
            await self._store_and_tell(hosted, transition, received_at=received_at, meta=meta)
        except GameNotOwnedError:
            log.error("game %s was taken over by another process; no longer hosted here", hosted.id)
            self._disown(hosted)
            raise

    def _disown(self, hosted: HostedGame) -> None:
        for timer in (hosted.flag_timer, hosted.grace_timer):
            if timer is not None:
                timer.cancel()
        hosted.flag_timer = hosted.grace_timer = None
        self._disowned.add(hosted.id)
        self.games.pop(hosted.id, None)
        self._finished.pop(hosted.id, None)
        hosted.done.set()  # wait_finished() looks for it elsewhere
        if self.cluster is not None:
            self.cluster.disowned(hosted)

    async def _store_and_tell(
        self,
        hosted: HostedGame,
        transition: Transition,
        *,
        received_at: float,
        meta: dict[str, Any] | None,
    ) -> None:
        match = transition.match
        record = transition.record
        if record is not None:
            finish = (
                (match.result or "*", match.winner, match.reason or "") if match.finished else None
            )
            key = position_key(match.game, hosted.match.state)  # the position before the move
            await self.store.commit_move(
                hosted.id,
                record,
                turn_started_at=hosted.turn_started_at,
                received_at=received_at,
                meta=meta,
                finish=finish,
                position_key=key,
            )
            ack = move_ack_frame(hosted.id, record)
            hosted.match = match.restart_clock(self._now())
            hosted.turn_started_at = now_ms()
            hosted.records.append(record)
            frame = state_frame(
                hosted.id,
                hosted.records,
                record.ply,
                match.to_move,
                str(match.config.time_control),
                moves=hosted.records.moves_json,
            )
            self._broadcast(hosted, frame, ack=(record.seat, ack))
        elif match.finished and not hosted.match.finished:
            await self.store.finish_game(
                hosted.id,
                result=match.result or "*",
                winner=match.winner,
                reason=match.reason or "",
                clocks=match.clock.remaining_ms,
            )
            hosted.match = match
        else:
            hosted.match = match
        if hosted.match.finished:
            self._end(hosted)
        else:
            self._arm_flag(hosted)

    async def _on_predict(self, peer: Peer, msg: Predict) -> None:
        hosted, seat = await self._seat(peer, msg.game_id)
        received_at = now_ms()
        match = hosted.match
        if match.finished:
            raise MatchError(ErrorCode.GAME_FINISHED, "game is over; predictions are not stored")
        if not match.ply <= msg.ply <= match.ply + MAX_PREDICT_AHEAD:
            raise MatchError(
                ErrorCode.BAD_PREDICTION,
                f"prediction for ply {msg.ply}, but the game is at ply {match.ply}; "
                f"predict plies {match.ply}..{match.ply + MAX_PREDICT_AHEAD}",
            )
        if msg.probs is not None and len(msg.probs) != len(msg.moves):
            raise MatchError(
                ErrorCode.BAD_PREDICTION,
                f"{len(msg.moves)} moves but {len(msg.probs)} probabilities; give one per move",
            )
        moves = normalized_prediction(match, msg.ply, msg.moves)
        sent = hosted.predictions.get((seat, msg.ply), 0)
        if sent >= MAX_PREDICTS_PER_PLY:
            raise MatchError(
                ErrorCode.BAD_PREDICTION,
                f"already {sent} predictions for ply {msg.ply}; at most "
                f"{MAX_PREDICTS_PER_PLY} per ply are stored (the last one before the move counts)",
            )
        hosted.predictions[(seat, msg.ply)] = sent + 1
        # Not awaited: the connection's next frame (often the move itself, sent
        # right after its prediction of the reply) need not wait for this commit.
        # The committer keeps the order, so the prediction is stored no later
        # than any move after it.
        stored = self.store.queue_prediction(
            hosted.id,
            ply=msg.ply,
            seat=seat,
            moves=moves,
            probs=msg.probs,
            received_at=received_at,
        )
        stored.add_done_callback(_log_unstored_prediction)

    async def _on_resign(self, peer: Peer, msg: Resign) -> None:
        hosted, seat = await self._seat(peer, msg.game_id)
        async with hosted.lock:
            # Only the arena's own players may end a game unrated: an outside bot
            # could otherwise turn any lost game into no result. Its engine error
            # is recorded as such but scored as a loss, as cutechess-cli scores a crash.
            builtin = peer.bot is not None and peer.bot.kind == "builtin"
            match = hosted.match.resign(seat, self._now(), msg.reason, rated=not builtin)
            await self._commit(hosted, Transition(match=match), received_at=now_ms(), meta=None)

    async def abort(self, peer: Peer, game_id: str) -> None:
        """A player aborts its game before both seats have moved (the lichess API's
        ``abort``): it ends without a result (``*``, ``aborted``). Raises
        :class:`MatchError` when the game is not the bot's, is over, or is too far on."""
        hosted, _ = await self._seat(peer, game_id)
        async with hosted.lock:
            match = hosted.match
            if match.finished:
                raise MatchError(ErrorCode.GAME_FINISHED, f"game {game_id!r} is over")
            if match.ply >= 2:
                raise MatchError(
                    ErrorCode.WRONG_PLY,
                    f"a game can be aborted before each side has moved; {match.ply} moves "
                    "were played: resign instead",
                )
            aborted = Transition(match=match.abort("aborted"))
            await self._commit(hosted, aborted, received_at=now_ms(), meta=None)

    async def _on_seek(self, peer: Peer, msg: Seek) -> None:
        assert peer.bot is not None
        try:
            get_game(msg.game)
            control = TimeControl.parse(msg.time_control)
        except (GameError, TimeControlError) as exc:
            raise MatchError(ErrorCode.BAD_SEEK, str(exc)) from None
        if msg.opponent is not None and await self.store.bot_by_name(msg.opponent) is None:
            raise MatchError(ErrorCode.BAD_SEEK, f"no bot named {msg.opponent!r} is registered")
        seek = PendingSeek(
            id=f"s{next(self._seek_ids)}",
            peer=peer,
            bot=peer.bot,
            game=msg.game,
            time_control=control,
            max_plies=msg.max_plies,
            opponent=msg.opponent,
        )
        config = MatchConfig(time_control=control, max_plies=msg.max_plies)
        if self.cluster is not None:  # every process's seeks are in the database
            self._seeks = [s for s in self._seeks if s.bot.id != seek.bot.id]
            opponent = await self.cluster.match_seek(seek)
            if opponent is not None:
                self.seek_taken(opponent.id)
                await self.create_game(msg.game, (opponent, seek.bot), config)
                return
        else:
            for waiting in self._seeks:
                if waiting.matches(seek):
                    self._seeks.remove(waiting)
                    await self.create_game(msg.game, (waiting.bot, seek.bot), config)
                    return
        self._seeks = [s for s in self._seeks if s.bot.id != seek.bot.id]  # one seek per bot
        self._seeks.append(seek)
        peer.send(dump(SeekAck(seek_id=seek.id)))

    def _drop_seeks(self, peer: Peer) -> None:
        dropped = [s for s in self._seeks if s.peer is peer]
        self._seeks = [s for s in self._seeks if s.peer is not peer]
        if self.cluster is not None:
            for seek in dropped:
                self.cluster.seek_dropped(seek)

    # ------------------------------------------------------------------ lifecycle

    async def _maybe_start(self, hosted: HostedGame) -> None:
        """Start a created game, or resume a paused one, once both bots are connected."""
        waiting = (MatchStatus.CREATED, MatchStatus.PAUSED)
        if hosted.match.status not in waiting:
            return
        if not all(self._present(bot.id) for bot in hosted.bots):
            return
        async with hosted.lock:
            if hosted.match.status not in waiting or hosted.id not in self.games:
                return
            if hosted.match.status is MatchStatus.PAUSED:
                hosted.match = hosted.match.resume(self._now())
                log.info("game %s resumed at ply %d", hosted.id, hosted.match.ply)
            else:
                await self.store.start_game(hosted.id)
                hosted.match = hosted.match.start(self._now())
            hosted.turn_started_at = now_ms()
            for seat, bot in enumerate(hosted.bots):
                peer = self.peers.get(bot.id)
                if peer is not None:
                    peer.send(dump(self._snapshot(hosted, seat)))
            for watcher in hosted.watchers:
                watcher.send(dump(self._snapshot(hosted, None)))
            if self.cluster is not None:
                self.cluster.published(hosted, "start")
            if hosted.match.finished:  # terminal start position
                await self.store.finish_game(
                    hosted.id,
                    result=hosted.match.result or "*",
                    winner=hosted.match.winner,
                    reason=hosted.match.reason or "",
                    clocks=hosted.match.clock.remaining_ms,
                )
                self._end(hosted)
            else:
                self._arm_flag(hosted)

    def _arm_flag(self, hosted: HostedGame) -> None:
        """Have the flag checked when the mover's time runs out.

        A timer armed for an earlier moment is kept: when it fires before the
        flag falls, :meth:`_on_flag` arms the next one. Under load that spares
        a timer armed and cancelled for every move (the next mover's deadline
        is usually later than the previous one's).
        """
        deadline = None if self._closed else hosted.match.deadline_ms()
        timer = hosted.flag_timer
        if deadline is None:
            if timer is not None:
                timer.cancel()
                hosted.flag_timer = None
            return
        delay_s = max(0.0, (deadline - self._now()) / 1000.0) + 0.001
        loop = asyncio.get_running_loop()
        if timer is not None:
            if timer.when() <= loop.time() + delay_s:
                return
            timer.cancel()
        hosted.flag_timer = loop.call_later(delay_s, self._fire_flag, hosted)

    def _fire_flag(self, hosted: HostedGame) -> None:
        hosted.flag_timer = None  # fired: the next _arm_flag arms a new one
        self._spawn(self._on_flag(hosted))

    async def _on_flag(self, hosted: HostedGame) -> None:
        async with hosted.lock:
            match = hosted.match.flag(self._now())
            if match is hosted.match:  # a move arrived in time after all
                self._arm_flag(hosted)
                return
            await self._commit(hosted, Transition(match=match), received_at=now_ms(), meta=None)

    def _arm_grace(self, hosted: HostedGame) -> None:
        """(Re)arm the timer for the first away seat's grace period to end."""
        if hosted.grace_timer is not None:
            hosted.grace_timer.cancel()
            hosted.grace_timer = None
        if not hosted.away_since or not hosted.under_way or self._closed:
            return
        deadline = min(hosted.away_since.values()) + hosted.grace_ms
        delay_s = max(0.0, (deadline - self._now()) / 1000.0) + 0.001
        loop = asyncio.get_running_loop()
        hosted.grace_timer = loop.call_later(delay_s, self._fire_grace, hosted)

    def _fire_grace(self, hosted: HostedGame) -> None:
        self._spawn(self._on_grace(hosted))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_grace(self, hosted: HostedGame) -> None:
        async with hosted.lock:
            if hosted.id not in self.games or not hosted.under_way:
                return
            # A seat marked away may have come back meanwhile on another process
            # without this one being told as such (a game taken over at start-up).
            for seat, bot in enumerate(hosted.bots):
                if seat in hosted.away_since and self._present(bot.id):
                    del hosted.away_since[seat]
            now = self._now()
            absent = {s for s, t in hosted.away_since.items() if now - t >= hosted.grace_ms}
            if absent:
                names = ", ".join(hosted.bots[s].name for s in sorted(absent))
                log.info("game %s: %s away past the %d ms grace", hosted.id, names, hosted.grace_ms)
                match = hosted.match.abandon(absent, now)
                await self._commit(hosted, Transition(match=match), received_at=now_ms(), meta=None)
                return
            self._arm_grace(hosted)
        await self._maybe_start(hosted)  # both back: a paused game resumes

    def _end(self, hosted: HostedGame) -> None:
        for timer in (hosted.flag_timer, hosted.grace_timer):
            if timer is not None:
                timer.cancel()
        hosted.flag_timer = hosted.grace_timer = None
        match = hosted.match
        frame = game_over_frame(hosted.id, match.ply, match.result, match.winner, match.reason)
        self._broadcast(hosted, frame)
        for bot in hosted.bots:
            if not self._present(bot.id):  # tell it when it comes back
                self._missed.setdefault(bot.id, []).append((hosted.id, frame))
        self.games.pop(hosted.id, None)
        self._finished.pop(hosted.id, None)  # wait_finished() returns at once from now on
        hosted.done.set()

    # ------------------------------------------------------------------ messages out

    def _broadcast(
        self, hosted: HostedGame, frame: str, ack: tuple[int, str] | None = None
    ) -> None:
        """Send ``frame`` to the game's players and spectators; with ``ack`` (a seat
        and a ``move_ack``), that seat's connection gets the ack first, in the same write."""
        seats = [(seat, self.peers.get(bot.id)) for seat, bot in enumerate(hosted.bots)]
        for seat, peer in [*seats, *((None, watcher) for watcher in hosted.watchers)]:
            if peer is None:
                continue
            try:
                if ack is not None and seat == ack[0]:
                    peer.send(ack[1], frame)
                else:
                    peer.send(frame)
            except Exception:  # one listener's failure must not stall the game
                log.exception("could not relay an event of game %s", hosted.id)
        if self.cluster is not None:  # the event is stored: other processes relay it
            self.cluster.published(hosted, "event")

    def _clocks(self, hosted: HostedGame) -> Clocks:
        return Clocks(
            remaining_ms=hosted.match.clocks(self._now()),
            time_control=str(hosted.match.config.time_control),
        )

    def _snapshot(self, hosted: HostedGame, seat: int | None) -> GameStart:
        match = hosted.match
        return game_start(
            hosted.id,
            match.game,
            seat,
            (hosted.bots[0].name, hosted.bots[1].name),
            match.initial_state,
            list(match.moves),
            match.state,
            self._clocks(hosted),
            match.config.max_plies,
            status=status_of(match),
        )

    def _catch_up(
        self, hosted: HostedGame, seat: int | None, since: int | None
    ) -> tuple[list[str], Literal["events", "snapshot"]]:
        """What a client that saw events up to ``since`` is missing. Caller holds the lock."""
        match = hosted.match
        over = (match.result, match.winner, match.reason) if match.finished else None
        if self._too_old(since, hosted.seq):
            frames = [dump(self._snapshot(hosted, seat))]
            if over is not None:
                frames.append(game_over_frame(hosted.id, match.ply, *over))
            return frames, "snapshot"
        assert since is not None
        frames = missed_events(
            hosted.id,
            match.game,
            hosted.records,
            since=since,
            max_plies=match.config.max_plies,
            time_control=str(match.config.time_control),
            over=over,
        )
        return frames, "events"

    def _too_old(self, since: int | None, last: int) -> bool:
        """Whether a client at ``since`` gets a snapshot rather than the events it missed."""
        return since is None or not 0 <= since <= last or last - since > self.limits.replay_events

    async def _stored_catch_up(
        self, row: GameRow, seat: int | None, since: int | None
    ) -> tuple[list[str], Literal["events", "snapshot"]]:
        """Like :meth:`_catch_up`, for a game that is only in the store."""
        finished = row.status == "finished"
        if self._too_old(since, row.ply + (1 if finished else 0)):
            return await self.stored_snapshot(row, seat), "snapshot"
        assert since is not None
        frames = missed_events(
            row.id,
            get_game(row.game),
            [record_of(m) for m in await self.store.get_moves(row.id)],
            since=since,
            max_plies=row.max_plies,
            time_control=row.time_control,
            over=(row.result, row.winner, row.reason) if finished else None,
        )
        return frames, "events"

    async def stored_snapshot(self, row: GameRow, seat: int | None = None) -> list[str]:
        """Frames describing a stored (not hosted) game: ``game_start`` (+ ``game_over``)."""
        moves = [m.move for m in await self.store.get_moves(row.id)]
        over = (row.result, row.winner, row.reason) if row.status == "finished" else None
        return snapshot_frames(row, seat, moves, row.clocks, over)
