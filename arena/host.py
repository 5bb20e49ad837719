"""The host: runs matches for connected bots (seats, clocks, storage, relays).

The async shell around the pure :class:`~arena.match.Match`. For each event it
computes the match's next value, commits what must be stored, then makes the
new value current and tells the players and spectators: a move is committed
before it is acknowledged or relayed. Outgoing messages go through
:class:`Peer` objects, whose ``send`` never blocks (the websocket layer queues
them), so a slow spectator cannot stall a game.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from arena.clock import TimeControl, TimeControlError
from arena.errors import ErrorCode, MatchError
from arena.match import Match, MatchConfig, MatchStatus, Transition
from arena.positions import position_key
from arena.protocol import (
    Clocks,
    ErrorMessage,
    GameOver,
    GameStart,
    Move,
    MoveAck,
    Ping,
    Pong,
    Predict,
    Resign,
    Seek,
    SeekAck,
    StateEvent,
    dump,
)
from arena.store import BotRow, GameRow, Store, now_ms
from games import Game, GameError, get_game, replay

__all__ = ["Host", "Peer", "error_message"]

log = logging.getLogger(__name__)

MAX_PREDICT_AHEAD = 32
"""How many plies beyond the current one a ``predict`` may target."""
MAX_PREDICTS_PER_PLY = 4
"""How many ``predict`` messages a seat may send for one ply (the last counts)."""


class Peer(Protocol):
    """One connection, as the host sees it."""

    bot: BotRow | None
    """The authenticated bot, or ``None`` for a spectator."""

    def send(self, text: str) -> None:
        """Queue a text frame; never blocks."""
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

    def seat_of(self, bot_id: int) -> int | None:
        for seat, bot in enumerate(self.bots):
            if bot.id == bot_id:
                return seat
        return None


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

    def __init__(self, store: Store, *, monotonic_ms: Callable[[], float] | None = None) -> None:
        self.store = store
        self._now = monotonic_ms or (lambda: time.monotonic() * 1000.0)
        self.peers: dict[int, Peer] = {}
        """The current connection of each connected bot, by bot id."""
        self.games: dict[str, HostedGame] = {}
        self._seeks: list[PendingSeek] = []
        self._seek_ids = itertools.count(1)
        self._finished: dict[str, asyncio.Event] = {}
        self._missed: dict[int, list[str]] = {}
        """``game_over`` frames for bots that were away when their game ended."""
        self._tasks: set[asyncio.Task[None]] = set()

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
        hosted = HostedGame(id=game_id, bots=bots, match=match)
        self.games[game_id] = hosted
        self._finished[game_id] = hosted.done
        await self._maybe_start(hosted)
        return game_id

    async def wait_finished(self, game_id: str) -> None:
        """Return once the game has finished."""
        event = self._finished.get(game_id)
        if event is not None:
            await event.wait()

    # ------------------------------------------------------------------ connections

    async def connect(self, peer: Peer) -> None:
        """A bot authenticated: make ``peer`` its connection and resume its games."""
        assert peer.bot is not None
        old = self.peers.get(peer.bot.id)
        self.peers[peer.bot.id] = peer
        if old is not None and old is not peer:
            self._drop_seeks(old)
            old.close(4014, "replaced by a newer connection of the same bot")
        for frame in self._missed.pop(peer.bot.id, []):
            peer.send(frame)
        for hosted in list(self.games.values()):
            seat = hosted.seat_of(peer.bot.id)
            if seat is None:
                continue
            if hosted.match.status is MatchStatus.ACTIVE:
                peer.send(dump(self._snapshot(hosted, seat)))
            else:
                await self._maybe_start(hosted)

    def disconnect(self, peer: Peer) -> None:
        """Forget a closed connection (its games go on; its clock keeps running)."""
        if peer.bot is not None and self.peers.get(peer.bot.id) is peer:
            del self.peers[peer.bot.id]
        self._drop_seeks(peer)
        for hosted in self.games.values():
            hosted.watchers.discard(peer)

    async def watch(self, peer: Peer, game_id: str) -> bool:
        """Add a spectator: send a snapshot, then every event. False if no such game."""
        hosted = self.games.get(game_id)
        if hosted is not None:
            async with hosted.lock:
                peer.send(dump(self._snapshot(hosted, None)))
                hosted.watchers.add(peer)
            return True
        row = await self.store.get_game(game_id)
        if row is None:
            return False
        for frame in await self.stored_snapshot(row):
            peer.send(frame)
        return True

    async def close(self) -> None:
        """Stop timers (games stay stored as they are)."""
        for hosted in self.games.values():
            if hosted.flag_timer is not None:
                hosted.flag_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------ messages

    async def handle(self, peer: Peer, msg: Move | Predict | Resign | Seek | Ping) -> None:
        """Act on one message from an authenticated bot; errors go back to ``peer``."""
        try:
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
            await self._commit(hosted, transition, received_at=received_at, meta=meta)
        if transition.error is not None:
            raise transition.error

    async def _commit(
        self,
        hosted: HostedGame,
        transition: Transition,
        *,
        received_at: float,
        meta: dict[str, Any] | None,
    ) -> None:
        """Store a transition, make it current, and tell everyone. Caller holds the lock."""
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
            mover = self.peers.get(hosted.bots[record.seat].id)
            if mover is not None:
                mover.send(
                    dump(
                        MoveAck(
                            game_id=hosted.id,
                            ply=record.ply,
                            move=record.move,
                            response_ms=record.response_ms,
                        )
                    )
                )
            hosted.match = match.restart_clock(self._now())
            hosted.turn_started_at = now_ms()
            self._broadcast(
                hosted,
                dump(
                    StateEvent(
                        game_id=hosted.id,
                        seq=match.ply,
                        ply=match.ply,
                        last_move=record.move,
                        display=record.display,
                        moves=list(match.moves),
                        state=record.state_after,
                        to_move=match.to_move,
                        clocks=self._clocks(hosted),
                    )
                ),
            )
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
        sent = hosted.predictions.get((seat, msg.ply), 0)
        if sent >= MAX_PREDICTS_PER_PLY:
            raise MatchError(
                ErrorCode.BAD_PREDICTION,
                f"already {sent} predictions for ply {msg.ply}; at most "
                f"{MAX_PREDICTS_PER_PLY} per ply are stored (the last one before the move counts)",
            )
        hosted.predictions[(seat, msg.ply)] = sent + 1
        await self.store.add_prediction(
            hosted.id,
            ply=msg.ply,
            seat=seat,
            moves=msg.moves,
            probs=msg.probs,
            received_at=received_at,
        )

    async def _on_resign(self, peer: Peer, msg: Resign) -> None:
        hosted, seat = await self._seat(peer, msg.game_id)
        async with hosted.lock:
            match = hosted.match.resign(seat)
            await self._commit(hosted, Transition(match=match), received_at=now_ms(), meta=None)

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
        for waiting in self._seeks:
            if waiting.matches(seek):
                self._seeks.remove(waiting)
                config = MatchConfig(time_control=control, max_plies=msg.max_plies)
                await self.create_game(msg.game, (waiting.bot, seek.bot), config)
                return
        self._seeks = [s for s in self._seeks if s.bot.id != seek.bot.id]  # one seek per bot
        self._seeks.append(seek)
        peer.send(dump(SeekAck(seek_id=seek.id)))

    def _drop_seeks(self, peer: Peer) -> None:
        self._seeks = [s for s in self._seeks if s.peer is not peer]

    # ------------------------------------------------------------------ lifecycle

    async def _maybe_start(self, hosted: HostedGame) -> None:
        if hosted.match.status is not MatchStatus.CREATED:
            return
        if not all(bot.id in self.peers for bot in hosted.bots):
            return
        async with hosted.lock:
            if hosted.match.status is not MatchStatus.CREATED:
                return
            await self.store.start_game(hosted.id)
            hosted.match = hosted.match.start(self._now())
            hosted.turn_started_at = now_ms()
            for seat, bot in enumerate(hosted.bots):
                peer = self.peers.get(bot.id)
                if peer is not None:
                    peer.send(dump(self._snapshot(hosted, seat)))
            for watcher in hosted.watchers:
                watcher.send(dump(self._snapshot(hosted, None)))
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
        if hosted.flag_timer is not None:
            hosted.flag_timer.cancel()
            hosted.flag_timer = None
        deadline = hosted.match.deadline_ms()
        if deadline is None:
            return
        delay_s = max(0.0, (deadline - self._now()) / 1000.0) + 0.001
        loop = asyncio.get_running_loop()
        hosted.flag_timer = loop.call_later(delay_s, self._fire_flag, hosted)

    def _fire_flag(self, hosted: HostedGame) -> None:
        task = asyncio.get_running_loop().create_task(self._on_flag(hosted))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_flag(self, hosted: HostedGame) -> None:
        async with hosted.lock:
            match = hosted.match.flag(self._now())
            if match is hosted.match:  # a move arrived in time after all
                self._arm_flag(hosted)
                return
            await self._commit(hosted, Transition(match=match), received_at=now_ms(), meta=None)

    def _end(self, hosted: HostedGame) -> None:
        if hosted.flag_timer is not None:
            hosted.flag_timer.cancel()
            hosted.flag_timer = None
        match = hosted.match
        frame = _game_over(hosted.id, match.ply, match.result, match.winner, match.reason)
        self._broadcast(hosted, frame)
        for bot in hosted.bots:
            if bot.id not in self.peers:  # tell it when it comes back
                self._missed.setdefault(bot.id, []).append(frame)
        self.games.pop(hosted.id, None)
        self._finished.pop(hosted.id, None)  # wait_finished() returns at once from now on
        hosted.done.set()

    # ------------------------------------------------------------------ messages out

    def _broadcast(self, hosted: HostedGame, frame: str) -> None:
        peers = [self.peers.get(bot.id) for bot in hosted.bots]
        for peer in [*(p for p in peers if p is not None), *hosted.watchers]:
            try:
                peer.send(frame)
            except Exception:  # one listener's failure must not stall the game
                log.exception("could not relay an event of game %s", hosted.id)

    def _clocks(self, hosted: HostedGame) -> Clocks:
        return Clocks(
            remaining_ms=hosted.match.clocks(self._now()),
            time_control=str(hosted.match.config.time_control),
        )

    def _snapshot(self, hosted: HostedGame, seat: int | None) -> GameStart:
        match = hosted.match
        return _game_start(
            hosted.id,
            match.game,
            seat,
            (hosted.bots[0].name, hosted.bots[1].name),
            match.initial_state,
            list(match.moves),
            match.state,
            self._clocks(hosted),
            match.config.max_plies,
            finished=match.finished,
        )

    async def stored_snapshot(self, row: GameRow) -> list[str]:
        """Frames describing a stored (not hosted) game: ``game_start`` (+ ``game_over``)."""
        game: Game[Any] = get_game(row.game)
        moves = [m.move for m in await self.store.get_moves(row.id)]
        finished = row.status == "finished"
        initial = game.decode_state(row.initial_state)
        start = _game_start(
            row.id,
            game,
            None,
            row.players,
            initial,
            moves,
            replay(game, moves, initial),
            Clocks(remaining_ms=row.clocks, time_control=row.time_control),
            row.max_plies,
            finished=finished,
        )
        frames = [dump(start)]
        if finished:
            frames.append(_game_over(row.id, len(moves), row.result, row.winner, row.reason))
        return frames


def _game_start(
    game_id: str,
    game: Game[Any],
    seat: int | None,
    players: tuple[str, str],
    initial: Any,
    moves: list[str],
    state: Any,
    clocks: Clocks,
    max_plies: int | None,
    *,
    finished: bool,
) -> GameStart:
    """A ``game_start`` snapshot (for a player's seat, or ``seat=None`` for a spectator)."""
    return GameStart(
        game_id=game_id,
        game=game.info.name,
        seat=seat,
        seat_names=game.info.seats,
        players=players,
        initial_state=game.encode_state(initial),
        moves=moves,
        state=game.encode_state(state),
        ply=len(moves),
        to_move=None if finished else game.to_move(state),
        clocks=clocks,
        max_plies=max_plies,
        seq=len(moves) + (1 if finished else 0),
        status="finished" if finished else "active",
    )


def _game_over(
    game_id: str, ply: int, result: str | None, winner: int | None, reason: str | None
) -> str:
    """A ``game_over`` frame (its ``seq`` follows the last move's)."""
    return dump(
        GameOver(
            game_id=game_id,
            seq=ply + 1,
            result=result or "*",
            winner=winner,
            reason=reason or "",
            ply=ply,
        )
    )
