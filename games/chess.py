"""Chess, on top of python-chess.

Moves are canonical in UCI long algebraic notation (``e2e4``, ``e7e8q``,
castling as ``e1g1``); :meth:`ChessGame.normalize_move` also accepts SAN
(``Nf3``, ``O-O``) and castling written as king-takes-rook (``e1h1``).

The arbiter applies the draw rules automatically: besides checkmate,
stalemate and insufficient material, a game ends at the fifty-move rule
(halfmove clock 100) and at the first threefold repetition; nobody has to
claim them. The seventy-five-move and fivefold rules are reported under their
own names if a decoded position ever reaches them first.

States wrap a :class:`chess.Board` that is never mutated after the state is
built. Its move stack keeps the repetition history: every move since the last
pawn move or capture (earlier positions can never recur). Copying only that
window keeps :meth:`ChessGame.apply` cheap in long games.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import chess
import chess.pgn
import chess.svg

from games.base import GameInfo, IllegalMoveError, InvalidStateError, Outcome, TerminalExample

__all__ = ["ChessGame", "ChessState", "moves_from_pgn", "to_pgn"]

_UCI_RE = re.compile(r"[a-h][1-8][a-h][1-8][qrbn]?", re.IGNORECASE)

_SEATS = ("white", "black")


@dataclass(frozen=True, eq=False, slots=True)
class ChessState:
    """An immutable chess position together with the moves that led to it.

    ``board`` must not be mutated once handed over; the outcome is computed
    once, when the state is built, and the legal moves and the FEN the first
    time they are asked for (a server checks one move per position and
    encodes each position once, so neither is worth computing eagerly). Two
    states are equal when they have the same position (FEN) and the same
    moves since the last pawn move or capture, i.e. when they have the same
    future.
    """

    board: chess.Board
    """The position and its history; treat as read-only."""
    outcome: Outcome | None = field(init=False)
    """The outcome by the rules (including automatic draws), or ``None``."""
    _legal: tuple[str, ...] | None = field(init=False, repr=False, default=None)
    _fen: str | None = field(init=False, repr=False, default=None)
    _parsed: tuple[str, chess.Move] | None = field(init=False, repr=False, default=None)
    """The last move text parsed in this position, and the move it denotes."""
    _san: tuple[str, str] | None = field(init=False, repr=False, default=None)
    """The last move applied to this position (UCI) and its SAN, found while applying it."""

    def __post_init__(self) -> None:
        board = self.board
        has_moves = any(True for _ in board.generate_legal_moves())
        object.__setattr__(self, "outcome", _rules_outcome(board, has_moves=has_moves))

    @property
    def legal(self) -> tuple[str, ...]:
        """Legal moves in UCI, in python-chess's generation order; empty when over."""
        legal = self._legal
        if legal is None:
            if self.outcome is not None:
                legal = ()
            else:
                legal = tuple(move.uci() for move in self.board.generate_legal_moves())
            object.__setattr__(self, "_legal", legal)
        return legal

    def _key(self) -> tuple[str, tuple[str, ...]]:
        stack = self.board.move_stack
        window = stack[max(0, len(stack) - self.board.halfmove_clock) :]
        return self.fen, tuple(move.uci() for move in window)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChessState):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def fen(self) -> str:
        """The FEN of the current position (computed once)."""
        fen = self._fen
        if fen is None:
            fen = _fen(self.board)
            object.__setattr__(self, "_fen", fen)
        return fen


_PIECE_SYMBOLS = tuple(
    (piece_type, color, chess.Piece(piece_type, color).symbol())
    for color in chess.COLORS
    for piece_type in chess.PIECE_TYPES
)
_EMPTY_RUNS = tuple(("1" * n, str(n)) for n in range(8, 1, -1))


