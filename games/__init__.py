"""Game rules for the arena: the :class:`Game` protocol and the registry of games.

Everything here is pure (no I/O, no asyncio). Concrete games live in their own
modules (:mod:`games.chess`, :mod:`games.connect4`) and are found through the
``arena.games`` entry points by :func:`get_game`. The conformance suite every
game must pass is in :mod:`games.conformance`.
"""

from __future__ import annotations

from games.base import (
    Game,
    GameError,
    GameInfo,
    IllegalMoveError,
    InvalidStateError,
    Outcome,
    TerminalExample,
    result_score,
    result_string,
)
from games.registry import (
    ENTRY_POINT_GROUP,
    UnknownGameError,
    available_games,
    get_game,
    register_game,
    replay,
    unregister_game,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Game",
    "GameError",
    "GameInfo",
    "IllegalMoveError",
    "InvalidStateError",
    "Outcome",
    "TerminalExample",
    "UnknownGameError",
    "available_games",
    "get_game",
    "register_game",
    "replay",
    "result_score",
    "result_string",
    "unregister_game",
]
