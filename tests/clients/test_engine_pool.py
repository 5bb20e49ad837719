"""The engine pool under cancellation, and the priority of speculative searches.

A branch search is cancelled at every step of its start and stop (each line
python-chess sends to the engine, each line the engine answers), with a
search long enough that it cannot end by itself meanwhile; after each, a
real search on the same pool must give the engine's move for its position,
and no error may reach the event loop. Before the fix, the pool's idle check
issued ``ping`` commands with a timeout; a search cancelled in its preamble
outlived the timeout, the second ``ping`` found the first still queued, and
python-chess raised ``AssertionError: CommandState.NEW`` in the next search,
the real one, which then resigned the game.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import chess
import chess.engine
import pytest

from clients.actors.engine import EngineActor, EngineOptions, EnginePool, find_stockfish
from clients.actors.priority import Priority, can_promote, current_priority, supported
from clients.speculation import Meter, Position
from clients.speculators import EngineSpeculator
from games import get_game, replay

LONG = 5_000_000
"""Nodes of a branch search that only a stop can end within the test's time."""

MOVES = ["e2e4", "e7e5", "g1f3", "b8c6"]


def position(moves: list[str]) -> Position:
    game = get_game("chess")
    return Position(game, replay(game, moves), tuple(moves))


@pytest.fixture
async def actor() -> AsyncIterator[EngineActor]:
    engine = EngineActor(EngineOptions(nodes=3000), pool_size=1)
    try:
        yield engine
    finally:
        await engine.close()


def loop_errors() -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    return errors


def cancel_on(
    engine: chess.engine.UciProtocol,
    task: asyncio.Task[Any],
    sent: str | None,
    received: str | None,
) -> None:
    """Cancel ``task`` right after the engine is sent a line starting with ``sent``,
    or right after it answers one starting with ``received``."""
    send, receive = engine.send_line, engine.line_received

    def send_line(line: str) -> None:
        send(line)
        if sent is not None and line.startswith(sent):
            task.cancel()

    def line_received(line: str) -> None:
        receive(line)
        if received is not None and line.startswith(received):
            task.cancel()

    engine.send_line = send_line  # type: ignore[method-assign]
    engine.line_received = line_received  # type: ignore[method-assign]


def restore(engine: chess.engine.UciProtocol) -> None:
    """Back to the class's own methods (see :func:`cancel_on`)."""
    del engine.send_line, engine.line_received


STEPS: list[tuple[str | None, str | None]] = [
    ("ucinewgame", None),  # cancelled in the preamble, before isready
    ("isready", None),
    (None, "readyok"),  # go is about to be sent
    ("position", None),
    ("go", None),
    (None, "info"),  # searching; cancelled again at every info line while it stops
]


@pytest.mark.parametrize(("sent", "received"), STEPS)
async def test_a_branch_cancelled_at_any_step_leaves_the_engine_ready_for_the_real_search(
    actor: EngineActor, sent: str | None, received: str | None
) -> None:
    errors = loop_errors()
    real = position(MOVES)
    expected = (await actor.act(real, Meter())).move  # the pool's one engine, warmed up
    long_actor = EngineActor(EngineOptions(nodes=LONG), pool_size=1)
    long_actor.pool = actor.pool  # the same engine process, a search that cannot end alone
    engine = actor.pool._workers[0].engine
    branch = asyncio.create_task(
        long_actor.act(position([*MOVES, "f1b5"]), Meter(speculative=True))
    )
    cancel_on(engine, branch, sent, received)
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(30):
            await branch
    restore(engine)
    async with asyncio.timeout(30):
        assert (await actor.act(real, Meter())).move == expected
    assert errors == []
    assert actor.pool.busy == 0


async def test_a_cancelled_search_is_stopped_not_run_to_its_limit(actor: EngineActor) -> None:
    """Cancelled in its preamble, a 5M-node search is stopped right after ``go``: the
    engine's last report before ``bestmove`` counts a small part of the limit."""
    long_actor = EngineActor(EngineOptions(nodes=LONG), pool_size=1)
    long_actor.pool = actor.pool
    await actor.act(position(MOVES), Meter())
    engine = actor.pool._workers[0].engine
    branch = asyncio.create_task(long_actor.act(position(MOVES), Meter(speculative=True)))
    cancel_on(engine, branch, "ucinewgame", None)
    nodes: list[int] = []
    receive = engine.line_received

    def count(line: str) -> None:
        receive(line)
        words = line.split()
        if words[:1] == ["info"] and "nodes" in words:
            nodes.append(int(words[words.index("nodes") + 1]))

    engine.line_received = count  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await branch
    restore(engine)
    assert engine.command is None and engine.next_command is None
    assert max(nodes, default=0) < LONG // 10


async def test_a_dead_engine_is_replaced_and_the_real_search_still_plays(
    actor: EngineActor,
) -> None:
    real = position(MOVES)
    expected = (await actor.act(real, Meter())).move
    dead = actor.pool.pids[0]
    actor.pool._workers[0].transport.kill()
    await asyncio.sleep(0.2)  # let the process's exit be noticed
    assert (await actor.act(real, Meter())).move == expected
    assert actor.pool.pids and dead not in actor.pool.pids


# ---------------------------------------------------------------------- priority

needs_sched_idle = pytest.mark.skipif(not supported(), reason="no SCHED_IDLE on this platform")
needs_promotion = pytest.mark.skipif(
    not can_promote(), reason="this process may not promote from SCHED_IDLE (no CAP_SYS_NICE)"
)


async def searching(pool: EnginePool) -> None:
    """Until the pool has lent an engine (whose priority is then set)."""
    async with asyncio.timeout(10):
        while pool.busy == 0:  # noqa: ASYNC110 - another task's state, no event to wait on
            await asyncio.sleep(0.005)


