"""The speculation engine: predict the opponent, start replies early, stay lossless.

Terms (see DESIGN.md section 3):

- an :class:`Actor` is the authoritative policy, ``position -> move`` (slow);
- a :class:`Speculator` ranks the likely moves of the player to move (fast);
- a *window* is opened on every position where the opponent is to move: the
  speculator's top-k guesses are published (``predict``) and a *branch* (an
  actor call) is started on each predicted position;
- when the real move arrives, a *hit* keeps its branch (awaited if still
  running) and every other branch is cancelled; a *miss* cancels every branch
  and waits until they are really stopped (task cancelled, engine search
  stopped, HTTP request closed) before the actor runs on the real position;
- with ``depth >= 2`` (pipelined), a finished branch opens a window on the
  position after its own reply, so hits chain without waiting; and while an
  actor call (real or branch) runs on a position where this player is to move,
  an *own window* guesses this player's own move there and opens windows on
  the opponent's reply to each guess, so the next branch starts before the
  actor has even answered. When the call ends, the guesses that were wrong are
  dropped at once. ``depth`` counts our own moves ahead of the *real* game,
  so every real move (a hit above all) lets the speculation reach one level
  further: windows are re-opened right after every hit.

Lossless: the move played is always the actor's move for the real position
(a branch computes exactly that call, on exactly that position, early).

The engine is game-agnostic: it sees positions only through the
:class:`~games.Game` protocol.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from games import Game

__all__ = [
    "Action",
    "Actor",
    "ActorFailure",
    "ActorResult",
    "BranchTiming",
    "Contention",
    "Guess",
    "Meter",
    "MoveReport",
    "Payoff",
    "Position",
    "Speculation",
    "SpeculationConfig",
    "Speculator",
    "WindowOutcome",
    "speculative",
    "wait_stopped",
]

log = logging.getLogger(__name__)

speculative: contextvars.ContextVar[bool] = contextvars.ContextVar("speculative", default=False)
"""True inside a branch's actor call (and a speculator's call): an actor that has
a place for work of the lowest priority, such as a local server at the lowest
CPU priority, may send it there. The move is the same wherever a deterministic
actor computes it; only who waits for the CPU changes."""


@dataclass(frozen=True, slots=True)
class Position:
    """A position with the moves that led to it (the history actors may need)."""

    game: Game[Any]
    state: Any
    moves: tuple[str, ...]
    initial: Any = None
    """The state ``moves`` start from (``None``: the game's initial state), e.g. an
    opening's position in a tournament."""

    @property
    def ply(self) -> int:
        return len(self.moves)

    @property
    def to_move(self) -> int:
        seat: int = self.game.to_move(self.state)
        return seat

    @property
    def over(self) -> bool:
        return self.game.outcome(self.state) is not None

    def legal_moves(self) -> list[str]:
        moves: list[str] = self.game.legal_moves(self.state)
        return moves

    def after(self, move: str) -> Position:
        """The position after ``move`` (canonicalised); raises IllegalMoveError."""
        canonical = self.game.normalize_move(self.state, move)
        return Position(
            self.game,
            self.game.apply(self.state, canonical),
            (*self.moves, canonical),
            self.initial,
        )


class ActorFailure(RuntimeError):
    """The actor's program failed (a dead engine process, a crashed model server),
    as opposed to its play: the SDK ends the game as an ``engine_error`` (no
    result, not rated) instead of resigning it."""


@dataclass(slots=True)
class Meter:
    """One actor or speculator call's account: the tokens it has consumed so far
    (the callee updates them while it runs, so a cancelled call still reports
    what it really spent), and whether it is speculative.

    A speculative call (a branch, a speculator's search) should run on spare
    capacity only: a local engine searches at idle priority. When a branch
    turns out to be the real call (a hit) the engine :meth:`promote` s it, and
    the callee's :meth:`on_promote` callbacks move its work to normal priority.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    speculative: bool = False
    busy_ms: float | None = None
    """The time the call computed, where the callee can tell it from its wall
    time: a branch at idle priority may wait for CPU, and its actor time is what
    the call takes on its own, not how long it waited (an engine reports its
    search's CPU time)."""
    _promote: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def on_promote(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when this speculative call becomes real (at once if it
        is real already)."""
        if self.speculative:
            self._promote.append(callback)
        else:
            callback()

    def forget_promote(self, callback: Callable[[], None]) -> None:
        """The call no longer holds what ``callback`` would promote."""
        if callback in self._promote:
            self._promote.remove(callback)

    def promote(self) -> None:
        """This call is real now (a hit): run the promotion callbacks."""
        self.speculative = False
        callbacks, self._promote = self._promote, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("promoting a branch failed")


@dataclass(frozen=True, slots=True)
class Action:
    """What an actor returns: a move, and optionally text kept for the replay."""

    move: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class ActorResult:
    """An actor call as it ran: its move, its time, its tokens."""

    move: str
    ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Guess:
    """One ranked prediction."""

    move: str
    prob: float | None = None


class Actor(Protocol):
    """The authoritative policy of a player."""

    resource: str | None
    """Name of the compute it runs on (``"cpu"``, a server URL), or ``None`` for
    remote capacity that does not slow down with parallel calls. Branches on
    the same resource compete with actor calls: the adaptive policy watches it."""

    # Optional: ``spare_capacity()`` returns ``None`` when there is spare capacity for
    # speculative work, else a reason (the adaptive policy then opens no window).
    # Optional: ``idle_branches = True`` says that the actor runs speculative calls
    # (``meter.speculative``) at idle priority on workers of their own and
    # promotes them on a hit (``meter.on_promote``), so a miss need not wait for
    # cancelled branches to stop (see :class:`~clients.actors.engine.EngineActor`).

    async def act(self, position: Position, meter: Meter) -> Action:
        """The move for ``position``. Must be deterministic if losslessness is to
        be checked, and must stop its work promptly when cancelled."""
        ...


class Speculator(Protocol):
    """A fast predictor of the move of the player to move."""

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        """Up to ``k`` legal moves, most likely first."""
        ...


@dataclass(frozen=True, slots=True)
class SpeculationConfig:
    """The budget and policy of speculation."""

    k: int = 1
    """Branches per window (top-k guesses)."""
    depth: int = 1
    """1: one-step; >= 2: pipelined, also speculating beyond the next ply."""
    own_k: int = 1
    """Pipelined only: how many guesses of our own pending move an own window
    looks through (each opens a window on the opponent's reply, so branches grow
    as ``own_k * k``); 0 turns own windows off. Only for actors on remote
    capacity (``resource is None``)."""
    max_branches: int = 4
    """Branches in flight at once, over all windows."""
    max_extra_tokens: int | None = None
    """Stop starting branches once speculation has cost this many tokens."""
    threshold: float = 0.0
    """Start a branch only when its position is at least this likely: the
    product of the probabilities of the guessed moves leading to it (for
    one-step, the guess's own probability; a guess without one counts
    ``1 / (rank + 1)``)."""
    adaptive: bool = False
    """Back off when speculation does not pay: when most predictions come too late
    to count or windows cost more than they save (:class:`Payoff`), and, for an
    actor on a local resource whose branches do not run at idle priority, when
    branches slow the actor down (:class:`Contention`). Probes again later.
    Every built-in player kind turns it on unless its spec says ``adaptive=false``."""

    @property
    def enabled(self) -> bool:
        return self.k > 0 and self.depth > 0


@dataclass(frozen=True, slots=True)
class BranchTiming:
    """How one branch ran. In a :class:`MoveReport` its times count from the
    moment the decision's real position arrived (negative: started before)."""

    line: tuple[str, ...]
    """The guessed moves it assumed, after the real moves known when it started."""
    rank: int
    """Rank of the (last) guess in its speculator answer, 1 = top."""
    started_ms: float
    ended_ms: float
    outcome: Literal["kept", "cancelled", "discarded"]

    def relative_to(self, origin_ms: float) -> BranchTiming:
        """The same timing with its times counted from ``origin_ms``."""
        return dataclasses.replace(
            self, started_ms=self.started_ms - origin_ms, ended_ms=self.ended_ms - origin_ms
        )


@dataclass(frozen=True, slots=True)
class MoveReport:
    """The decision for one real position, with its speculation figures."""

    move: str
    actor: ActorResult
    """The actor call that produced the move (a branch on a hit)."""
    speculation: Literal["hit", "miss", "off"]
    """``hit`` (a branch computed this position), ``miss`` (a window was open but
    no branch matched) or ``off`` (no window)."""
    wait_ms: float
    """Time from the real position to the decision (near 0 on a finished hit)."""
    spec_calls: int
    """Speculator and branch calls started since the previous decision."""
    spec_tokens: int
    """Their tokens, except the hit branch's (those are the actor's)."""
    wasted_tokens: int
    """Tokens of branches cancelled or discarded since the previous decision."""
    speculator_ms: float | None
    """Latency of the speculator call of the window before this position."""
    branches: tuple[BranchTiming, ...] = ()
    """Branches that ended since the previous decision, the kept one included."""
    backoff: str | None = None
    """Why no window was open for this move: the adaptive policy backed off
    (late predictions, windows that cost more than they saved, or branches
    that slowed the actor down)."""


@dataclass(eq=False)
class _Branch:
    position: Position
    rank: int
    real_ply: int
    """Plies of the real game when the branch started (its line is the rest)."""
    meter: Meter = field(default_factory=lambda: Meter(speculative=True))
    task: asyncio.Task[ActorResult] | None = None
    claimed: bool = False
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None

    def timing(self, outcome: Literal["kept", "cancelled", "discarded"]) -> BranchTiming:
        """How it ran, in absolute milliseconds (see :meth:`BranchTiming.relative_to`)."""
        ended = self.ended if self.ended is not None else time.perf_counter()
        line = self.position.moves[self.real_ply :]
        return BranchTiming(line, self.rank, self.started * 1000.0, ended * 1000.0, outcome)


@dataclass(eq=False)
class _Window:
    position: Position
    real: bool
    own: bool = False
    """An own window: this player is to move; its guesses open opponent windows
    (no branch, nothing published)."""
    guesses: list[Guess] | None = None
    speculator_ms: float | None = None
    published: bool = False
    publishing: asyncio.Task[None] | None = None
    """The ``predict`` being sent for this window, if any."""
    task: asyncio.Task[None] | None = None


@dataclass
class _Ledger:
    spec_calls: int = 0
    spec_tokens: int = 0
    wasted_tokens: int = 0
    traces: list[BranchTiming] = field(default_factory=list)


@dataclass
class Contention:
    """Does speculation slow the actor down? (the adaptive policy's evidence)

    Actor calls on the real position are timed and sorted into *solo* (no
    branch ran or was cancelled just before on the same resource) and
    *shared* (branches were cancelled for this call or still run beside it:
    a local engine pool or a one-slot LLM server may still be busy with them).
    Once a few solo calls are measured (speculation skips its first windows,
    speculator call included, to measure them), each shared call updates the
    verdict: when the median shared call is more than ``tolerance`` times the
    median solo call, speculation backs off. It also backs off when the
    speculator itself is no faster than the actor (one-step speculation cannot
    pay then). While backed off it tries again every ``retry_every`` windows.
    A player keeps one of these for all its games: contention is a property
    of the resource, not of a game.
    """

    def __init__(self, tolerance: float = 1.25, samples: int = 3, retry_every: int = 8) -> None:
        self.tolerance = tolerance
        self.samples = samples
        self.retry_every = retry_every
        self.solo: list[float] = []
        self.shared: list[float] = []
        self.speculator: list[float] = []
        self.backoff = False
        self.reason: str | None = None
        """Why it backed off (set with :attr:`backoff`)."""
        self._windows = 0

    def record(self, ms: float, overlapped: bool) -> None:
        """An actor call on the real position took ``ms``."""
        (self.shared if overlapped else self.solo).append(ms)
        self._judge()

    def record_speculator(self, ms: float) -> None:
        """A speculator call took ``ms``."""
        self.speculator.append(ms)
        self._judge()

    def _judge(self) -> None:
        if len(self.solo) < self.samples:
            return
        solo = _median(self.solo[-9:])
        slowed = bool(self.shared) and _median(self.shared[-9:]) > self.tolerance * solo
        too_slow = bool(self.speculator) and _median(self.speculator[-9:]) >= solo
        self.backoff = slowed or too_slow
        if slowed:
            shared = _median(self.shared[-9:])
            self.reason = (
                f"contention: actor calls beside branches took {shared:.0f} ms, alone {solo:.0f} ms"
            )
        elif too_slow:
            self.reason = (
                f"slow speculator: {_median(self.speculator[-9:]):.0f} ms, "
                f"the actor alone {solo:.0f} ms"
            )

    def allow_branches(self) -> bool:
        """Whether the next window may start branches."""
        self._windows += 1
        if len(self.solo) < self.samples:
            return False  # measure the actor alone first
        if self.backoff and self._windows % self.retry_every == 0:
            self.shared.clear()  # try again: contention may have gone
            self.speculator.clear()
            self.backoff = False
        return not self.backoff


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


@dataclass(frozen=True, slots=True)
class WindowOutcome:
    """How one window paid off, seen when the real move it waited for arrived."""

    late: bool
    """The speculator had not answered yet: its guesses could not count."""
    saved_ms: float
    """Actor time the window saved (a hit) minus what it cost (a miss: the
    mover's wait beyond its actor call); may be negative."""


COST_TOLERANCE_MS = 1.0
"""What a window may cost on average before it counts as costly: the bound a
miss may add to the mover's response time (stopping the losers happens off
the critical path, so a miss costs well under this)."""


class Payoff:
    """Does speculation pay for this player? (the adaptive policy's second check)

    Every window is judged when the real move it waited for arrives: *late*
    when the speculator had not answered by then (the predictions would reach
    the server after the move and count for nothing: a speculator starved of
    CPU, or slower than the opponent), else by the time it saved on a hit or
    cost on a miss. Over the last ``samples`` windows, speculation backs off
    when most were late, or when together they cost more than they saved.
    While backed off no window opens; after ``retry_every`` skipped windows the
    next one probes again (``samples`` windows), and each back-off in a row doubles the
    wait, up to ``max_retry``. :attr:`reason` says why it backed off.
    A player keeps one of these for all its games.
    """

    def __init__(self, samples: int = 6, retry_every: int = 8, max_retry: int = 64) -> None:
        self.samples = samples
        self.retry_every = retry_every
        self.max_retry = max_retry
        self.outcomes: list[WindowOutcome] = []
        self.reason: str | None = None
        """Why speculation is backed off now (``None``: it is not)."""
        self.backoffs = 0
        """Times it backed off so far."""
        self._wait = retry_every
        self._skipped = 0

    @property
    def backed_off(self) -> bool:
        return self.reason is not None

    def record(self, outcome: WindowOutcome) -> None:
        """A window was decided."""
        if self.backed_off:
            return  # a window opened before the back-off: its verdict is already in
        self.outcomes.append(outcome)
        recent = self.outcomes[-self.samples :]
        if len(recent) < self.samples:
            return
        late = sum(1 for o in recent if o.late)
        net = sum(o.saved_ms for o in recent)
        if late * 2 > len(recent):
            self._back_off(
                f"late: {late} of the last {len(recent)} predictions were not ready "
                "before the opponent's move"
            )
        elif net < -COST_TOLERANCE_MS * len(recent):
            self._back_off(f"costly: the last {len(recent)} windows lost {-net:.0f} ms in all")
        else:
            self._wait = self.retry_every  # it pays: a later back-off starts afresh

    def _back_off(self, reason: str) -> None:
        self.reason = reason
        self.backoffs += 1
        self.outcomes.clear()
        self._skipped = 0
        log.info("speculation backs off for %d windows (%s)", self._wait, reason)

    def allow_window(self) -> bool:
        """Whether the next window may open (counts a skipped one if not)."""
        if not self.backed_off:
            return True
        self._skipped += 1
        if self._skipped <= self._wait:
            return False  # ``_wait`` windows are skipped; the next one probes
        self.reason = None  # probe again
        self._wait = min(self.max_retry, self._wait * 2)
        return True


Publish = Callable[[int, list[Guess]], Coroutine[Any, Any, None]]


class Speculation:
    """Speculation for one player in one game."""

    def __init__(
        self,
        actor: Actor,
        speculator: Speculator | None,
        config: SpeculationConfig,
        publish: Publish | None = None,
        contention: Contention | None = None,
        payoff: Payoff | None = None,
    ) -> None:
        self.actor = actor
        self.speculator = speculator
        self.config = config
        self._publish = publish
        self._branches: dict[tuple[str, ...], _Branch] = {}
        self._windows: dict[tuple[str, ...], _Window] = {}
        self._ledger = _Ledger()
        self.contention = contention or Contention()
        self.payoff = payoff or Payoff()
        self._backed_off: dict[tuple[str, ...], str] = {}
        """Positions where a back-off kept a window shut, and why."""
        self._spent_extra = 0
        self._real_ply = 0
        self._likelihood: dict[tuple[str, ...], float] = {}
        """Per position reached by a guessed move: that guess's likelihood."""
        self._pending: dict[tuple[str, ...], tuple[Position, int]] = {}
        """Branches waiting for a slot (position, rank)."""

    # ------------------------------------------------------------------ queries

    @property
    def active(self) -> bool:
        return self.config.enabled and self.speculator is not None

    def live_tasks(self) -> list[asyncio.Task[Any]]:
        """Branch and window tasks not yet finished (for tests and shutdown)."""
        tasks: list[asyncio.Task[Any]] = [
            b.task for b in self._branches.values() if b.task is not None and not b.task.done()
        ]
        tasks += [
            w.task for w in self._windows.values() if w.task is not None and not w.task.done()
        ]
        return tasks

    def _running_branches(self) -> int:
        return sum(1 for b in self._branches.values() if b.task is not None and not b.task.done())

    # ------------------------------------------------------------------ events

    def opponent_to_move(self, position: Position) -> None:
        """The real game reached ``position`` with the opponent to move."""
        self._real_ply = position.ply
        if not self.active or position.over:
            return
        self._prune(position.moves)
        self._extend(position.moves)
        self._reoffer()
        window = self._windows.get(position.moves)
        if window is None:
            self._open_window(position, real=True)
        elif not window.real:
            window.real = True
            if window.guesses is not None:
                self._spawn_publish(window)

    async def decide(self, position: Position) -> MoveReport:
        """The move for the real ``position`` (this player to move)."""
        started = time.perf_counter()
        self._real_ply = position.ply
        branch = self._branches.get(position.moves)
        result: ActorResult | None = None
        window = self._windows.get(position.moves[:-1])
        verdict: Literal["hit", "miss", "off"] = "miss" if window is not None else "off"
        speculator_ms = None if window is None else window.speculator_ms
        late = window is not None and window.guesses is None
        backoff = self._backed_off.pop(position.moves[:-1], None)
        if self.active:
            real = position.moves
            self._forget(lambda key: key[: len(real)] != real)
            self._extend(real)
            self._reoffer()
        if branch is not None and branch.task is not None:
            branch.claimed = True
            branch.meter.promote()  # the real search now: off idle priority
            try:
                result = await asyncio.shield(branch.task)
                verdict = "hit"
                self._ledger.traces.append(branch.timing("kept"))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("branch failed; running the actor on the real position")
        # Everything not descending from the decided move is stale: stop it for real,
        # and wait until it has stopped before the actor (if needed) starts. On a hit
        # with an actor on parallel capacity, nothing waits for the stopped calls: they
        # hold nothing the game needs, and the move goes out at once.
        # An actor whose branches run at idle priority on processes of their own
        # (a local engine pool) never waits: the stopping branches take no CPU
        # the real search wants, so a miss costs the actor nothing.
        keep = (*position.moves, result.move) if result is not None else None
        idle = getattr(self.actor, "idle_branches", False)
        wait = not idle and (result is None or self.actor.resource is not None)
        cancelled = await self._cancel_except(keep, wait=wait)
        if result is None:
            if self.active and self._looks_through():
                self._open_window(position, real=False, own=True)
            result = await self._run_actor(position, overlapped=cancelled > 0)
        ledger, self._ledger = self._ledger, _Ledger()
        wait_ms = (time.perf_counter() - started) * 1000.0
        if window is not None and self.config.adaptive:
            self.payoff.record(WindowOutcome(late=late, saved_ms=result.ms - wait_ms))
        report = MoveReport(
            move=result.move,
            actor=result,
            speculation=verdict if self.active else "off",
            wait_ms=wait_ms,
            spec_calls=ledger.spec_calls,
            spec_tokens=ledger.spec_tokens,
            wasted_tokens=ledger.wasted_tokens,
            speculator_ms=speculator_ms,
            branches=tuple(t.relative_to(started * 1000.0) for t in ledger.traces),
            backoff=backoff if self.active else None,
        )
        if self.active:
            after = position.after(result.move)
            if not after.over:
                self.opponent_to_move(after)
                await self._published(after)
        return report

    async def close(self) -> None:
        """Cancel every branch and window and wait until they are stopped."""
        await self._cancel_except(None)

    # ------------------------------------------------------------------ internals

    async def _run_actor(self, position: Position, *, overlapped: bool) -> ActorResult:
        overlapped = overlapped or self._running_branches() > 0
        meter = Meter()
        started = time.perf_counter()
        action = await self.actor.act(position, meter)
        ms = (time.perf_counter() - started) * 1000.0
        if self._watched():
            self.contention.record(ms, overlapped)
        return ActorResult(
            move=position.game.normalize_move(position.state, action.move),
            ms=ms,
            prompt_tokens=meter.prompt_tokens,
            completion_tokens=meter.completion_tokens,
            comment=action.comment,
        )

    def _levels_left(self, ply: int) -> int:
        """For a position at ``ply`` where we are to move: how many levels of our own
        branches may still be speculated from it, counting its own branch (1: a
        branch but nothing beyond it; 2+: pipelined beyond it; 0 or less: none).
        Levels count our own moves ahead of the real game, so they grow back as
        the real game advances."""
        ahead = ply - self._real_ply
        return self.config.depth - (ahead + 1) // 2 + 1

    def _open_window(self, position: Position, *, real: bool, own: bool = False) -> None:
        if self.speculator is None or position.moves in self._windows:
            return
        # An own window leads to branches two plies on; any other, to one ply on.
        if self._levels_left(position.ply + (2 if own else 1)) < 1:
            return
        if position.over:
            return
        budget = self.config.max_extra_tokens
        if budget is not None and self._spent_extra >= budget:
            return  # the speculator's calls count against the budget too
        if position.moves in self._backed_off:
            return  # already decided for this position
        if self.config.adaptive:
            allowed = self.payoff.allow_window() if real else not self.payoff.backed_off
            if not allowed:
                if real:
                    self._note_backoff(position.moves, self.payoff.reason)
                return
            spare = getattr(self.actor, "spare_capacity", None)
            busy = spare() if callable(spare) else None
            if busy is not None:  # an actor on local CPU with no core to spare
                if real:
                    self._note_backoff(position.moves, busy)
                return
        if self._watched() and not self.contention.allow_branches():
            # Not even the speculator call: on a shared one-slot server it would
            # delay the actor as much as a branch.
            self._note_backoff(position.moves, self.contention.reason)
            return
        window = _Window(position=position, real=real, own=own)
        self._windows[position.moves] = window
        window.task = asyncio.create_task(self._fill_window(window), name=f"window {position.ply}")
        window.task.add_done_callback(_log_failure)

    async def _fill_window(self, window: _Window) -> None:
        assert self.speculator is not None
        meter = Meter(speculative=True)
        self._ledger.spec_calls += 1
        started = time.perf_counter()
        speculative.set(True)
        try:
            guesses = await self.speculator.predict(window.position, self.config.k, meter)
        finally:
            self._ledger.spec_tokens += meter.total
            self._spent_extra += meter.total
        window.speculator_ms = (time.perf_counter() - started) * 1000.0
        if self._watched():
            self.contention.record_speculator(window.speculator_ms)
        legal = set(window.position.legal_moves())
        window.guesses = [g for g in guesses if g.move in legal][: self.config.k]
        if window.own:
            # Our own move is still being computed: look through it, one
            # opponent window per guess (the wrong ones are dropped when it ends).
            for rank, guess in enumerate(window.guesses[: self.config.own_k], 1):
                after = window.position.after(guess.move)
                self._likelihood[after.moves] = _likelihood(guess, rank)
                self._open_window(after, real=False)
            return
        if window.real:
            self._spawn_publish(window)
        for rank, guess in enumerate(window.guesses, 1):
            after = window.position.after(guess.move)
            self._likelihood[after.moves] = _likelihood(guess, rank)
            self._offer_branch(after, rank)

    def _watched(self) -> bool:
        """Whether the contention check applies: an adaptive policy, and an actor
        on a local resource whose branches do not already run at idle priority
        (a one-slot LLM server, not an engine pool)."""
        return (
            self.config.adaptive
            and self.actor.resource is not None
            and not getattr(self.actor, "idle_branches", False)
        )

    def _note_backoff(self, key: tuple[str, ...], reason: str | None) -> None:
        if len(self._backed_off) > 64:
            self._backed_off.clear()  # positions long played
        self._backed_off[key] = reason or "backed off"

    def _looks_through(self) -> bool:
        """Whether own windows are open: pipelined, ``own_k`` > 0, and an actor on
        remote capacity. An actor on a local resource (an engine pool on these
        cores, a one-slot LLM server) would run the extra branches at the cost of
        the real calls: measured with Stockfish on 2 cores, own windows made the
        pipelined game 1.77x slower instead of 0.64x."""
        return self.config.depth >= 2 and self.config.own_k > 0 and self.actor.resource is None

    def _weight(self, key: tuple[str, ...]) -> float:
        """How likely the real game reaches ``key`` from where it is now: the
        product of the guessed moves' likelihoods (our own known moves count 1)."""
        weight = 1.0
        for end in range(self._real_ply + 1, len(key) + 1):
            weight *= self._likelihood.get(key[:end], 1.0)
        return weight

    def _priority(self, key: tuple[str, ...]) -> tuple[int, float]:
        """Which branch gets a slot first: the one fewer of our moves ahead of the
        real game, then the likelier. A near branch that is not running when its
        guess comes true costs a whole actor call (the opponent may answer at
        once); a deeper one not started yet still starts when the real game
        reaches its parent, usually with the opponent's thinking time to spare.
        Measured on the pipelined api-sim bench: deep rank-1 chains took the slots
        of rank-2 and rank-3 replies, whose hits then waited."""
        return (-((len(key) - self._real_ply + 1) // 2), self._weight(key))

    def _over_budget(self) -> bool:
        budget = self.config.max_extra_tokens
        return budget is not None and self._spent_extra >= budget

    def _offer_branch(self, position: Position, rank: int) -> None:
        """Start a branch on ``position`` now if a slot is free; else preempt a
        running branch of lower :meth:`_priority`, or queue it until a slot frees up. A branch
        below the likelihood threshold is queued too: it may clear the threshold
        once the real game confirms the guesses before it (:meth:`_reoffer`)."""
        key = position.moves
        if key in self._branches or position.over or self._over_budget():
            return
        if self._levels_left(position.ply) < 1:
            return
        weight = self._weight(key)
        if weight < self.config.threshold:
            self._pending[key] = (position, rank)
            return
        if self._running_branches() < self.config.max_branches:
            self._start_branch(position, rank)
            return
        running = [
            (self._priority(k), k)
            for k, b in self._branches.items()
            if b.task is not None and not b.task.done() and not b.claimed and b.ended is None
        ]
        if running:
            lowest, victim = min(running)
            if lowest < self._priority(key):
                # A nearer or likelier position deserves the slot. The victim waits
                # for a slot again rather than being lost: once the real game comes
                # near it, it outranks the others and starts again.
                preempted = self._branches[victim]
                self._drop_branch(victim)
                self._pending[victim] = (preempted.position, preempted.rank)
                self._start_branch(position, rank)
                return
        self._pending[key] = (position, rank)

    def _fill_slots(self, _task: object = None) -> None:
        """Start the queued branches of highest :meth:`_priority` (above the threshold)
        while slots are free."""
        while self._pending and self._running_branches() < self.config.max_branches:
            if self._over_budget():
                self._pending.clear()
                return
            eligible = [k for k in self._pending if self._weight(k) >= self.config.threshold]
            if not eligible:
                return
            key = max(eligible, key=self._priority)
            position, rank = self._pending.pop(key)
            if key not in self._branches:
                self._start_branch(position, rank)

    def _reoffer(self) -> None:
        """The real game advanced, so queued branches are nearer and likelier now:
        offer them again, highest :meth:`_priority` first (each may start, take a
        slot from a long shot, or wait again)."""
        queued = sorted(self._pending, key=self._priority, reverse=True)
        for key in queued:
            if self._weight(key) < self.config.threshold:
                continue
            position, rank = self._pending.pop(key)
            self._offer_branch(position, rank)

    def _start_branch(self, position: Position, rank: int) -> None:
        branch = _Branch(position=position, rank=rank, real_ply=self._real_ply)
        self._branches[position.moves] = branch
        self._ledger.spec_calls += 1
        branch.task = asyncio.create_task(self._run_branch(branch), name=f"branch {position.ply}")
        branch.task.add_done_callback(self._fill_slots)
        if self._levels_left(position.ply) >= 2 and self._looks_through():
            self._open_window(position, real=False, own=True)

    async def _run_branch(self, branch: _Branch) -> ActorResult:
        speculative.set(True)  # this task's own context: the real calls never see it
        action = await self.actor.act(branch.position, branch.meter)
        branch.ended = time.perf_counter()
        ms = (branch.ended - branch.started) * 1000.0
        if branch.meter.busy_ms is not None:
            ms = min(ms, branch.meter.busy_ms)  # not the time it waited for a core
        result = ActorResult(
            move=branch.position.game.normalize_move(branch.position.state, action.move),
            ms=ms,
            prompt_tokens=branch.meter.prompt_tokens,
            completion_tokens=branch.meter.completion_tokens,
            comment=action.comment,
        )
        if self._levels_left(branch.position.ply) >= 2:
            self._pipeline_after(branch.position, result.move)
        return result

    def _pipeline_after(self, position: Position, move: str) -> None:
        """Our move at ``position`` is known (a branch finished): drop the own
        window's other guesses, open the window on the opponent's reply, and
        offer again the branches that waited: our move there is computed now,
        not guessed, so the positions after it are likelier."""
        self._drop_siblings(position.moves, move)
        after = position.after(move)
        self._likelihood.pop(after.moves, None)  # a computed move counts 1
        if not after.over:
            self._open_window(after, real=False)
        self._reoffer()

    def _extend(self, real: tuple[str, ...]) -> None:
        """The real game reached ``real``, so every branch on its line is a level
        nearer: let those that had reached the depth limit pipeline now (an own
        window beside a running one, the opponent's window after a finished one)."""
        if self.config.depth < 2:
            return
        for key, branch in list(self._branches.items()):
            task = branch.task
            if task is None or key[: len(real)] != real or self._levels_left(len(key)) < 2:
                continue
            if key not in self._branches:
                continue  # dropped meanwhile, as a sibling of another line
            if not task.done():
                if key not in self._windows and self._looks_through():
                    self._open_window(branch.position, real=False, own=True)
            elif not task.cancelled() and task.exception() is None:
                move = task.result().move
                if (*key, move) not in self._windows:
                    self._pipeline_after(branch.position, move)

    def _drop_siblings(self, base: tuple[str, ...], move: str) -> None:
        """Cancel (without waiting) windows and branches under ``base`` + a move
        other than ``move``, and the own window at ``base``."""
        n = len(base)

        def wrong(key: tuple[str, ...]) -> bool:
            return len(key) > n and key[:n] == base and key[n] != move

        self._forget(wrong)
        for key in [k for k in self._branches if wrong(k)]:
            self._drop_branch(key)
        for key in [k for k in self._windows if wrong(k) or k == base]:
            window = self._windows.pop(key)
            if window.task is not None:
                window.task.cancel()

    def _spawn_publish(self, window: _Window) -> None:
        if self._publish is None or window.published or not window.guesses:
            return
        window.published = True
        guesses = list(window.guesses)
        task = asyncio.create_task(self._publish(window.position.ply, guesses), name="predict")
        task.add_done_callback(_log_failure)
        window.publishing = task

    async def _published(self, position: Position) -> None:
        """Wait until the prediction of the opponent's reply at ``position`` (the
        position after our move), if one was ready, has been sent.

        Pipelined, the guesses of the reply are often known before our own move
        is: sent first, they reach the server before the move (one connection
        keeps its order), so they count even against an opponent whose branch
        answers within milliseconds of our move."""
        window = self._windows.get(position.moves)
        if window is not None and window.publishing is not None:
            await asyncio.wait([window.publishing])  # a failure is logged, not raised

    def _prune(self, prefix: Sequence[str]) -> None:
        """Cancel (without waiting) everything that does not descend from ``prefix``."""
        self._forget(lambda key: tuple(key[: len(prefix)]) != tuple(prefix))
        stale = [k for k in self._branches if tuple(k[: len(prefix)]) != tuple(prefix)]
        for key in stale:
            self._drop_branch(key)
        for key in [k for k in self._windows if tuple(k[: len(prefix)]) != tuple(prefix)]:
            window = self._windows.pop(key)
            if window.task is not None:
                window.task.cancel()

    def _forget(self, stale: Callable[[tuple[str, ...]], bool]) -> None:
        """Drop queued branches and guess likelihoods of ``stale`` positions (first,
        so that no slot freed by a cancellation goes to one of them)."""
        for key in [k for k in self._pending if stale(k)]:
            del self._pending[key]
        for key in [k for k in self._likelihood if stale(k)]:
            del self._likelihood[key]

    def _drop_branch(self, key: tuple[str, ...]) -> asyncio.Task[ActorResult] | None:
        branch = self._branches.pop(key)
        task = branch.task
        if task is None:
            return None
        if not task.done():
            task.cancel()
            task.add_done_callback(_log_failure)
        # A cancelled call consumes nothing more (its meter moves only as its
        # reply arrives), so what it spent is settled now, not when it stops.
        self._settle(branch, task)
        return task

    def _settle(self, branch: _Branch, task: asyncio.Task[ActorResult]) -> None:
        failed = not task.done() or task.cancelled() or task.exception() is not None
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.warning("a branch failed: %s", task.exception())
        if branch.claimed:
            return
        self._ledger.traces.append(branch.timing("cancelled" if failed else "discarded"))
        spent = branch.meter.total
        self._ledger.spec_tokens += spent
        self._ledger.wasted_tokens += spent
        self._spent_extra += spent

    async def _cancel_except(self, keep: tuple[str, ...] | None, *, wait: bool = True) -> int:
        """Cancel every branch and window not under ``keep`` and (with ``wait``) wait
        until they have stopped.

        Returns how many branches and windows were still running (so were cancelled)."""
        tasks: list[asyncio.Task[Any]] = []
        running = 0
        self._forget(lambda key: keep is None or key[: len(keep)] != keep)
        for key in list(self._branches):
            if keep is not None and key[: len(keep)] == keep:
                continue
            branch = self._branches[key]
            if branch.claimed and branch.task is not None and branch.task.done():
                del self._branches[key]  # the hit itself: its tokens are the actor's
                continue
            task = self._drop_branch(key)
            if task is not None:
                running += 0 if task.done() else 1
                tasks.append(task)
        for key in list(self._windows):
            if keep is not None and key[: len(keep)] == keep:
                continue
            window = self._windows.pop(key)
            if window.task is not None and not window.task.done():
                window.task.cancel()
                running += 1  # a speculator call cut short may still hold the resource
                tasks.append(window.task)
        if wait:
            await wait_stopped(tasks)
        return running


async def wait_stopped(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Wait until ``tasks`` (already cancelled) have really stopped, whatever they
    ended with; but if the waiter itself is cancelled meanwhile, re-raise."""
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        except Exception:  # its own failure was logged where it ran
            pass


def _likelihood(guess: Guess, rank: int) -> float:
    """A guess's probability, or a stand-in by rank when the speculator gives none."""
    return guess.prob if guess.prob is not None else 1.0 / (rank + 1)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("speculation task %s failed: %s", task.get_name(), task.exception())
