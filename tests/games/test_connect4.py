"""Connect Four rules: wins, draws, illegal moves, encoding and rendering."""

from __future__ import annotations

import pytest

from games import IllegalMoveError, InvalidStateError, Outcome, replay
from games.connect4 import ConnectFour

GAME = ConnectFour()
START = GAME.initial_state()
FULL_BOARD_DRAW = "257771314744647214154617633623313656555222"


@pytest.mark.parametrize(
    ("moves", "winner"),
    [
        ("1212121", 0),
        ("1122334", 0),
        ("53517214", 1),
        ("13434442352", 0),
        ("231263121134", 1),
    ],
    ids=["vertical", "horizontal", "horizontal-yellow", "rising-diagonal", "falling-diagonal"],
)
def test_four_in_a_row_wins(moves: str, winner: int) -> None:
    """Four in a row in any direction wins for the seat that made it, on that move."""
    assert GAME.outcome(replay(GAME, moves[:-1])) is None
    assert GAME.outcome(replay(GAME, moves)) == Outcome(winner, "four_in_a_row")


def test_full_board_draw() -> None:
    """A full board without four in a row is a draw."""
    assert len(FULL_BOARD_DRAW) == 42
    state = replay(GAME, FULL_BOARD_DRAW)
    assert GAME.outcome(state) == Outcome(None, "board_full")
    assert GAME.legal_moves(state) == []


def test_full_column_rejected() -> None:
    """A move into a full column is illegal and the error lists the other columns."""
    assert "1" in GAME.legal_moves(replay(GAME, "11111"))
    state = replay(GAME, "111111")
    with pytest.raises(IllegalMoveError, match="column 1 is full") as info:
        GAME.apply(state, "1")
    assert info.value.legal == ("2", "3", "4", "5", "6", "7")
    assert "'1'" in str(info.value)


@pytest.mark.parametrize(
    ("move", "detail"),
    [("x", "column number"), ("", "column number"), ("8", "not between"), ("0", "not between")],
)
def test_bad_columns_rejected(move: str, detail: str) -> None:
    """Non-numbers and out-of-range columns are illegal."""
    with pytest.raises(IllegalMoveError, match=detail):
        GAME.apply(START, move)


def test_move_normalised() -> None:
    """Spaces and leading zeros are dropped from a column number."""
    assert GAME.normalize_move(START, " 4 ") == "4"
    assert GAME.normalize_move(START, "04") == "4"
    assert GAME.display_move(START, "4") == "4"


def test_no_move_after_win() -> None:
    """Once someone has four in a row, every move is illegal."""
    state = replay(GAME, "1212121")
    assert GAME.legal_moves(state) == []
    with pytest.raises(IllegalMoveError, match="red has four in a row"):
        GAME.apply(state, "3")


def test_encode_exact() -> None:
    """The encoding is rows top to bottom, then the side to move."""
    assert GAME.encode_state(GAME.apply(START, "4")) == (
        "......./......./......./......./......./...r... y"
    )
    assert GAME.encode_state(replay(GAME, "441")) == (
        "......./......./......./......./...y.../r..r... y"
    )
    assert GAME.encode_state(START) == "......./......./......./......./......./....... r"


def test_decode_roundtrip() -> None:
    """decode is the inverse of encode."""
    state = replay(GAME, "4455361")
    assert GAME.decode_state(GAME.encode_state(state)) == state


@pytest.mark.parametrize(
    ("encoded", "why"),
    [
        ("......./......./......./...r.../......./......y r", "floating disc in column 4"),
        ("......./......./......./......./......./...r... r", "it is yellow's turn"),
        ("......./......./......./......./......./rr..... y", "2 red and 0 yellow"),
        ("......./......./......./......./...r... y", "expected 6 rows"),
        ("......./......./......./......./......./...x... y", "contains 'x'"),
        ("......./......./......./......./......./...r.. y", "has 6 cells"),
        ("......./......./......./......./......./...r...", "expected 6 rows joined"),
        ("......./......./......./......./......./...r... b", "side to move"),
        ("......./......./r....../r....../r....../ryyy..y r", "red has four in a row but"),
    ],
)
def test_decode_rejects_bad_states(encoded: str, why: str) -> None:
    """Malformed or impossible encodings raise InvalidStateError saying why."""
    with pytest.raises(InvalidStateError, match=why) as info:
        GAME.decode_state(encoded)
    assert repr(encoded) in str(info.value)


def test_render_text() -> None:
    """The text render shows the grid, the column numbers and whose turn it is."""
    text = GAME.render_text(replay(GAME, "4"))
    assert text.splitlines()[0] == "Connect Four: yellow to move."
    assert "| . . . r . . . |" in text
    assert "  1 2 3 4 5 6 7" in text


def test_render_svg() -> None:
    """The SVG render has a title, both colours and the last disc outlined."""
    state = replay(GAME, "45")
    svg = GAME.render_svg(state, "5")
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert "<title>Connect Four: red to move</title>" in svg
    assert "#d62828" in svg
    assert "#f6c90e" in svg
    assert svg.count("stroke-width") == 1
    assert "stroke-width" not in GAME.render_svg(state)
