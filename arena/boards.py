"""Leaderboards and ratings computed when results change, not per request.

A public page must not cost the server a rating fit and a read of every stored
move each time someone reloads it: with a thousand games that stalled the
event loop that relays moves. :class:`Boards` keeps

- the accounting of every *finished* game (it never changes once the game is
  over), so that a leaderboard's figures are sums over cached accounts;
- each leaderboard (per tournament and game filter) and any other value
  derived from the results, keyed by :meth:`~arena.store.Store.results_version`
  (which changes whenever a game finishes, in any process): a request after a
  change recomputes it once (concurrent requests wait for the same
  computation), every other request answers from the cache.

The rating fits run in a worker thread (:func:`arena.leaderboard.build_leaderboard`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from arena.accounting import GameAccount, account_game
from arena.leaderboard import Leaderboard, build_leaderboard
from arena.store import GameRow, Store

__all__ = ["Boards"]

T = TypeVar("T")

MAX_ACCOUNTS = 20_000
"""Accounts of finished games kept (least recently used dropped first)."""
MAX_VALUES = 512
"""Derived values kept (leaderboards per filter, player histories, ...)."""


class Boards:
    """Caches of what the pages and the API derive from stored results."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._accounts: OrderedDict[str, GameAccount] = OrderedDict()
        self._values: OrderedDict[Hashable, tuple[Any, Any]] = OrderedDict()
        self._pending: dict[Hashable, tuple[Any, asyncio.Task[Any]]] = {}
        self.computed = 0
        """Derived values computed so far (the rest were answered from the cache)."""

    async def account(self, row: GameRow) -> GameAccount:
        """The speculation accounting of one game (cached once it is finished)."""
        return (await self.accounts([row]))[0]

    async def accounts(self, rows: list[GameRow]) -> list[GameAccount]:
        """The accounting of each game in ``rows``; those not cached are read in bulk
        and computed in a worker thread (a thousand games took seconds of the loop)."""
        missing = [r for r in rows if r.status != "finished" or r.id not in self._accounts]
        fresh: dict[str, GameAccount] = {}
        if missing:
            ids = [r.id for r in missing]
            moves = await self.store.moves_of(ids)
            predictions = await self.store.predictions_of(ids)
            fresh = await asyncio.to_thread(
                lambda: {i: account_game(moves.get(i, []), predictions.get(i, [])) for i in ids}
            )
            for r in missing:
                if r.status == "finished":
                    self._accounts[r.id] = fresh[r.id]
            while len(self._accounts) > MAX_ACCOUNTS:
                self._accounts.popitem(last=False)
        found = []
        for r in rows:
            if r.id in fresh:
                found.append(fresh[r.id])
            else:
                self._accounts.move_to_end(r.id)
                found.append(self._accounts[r.id])
        return found

    async def derived(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """``compute()``'s value for ``key`` as of the current results: computed once
        per change of :meth:`~arena.store.Store.results_version`, shared by
        concurrent callers."""
        version = await self.store.results_version()
        cached = self._values.get(key)
        if cached is not None and cached[0] == version:
            self._values.move_to_end(key)
            value: T = cached[1]
            return value
        pending = self._pending.get(key)
        if pending is None or pending[0] != version:
            task = asyncio.get_running_loop().create_task(self._compute(key, version, compute))
            pending = (version, task)
            self._pending[key] = pending
        result: T = await asyncio.shield(pending[1])
        return result

    async def _compute(self, key: Hashable, version: Any, compute: Callable[[], Awaitable[T]]) -> T:
        try:
            value = await compute()
            self.computed += 1
            self._values[key] = (version, value)
            self._values.move_to_end(key)
            if len(self._values) > MAX_VALUES:
                self._values.popitem(last=False)
            return value
        finally:
            if self._pending.get(key, (None,))[0] == version:
                del self._pending[key]

    async def leaderboard(
        self, *, tournament_id: str | None = None, game: str | None = None
    ) -> Leaderboard:
        """:func:`~arena.leaderboard.build_leaderboard` over the stored results, cached."""
        return await self.derived(
            ("leaderboard", tournament_id, game),
            lambda: build_leaderboard(
                self.store, tournament_id=tournament_id, game=game, accounts=self.accounts
            ),
        )
