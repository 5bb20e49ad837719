"""A speculator that says what it is told: fixed guesses per ply (tests, demos)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from clients.speculation import Guess, Meter, Position
from games import GameError

__all__ = ["ScriptedSpeculator"]


class ScriptedSpeculator:
    """Guesses ``script[ply]`` for a position at ``ply``, in that order, without probabilities.

    Moves may be written in any notation the game accepts; they are returned in
    canonical notation. Moves that are not legal in the position are dropped,
    as are repeats; the rest is cut to ``k``. Plies without a script get no guess.
    Works for every game.
    """

    def __init__(self, script: Mapping[int, Sequence[str]]) -> None:
        self.script: dict[int, tuple[str, ...]] = {p: tuple(m) for p, m in script.items()}
        self.calls = 0
        """How many times :meth:`predict` was called."""

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        """The scripted legal moves for ``position.ply``, at most ``k``."""
        self.calls += 1
        guesses: list[Guess] = []
        seen: set[str] = set()
        for move in self.script.get(position.ply, ()):
            if len(guesses) >= k:
                break
            try:
                canonical = position.game.normalize_move(position.state, move)
            except GameError:
                continue
            if canonical not in seen:
                seen.add(canonical)
                guesses.append(Guess(canonical))
        return guesses
