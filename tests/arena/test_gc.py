"""The collector policy of a serving process (arena.serve.collect_garbage)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from arena.serve import collect_garbage, collector_paused


class _Node:
    """A tracked object that can hold a reference to itself (a cycle)."""

    def __init__(self) -> None:
        self.other: object = None


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The heap so far frozen and automatic collection off, as in a serving process."""
    with collector_paused():
        yield
    gc.collect()


async def _collected(within_s: float) -> bool:
    """Wait until a collection has run since the heap grew (it resets the young count)."""
    for _ in range(int(within_s / 0.01)):
        if gc.get_count()[0] < 1_000:
            return True
        await asyncio.sleep(0.01)
    return gc.get_count()[0] < 1_000


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
        frozen = gc.get_freeze_count()
        kept = [_Node() for _ in range(60_000)]  # the heap grows: a collection is due
        assert await _freed(cycle, within_s=2.0)
        # The survivors were frozen (not scanned again by the next collection).
        assert gc.get_freeze_count() >= frozen + len(kept)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.usefixtures("collector_off")
async def test_cycles_among_frozen_objects_wait_for_the_frozen_heap_to_double() -> None:
    """A cycle made of objects that an earlier collection froze survives the young
    collections that follow, and is freed by the full pass that runs once the frozen
    objects have doubled since the collector started."""
    start = gc.get_freeze_count()  # the heap frozen by the fixture, as after start-up
    batch = 20_000
    task = asyncio.create_task(collect_garbage(growth=batch // 2, check_s=0.01))
    try:
        node = _Node()
        cycle = weakref.ref(node)
        kept = [[_Node() for _ in range(batch)]]
        assert await _collected(within_s=5.0)  # a young collection froze node and the batch
        node.other = node
        del node  # garbage now, but frozen
        alive_after_young = False
        while cycle() is not None and len(kept) * batch < 4 * start + 4 * batch:
            kept.append([_Node() for _ in range(batch)])
            assert await _collected(within_s=5.0)
            if cycle() is not None and gc.get_freeze_count() < 2 * start:
                alive_after_young = True
        assert cycle() is None
        assert alive_after_young or start < 2 * batch  # (a tiny heap doubles at once)
        assert len(kept) * batch >= start  # freed only once the frozen heap had doubled
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
