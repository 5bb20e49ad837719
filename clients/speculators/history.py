"""What this opponent played before in this position, from the arena's stored games.

Positions are looked up by key (:func:`arena.positions.position_key`, which for
chess ignores the move counters) through the server's ``GET /api/history``.
Positions the opponent has never been seen in, and failed look-ups, are
answered by a fallback speculator.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from arena.positions import position_key
from clients.speculation import Guess, Meter, Position, Speculator

__all__ = ["HistorySpeculator"]

log = logging.getLogger(__name__)


class HistorySpeculator:
    """Predicts the moves ``opponent`` (a bot name) played before in the same position.

    Each stored move counts once: a move played ``c`` times out of ``n`` in
    this position gets probability ``c / n``. When history yields fewer than
    ``k`` legal moves, or the look-up fails (HTTP error, timeout, bad answer:
    logged), the rest comes from ``fallback`` (duplicates skipped). Fallback
    guesses keep their own probabilities when history had nothing to say; next
    to history guesses they get probability 0.0 (never played here, as far as
    the arena knows), so that all guesses of an answer have a probability.
    Works for every game the arena stores.
    """

    def __init__(
        self,
        base_url: str,
        opponent: str,
        fallback: Speculator | None,
        timeout_s: float = 2.0,
    ) -> None:
        self.base_url = base_url
        self.opponent = opponent
        self.fallback = fallback
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def _lookup(self, position: Position) -> list[tuple[str, int]]:
        """``(move, count)`` pairs from the server; raises on any failure."""
        params = {
            "game": position.game.info.name,
            "bot": self.opponent,
            "key": position_key(position.game, position.state),
        }
        response = await self.client.get("/api/history", params=params)
        response.raise_for_status()
        body: Any = response.json()
        return [(str(m["move"]), int(m["count"])) for m in body["moves"]]

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        """Up to ``k`` moves: the opponent's past moves here, then the fallback's."""
        if k <= 0 or position.over:
            return []
        try:
            seen = await self._lookup(position)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("history look-up at %s failed (%s); using the fallback", self.base_url, exc)
            seen = []
        legal = set(position.legal_moves())
        seen = [(move, count) for move, count in seen if move in legal and count > 0]
        total = sum(count for _, count in seen)
        guesses = [Guess(move, count / total) for move, count in seen[:k]]
        if len(guesses) < k and self.fallback is not None:
            taken = {g.move for g in guesses}
            for guess in await self.fallback.predict(position, k, meter):
                if len(guesses) >= k:
                    break
                if guess.move in legal and guess.move not in taken:
                    taken.add(guess.move)
                    guesses.append(Guess(guess.move, 0.0) if seen else guess)
        return guesses

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()