def _fen(board: chess.Board) -> str:
    """``board.fen()``, three times faster.

    python-chess asks each of the 64 squares for its piece; this places the
    pieces from their bitboards and counts empty squares with string
    replacement. The en passant square is written only when an en passant
    capture is legal, as ``board.fen()`` does by default.
    """
    cells = ["1"] * 64
    for piece_type, color, symbol in _PIECE_SYMBOLS:
        for square in chess.scan_forward(board.pieces_mask(piece_type, color)):
            cells[square ^ 56] = symbol  # rank 8 first
    placement = "/".join("".join(cells[i : i + 8]) for i in range(0, 64, 8))
    for run, count in _EMPTY_RUNS:
        placement = placement.replace(run, count)
    ep = board.ep_square if board.ep_square is not None and board.has_legal_en_passant() else None
    return " ".join(
        (
            placement,
            "w" if board.turn == chess.WHITE else "b",
            board.castling_xfen(),
            chess.SQUARE_NAMES[ep] if ep is not None else "-",
            str(board.halfmove_clock),
            str(board.fullmove_number),
        )
    )


def _rules_outcome(board: chess.Board, *, has_moves: bool) -> Outcome | None:
    """The outcome of ``board``, in python-chess's order, then the automatic draws.

    ``is_repetition`` pushes and pops moves internally, so this must only run
    while the board is still private to the state being built.
    """
    if not has_moves and board.is_check():
        return Outcome(0 if board.turn == chess.BLACK else 1, "checkmate")
    if board.is_insufficient_material():
        return Outcome(None, "insufficient_material")
    if not has_moves:
        return Outcome(None, "stalemate")
    if board.halfmove_clock >= 150:
        return Outcome(None, "seventyfive_moves")
    threefold = board.is_repetition(3)
    if threefold and board.is_repetition(5):
        return Outcome(None, "fivefold_repetition")
    if board.halfmove_clock >= 100:
        return Outcome(None, "fifty_moves")
    if threefold:
        return Outcome(None, "threefold_repetition")
    return None


def _parse_move(state: ChessState, move: str) -> chess.Move:
    """The legal :class:`chess.Move` that ``move`` (UCI or SAN) denotes in ``state``.

    The host normalises, writes and applies each move: the last parse is kept
    on the state so that it is done once.
    """
    cached = state._parsed
    if cached is not None and cached[0] == move:
        return cached[1]
    parsed = _parse_new_move(state, move)
    object.__setattr__(state, "_parsed", (move, parsed))
    return parsed


def _parse_new_move(state: ChessState, move: str) -> chess.Move:
    if state.outcome is not None:
        raise IllegalMoveError(move, (), f"the game is over: {state.outcome.reason}")
    text = move.strip()
    if not text:
        raise IllegalMoveError(move, state.legal, "empty move")
    board = state.board
    if _UCI_RE.fullmatch(text):
        uci = text.lower()
        try:
            parsed = board.parse_uci(uci)
        except ValueError:
            detail = "not legal in this position"
            if len(uci) == 4 and uci + "q" in state.legal:
                detail = f"a promotion needs a piece letter, e.g. {uci}q"
            raise IllegalMoveError(move, state.legal, detail) from None
    else:
        try:
            # Annotation glyphs ("e4!?") are common in prose; they do not change the move.
            parsed = board.parse_san(text.rstrip("!?") or text)
        except chess.AmbiguousMoveError:
            raise IllegalMoveError(move, state.legal, "ambiguous SAN") from None
        except chess.IllegalMoveError:
            raise IllegalMoveError(move, state.legal, "not legal in this position") from None
        except ValueError:
            raise IllegalMoveError(move, state.legal, "neither UCI nor SAN") from None
    if not parsed:
        raise IllegalMoveError(move, state.legal, "null moves are not allowed")
    # parse_uci and parse_san return legal moves only (castling written
    # king-takes-rook comes back in standard form).
    return parsed


def _board_from_fen(fen: str) -> chess.Board:
    """A validated board for ``fen``; raises :class:`InvalidStateError`."""
    try:
        board = chess.Board(fen.strip())
    except ValueError as exc:
        raise InvalidStateError(f"invalid FEN {fen!r}: {exc}") from None
    status = board.status()
    if status != chess.STATUS_VALID:
        problems = [
            str(flag.name).lower().replace("_", " ")
            for flag in chess.Status
            if flag and flag in status
        ]
        why = ", ".join(problems) or "invalid position"
        raise InvalidStateError(f"invalid FEN {fen!r}: {why}")
    return board


