"""Othello (Reversi) on the standard 8 x 8 board, black moves first.

A plug-in game: it is registered only through the ``arena.games`` entry point
in ``pyproject.toml`` and uses nothing of the arena but :mod:`games.base`
(see ``docs/adding-a-game.md``).

Squares are written column then row, ``a1`` (top left) to ``h8`` (bottom
right), as in Othello literature; the start position has white on d4 and e5,
black on d5 and e4. A move places a disc that flanks at least one line of the
opponent's discs, which are flipped. A side with no such move but whose
opponent has one must play ``"pass"`` (the only legal move then); the game
ends when neither side can place a disc, and the side with more discs wins.

A state is encoded as its eight rows from row 1 to row 8, joined by ``/``,
each eight characters of ``.`` (empty), ``b`` (black) and ``w`` (white),
followed by a space and the side to move (``b`` or ``w``), e.g. the start:
``"......../......../......../...wb.../...bw.../......../......../........ b"``.

The rules run on bitboards (one int per colour, bit ``8 * row + column``),
which keeps random playouts and perft fast in pure Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from games.base import GameInfo, IllegalMoveError, InvalidStateError, Outcome, TerminalExample

__all__ = ["PASS", "Othello", "OthelloState", "square_name"]

PASS = "pass"
"""The move of a side that cannot place a disc while its opponent can."""

SIZE = 8
_FULL = (1 << 64) - 1
_NOT_A = 0xFEFEFEFEFEFEFEFE  # every square but column a
_NOT_H = 0x7F7F7F7F7F7F7F7F  # every square but column h
# (shift, mask applied after shifting): a step east must not wrap into column a, etc.
_DIRECTIONS = (
    (1, _NOT_A),  # east
    (-1, _NOT_H),  # west
    (8, _FULL),  # south (towards row 8)
    (-8, _FULL),  # north
    (9, _NOT_A),  # south-east
    (7, _NOT_H),  # south-west
    (-7, _NOT_A),  # north-east
    (-9, _NOT_H),  # north-west
)
_SEATS = ("black", "white")
_SYMBOLS = ("b", "w")
_CENTRE = (1 << 27) | (1 << 28) | (1 << 35) | (1 << 36)  # d4 e4 d5 e5
_COLUMNS = "abcdefgh"


def square_name(index: int) -> str:
    """``0`` -> ``"a1"``, ``63`` -> ``"h8"``."""
    return f"{_COLUMNS[index % SIZE]}{index // SIZE + 1}"


def _square_index(name: str) -> int | None:
    if len(name) != 2 or name[0] not in _COLUMNS or name[1] not in "12345678":
        return None
    return (int(name[1]) - 1) * SIZE + _COLUMNS.index(name[0])


def _shift(bits: int, shift: int, mask: int) -> int:
    moved = (bits << shift) & _FULL if shift > 0 else bits >> -shift
    return moved & mask


def _placements(own: int, other: int) -> int:
    """The squares where the owner of ``own`` may place a disc, as a bitboard."""
    empty = ~(own | other) & _FULL
    moves = 0
    for shift, mask in _DIRECTIONS:
        line = _shift(own, shift, mask) & other
        for _ in range(5):  # a line of opponent discs is at most 6 long
            line |= _shift(line, shift, mask) & other
        moves |= _shift(line, shift, mask) & empty
    return moves


def _flips(own: int, other: int, square: int) -> int:
    """The opponent discs flipped by placing a disc on ``square`` (a bit)."""
    flipped = 0
    for shift, mask in _DIRECTIONS:
        line = 0
        step = _shift(square, shift, mask)
        while step & other:
            line |= step
            step = _shift(step, shift, mask)
        if step & own:
            flipped |= line
    return flipped


def _bits(board: int) -> list[int]:
    """Indices of the set bits, in increasing order."""
    found = []
    while board:
        low = board & -board
        found.append(low.bit_length() - 1)
        board ^= low
    return found


@dataclass(frozen=True, slots=True)
class OthelloState:
    """An immutable Othello position: a bitboard per colour and the side to move."""

    discs: tuple[int, int]
    """Bitboards of black's and white's discs (bit ``8 * row + column``, row 0 is row 1)."""
    to_move: int
    """The seat whose turn it is: 0 (black) or 1 (white)."""

    def cell(self, index: int) -> int | None:
        """The seat of the disc on square ``index`` (0 = a1 ... 63 = h8), if any."""
        bit = 1 << index
        if self.discs[0] & bit:
            return 0
        if self.discs[1] & bit:
            return 1
        return None

    def count(self, seat: int) -> int:
        """How many discs ``seat`` has on the board."""
        return self.discs[seat].bit_count()

    def placements(self, seat: int) -> int:
        """The squares where ``seat`` could place a disc now, as a bitboard."""
        return _placements(self.discs[seat], self.discs[1 - seat])


def _outcome(state: OthelloState) -> Outcome | None:
    if state.placements(state.to_move) or state.placements(1 - state.to_move):
        return None
    black, white = state.count(0), state.count(1)
    if black == white:
        return Outcome(None, "equal_discs")
    return Outcome(0 if black > white else 1, "more_discs")


def _legal(state: OthelloState) -> list[str]:
    mine = state.placements(state.to_move)
    if mine:
        return [square_name(i) for i in _bits(mine)]
    if state.placements(1 - state.to_move):
        return [PASS]
    return []


def _score_line(state: OthelloState) -> str:
    return f"black {state.count(0)}, white {state.count(1)}"


class Othello:
    """Othello on the standard 8 x 8 board."""

    info: GameInfo = GameInfo(
        name="othello",
        title="Othello",
        seats=_SEATS,
        move_notation=(
            "a square, column a-h then row 1-8 (row 1 at the top), e.g. d3; "
            "'pass' when no disc can be placed"
        ),
        max_plies_hint=70,
        move_pattern=r"[a-h][1-8]|pass",
    )

    def initial_state(self) -> OthelloState:
        """White on d4 and e5, black on d5 and e4, black to move."""
        black = (1 << 28) | (1 << 35)  # e4, d5
        white = (1 << 27) | (1 << 36)  # d4, e5
        return OthelloState(discs=(black, white), to_move=0)

    def encode_state(self, state: OthelloState) -> str:
        """Rows 1 to 8 joined by ``/``, then a space and ``b`` or ``w``."""
        rows = []
        for row in range(SIZE):
            cells = (state.cell(row * SIZE + column) for column in range(SIZE))
            rows.append("".join("." if seat is None else _SYMBOLS[seat] for seat in cells))
        return f"{'/'.join(rows)} {_SYMBOLS[state.to_move]}"

    def decode_state(self, encoded: str) -> OthelloState:
        """Inverse of :meth:`encode_state`; checks the shape and the four centre squares."""
        return _decode(encoded)

    def to_move(self, state: OthelloState) -> int:
        """0 when black is to move, 1 when white is."""
        return state.to_move

    def legal_moves(self, state: OthelloState) -> list[str]:
        """Squares in board order (a1, b1, ..., h8); ``["pass"]`` when only passing is
        legal; empty when the game is over."""
        return _legal(state)

    def normalize_move(self, state: OthelloState, move: str) -> str:
        """The lowercase square (``"D3"`` -> ``"d3"``) or ``"pass"``."""
        legal = _legal(state)
        if not legal:
            outcome = _outcome(state)
            detail = f"the game is over ({outcome.reason})" if outcome else "the game is over"
            raise IllegalMoveError(move, [], detail)
        text = move.strip().lower()
        if text == PASS:
            if legal != [PASS]:
                raise IllegalMoveError(move, legal, f"{_SEATS[state.to_move]} can place a disc")
            return PASS
        index = _square_index(text)
        if index is None:
            raise IllegalMoveError(
                move, legal, "a move is a square such as 'd3' (column a-h, row 1-8) or 'pass'"
            )
        if text not in legal:
            why = (
                "the square is taken"
                if state.cell(index) is not None
                else "it flips no disc"
                if legal != [PASS]
                else f"{_SEATS[state.to_move]} has no move and must pass"
            )
            raise IllegalMoveError(move, legal, why)
        return text

    def apply(self, state: OthelloState, move: str) -> OthelloState:
        """The state after ``move``: the disc placed and the flanked lines flipped."""
        canonical = self.normalize_move(state, move)
        if canonical == PASS:
            return OthelloState(discs=state.discs, to_move=1 - state.to_move)
        index = _square_index(canonical)
        assert index is not None
        seat = state.to_move
        own, other = state.discs[seat], state.discs[1 - seat]
        bit = 1 << index
        flipped = _flips(own, other, bit)
        own, other = own | bit | flipped, other & ~flipped
        discs = (own, other) if seat == 0 else (other, own)
        return OthelloState(discs=discs, to_move=1 - seat)

    def outcome(self, state: OthelloState) -> Outcome | None:
        """Over when neither side can place a disc: ``more_discs`` wins, else ``equal_discs``."""
        return _outcome(state)

    def display_move(self, state: OthelloState, move: str) -> str:
        """The canonical move, e.g. ``"d3"`` or ``"pass"``."""
        return self.normalize_move(state, move)

    def render_text(self, state: OthelloState) -> str:
        """An ASCII board with coordinates, the disc count and the legal moves."""
        outcome = _outcome(state)
        if outcome is None:
            head = f"Othello: {_SEATS[state.to_move]} to move ({_score_line(state)})."
        elif outcome.winner is None:
            head = f"Othello: game over, a draw ({_score_line(state)})."
        else:
            head = f"Othello: game over, {_SEATS[outcome.winner]} wins ({_score_line(state)})."
        columns = "  " + " ".join(_COLUMNS)
        lines = [head, columns]
        for row in range(SIZE):
            cells = (state.cell(row * SIZE + column) for column in range(SIZE))
            shown = " ".join("." if s is None else _SYMBOLS[s].upper() for s in cells)
            lines.append(f"{row + 1} {shown} {row + 1}")
        lines.append(columns)
        lines.append("B = black, W = white, . = empty.")
        if outcome is None:
            lines.append(f"Legal moves: {' '.join(_legal(state))}")
        return "\n".join(lines)

    def render_svg(self, state: OthelloState, last_move: str | None = None) -> str:
        """A green board with discs; ``last_move`` is marked and legal moves are dotted."""
        return _svg(state, last_move)

    def terminal_examples(self) -> Sequence[TerminalExample]:
        """A shortest game (a wipe-out in 9 plies), wins for either side after passes,
        and a draw."""
        return _TERMINAL_EXAMPLES


def _decode(encoded: str) -> OthelloState:
    def bad(why: str) -> InvalidStateError:
        return InvalidStateError(f"invalid Othello state {encoded!r}: {why}")

    parts = encoded.strip().split(" ")
    if len(parts) != 2:
        raise bad("expected 8 rows joined by '/', a space, and the side to move 'b' or 'w'")
    board, side = parts
    if side not in _SYMBOLS:
        raise bad(f"side to move must be 'b' or 'w', not {side!r}")
    rows = board.split("/")
    if len(rows) != SIZE:
        raise bad(f"expected {SIZE} rows, got {len(rows)}")
    discs = [0, 0]
    for row, text in enumerate(rows):
        if len(text) != SIZE:
            raise bad(f"row {row + 1} has {len(text)} cells, expected {SIZE}")
        for column, char in enumerate(text):
            if char == ".":
                continue
            if char not in _SYMBOLS:
                raise bad(f"row {row + 1} contains {char!r}; cells are '.', 'b' or 'w'")
            discs[_SYMBOLS.index(char)] |= 1 << (row * SIZE + column)
    if (discs[0] | discs[1]) & _CENTRE != _CENTRE:
        raise bad("the four centre squares d4, e4, d5, e5 are never empty")
    return OthelloState(discs=(discs[0], discs[1]), to_move=_SYMBOLS.index(side))


_SVG_CELL = 44
_SVG_MARGIN = 22


def _svg(state: OthelloState, last_move: str | None) -> str:
    cell, margin = _SVG_CELL, _SVG_MARGIN
    side = SIZE * cell + 2 * margin
    outcome = _outcome(state)
    if outcome is None:
        title = f"Othello: {_SEATS[state.to_move]} to move, {_score_line(state)}"
    elif outcome.winner is None:
        title = f"Othello: draw, {_score_line(state)}"
    else:
        title = f"Othello: {_SEATS[outcome.winner]} wins, {_score_line(state)}"
    marked = _square_index(last_move.strip().lower()) if last_move else None
    legal = state.placements(state.to_move) if outcome is None else 0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
        f'viewBox="0 0 {side} {side}" role="img">',
        f"<title>{title}</title>",
        f'<rect x="0" y="0" width="{side}" height="{side}" fill="#2b2b2b"/>',
        f'<rect x="{margin}" y="{margin}" width="{SIZE * cell}" height="{SIZE * cell}" '
        'fill="#1b7a3a"/>',
    ]
    for i in range(SIZE + 1):
        at = margin + i * cell
        parts.append(
            f'<line x1="{margin}" y1="{at}" x2="{side - margin}" y2="{at}" stroke="#0d3d1d"/>'
        )
        parts.append(
            f'<line x1="{at}" y1="{margin}" x2="{at}" y2="{side - margin}" stroke="#0d3d1d"/>'
        )
    label = 'font-family="sans-serif" font-size="13" fill="#dddddd" text-anchor="middle"'
    for i in range(SIZE):
        centre = margin + i * cell + cell // 2
        parts.append(f'<text x="{centre}" y="{margin - 7}" {label}>{_COLUMNS[i]}</text>')
        parts.append(f'<text x="{margin // 2}" y="{centre + 5}" {label}>{i + 1}</text>')
    for index in range(SIZE * SIZE):
        cx = margin + (index % SIZE) * cell + cell // 2
        cy = margin + (index // SIZE) * cell + cell // 2
        seat = state.cell(index)
        if seat is not None:
            fill, stroke = ("#111111", "#000000") if seat == 0 else ("#f4f4f4", "#999999")
            parts.append(
                f'<circle cx="{cx}" cy="{cy}" r="{cell * 2 // 5}" fill="{fill}" stroke="{stroke}"/>'
            )
        elif legal >> index & 1:
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="4" fill="#0d3d1d"/>')
        if index == marked:
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="6" fill="#e63946"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def _example(name: str, moves: str, winner: int | None, reason: str) -> TerminalExample:
    return TerminalExample(moves=tuple(moves.split()), outcome=Outcome(winner, reason), name=name)


_TERMINAL_EXAMPLES: tuple[TerminalExample, ...] = (
    # No game ends sooner than 9 plies; black wipes white out.
    _example("shortest game, black wipe-out", "d3 c3 b3 d2 e1 d6 d7 e3 f4", 0, "more_discs"),
    _example("white wipe-out", "e6 f4 d3 e7 f6 g5 e3 e2 f3 c4 f5 f2", 1, "more_discs"),
    _example(
        "white wins after two black passes, 3 squares empty",
        "c4 e3 f3 g3 f2 c5 g2 e1 e2 h1 g4 g5 f4 d3 h5 c3 h4 g1 h2 h3 e6 e7 d2 c1 b4 a5 h6 d1 "
        "c6 g6 d6 f1 a4 h7 c2 f5 e8 b1 a6 b6 c7 b3 b2 d7 b5 f8 g8 c8 b8 b7 d8 f6 a3 a7 a8 "
        "pass a2 pass f7",
        1,
        "more_discs",
    ),
    _example(
        "draw, 32 discs each, after a white pass",
        "e6 f6 d3 e3 f3 c3 c4 c5 b6 d6 b2 c6 g6 a1 b3 e7 d8 a6 b1 c2 a7 e2 f2 a4 e1 g7 a3 b5 "
        "c1 g2 g8 h6 f4 h8 b4 g3 h3 d7 g4 f8 a5 h2 h1 d2 g5 e8 c7 c8 h4 f1 f7 g1 d1 a2 h5 a8 "
        "f5 b7 h7 pass b8",
        None,
        "equal_discs",
    ),
)
