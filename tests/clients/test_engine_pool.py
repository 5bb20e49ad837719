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
from collections.abc import AsyncIterator
from typing import Any

import chess
import chess.engine
import pytest

from clients.actors.engine import EngineActor, EngineOptions, EnginePool
from clients.actors.priority import Priority, current_priority, supported
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
    """Cancelled in the preamble, a 5M-node search (seconds) still ends within a second."""
    long_actor = EngineActor(EngineOptions(nodes=LONG), pool_size=1)
    long_actor.pool = actor.pool
    await actor.act(position(MOVES), Meter())
    engine = actor.pool._workers[0].engine
    branch = asyncio.create_task(long_actor.act(position(MOVES), Meter(speculative=True)))
    cancel_on(engine, branch, "ucinewgame", None)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(asyncio.CancelledError):
        await branch
    assert loop.time() - started < 1.0
    assert engine.command is None and engine.next_command is None


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


async def searching(pool: EnginePool) -> None:
    """Until the pool has lent an engine (whose priority is then set)."""
    async with asyncio.timeout(10):
        while pool.busy == 0:  # noqa: ASYNC110 - another task's state, no event to wait on
            await asyncio.sleep(0.005)


def priorities(pid: int) -> set[Priority]:
    return set(current_priority(pid).values())


@needs_sched_idle
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
