"""Finding games by name, and replaying moves.

Games are plug-ins: a distribution registers a zero-argument factory (usually
the class) under the entry-point group ``arena.games``::

    [project.entry-points."arena.games"]
    chess = "games.chess:ChessGame"

:func:`register_game` adds a game without entry points (tests, embedding);
such registrations take precedence over entry points of the same name.
Instances are created once and cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from games.base import Game, GameError

__all__ = [
    "ENTRY_POINT_GROUP",
    "UnknownGameError",
    "available_games",
    "get_game",
    "register_game",
    "replay",
    "unregister_game",
]

ENTRY_POINT_GROUP = "arena.games"
"""The entry-point group games are registered under."""

StateT = TypeVar("StateT")

_factories: dict[str, Callable[[], Game[Any]]] = {}
_instances: dict[str, Game[Any]] = {}


class UnknownGameError(GameError, LookupError):
    """No game is registered under the requested name."""

    def __init__(self, name: str, available: Iterable[str]) -> None:
        self.name = name
        self.available = tuple(available)
        valid = ", ".join(self.available) or "none"
        super().__init__(f"unknown game {name!r}; available games: {valid}")


def _entry_point_names() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_games() -> list[str]:
    """The names of all games, from entry points and :func:`register_game`, sorted."""
    return sorted(set(_entry_point_names()) | set(_factories))


def register_game(name: str, factory: Callable[[], Game[Any]]) -> None:
    """Register ``factory`` (e.g. a game class) under ``name``, replacing any earlier one."""
    _factories[name] = factory
    _instances.pop(name, None)


def unregister_game(name: str) -> None:
    """Forget a game added with :func:`register_game` (entry points are unaffected)."""
    _factories.pop(name, None)
    _instances.pop(name, None)


def get_game(name: str) -> Game[Any]:
    """The (cached) game registered under ``name``; raises :class:`UnknownGameError`."""
    cached = _instances.get(name)
    if cached is not None:
        return cached
    factory = _factories.get(name)
    if factory is None:
        entry_point = _entry_point_names().get(name)
        if entry_point is None:
            raise UnknownGameError(name, available_games())
        factory = entry_point.load()
    game = factory()
    if not isinstance(game, Game):
        raise TypeError(f"the factory of game {name!r} returned {game!r}, not a Game")
    _instances[name] = game
    return game


def replay(game: Game[StateT], moves: Iterable[str], initial: StateT | None = None) -> StateT:
    """The state after applying ``moves`` to ``initial`` (default: the start position).

    Raises :class:`~games.base.IllegalMoveError` at the first illegal move.
    """
    state = game.initial_state() if initial is None else initial
    for move in moves:
        state = game.apply(state, move)
    return state
