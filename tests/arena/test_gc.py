"""The collector policy of a serving process (arena.serve.collect_garbage)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from arena.serve import collect_garbage


class _Node:
    """A tracked object that can hold a reference to itself (a cycle)."""

    def __init__(self) -> None:
        self.other: object = None


@pytest.fixture
def collector_off() -> Iterator[None]:
    """Automatic collection off, as after tune_gc_for_serving; restored afterwards."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
        gc.collect()


def _cycle() -> weakref.ref[_Node]:
    node = _Node()
    node.other = node  # only the collector can free it
    return weakref.ref(node)


async def _freed(ref: weakref.ref[_Node], within_s: float) -> bool:
    for _ in range(int(within_s / 0.01)):
        if ref() is None:
            return True
        await asyncio.sleep(0.01)
    return ref() is None


@pytest.mark.usefixtures("collector_off")
async def test_garbage_cycles_wait_for_growth_then_are_freed() -> None:
    """A cycle stays while the heap has not grown by ``growth`` objects, and is freed
    (and what survives is frozen) once it has."""
    task = asyncio.create_task(collect_garbage(growth=50_000, check_s=0.01))
    try:
        cycle = _cycle()
        assert not await _freed(cycle, within_s=0.1)  # little growth: no collection
        kept = [_Node() for _ in range(60_000)]  # the heap grows: a collection is due
        assert await _freed(cycle, within_s=2.0)
        assert gc.get_freeze_count() >= len(kept)  # survivors are not scanned again
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.usefixtures("collector_off")
async def test_cycles_among_frozen_objects_are_freed_by_a_full_pass() -> None:
    """A cycle made of objects that an earlier collection froze is freed once the
    frozen objects have doubled (a full pass unfreezes before collecting)."""
    task = asyncio.create_task(collect_garbage(growth=20_000, check_s=0.01))
    try:
        node = _Node()
        cycle = weakref.ref(node)
        batches = [[_Node() for _ in range(25_000)]]
        await asyncio.sleep(0.1)  # a collection freezes node with the batch
        assert gc.get_freeze_count() >= 25_000
        node.other = node
        del node  # now garbage, but frozen
        for _ in range(8):  # grow until a full pass is due
            batches.append([_Node() for _ in range(25_000)])
            await asyncio.sleep(0.05)
            if cycle() is None:
                break
        assert cycle() is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