class ChessGame:
    """Standard chess with automatic fifty-move and threefold-repetition draws."""

    info: GameInfo = GameInfo(
        name="chess",
        title="Chess",
        seats=_SEATS,
        move_notation="UCI long algebraic (e2e4, e7e8q); SAN accepted",
        max_plies_hint=600,
        move_pattern=r"[a-h][1-8][a-h][1-8][qrbn]?",
    )

    def initial_state(self) -> ChessState:
        """The standard start position."""
        return ChessState(chess.Board())

    def encode_state(self, state: ChessState) -> str:
        """The FEN of the position (the repetition history is not encoded)."""
        return state.fen

    def position_key(self, state: ChessState) -> str:
        """The first four FEN fields (placement, side, castling, en passant), no counters."""
        return state.fen.rsplit(" ", 2)[0]

    def decode_state(self, encoded: str) -> ChessState:
        """The position of a FEN; raises :class:`InvalidStateError` quoting the reason."""
        return ChessState(_board_from_fen(encoded))

    def to_move(self, state: ChessState) -> int:
        """0 when White is to move, 1 when Black is."""
        return 0 if state.board.turn == chess.WHITE else 1

    def legal_moves(self, state: ChessState) -> list[str]:
        """Legal moves in UCI, in python-chess's (deterministic) order; empty when over."""
        return list(state.legal)

    def normalize_move(self, state: ChessState, move: str) -> str:
        """The UCI spelling of ``move`` (UCI, SAN or king-takes-rook castling)."""
        return _parse_move(state, move).uci()

    def apply(self, state: ChessState, move: str) -> ChessState:
        """The state after ``move``; ``state`` is left unchanged."""
        parsed = _parse_move(state, move)
        # Only the moves since the last pawn move or capture matter for repetitions.
        board = state.board.copy(stack=state.board.halfmove_clock)
        # Writing the SAN while pushing costs little more than pushing, and
        # spares display_move a copy of the board (the host asks for both).
        san = board.san_and_push(parsed)
        object.__setattr__(state, "_san", (parsed.uci(), san))
        return ChessState(board)

    def outcome(self, state: ChessState) -> Outcome | None:
        """Checkmate, stalemate, insufficient material or an automatic draw, else ``None``."""
        return state.outcome

    def display_move(self, state: ChessState, move: str) -> str:
        """The SAN of ``move``, e.g. ``Nf3`` or ``exd8=Q#``."""
        parsed = _parse_move(state, move)
        known = state._san
        if known is not None and known[0] == parsed.uci():
            return known[1]
        # ``Board.san`` pushes and pops internally: work on a private copy.
        return state.board.copy(stack=False).san(parsed)

    def render_text(self, state: ChessState) -> str:
        """Side to move, FEN and an ASCII board with rank and file labels."""
        board = state.board
        side = "White" if board.turn == chess.WHITE else "Black"
        files = "  a b c d e f g h"
        lines = [f"{side} to move (move {board.fullmove_number}).", f"FEN: {board.fen()}", files]
        for rank in range(7, -1, -1):
            cells = []
            for file in range(8):
                piece = board.piece_at(chess.square(file, rank))
                cells.append(piece.symbol() if piece else ".")
            lines.append(f"{rank + 1} {' '.join(cells)} {rank + 1}")
        lines.append(files)
        lines.append("Uppercase = White, lowercase = Black, . = empty square.")
        if state.outcome is not None:
            lines.append(f"Game over: {state.outcome.reason} ({state.outcome.result}).")
        elif board.is_check():
            lines.append(f"{side} is in check.")
        return "\n".join(lines)

    def render_svg(self, state: ChessState, last_move: str | None = None) -> str:
        """The board as SVG (360 px), the last move highlighted and drawn as an arrow.

        Without ``last_move`` the last move of the state's history is shown.
        """
        board = state.board
        lastmove: chess.Move | None = board.move_stack[-1] if board.move_stack else None
        if last_move is not None:
            try:
                lastmove = chess.Move.from_uci(last_move.strip())
            except ValueError:
                lastmove = None
        arrows = [chess.svg.Arrow(lastmove.from_square, lastmove.to_square)] if lastmove else []
        check = board.king(board.turn) if board.is_check() else None
        return chess.svg.board(board, lastmove=lastmove, arrows=arrows, check=check, size=360)

    def terminal_examples(self) -> Sequence[TerminalExample]:
        """Mates, a stalemate, a threefold repetition and insufficient material."""
        return _TERMINAL_EXAMPLES