def priorities(pid: int) -> set[Priority]:
    return set(current_priority(pid).values())


@needs_promotion
async def test_branch_searches_at_idle_priority_and_is_promoted_on_a_hit() -> None:
    actor = EngineActor(EngineOptions(nodes=LONG), pool_size=2)
    try:
        meter = Meter(speculative=True)
        branch = asyncio.create_task(actor.act(position(MOVES), meter))
        await searching(actor.pool)
        pid = actor.pool.pids[0]
        assert priorities(pid) == {Priority.IDLE}
        meter.promote()  # the speculation engine does this when the branch is the hit
        assert priorities(pid) == {Priority.NORMAL}
        branch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await branch
        # A real search never runs at idle priority, whatever the engine did before.
        idle = asyncio.create_task(actor.act(position(MOVES), Meter(speculative=True)))
        await searching(actor.pool)
        assert priorities(pid) == {Priority.IDLE}
        idle.cancel()
        with pytest.raises(asyncio.CancelledError):
            await idle
        real = EngineActor(EngineOptions(nodes=2000), pool_size=2)
        real.pool = actor.pool
        await real.act(position(MOVES), Meter())
        assert priorities(pid) == {Priority.NORMAL}
    finally:
        await actor.close()


@needs_sched_idle
async def test_the_engine_speculator_searches_at_idle_priority() -> None:
    speculator = EngineSpeculator(depth=30)
    try:
        predicting = speculator.predict(position(MOVES), 2, Meter(speculative=True))
        task = asyncio.create_task(predicting)
        await searching(speculator.pool)
        assert priorities(speculator.pool.pids[0]) == {Priority.IDLE}
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await speculator.close()


async def test_a_real_search_never_waits_for_a_branch_engine() -> None:
    """The pool is full with a branch searching (at idle priority): a real search
    starts an engine of its own rather than queue behind it, and the extra engine
    is dropped again when it comes back."""
    actor = EngineActor(EngineOptions(nodes=LONG), pool_size=1)
    quick = EngineActor(EngineOptions(nodes=2000), pool_size=1)
    quick.pool = actor.pool
    try:
        branch = asyncio.create_task(actor.act(position(MOVES), Meter(speculative=True)))
        await searching(actor.pool)
        move = await quick.act(position(MOVES), Meter())  # a real search, same pool
        assert move.move in position(MOVES).legal_moves()
        assert not branch.done()  # the branch is still searching beside it
        assert len(actor.pool.pids) == 1  # the extra engine was dropped on return
        branch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await branch
        assert actor.pool.busy == 0 and len(actor.pool.pids) == 1
    finally:
        await actor.close()


@needs_sched_idle
async def test_without_the_right_to_promote_branches_run_at_normal_priority(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where leaving SCHED_IDLE is refused (no CAP_SYS_NICE, RLIMIT_NICE 0), a branch
    that became the real search would stay idle: so branches are not demoted at all,
    and a refused change is not recorded as done."""
    monkeypatch.setattr("clients.actors.engine.can_promote", lambda: False)
    actor = EngineActor(EngineOptions(nodes=LONG), pool_size=1)
    assert not actor.idle_branches
    try:
        branch = asyncio.create_task(actor.act(position(MOVES), Meter(speculative=True)))
        await searching(actor.pool)
        assert priorities(actor.pool.pids[0]) == {Priority.NORMAL}
        branch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await branch
    finally:
        await actor.close()
    # A refused change (EPERM) leaves the recorded priority as it was.
    pool = EnginePool(find_stockfish(), 1)
    try:
        await pool.start()
        worker = pool._idle[0]
        worker.set_priority(Priority.IDLE)
        real = os.sched_setscheduler

        def refuse(pid: int, policy: int, param: os.sched_param) -> None:
            if policy != os.SCHED_IDLE:
                raise PermissionError(1, "Operation not permitted")
            real(pid, policy, param)

        monkeypatch.setattr(os, "sched_setscheduler", refuse)
        worker.set_priority(Priority.NORMAL)
        assert worker.priority is Priority.IDLE
    finally:
        await pool.close()


async def test_a_branch_reports_its_search_time_not_its_waits() -> None:
    """A speculative search reports the CPU its search used (``busy_ms``): what the
    call takes on its own, whatever it waited for a core at idle priority."""
    actor = EngineActor(EngineOptions(nodes=20_000), pool_size=1)
    try:
        meter = Meter(speculative=True)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await actor.act(position(MOVES), meter)
        wall_ms = (loop.time() - started) * 1000.0
        assert meter.busy_ms is not None and meter.busy_ms > 0
        real = Meter()
        await actor.act(position(MOVES), real)
        assert real.busy_ms is None  # a real search is timed by the wall clock
        assert wall_ms > 0
    finally:
        await actor.close()


async def test_a_branch_promoted_while_it_waits_for_an_engine_does_not_wait() -> None:
    """The pool is full with another branch; a branch waiting for an engine becomes
    the real search (a hit): it stops waiting and starts an engine of its own."""
    actor = EngineActor(EngineOptions(nodes=LONG), pool_size=1)
    quick = EngineActor(EngineOptions(nodes=2000), pool_size=1)
    quick.pool = actor.pool
    try:
        first = asyncio.create_task(actor.act(position(MOVES), Meter(speculative=True)))
        await searching(actor.pool)
        meter = Meter(speculative=True)
        waiting = asyncio.create_task(quick.act(position(MOVES), meter))
        await asyncio.sleep(0)  # it reaches the pool and waits there
        assert not waiting.done()
        meter.promote()
        async with asyncio.timeout(30):
            move = await waiting
        assert move.move in position(MOVES).legal_moves()
        assert not first.done()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
    finally:
        await actor.close()
