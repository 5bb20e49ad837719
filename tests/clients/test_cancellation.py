"""Waiting for cancelled work must not swallow a cancellation of the waiter itself."""

from __future__ import annotations

import asyncio

import pytest

from clients.sdk import Bot, BotClient, GameView, _Thinking


class Idle(Bot):
    async def choose_move(self, view: GameView) -> str:
        raise AssertionError("not called")


async def test_stop_thinking_passes_its_own_cancellation_on() -> None:
    """A client cancelled while it waits for its thinking tasks to stop is cancelled too.

    Before, the wait suppressed every CancelledError, so a tournament that
    cancelled its clients as a game ended could wait for one of them forever."""
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # e.g. an engine search that takes a moment to stop
            raise

    client = BotClient(Idle(), "ws://127.0.0.1:9/ws", "token")
    thinking = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    client._thinking["g"] = _Thinking(0, thinking)
    waiter = asyncio.create_task(client._stop_thinking())
    await asyncio.sleep(0.01)  # the waiter now awaits the thinking task
    waiter.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert thinking.cancelled()
