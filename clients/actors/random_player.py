"""A player that picks a uniformly random legal move (seeded, so reproducible)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from clients.sdk import Bot, GameView

__all__ = ["RandomOptions", "RandomPlayer"]


@dataclass(frozen=True, slots=True)
class RandomOptions:
    """Options of the ``random`` player."""

    seed: int | None = None
    """Seed of the move choice; the same seed and game give the same moves."""


class RandomPlayer(Bot):
    """Uniform over legal moves, for any game."""

    name = "random"

    def __init__(self, options: RandomOptions | None = None) -> None:
        self.options = options or RandomOptions()
        self._rng = random.Random(self.options.seed)

    async def choose_move(self, view: GameView) -> str:
        return self._rng.choice(sorted(view.legal_moves()))
