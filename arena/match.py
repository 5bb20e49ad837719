"""The match: one game between two seats, as a pure state machine.

No I/O and no real time: every method takes ``now_ms`` (a monotonic
millisecond reading) and returns a new :class:`Match`, so the host can compute
a transition, commit it to storage, and only then make it current (a move is
stored before it is acknowledged).

Lifecycle (:class:`MatchStatus`)::

    CREATED --start--> ACTIVE --move|resign|flag|illegal x N|max plies|abandon--> FINISHED
    CREATED --abort--> FINISHED
    (restart) restore: PAUSED --resume--> ACTIVE;  PAUSED --resign|abandon--> FINISHED

A match is PAUSED when it was rebuilt from storage after a restart
(:meth:`Match.restore`): its clocks stand still until both players are back
and :meth:`Match.resume` starts the mover's clock, so the interruption is
charged to nobody.

Refusals that change nothing (not your turn, wrong ply, game over) raise
:class:`~arena.errors.MatchError`. Events that do change the match (an
illegal move counts against the mover; a move that arrives after the flag
fell ends the game) come back as a :class:`Transition` carrying the error too.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from arena.clock import ClockState, TimeControl
from arena.errors import ErrorCode, MatchError
from games import Game, IllegalMoveError, result_string

MAX_PLIES = 1000
"""Every game is adjudicated a draw (``max_plies``) after this many moves at the
latest, whatever its own ``max_plies``: it bounds what one game stores."""

__all__ = [
    "Match",
    "MatchConfig",
    "MatchStatus",
    "MoveRecord",
    "Transition",
]


class MatchStatus(Enum):
    """Where a match is in its lifecycle."""

    CREATED = "created"
    ACTIVE = "active"
    PAUSED = "paused"
    """Restored after a restart; no clock runs until :meth:`Match.resume`."""
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Rules of a match beyond the game's own."""

    time_control: TimeControl = field(default_factory=lambda: TimeControl.parse("60+1"))
    max_plies: int | None = None
    """Adjudicate a draw (reason ``max_plies``) after this many moves."""
    max_retries: int = 3
    """Illegal moves a seat may retry per turn; the next one forfeits (``illegal_move``)."""


@dataclass(frozen=True, slots=True)
class MoveRecord:
    """An accepted move, with the server's timing of it."""

    ply: int
    seat: int
    move: str
    """Canonical notation."""
    display: str
    """As written for people (SAN for chess)."""
    state_after: str
    """Encoded state after the move."""
    response_ms: int
    """Time from the start of the mover's turn to the move's arrival."""
    clocks_after: tuple[int | None, int | None]


@dataclass(frozen=True, slots=True)
class Transition:
    """The match after an event, and what the mover should be told."""

    match: Match
    record: MoveRecord | None = None
    """The accepted move, if the event was one."""
    error: MatchError | None = None
    """Why the move was refused, if it was (the match may still have changed)."""


