"""A UCI engine actor (Stockfish by default) on python-chess's async engine API.

Why not the ``stockfish`` PyPI binding: it is synchronous and blocks on its
subprocess pipe; python-chess's :mod:`chess.engine` does the same job without
blocking the event loop and speaks to any UCI engine.

Each actor owns a small pool of engine processes, so speculative branches can
search in parallel with each other and with the real search, and one player
can play several games at once (an engine per search). Speculative searches
run at idle priority (:mod:`clients.actors.priority`) and are promoted when
they become the real one. A cancelled search is stopped for real: ``stop`` is
sent until its command has ended, and the engine goes back to the pool only
then, so no search outlives its task and the next search starts on an engine
in a known state.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chess
import chess.engine

from arena.clock import TimeControl
from clients.actors.priority import SPARE_CPU, Priority, can_promote, cpu_ms, set_priority
from clients.speculation import Action, ActorFailure, Meter, Position

__all__ = [
    "EngineActor",
    "EngineNotFoundError",
    "EngineOptions",
    "EnginePool",
    "Lease",
    "find_stockfish",
    "search",
]

log = logging.getLogger(__name__)

DEBIAN_GAMES_DIRS = ("/usr/games", "/usr/local/games")


class EngineNotFoundError(FileNotFoundError):
    """No engine binary where we looked."""


def find_stockfish(explicit: str | None = None) -> str:
    """The Stockfish binary: ``explicit``, else ``$STOCKFISH_PATH``, PATH, Debian's games dir."""
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    if env := os.environ.get("STOCKFISH_PATH"):
        candidates.append(env)
    if found := shutil.which("stockfish"):
        candidates.append(found)
    candidates += [str(Path(d) / "stockfish") for d in DEBIAN_GAMES_DIRS]
    for path in candidates:
        if Path(path).is_file() and os.access(path, os.X_OK):
            return path
    raise EngineNotFoundError(
        "Stockfish not found (looked at: "
        + ", ".join(candidates)
        + "); install Debian's 'stockfish' package or set STOCKFISH_PATH"
    )


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Options of the ``stockfish`` player. Without a limit, it plays on the clock."""

    nodes: int | None = None
    """Search this many nodes per move (deterministic with threads=1)."""
    search_depth: int | None = None
    """Search to this depth (``depth`` is the speculation depth of every player)."""
    movetime: int | None = None
    """Search this many milliseconds per move."""
    skill: int | None = None
    """Stockfish's ``Skill Level``, 0 (weakest) to 20."""
    threads: int = 1
    hash: int = 16
    """Hash table size in MB."""
    path: str | None = None
    """Engine binary; default: STOCKFISH_PATH, PATH, or Debian's /usr/games."""

    @property
    def deterministic(self) -> bool:
        """True when each move depends only on the position (fixed nodes or depth)."""
        fixed = self.nodes is not None or self.search_depth is not None
        return fixed and self.movetime is None

    def uci_config(self) -> dict[str, chess.engine.ConfigValue]:
        config: dict[str, chess.engine.ConfigValue] = {"Threads": self.threads, "Hash": self.hash}
        if self.skill is not None:
            config["Skill Level"] = self.skill
        return config


MIN_SPARE_CORES = 0.75
"""Spare CPU below which an engine player does not speculate: most of a core for a
branch and the speculator. (At 0.5, an engine match with as many games at once as
cores still opened a window on one move in six, and lost 7-8% to them.)"""

STOP_RESEND_S = 0.02
"""How often ``stop`` is sent again while a cancelled search has not ended."""
STOP_DEADLINE_S = 10.0
"""A cancelled search that has not ended after this long: its engine is replaced."""


