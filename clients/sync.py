"""The bot SDK for code that does not use asyncio.

Write plain methods; :func:`run` blocks while the bot plays, and
:class:`BotThread` plays in a background thread (a GUI, a notebook, a
program with its own main loop). Underneath it is the async SDK
(:mod:`clients.sdk`) on an event loop of its own, as python-chess's
``SimpleEngine`` wraps its async engine: the same protocol, reconnection,
seeks and speculation.

Each call of :meth:`SyncBot.choose_move` and :meth:`SyncBot.predict` runs in a
worker thread, so a slow move does not stall the connection (pings, clocks).
A speculating sync bot's branches cannot be interrupted (Python threads
cannot be cancelled): a cancelled branch's result is dropped when it
finishes, so keep ``speculation_config.max_branches`` small.

Example::

    class FirstMove(SyncBot):
        def choose_move(self, view: GameView) -> str:
            return view.legal_moves()[0]

    run(FirstMove(), "ws://127.0.0.1:8000/ws", token, max_games=1)
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Sequence

from arena.protocol import GameOver, Seek
from clients.sdk import Bot, BotClient, GameView, MoveDecision
from clients.speculation import Guess, SpeculationConfig, Speculator

__all__ = ["BotThread", "GameView", "MoveDecision", "Seek", "SyncBot", "as_async", "run"]


class SyncBot:
    """Base class of a synchronous bot: the same hooks as :class:`~clients.sdk.Bot`,
    as plain methods. Override :meth:`choose_move`; to speculate, :meth:`predict`."""

    name = "bot"
    speculator: Speculator | None = None
    """As :attr:`clients.sdk.Bot.speculator` (an async speculator object)."""
    speculation_config: SpeculationConfig = SpeculationConfig(k=1, max_branches=1)
    """As :attr:`clients.sdk.Bot.speculation_config`; one branch at a time by default."""

    def choose_move(self, view: GameView) -> str | MoveDecision:
        """The move to play in ``view.state`` (see :meth:`clients.sdk.Bot.choose_move`)."""
        raise NotImplementedError

    def predict(self, view: GameView) -> Sequence[str | Guess]:
        """The opponent's likely next moves, best first (see :meth:`clients.sdk.Bot.predict`)."""
        return ()

    def on_game_start(self, view: GameView) -> None:
        """Called once per game when it starts."""

    def on_game_over(self, view: GameView, over: GameOver) -> None:
        """Called when a game ends."""

    def close(self) -> None:
        """Release resources when the bot stops."""


class _AsyncBot(Bot):
    """A :class:`SyncBot` seen as an async :class:`~clients.sdk.Bot` (calls in threads)."""

    def __init__(self, bot: SyncBot) -> None:
        self.sync = bot
        self.name = bot.name
        self.speculator = bot.speculator
        self.speculation_config = bot.speculation_config

    @property
    def speculates(self) -> bool:
        return self.speculator is not None or type(self.sync).predict is not SyncBot.predict

    async def choose_move(self, view: GameView) -> str | MoveDecision:
        # A copy: the client updates its view in place while the thread reads it.
        return await asyncio.to_thread(self.sync.choose_move, dataclasses.replace(view))

    async def predict(self, view: GameView) -> Sequence[str | Guess]:
        return await asyncio.to_thread(self.sync.predict, dataclasses.replace(view))

    async def on_game_start(self, view: GameView) -> None:
        await asyncio.to_thread(self.sync.on_game_start, dataclasses.replace(view))

    async def on_game_over(self, view: GameView, over: GameOver) -> None:
        await asyncio.to_thread(self.sync.on_game_over, dataclasses.replace(view), over)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)


def as_async(bot: SyncBot | Bot) -> Bot:
    """``bot`` as an async :class:`~clients.sdk.Bot` (a sync bot is wrapped)."""
    return _AsyncBot(bot) if isinstance(bot, SyncBot) else bot


async def _play(
    bot: Bot, url: str, token: str, max_games: int | None, seek: Seek | None
) -> list[GameOver]:
    client = BotClient(bot, url, token, max_games=max_games, seek=seek)
    try:
        await client.run()
    finally:
        await bot.close()
    return client.results


def run(
    bot: SyncBot | Bot,
    url: str,
    token: str,
    *,
    max_games: int | None = None,
    seek: Seek | None = None,
) -> list[GameOver]:
    """Connect and play, blocking until ``max_games`` games have ended (or forever);
    returns how they ended. Reconnects after dropped connections; with ``seek``,
    asks for a game like it whenever the bot has none."""
    return asyncio.run(_play(as_async(bot), url, token, max_games, seek))


class BotThread:
    """Plays in a background thread (with its own event loop) until stopped.

    ``start()`` returns at once; ``wait()`` blocks until ``max_games`` have
    ended; ``stop()`` disconnects and waits for the thread. ``results`` holds the
    games that ended; ``error`` what stopped it, if anything failed.
    """

    def __init__(
        self,
        bot: SyncBot | Bot,
        url: str,
        token: str,
        *,
        max_games: int | None = None,
        seek: Seek | None = None,
    ) -> None:
        self.client = BotClient(as_async(bot), url, token, max_games=max_games, seek=seek)
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="arena-bot", daemon=True)

    @property
    def results(self) -> list[GameOver]:
        return list(self.client.results)

    def start(self) -> BotThread:
        self._thread.start()
        self._started.wait()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the bot has stopped (its games are done); False on timeout."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Disconnect (games in progress go on without this bot) and end the thread."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            self._started.set()
            try:
                await self.client.run()
            finally:
                await self.client.bot.close()

        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # kept for the caller, who is in another thread
            self.error = exc
        finally:
            self._started.set()