@dataclass(frozen=True, slots=True)
class Match:
    """One game between seat 0 and seat 1 under a :class:`MatchConfig`."""

    game: Game[Any]
    config: MatchConfig
    initial_state: Any
    state: Any
    moves: tuple[str, ...] = ()
    status: MatchStatus = MatchStatus.CREATED
    clock: ClockState = field(default_factory=lambda: ClockState((None, None), None))
    illegal_attempts: int = 0
    """Illegal moves by the current mover in this turn."""
    winner: int | None = None
    reason: str | None = None
    result: str | None = None
    """``1-0``, ``0-1``, ``1/2-1/2``, or ``*`` for an aborted game; set when finished."""

    @classmethod
    def new(cls, game: Game[Any], config: MatchConfig, initial_state: Any = None) -> Match:
        """A match not yet started, from the game's start position by default."""
        state = game.initial_state() if initial_state is None else initial_state
        return cls(
            game=game,
            config=config,
            initial_state=state,
            state=state,
            clock=config.time_control.initial_clock(),
        )

    @classmethod
    def restore(
        cls,
        game: Game[Any],
        config: MatchConfig,
        initial_state: Any,
        moves: Sequence[str],
        clocks: tuple[int | None, int | None],
        *,
        started: bool,
    ) -> Match:
        """A match rebuilt from stored moves and the clocks stored with the last one.

        A match that had started comes back PAUSED (no clock running), one that
        had not comes back CREATED. The stored moves are canonical and were
        legal when played, so they are replayed without the legality check.
        """
        state = initial_state
        for move in moves:
            state = game.apply(state, move)
        return cls(
            game=game,
            config=config,
            initial_state=initial_state,
            state=state,
            moves=tuple(moves),
            status=MatchStatus.PAUSED if started else MatchStatus.CREATED,
            clock=ClockState(remaining_ms=clocks, running_since_ms=None),
        )

    # ------------------------------------------------------------------ queries

    @property
    def ply(self) -> int:
        """Moves played so far."""
        return len(self.moves)

    @property
    def to_move(self) -> int | None:
        """Seat to move, or ``None`` when the match is finished."""
        if self.status is MatchStatus.FINISHED:
            return None
        seat: int = self.game.to_move(self.state)
        return seat

    @property
    def finished(self) -> bool:
        return self.status is MatchStatus.FINISHED

    def deadline_ms(self) -> float | None:
        """Monotonic ms when the mover's flag falls, if a clock runs."""
        seat = self.to_move
        if seat is None or self.status is not MatchStatus.ACTIVE:
            return None
        return self.clock.deadline_ms(seat)

    def clocks(self, now_ms: float) -> tuple[int | None, int | None]:
        """Remaining time per seat at ``now_ms``."""
        seat = self.to_move if self.status is MatchStatus.ACTIVE else None
        return self.clock.snapshot(seat, now_ms)

    # ------------------------------------------------------------------ events

    def start(self, now_ms: float) -> Match:
        """Start the clock of the first mover."""
        if self.status is not MatchStatus.CREATED:
            raise MatchError(ErrorCode.GAME_FINISHED, f"match already {self.status.value}")
        started = replace(self, status=MatchStatus.ACTIVE, clock=self.clock.start(now_ms))
        # A start position may already be terminal (e.g. a bad opening file).
        outcome = self.game.outcome(self.state)
        if outcome is not None:
            return started._finish(outcome.winner, outcome.reason)
        return started

    def play(self, seat: int, ply: int, move: str, now_ms: float) -> Transition:
        """``seat`` plays ``move`` as move number ``ply``.

        Raises :class:`MatchError` for refusals that change nothing. An illegal
        move or a move after the flag fell returns a :class:`Transition` with
        ``error`` set (and possibly a finished match).
        """
        self._check_turn(seat)
        if ply != self.ply:
            raise MatchError(
                ErrorCode.WRONG_PLY,
                f"move sent for ply {ply}, but the game is at ply {self.ply}",
            )
        left = self.clock.left_ms(seat, now_ms)
        if left is not None and left <= 0:
            flagged = self.flag(now_ms)
            return Transition(
                match=flagged,
                error=MatchError(ErrorCode.GAME_FINISHED, "move arrived after your time ran out"),
            )
        try:
            canonical = self.game.normalize_move(self.state, move)
        except IllegalMoveError as exc:
            return self._illegal(seat, exc)
        new_state = self.game.apply(self.state, canonical)
        display = self.game.display_move(
            self.state, canonical
        )  # after apply: chess reuses its work
        response_ms = round(self.clock.elapsed_ms(now_ms))
        clock = self.clock.after_move(seat, now_ms, self.config.time_control)
        played = replace(
            self,
            state=new_state,
            moves=(*self.moves, canonical),
            clock=clock,
            illegal_attempts=0,
        )
        outcome = self.game.outcome(new_state)
        if outcome is not None:
            played = played._finish(outcome.winner, outcome.reason)
        elif played.ply >= min(self.config.max_plies or MAX_PLIES, MAX_PLIES):
            played = played._finish(None, "max_plies")
        record = MoveRecord(
            ply=ply,
            seat=seat,
            move=canonical,
            display=display,
            state_after=self.game.encode_state(new_state),
            response_ms=response_ms,
            clocks_after=clock.remaining_ms,
        )
        return Transition(match=played, record=record)

    def resume(self, now_ms: float) -> Match:
        """Leave PAUSED: the mover's clock starts at ``now_ms`` from its stored time."""
        if self.status is not MatchStatus.PAUSED:
            raise MatchError(ErrorCode.GAME_FINISHED, f"match is {self.status.value}, not paused")
        return replace(self, status=MatchStatus.ACTIVE, clock=self.clock.start(now_ms))

    def abandon(self, absent: Collection[int], now_ms: float | None = None) -> Match:
        """The seats in ``absent`` stayed away past their grace period.

        With fewer than two moves played the game is aborted (``*``,
        ``aborted``); otherwise the present seat wins (``abandoned``), or,
        when both are away, the game ends without a result (``*``, ``abandoned``).
        With ``now_ms``, the mover's clock is charged for its time so far.
        """
        if self.status is MatchStatus.FINISHED or not absent:
            return self
        charged = self._charged(now_ms)
        if self.ply < 2:
            return charged.abort("aborted")
        if len(set(absent)) >= 2:
            return charged.abort("abandoned")
        (seat,) = set(absent)
        return charged._finish(1 - seat, "abandoned")

    def restart_clock(self, now_ms: float) -> Match:
        """Start the mover's clock afresh at ``now_ms``.

        The host calls this once a move has been stored and relayed, so the
        opponent is not charged for the server's own commit time.
        """
        if self.status is not MatchStatus.ACTIVE:
            return self
        return replace(self, clock=self.clock.start(now_ms))

    def resign(
        self,
        seat: int,
        now_ms: float | None = None,
        reason: str | None = None,
        *,
        rated: bool = False,
    ) -> Match:
        """``seat`` resigns; the other seat wins (also while the match is paused).

        With ``now_ms``, the mover's clock is charged for its time so far. With a
        ``reason`` (``engine_error``: the player's program failed), the game ends
        with that reason and, unless ``rated``, without a result, like an
        interrupted game: a crash of the arena's own player says nothing about
        strength. (The host rates an outside bot's crash as its loss.)
        """
        if self.status not in (MatchStatus.ACTIVE, MatchStatus.PAUSED):
            raise MatchError(
                ErrorCode.GAME_FINISHED, f"cannot resign: match is {self.status.value}"
            )
        if reason is not None and not rated:
            return self._charged(now_ms).abort(reason)
        return self._charged(now_ms)._finish(1 - seat, reason or "resign")

    def _charged(self, now_ms: float | None) -> Match:
        """The match with the running clock charged to the mover up to ``now_ms``."""
        seat = self.to_move
        if now_ms is None or seat is None or self.status is not MatchStatus.ACTIVE:
            return self
        return replace(self, clock=self.clock.charged(seat, now_ms))

    def flag(self, now_ms: float) -> Match:
        """The mover's time is up at ``now_ms``: it loses (reason ``timeout``)."""
        seat = self.to_move
        if seat is None or self.status is not MatchStatus.ACTIVE:
            return self
        left = self.clock.left_ms(seat, now_ms)
        if left is None or left > 0:
            return self
        flagged = replace(self, clock=self.clock.flagged(seat, now_ms))
        return flagged._finish(1 - seat, "timeout")

    def abort(self, reason: str = "aborted") -> Match:
        """End without a result (``*``)."""
        if self.status is MatchStatus.FINISHED:
            return self
        return replace(
            self,
            status=MatchStatus.FINISHED,
            clock=self.clock.stop(),
            winner=None,
            reason=reason,
            result="*",
        )

    # ------------------------------------------------------------------ internals

    def _check_turn(self, seat: int) -> None:
        if self.status is MatchStatus.FINISHED:
            raise MatchError(
                ErrorCode.GAME_FINISHED,
                f"game is over ({self.result}, {self.reason}); no more moves",
            )
        if self.status is MatchStatus.CREATED:
            raise MatchError(ErrorCode.GAME_FINISHED, "game has not started yet")
        if self.status is MatchStatus.PAUSED:
            raise MatchError(
                ErrorCode.GAME_PAUSED,
                "game is paused after a server restart until both players are connected; "
                "a game_start follows when it resumes",
            )
        mover = self.game.to_move(self.state)
        if seat != mover:
            names = self.game.info.seats
            raise MatchError(
                ErrorCode.NOT_YOUR_TURN,
                f"it is {names[mover]}'s turn (seat {mover}), not {names[seat]}'s",
            )

    def _illegal(self, seat: int, exc: IllegalMoveError) -> Transition:
        attempts = self.illegal_attempts + 1
        if attempts > self.config.max_retries:
            finished = replace(self, illegal_attempts=attempts)._finish(1 - seat, "illegal_move")
            message = f"{exc}; forfeit after {attempts} illegal moves this turn"
        else:
            finished = replace(self, illegal_attempts=attempts)
            message = f"{exc}; retries left this turn: {self.config.max_retries - attempts}"
        return Transition(match=finished, error=MatchError(ErrorCode.ILLEGAL_MOVE, message))

    def _finish(self, winner: int | None, reason: str) -> Match:
        return replace(
            self,
            status=MatchStatus.FINISHED,
            clock=self.clock.stop(),
            winner=winner,
            reason=reason,
            result=result_string(winner),
        )
