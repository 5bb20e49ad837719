"""Finding games by name through entry points and explicit registration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from games import (
    GameError,
    UnknownGameError,
    available_games,
    get_game,
    register_game,
    replay,
    unregister_game,
)
from games.chess import ChessGame
from games.connect4 import ConnectFour


class _TinyFour(ConnectFour):
    """A stand-in plug-in registered without entry points."""


@pytest.fixture
def tiny() -> Iterator[str]:
    """A game registered as ``tiny_four`` for the duration of a test."""
    register_game("tiny_four", _TinyFour)
    yield "tiny_four"
    unregister_game("tiny_four")


def test_entry_point_games_available() -> None:
    """The built-in games are listed, sorted."""
    names = available_games()
    assert {"chess", "connect4"} <= set(names)
    assert names == sorted(names)


def test_get_game_loads_and_caches() -> None:
    """get_game returns an instance of the registered class, the same one every time."""
    chess_game = get_game("chess")
    assert isinstance(chess_game, ChessGame)
    assert get_game("chess") is chess_game
    assert isinstance(get_game("connect4"), ConnectFour)


def test_unknown_game_lists_valid_names() -> None:
    """An unknown name raises UnknownGameError naming it and the valid games."""
    with pytest.raises(UnknownGameError) as info:
        get_game("checkers")
    message = str(info.value)
    assert "'checkers'" in message
    assert "chess" in message
    assert "connect4" in message
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, GameError)
    assert info.value.available == tuple(available_games())


def test_register_game(tiny: str) -> None:
    """A registered factory is listed and built on demand."""
    assert tiny in available_games()
    assert isinstance(get_game(tiny), _TinyFour)


def test_unregister_game(tiny: str) -> None:
    """An unregistered game is gone again."""
    unregister_game(tiny)
    assert tiny not in available_games()
    with pytest.raises(UnknownGameError):
        get_game(tiny)


def test_register_rejects_non_games() -> None:
    """A factory that does not build a Game is refused when loaded."""
    register_game("not_a_game", object)  # type: ignore[arg-type]
    try:
        with pytest.raises(TypeError, match="not a Game"):
            get_game("not_a_game")
    finally:
        unregister_game("not_a_game")


def test_replay() -> None:
    """replay applies moves from the start, or from a given state."""
    game = get_game("connect4")
    state = replay(game, ["4", "4"])
    assert game.encode_state(state) == "......./......./......./......./...y.../...r... r"
    assert game.encode_state(replay(game, ["1"], state)) == (
        "......./......./......./......./...y.../r..r... y"
    )
