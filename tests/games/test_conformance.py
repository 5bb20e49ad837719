"""The shared conformance suite, run on every registered game, and on broken games."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from games import Game, Outcome, TerminalExample, available_games, get_game
from games.conformance import (
    check_illegal_rejected,
    check_info,
    check_random_playouts,
    check_render,
    check_roundtrip,
    check_terminal_examples,
    perft,
    run_all,
)
from games.connect4 import ConnectFour, ConnectFourState

GAMES = available_games()


@pytest.fixture(params=GAMES)
def game(request: pytest.FixtureRequest) -> Game[Any]:
    """Each registered game in turn."""
    name: str = request.param
    return get_game(name)


def test_builtin_games_are_registered() -> None:
    """Chess and Connect Four are found through the entry points."""
    assert {"chess", "connect4"} <= set(GAMES)


def test_info(game: Game[Any]) -> None:
    """Every game describes itself completely."""
    check_info(game)


def test_random_playouts(game: Game[Any]) -> None:
    """Random games reach an outcome and keep the rules' invariants at every ply."""
    check_random_playouts(game, n=20, seed=1)


def test_roundtrip(game: Game[Any]) -> None:
    """Encoding then decoding a state gives back the same encoding and legal moves."""
    check_roundtrip(game, n=5, seed=2)


def test_illegal_rejected(game: Game[Any]) -> None:
    """Garbage moves and moves after the end raise IllegalMoveError with a useful message."""
    check_illegal_rejected(game, n=3, seed=3)


def test_terminal_examples(game: Game[Any]) -> None:
    """Every terminal example ends exactly on its last move with its outcome."""
    check_terminal_examples(game)


def test_render(game: Game[Any]) -> None:
    """Text and SVG renders are well formed along random playouts."""
    check_render(game, n=2, seed=4)


def test_run_all_small(game: Game[Any]) -> None:
    """run_all passes with a small number of playouts."""
    run_all(game, n=2, seed=5)


def test_perft_connect4() -> None:
    """perft counts move sequences through the adapter: 7, 49, 343 on the empty board."""
    c4 = ConnectFour()
    start = c4.initial_state()
    assert [perft(c4, start, depth) for depth in range(4)] == [1, 7, 49, 343]


class _LenientConnectFour(ConnectFour):
    """A broken game that reads any unknown move as column 1."""

    def normalize_move(self, state: ConnectFourState, move: str) -> str:
        try:
            return super().normalize_move(state, move)
        except ValueError:
            return "1"


class _WrongExamples(ConnectFour):
    """A broken game whose terminal example claims the wrong winner."""

    def terminal_examples(self) -> Sequence[TerminalExample]:
        return (TerminalExample(tuple("1212121"), Outcome(1, "four_in_a_row"), "wrong"),)


class _EarlyExample(ConnectFour):
    """A broken game whose terminal example goes on after the game ended."""

    def terminal_examples(self) -> Sequence[TerminalExample]:
        return (TerminalExample(tuple("12121212"), Outcome(0, "four_in_a_row"), "too long"),)


def test_suite_catches_lenient_moves() -> None:
    """check_illegal_rejected fails a game that accepts garbage."""
    with pytest.raises(AssertionError, match="was accepted"):
        check_illegal_rejected(_LenientConnectFour(), n=1)


def test_suite_catches_wrong_outcome() -> None:
    """check_terminal_examples fails an example whose outcome differs."""
    with pytest.raises(AssertionError, match="expected Outcome"):
        check_terminal_examples(_WrongExamples())


def test_suite_catches_early_end() -> None:
    """check_terminal_examples fails an example that ends before its last move."""
    with pytest.raises(AssertionError, match="already over"):
        check_terminal_examples(_EarlyExample())
