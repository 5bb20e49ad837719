"""Connect Four: 7 columns by 6 rows, red moves first.

A move is a column number, ``"1"`` (left) to ``"7"`` (right); the disc drops
to the lowest free cell. Four discs of one colour in a line (horizontal,
vertical or diagonal) win; a full board without one is a draw.

A state is encoded as its six rows from top to bottom, joined by ``/``, each
row seven characters of ``.`` (empty), ``r`` (red) and ``y`` (yellow),
followed by a space and the side to move, e.g.
``"......./......./......./......./......./...r... y"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from games.base import GameInfo, IllegalMoveError, InvalidStateError, Outcome, TerminalExample

__all__ = ["COLUMNS", "ROWS", "ConnectFour", "ConnectFourState"]

COLUMNS = 7
"""Number of columns."""
ROWS = 6
"""Number of rows (the height of a column)."""

_SEATS = ("red", "yellow")
_SYMBOLS = ("r", "y")
_DIRECTIONS = ((1, 0), (0, 1), (1, 1), (1, -1))
_SVG_CELL = 60
_SVG_COLOURS = ("#d62828", "#f6c90e")


@dataclass(frozen=True, slots=True)
class ConnectFourState:
    """An immutable Connect Four position."""

    columns: tuple[tuple[int, ...], ...]
    """For each column, left to right, the seats of its discs from bottom to top."""
    to_move: int
    """The seat whose turn it is: 0 (red) or 1 (yellow)."""

    def cell(self, column: int, row: int) -> int | None:
        """The seat of the disc at ``column`` (0-6) and ``row`` (0 = bottom), if any."""
        discs = self.columns[column]
        return discs[row] if row < len(discs) else None


def _winners(state: ConnectFourState) -> set[int]:
    """The seats that have four in a row somewhere on the board."""
    found: set[int] = set()
    for column in range(COLUMNS):
        for row, seat in enumerate(state.columns[column]):
            for dc, dr in _DIRECTIONS:
                end_c, end_r = column + 3 * dc, row + 3 * dr
                if not (0 <= end_c < COLUMNS and 0 <= end_r < ROWS):
                    continue
                if all(state.cell(column + i * dc, row + i * dr) == seat for i in range(1, 4)):
                    found.add(seat)
    return found


def _outcome(state: ConnectFourState) -> Outcome | None:
    winners = _winners(state)
    if winners:
        return Outcome(min(winners), "four_in_a_row")
    if all(len(discs) == ROWS for discs in state.columns):
        return Outcome(None, "board_full")
    return None


def _legal(state: ConnectFourState) -> list[str]:
    if _outcome(state) is not None:
        return []
    return [str(c + 1) for c in range(COLUMNS) if len(state.columns[c]) < ROWS]


def _over_detail(outcome: Outcome) -> str:
    if outcome.winner is None:
        return "the game is over: the board is full"
    return f"the game is over: {_SEATS[outcome.winner]} has four in a row"


class ConnectFour:
    """Connect Four on the standard 7 x 6 board."""

    info: GameInfo = GameInfo(
        name="connect4",
        title="Connect Four",
        seats=_SEATS,
        move_notation="a column number from 1 (left) to 7 (right)",
        max_plies_hint=COLUMNS * ROWS,
        move_pattern=r"[1-7]",
    )

    def initial_state(self) -> ConnectFourState:
        """The empty board, red to move."""
        return ConnectFourState(columns=((),) * COLUMNS, to_move=0)

    def encode_state(self, state: ConnectFourState) -> str:
        """Rows top to bottom joined by ``/``, then a space and ``r`` or ``y``."""
        rows = []
        for row in range(ROWS - 1, -1, -1):
            cells = (state.cell(column, row) for column in range(COLUMNS))
            rows.append("".join("." if seat is None else _SYMBOLS[seat] for seat in cells))
        return f"{'/'.join(rows)} {_SYMBOLS[state.to_move]}"

    def decode_state(self, encoded: str) -> ConnectFourState:
        """Inverse of :meth:`encode_state`; checks shape, gravity and disc counts."""
        return _decode(encoded)

    def to_move(self, state: ConnectFourState) -> int:
        """0 when red is to move, 1 when yellow is."""
        return state.to_move

    def legal_moves(self, state: ConnectFourState) -> list[str]:
        """The columns that are not full, left to right; empty when the game is over."""
        return _legal(state)

    def normalize_move(self, state: ConnectFourState, move: str) -> str:
        """The column number without surrounding spaces or leading zeros."""
        outcome = _outcome(state)
        if outcome is not None:
            raise IllegalMoveError(move, [], _over_detail(outcome))
        legal = _legal(state)
        text = move.strip()
        if not (text.isascii() and text.isdigit()):
            raise IllegalMoveError(move, legal, "a move is a column number from 1 to 7")
        column = int(text)
        if not 1 <= column <= COLUMNS:
            raise IllegalMoveError(move, legal, f"column {column} is not between 1 and 7")
        if len(state.columns[column - 1]) >= ROWS:
            raise IllegalMoveError(move, legal, f"column {column} is full")
        return str(column)

    def apply(self, state: ConnectFourState, move: str) -> ConnectFourState:
        """The state after dropping a disc in column ``move``."""
        index = int(self.normalize_move(state, move)) - 1
        columns = list(state.columns)
        columns[index] = (*columns[index], state.to_move)
        return ConnectFourState(columns=tuple(columns), to_move=1 - state.to_move)

    def outcome(self, state: ConnectFourState) -> Outcome | None:
        """``four_in_a_row`` for the seat that made it, ``board_full`` draw, else ``None``."""
        return _outcome(state)

    def display_move(self, state: ConnectFourState, move: str) -> str:
        """The column number, e.g. ``"4"``."""
        return self.normalize_move(state, move)

    def render_text(self, state: ConnectFourState) -> str:
        """An ASCII grid with the column numbers underneath, and whose turn it is."""
        outcome = _outcome(state)
        if outcome is None:
            lines = [f"Connect Four: {_SEATS[state.to_move]} to move."]
        elif outcome.winner is None:
            lines = ["Connect Four: game over, the board is full (draw)."]
        else:
            lines = [f"Connect Four: game over, {_SEATS[outcome.winner]} has four in a row."]
        for row in range(ROWS - 1, -1, -1):
            cells = (state.cell(column, row) for column in range(COLUMNS))
            lines.append("| " + " ".join("." if s is None else _SYMBOLS[s] for s in cells) + " |")
        lines.append("  " + " ".join(str(c + 1) for c in range(COLUMNS)))
        lines.append("r = red, y = yellow, . = empty. A move is a column number 1-7.")
        return "\n".join(lines)

    def render_svg(self, state: ConnectFourState, last_move: str | None = None) -> str:
        """A blue board with red and yellow discs; the disc of ``last_move`` is outlined."""
        return _svg(state, last_move)

    def terminal_examples(self) -> Sequence[TerminalExample]:
        """Wins in every direction, for both seats, and a full-board draw."""
        return _TERMINAL_EXAMPLES


def _decode(encoded: str) -> ConnectFourState:
    def bad(why: str) -> InvalidStateError:
        return InvalidStateError(f"invalid Connect Four state {encoded!r}: {why}")

    parts = encoded.strip().split(" ")
    if len(parts) != 2:
        raise bad("expected 6 rows joined by '/', a space, and the side to move 'r' or 'y'")
    board, side = parts
    if side not in _SYMBOLS:
        raise bad(f"side to move must be 'r' or 'y', not {side!r}")
    rows = board.split("/")
    if len(rows) != ROWS:
        raise bad(f"expected {ROWS} rows, got {len(rows)}")
    columns: list[list[int]] = [[] for _ in range(COLUMNS)]
    for number, text in enumerate(reversed(rows)):
        label = f"row {ROWS - number} from the top"
        if len(text) != COLUMNS:
            raise bad(f"{label} has {len(text)} cells, expected {COLUMNS}")
        for column, char in enumerate(text):
            if char == ".":
                continue
            if char not in _SYMBOLS:
                raise bad(f"{label} contains {char!r}; cells are '.', 'r' or 'y'")
            if len(columns[column]) != number:
                raise bad(f"floating disc in column {column + 1} ({label}) with a gap below it")
            columns[column].append(_SYMBOLS.index(char))
    red = sum(discs.count(0) for discs in columns)
    yellow = sum(discs.count(1) for discs in columns)
    to_move = _SYMBOLS.index(side)
    expected = 0 if red == yellow else 1 if red == yellow + 1 else None
    if expected is None:
        raise bad(f"{red} red and {yellow} yellow discs: red moves first, so impossible")
    if expected != to_move:
        raise bad(f"with {red} red and {yellow} yellow discs it is {_SEATS[expected]}'s turn")
    state = ConnectFourState(columns=tuple(tuple(c) for c in columns), to_move=to_move)
    winners = _winners(state)
    if len(winners) > 1:
        raise bad("both sides have four in a row")
    if winners and winners != {1 - to_move}:
        raise bad(f"{_SEATS[to_move]} has four in a row but is the side to move")
    return state


def _svg(state: ConnectFourState, last_move: str | None) -> str:
    cell = _SVG_CELL
    width, board_height = COLUMNS * cell, ROWS * cell
    height = board_height + 28
    outlined: tuple[int, int] | None = None
    if last_move is not None and last_move.strip().isdigit():
        column = int(last_move.strip()) - 1
        if 0 <= column < COLUMNS and state.columns[column]:
            outlined = (column, len(state.columns[column]) - 1)
    outcome = _outcome(state)
    if outcome is None:
        title = f"Connect Four: {_SEATS[state.to_move]} to move"
    elif outcome.winner is None:
        title = "Connect Four: draw, board full"
    else:
        title = f"Connect Four: {_SEATS[outcome.winner]} wins"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f"<title>{title}</title>",
        f'<rect x="0" y="0" width="{width}" height="{board_height}" rx="12" fill="#1f4fbf"/>',
    ]
    for column in range(COLUMNS):
        for row in range(ROWS):
            seat = state.cell(column, row)
            fill = "#ffffff" if seat is None else _SVG_COLOURS[seat]
            cx, cy = column * cell + cell // 2, (ROWS - 1 - row) * cell + cell // 2
            stroke = ' stroke="#111111" stroke-width="4"' if outlined == (column, row) else ""
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="{cell * 2 // 5}" fill="{fill}"{stroke}/>')
        parts.append(
            f'<text x="{column * cell + cell // 2}" y="{board_height + 20}" text-anchor="middle" '
            f'font-family="sans-serif" font-size="16">{column + 1}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _example(name: str, moves: str, winner: int | None, reason: str) -> TerminalExample:
    return TerminalExample(moves=tuple(moves), outcome=Outcome(winner, reason), name=name)


_TERMINAL_EXAMPLES: tuple[TerminalExample, ...] = (
    _example("vertical, red", "1212121", 0, "four_in_a_row"),
    _example("horizontal, red", "1122334", 0, "four_in_a_row"),
    _example("horizontal, yellow", "53517214", 1, "four_in_a_row"),
    _example("rising diagonal, red", "13434442352", 0, "four_in_a_row"),
    _example("falling diagonal, yellow", "231263121134", 1, "four_in_a_row"),
    _example("full board", "257771314744647214154617633623313656555222", None, "board_full"),
)