def to_pgn(
    moves: Sequence[str],
    *,
    headers: Mapping[str, str],
    initial_fen: str | None = None,
    result: str = "*",
) -> str:
    """A PGN game of ``moves`` (UCI or SAN) with ``headers``.

    A non-standard ``initial_fen`` sets the ``FEN`` and ``SetUp`` headers.
    ``result`` is written as the ``Result`` header and the game termination
    marker, overriding any ``Result`` in ``headers``.
    """
    board = chess.Board() if initial_fen is None else _board_from_fen(initial_fen)
    game = chess.pgn.Game()
    for key, value in headers.items():
        game.headers[key] = value
    if initial_fen is not None:
        game.setup(board)
    game.headers["Result"] = result
    node: chess.pgn.GameNode = game
    state = ChessState(board.copy())
    for move in moves:
        parsed = _parse_move(state, move)
        node = node.add_variation(parsed)
        board.push(parsed)
        state = ChessState(board.copy(stack=True))
    return str(game)


def moves_from_pgn(text: str) -> list[str]:
    """The main-line moves of the first game in ``text``, in UCI.

    Raises :class:`InvalidStateError` when there is no game or it has errors.
    """
    game = chess.pgn.read_game(io.StringIO(text))
    if game is None:
        raise InvalidStateError("no game found in PGN text")
    if game.errors:
        raise InvalidStateError(f"invalid PGN: {game.errors[0]}")
    return [move.uci() for move in game.mainline_moves()]


def _example(name: str, moves: str, winner: int | None, reason: str) -> TerminalExample:
    return TerminalExample(moves=tuple(moves.split()), outcome=Outcome(winner, reason), name=name)


_TERMINAL_EXAMPLES: tuple[TerminalExample, ...] = (
    _example("fool's mate", "f2f3 e7e5 g2g4 d8h4", 1, "checkmate"),
    _example("scholar's mate", "e2e4 e7e5 d1h5 b8c6 f1c4 g8f6 h5f7", 0, "checkmate"),
    _example(
        "ten-move stalemate",
        "e2e3 a7a5 d1h5 a8a6 h5a5 h7h5 h2h4 a6h6 a5c7 f7f6 c7d7 e8f7 d7b7 d8d3 b7b8 d3h7"
        " b8c8 f7g6 c8e6",
        None,
        "stalemate",
    ),
    _example(
        "knights out and back twice",
        "g1f3 g8f6 f3g1 f6g8 g1f3 g8f6 f3g1 f6g8",
        None,
        "threefold_repetition",
    ),
    _example(
        "bare kings",
        "d2d4 b8c6 b1d2 c6d4 g1h3 d4e2 f1e2 a7a6 e2a6 a8a6 d2f3 a6a2 d1d7 c8d7 a1a2 d7h3"
        " g2h3 g7g5 f3g5 f7f6 g5h7 h8h7 c1g5 f6g5 a2a7 h7h3 a7b7 h3h2 h1h2 g5g4 b7c7 d8c7"
        " h2h1 c7c2 h1h5 c2b2 h5h8 b2f2 e1f2 f8g7 h8g8 e8f7 g8g7 f7g7 f2g3 e7e5 g3g4 e5e4"
        " g4f5 g7h8 f5e4",
        None,
        "insufficient_material",
    ),
)
