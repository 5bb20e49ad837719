"""Position keys: the identity of a position, for looking up what was played there.

A key must be equal for two states exactly when the same moves are possible and
a player would see "the same position". A game may define it through a
``position_key(state)`` method (chess ignores the move counters, so a position
reached by transposition or later in the game shares its key); otherwise the
game's state encoding is the key.
"""

from __future__ import annotations

from typing import Any

from games import Game

__all__ = ["position_key"]


def position_key(game: Game[Any], state: Any) -> str:
    """The key of ``state``: ``game.position_key(state)`` if defined, else its encoding."""
    custom = getattr(game, "position_key", None)
    if callable(custom):
        return str(custom(state))
    return game.encode_state(state)