async def _until_idle(engine: chess.engine.UciProtocol) -> bool:
    """Wait until the engine's cancelled command has really ended; False if it
    does not within :data:`STOP_DEADLINE_S` (the engine is then replaced).

    python-chess sends ``stop`` when a search is cancelled, but a search
    cancelled while its ``ucinewgame``/``isready`` preamble runs is only sent
    ``go`` afterwards and would then search to its full limit. So ``stop`` is
    sent again (a raw line, harmless when idle) until the command's
    ``finished`` future resolves. No other *command* is issued meanwhile:
    python-chess (1.11) supports one queued command per engine, and a second
    one (as a ``ping`` with a timeout would be, repeated) finds the first still
    ``NEW`` and fails with ``AssertionError: CommandState.NEW``, leaving the
    engine unusable for the real search that borrows it next.
    """
    command = engine.command
    deadline = time.monotonic() + STOP_DEADLINE_S
    while command is not None and not command.finished.done():
        if engine.returncode.done():
            return False
        if time.monotonic() > deadline:
            return False
        engine.send_line("stop")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_RESEND_S):
                await asyncio.shield(command.finished)
        command = engine.command
    return engine.next_command is None and not engine.returncode.done()


async def _uncancellable(stopping: Coroutine[Any, Any, bool]) -> bool:
    """Run ``stopping`` to its end even if the caller is cancelled again meanwhile
    (bounded by :data:`STOP_DEADLINE_S`): an engine given back, or killed, in the
    middle of its command would leave python-chess setting a cancelled future."""
    task = asyncio.ensure_future(stopping)
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
    return task.result()


async def search(
    engine: chess.engine.UciProtocol,
    board: chess.Board,
    limit: chess.engine.Limit,
    *,
    multipv: int | None = None,
) -> tuple[chess.engine.BestMove, list[chess.engine.InfoDict]]:
    """One search of ``board`` in a fresh engine "game" (``ucinewgame``: the hash is
    cleared, so the result depends only on the position): the best move and, with
    ``multipv``, the principal variations. Cancellable at any point.

    Run as an analysis rather than ``play``: python-chess (1.11) sends ``go`` only
    once the ``ucinewgame``/``isready`` preamble is answered, and a ``play``
    cancelled before that searches on until the next ``stop``. Here the start is
    shielded: a caller cancelled meanwhile waits for it (a few milliseconds),
    and ``stop`` follows ``go`` at once. (Cancelling the start itself would also
    make python-chess set the result of a cancelled future when ``readyok``
    arrives.) Without ``multipv`` the engine is set up as ``play`` sets it up
    (``UCI_AnalyseMode`` off, one PV), so the moves are those of ``play``.
    """
    options: dict[str, chess.engine.ConfigValue] = {}
    if multipv is None and "UCI_AnalyseMode" in engine.options:
        options["UCI_AnalyseMode"] = False
    info = chess.engine.INFO_ALL if multipv is not None else chess.engine.INFO_NONE
    start = asyncio.ensure_future(
        engine.analysis(board, limit, multipv=multipv, game=object(), info=info, options=options)
    )
    try:
        analysis = await asyncio.shield(start)
    except asyncio.CancelledError:
        # An engine that never answers ``isready`` is given up (and replaced) rather
        # than waited for without end.
        with contextlib.suppress(chess.engine.EngineError, TimeoutError):
            async with asyncio.timeout(STOP_DEADLINE_S):
                (await asyncio.shield(start)).stop()
        raise
    with analysis:  # leaving it stops the search (on cancellation too)
        best = await analysis.wait()
    return best, analysis.multipv


@dataclass(eq=False)
class _Worker:
    """One engine process of a pool and the priority it runs at."""

    transport: asyncio.SubprocessTransport
    engine: chess.engine.UciProtocol
    priority: Priority = Priority.NORMAL
    real_use: int = 0
    """When a real search last borrowed it (a counter; 0: never)."""

    def set_priority(self, priority: Priority) -> None:
        if priority is not self.priority and set_priority(self.transport.get_pid(), priority):
            self.priority = priority  # only once done: a refused change is tried again


