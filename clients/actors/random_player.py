"""An actor that picks a random legal move, as a pure function of the position.

The choice is seeded by ``seed`` and the moves so far, so the same position
always gets the same move: a random player is deterministic, which keeps
speculation lossless and games reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from clients.speculation import Action, Meter, Position

__all__ = ["RandomActor", "RandomOptions"]


@dataclass(frozen=True, slots=True)
class RandomOptions:
    """Options of the ``random`` player."""

    seed: int | None = None
    """Seed of the move choice (default 0); the same seed and game give the same moves."""


class RandomActor:
    """Uniform over legal moves, for any game."""

    resource: str | None = None

    def __init__(self, options: RandomOptions | None = None) -> None:
        self.options = options or RandomOptions()

    async def act(self, position: Position, meter: Meter) -> Action:
        rng = random.Random(f"{self.options.seed or 0}:{' '.join(position.moves)}")
        return Action(rng.choice(sorted(position.legal_moves())))