class EnginePool:
    """Up to ``size`` engine processes, started on demand, lent one at a time.

    A search borrows an engine at a :class:`~clients.actors.priority.Priority`:
    ``IDLE`` for speculative work (it runs only on CPU no real search wants,
    and :meth:`Lease.promote` lifts it on a hit), ``NORMAL`` for the move a
    game waits for. An engine goes back to the pool only once it is idle and
    its command queue empty; one that fails or does not stop is replaced.
    """

    def __init__(
        self,
        path: str,
        size: int,
        config: dict[str, chess.engine.ConfigValue] | None = None,
        optional: frozenset[str] = frozenset(),
    ) -> None:
        self.path = path
        self.size = size
        self.config = config or {}
        self.optional = optional
        """Options of ``config`` to leave out for an engine that does not have them
        (defaults nobody asked for, e.g. ``Threads`` for an engine without threads);
        any other unknown option is an error."""
        self._idle: list[_Worker] = []
        self._returned = asyncio.Event()
        """Set whenever an engine comes back (speculative searches wait on it)."""
        self._workers: list[_Worker] = []
        self._discarded: list[_Worker] = []
        self._starting = asyncio.Lock()
        self._uses = itertools.count(1)
        self.busy = 0
        """Engines lent out right now (0 means no search is running)."""

    @property
    def pids(self) -> list[int]:
        """Process ids of the pool's engines (for tests and diagnostics)."""
        return [w.transport.get_pid() for w in self._workers]

    def _pick(self, priority: Priority) -> _Worker | None:
        """The idle engine for a search at ``priority``: for a real search the one a
        real search used last (its caches are warm for the game: switching engines
        made 20,000-node searches up to 20% slower), for a speculative one the one
        a real search used least recently, so branches keep off the real searches'
        engines."""
        if not self._idle:
            return None
        pick = max if priority is Priority.NORMAL else min
        worker = pick(self._idle, key=lambda w: w.real_use)
        self._idle.remove(worker)
        return worker

    async def _take(self, priority: Priority, promoted: Callable[[], bool]) -> _Worker:
        """An idle engine, else a new one. A speculative search waits for an engine to
        come back once the pool is full; a real search never waits for one: it starts
        another process beyond ``size`` (dropped again when it comes back), so it is
        never queued behind branches that are still stopping. ``promoted()`` turns
        true when a waiting speculative search became the real one (a hit)."""
        while True:
            real = priority is Priority.NORMAL or promoted()
            worker = self._pick(Priority.NORMAL if real else priority)
            if worker is not None:
                return worker
            if real:
                return await self._start(Priority.NORMAL)
            if len(self._workers) < self.size:
                async with self._starting:  # speculative starts stay within ``size``
                    if not self._idle and len(self._workers) < self.size:
                        return await self._start(priority)
                continue  # an engine came back meanwhile
            self._returned.clear()
            await self._returned.wait()

    def wake(self) -> None:
        """Let waiting searches look again (one of them became the real search)."""
        self._returned.set()

    async def _start(self, priority: Priority) -> _Worker:
        transport, engine = await chess.engine.popen_uci(self.path)
        worker = _Worker(transport, engine)
        worker.set_priority(priority)  # before its search threads start
        self._workers.append(worker)
        config = {
            name: value
            for name, value in self.config.items()
            if name not in self.optional or name in engine.options
        }
        try:
            await engine.configure(config)
        except BaseException:
            self._discard(worker)
            raise
        return worker

    @contextlib.asynccontextmanager
    async def engine(
        self, priority: Priority = Priority.NORMAL
    ) -> AsyncIterator[chess.engine.UciProtocol]:
        """Borrow an idle engine at ``priority``; see :meth:`lease` to promote it later."""
        async with self.lease(priority) as lease:
            yield lease.engine

    @contextlib.asynccontextmanager
    async def lease(
        self, priority: Priority = Priority.NORMAL, promoted: Callable[[], bool] = lambda: False
    ) -> AsyncIterator[Lease]:
        """Borrow an idle engine at ``priority``, as a :class:`Lease`; a speculative
        request that ``promoted()`` meanwhile is served as a real one (see :meth:`wake`)."""
        worker = await self._take(priority, promoted)
        if promoted():
            priority = Priority.NORMAL
        worker.set_priority(priority)
        if priority is Priority.NORMAL:
            worker.real_use = next(self._uses)
        self.busy += 1
        healthy = True
        try:
            yield Lease(worker)
        except asyncio.CancelledError:
            # Stopping takes the engine a moment of CPU; at idle priority on a busy
            # machine that moment could take seconds, holding the engine from others.
            if can_promote():
                worker.set_priority(Priority.NORMAL)
            healthy = await _uncancellable(_until_idle(worker.engine))
            raise
        except BaseException:
            # A dead, confused or half-stopped engine is replaced, never lent again:
            # the next search (a real one, maybe) must start on an engine in a known state.
            healthy = False
            raise
        finally:
            self.busy -= 1
            idle = worker.engine.command is None and worker.engine.next_command is None
            if healthy and idle and len(self._workers) <= self.size:
                self._idle.append(worker)
                self._returned.set()
            else:
                self._discard(worker)  # broken, or one too many (see _take)

    def _discard(self, worker: _Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        worker.transport.close()  # kills the process if it still runs
        # :meth:`close` waits until they are reaped (the loop may close after it)
        self._discarded = [w for w in self._discarded if not w.engine.returncode.done()]
        self._discarded.append(worker)
        self._returned.set()  # a place in the pool is free: a waiter may start an engine

    async def start(self, count: int | None = None) -> None:
        """Start ``count`` engines of the pool now (default: all, in parallel), so
        that a search does not wait for a process to start during a game (100-300 ms
        on a busy machine)."""
        wanted = self.size if count is None else min(self.size, count)
        missing = wanted - len(self._workers)
        started = await asyncio.gather(
            *(self._start(Priority.NORMAL) for _ in range(missing)), return_exceptions=True
        )
        for worker in started:
            if isinstance(worker, _Worker):
                self._idle.append(worker)
        self._returned.set()
        for failure in started:
            if isinstance(failure, BaseException):
                raise failure  # the first: a bad option fails every engine alike

    async def close(self) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            with contextlib.suppress(chess.engine.EngineError, asyncio.TimeoutError):
                async with asyncio.timeout(5):
                    await worker.engine.quit()
            worker.transport.close()
        discarded, self._discarded = self._discarded, []
        for worker in discarded:
            with contextlib.suppress(asyncio.TimeoutError, chess.engine.EngineError):
                async with asyncio.timeout(5):
                    await asyncio.shield(worker.engine.returncode)


@dataclass(eq=False)
class Lease:
    """An engine borrowed from an :class:`EnginePool`."""

    _worker: _Worker

    @property
    def engine(self) -> chess.engine.UciProtocol:
        return self._worker.engine

    @property
    def priority(self) -> Priority:
        return self._worker.priority

    @property
    def pid(self) -> int:
        return self._worker.transport.get_pid()

    def promote(self) -> None:
        """Run at normal priority from now on (a speculative search became real)."""
        self._worker.set_priority(Priority.NORMAL)


def clock_limit(clocks: tuple[int | None, int | None], tc: str) -> chess.engine.Limit:
    """Let the engine manage the arena clock (with a safety margin for transport)."""
    control = TimeControl.parse(tc)
    if control.unlimited:
        return chess.engine.Limit(time=1.0)
    if control.per_move_ms is not None:
        return chess.engine.Limit(time=max(0.01, control.per_move_ms / 1000.0 * 0.8))
    white, black = (None if ms is None else max(0.01, (ms - 50) / 1000.0) for ms in clocks)
    inc = control.increment_ms / 1000.0
    return chess.engine.Limit(white_clock=white, black_clock=black, white_inc=inc, black_inc=inc)


class EngineActor:
    """Plays chess with a UCI engine: the actor of the ``stockfish`` player."""

    resource: str | None = "cpu"

    def __init__(
        self, options: EngineOptions | None = None, pool_size: int = 1, games: int = 1
    ) -> None:
        self.games = games
        """Games it plays at once (one engine each for the real searches)."""
        self.idle_branches = can_promote()
        """Branches search at idle priority on engines of their own (promoted on a
        hit), so a miss need not wait for them to stop before the real search
        starts. Where a promotion would be refused (no ``CAP_SYS_NICE``, low
        ``RLIMIT_NICE``) branches run at normal priority and the speculation
        engine watches them like any actor on a shared resource."""
        self.options = options or EngineOptions()
        self.path = find_stockfish(self.options.path)
        defaults = EngineOptions()
        optional = frozenset(
            name
            for name, given, default in (
                ("Threads", self.options.threads, defaults.threads),
                ("Hash", self.options.hash, defaults.hash),
            )
            if given == default
        )
        self.pool = EnginePool(self.path, pool_size, self.options.uci_config(), optional)
        self.clock: tuple[tuple[int | None, int | None], str] = ((None, None), "none")
        """The arena clocks and time control, used when no fixed limit is set."""

    def spare_capacity(self) -> str | None:
        """``None`` when the machine has a core to spare for a branch; else why not.

        Branches and the speculator's searches need a core no real search wants
        (they run at idle priority); where every core is busy with real work, the
        work around them costs the real games time for nothing."""
        spare = SPARE_CPU.cores()
        if spare is None or spare >= MIN_SPARE_CORES:
            return None
        return f"no spare CPU: {spare:.2f} cores idle over the last moments"

    def set_clock(self, clocks: tuple[int | None, int | None], time_control: str) -> None:
        """The clocks before the next real move (the player calls this each turn).

        One actor may serve several games at once; the clock is the one of the
        game whose move comes next, which is what a time-managed search needs."""
        self.clock = (clocks, time_control)

    def limit(self, position: Position) -> chess.engine.Limit:
        o = self.options
        if o.nodes is not None or o.search_depth is not None or o.movetime is not None:
            return chess.engine.Limit(
                nodes=o.nodes,
                depth=o.search_depth,
                time=None if o.movetime is None else o.movetime / 1000.0,
            )
        return clock_limit(*self.clock)

    async def act(self, position: Position, meter: Meter) -> Action:
        """The engine's move. A speculative call (a branch) searches at idle priority
        and is promoted if it becomes the real search. A real search that fails on
        its engine (a dead process, a protocol error) is tried once more on a
        fresh engine before the failure reaches the player."""
        if position.game.info.name != "chess":
            raise ValueError(f"the stockfish player plays chess, not {position.game.info.name!r}")
        board: chess.Board = position.state.board
        limit = self.limit(position)
        attempts = 1 if meter.speculative else 2
        for attempt in range(attempts):
            try:
                return await self._search(board, limit, meter)
            except (chess.engine.EngineError, AssertionError) as exc:
                if attempt + 1 == attempts:
                    raise ActorFailure(f"engine {self.path} failed: {exc!r}") from exc
                log.warning("engine failed (%r); searching again on a fresh engine", exc)
        raise AssertionError("unreachable")

    async def _search(self, board: chess.Board, limit: chess.engine.Limit, meter: Meter) -> Action:
        priority = Priority.IDLE if meter.speculative and self.idle_branches else Priority.NORMAL
        meter.on_promote(self.pool.wake)  # a hit while it waits for an engine: look again
        try:
            async with self.pool.lease(priority, lambda: not meter.speculative) as lease:
                meter.forget_promote(self.pool.wake)
                meter.on_promote(lease.promote)
                pid = lease.pid
                cpu = cpu_ms(pid) if meter.speculative else None
                try:
                    # A fresh "game" per search clears the hash, so a move depends only on
                    # the position: the same game replays move for move (lossless).
                    result, _ = await search(lease.engine, board, limit)
                finally:
                    meter.forget_promote(lease.promote)
                if cpu is not None and (after := cpu_ms(pid)) is not None:
                    meter.busy_ms = after - cpu  # a branch: its search, not its waits
        finally:
            meter.forget_promote(self.pool.wake)
        if result.move is None:
            raise RuntimeError(f"engine returned no move for {board.fen()}")
        return Action(result.move.uci())

    async def check(self) -> None:
        """Start the engines of the real searches and apply the options now (a bad
        option fails here). Engines for branches start when a branch first needs
        one: where there is no spare CPU to speculate on, they never start."""
        await self.pool.start(self.games)

    async def close(self) -> None:
        await self.pool.close()
