"""Opening books for chess tournaments: the bundled book, and users' PGN or EPD files.

Engines (and bots that always play the same first moves) would repeat the same
game over and over from the initial position; an opening book starts each
pairing from a different, balanced position instead, played once with each
colour (see :mod:`arena.tournament.formats`).

An :class:`Opening` is moves in UCI from a start position: the standard one,
or a position of its own (``fen``, from an EPD line or a PGN ``FEN`` header).
Parsing is pure (:func:`parse_openings`); :func:`load_openings` and
:func:`bundled_openings` only add reading the file. Every opening is checked
when it is read: legal, and not already a finished game.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import chess
import chess.pgn

from arena.tournament.formats import TournamentError
from games import GameError, get_game

__all__ = [
    "OPENING_GAMES",
    "Opening",
    "OpeningError",
    "bundled_openings",
    "load_openings",
    "opening_position",
    "opening_start",
    "parse_openings",
]

OPENING_GAMES = frozenset({"chess"})
"""The games that take openings."""

BookFormat = Literal["pgn", "epd"]

_BUNDLED = "openings.txt"
_SUFFIXES: dict[str, BookFormat] = {".pgn": "pgn", ".epd": "epd"}


class OpeningError(TournamentError):
    """An opening book that cannot be used; the message names the file, the entry and why."""


@dataclass(frozen=True, slots=True)
class Opening:
    """A start for a chess game: ``moves`` played from ``fen`` (or the initial position)."""

    name: str
    """Shown in game lists, e.g. ``"C65 Ruy Lopez: Berlin Defence"``."""
    moves: tuple[str, ...] = ()
    """The opening moves in UCI, played out before the players take over."""
    fen: str | None = None
    """The start position (an EPD-style opening), or ``None`` for the initial position."""


def bundled_openings() -> list[Opening]:
    """The book shipped with the arena: over 60 named, balanced openings (4 to 10 plies)."""
    return list(_bundled())


@cache
def _bundled() -> tuple[Opening, ...]:
    text = (
        resources.files("arena.tournament").joinpath("data", _BUNDLED).read_text(encoding="utf-8")
    )
    out: list[Opening] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"bundled book {_BUNDLED}, line {number}"
        fields = [f.strip() for f in line.split("|")]
        if len(fields) != 3:
            raise OpeningError(f"{where}: expected 'ECO | name | moves', got {line!r}")
        eco, name, moves = fields
        board = chess.Board()
        out.append(_checked(where, f"{eco} {name}", board, moves.split()))
    return tuple(out)


def load_openings(path: str | os.PathLike[str]) -> list[Opening]:
    """The openings of a PGN or EPD file (by its suffix, else by its first line).

    PGN: each game's mainline, from its ``FEN`` header if any; the name comes
    from the ``ECO``, ``Opening`` and ``Variation`` headers, else ``Event``.
    EPD: one position a line (``#`` starts a comment), named by its ``id``.
    Raises :class:`OpeningError` for an unreadable file or a bad entry.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise OpeningError(f"cannot read opening file {path}: {exc.strerror or exc}") from None
    kind = _SUFFIXES.get(path.suffix.lower()) or _sniff(text)
    return parse_openings(text, kind, source=str(path))


def _sniff(text: str) -> BookFormat:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return "pgn" if line.startswith("[") or re.match(r"\d+\.", line) else "epd"
    return "epd"


def parse_openings(text: str, kind: BookFormat, *, source: str = "<text>") -> list[Opening]:
    """The openings in ``text`` (PGN or EPD, as for :func:`load_openings`).

    ``source`` names the text in error messages. An empty book is an error.
    """
    if kind == "pgn":
        openings = _from_pgn(text, source)
    elif kind == "epd":
        openings = _from_epd(text, source)
    else:
        raise OpeningError(f"{source}: unknown opening format {kind!r}; valid: pgn, epd")
    if not openings:
        raise OpeningError(f"{source}: no openings found (expected {kind.upper()} entries)")
    return openings


class _QuietGameBuilder(chess.pgn.GameBuilder[chess.pgn.Game]):
    """Collects parse errors in ``game.errors`` without logging them (we raise instead)."""

    def handle_error(self, error: Exception) -> None:
        self.game.errors.append(error)


def _from_pgn(text: str, source: str) -> list[Opening]:
    stream = io.StringIO(text)
    out: list[Opening] = []
    while (game := chess.pgn.read_game(stream, Visitor=_QuietGameBuilder)) is not None:
        where = f"{source}, game {len(out) + 1}"
        name = _pgn_name(game.headers) or f"{Path(source).name} game {len(out) + 1}"
        where += f" ({name})"
        variant = game.headers.get("Variant", "standard").strip().lower()
        if variant not in ("standard", "chess", ""):
            raise OpeningError(f"{where}: variant {variant!r} is not supported; only standard")
        if game.errors:
            raise OpeningError(f"{where}: {game.errors[0]}")
        start = "FEN" in game.headers
        try:
            board = game.board()
        except ValueError as exc:
            raise OpeningError(f"{where}: bad FEN header: {exc}") from None
        moves = [move.uci() for move in game.mainline_moves()]
        if not moves and not start:
            raise OpeningError(f"{where}: no moves and no FEN header, so no opening")
        out.append(_checked(where, name, board, moves, keep_fen=start))
    return out


def _pgn_name(headers: chess.pgn.Headers) -> str:
    def get(key: str) -> str:
        value = headers.get(key, "").strip()
        return "" if value in ("?", "-") else value

    title = ": ".join(part for part in (get("Opening"), get("Variation")) if part)
    return " ".join(part for part in (get("ECO"), title or get("Event")) if part)


def _from_epd(text: str, source: str) -> list[Opening]:
    out: list[Opening] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}, line {number}"
        try:
            board, ops = chess.Board.from_epd(line)
        except ValueError as exc:
            raise OpeningError(f"{where}: not an EPD position ({exc}): {line!r}") from None
        name = ops.get("id")
        label = name if isinstance(name, str) and name else f"{Path(source).name}:{number}"
        out.append(_checked(f"{where} ({label})", label, board, [], keep_fen=True))
    return out


def _checked(
    where: str, name: str, board: chess.Board, moves: list[str], *, keep_fen: bool = False
) -> Opening:
    """The opening ``moves`` from ``board``, once shown legal and not already over."""
    if not board.is_valid():
        problems = ", ".join(
            (flag.name or "").lower().replace("_", " ")
            for flag in chess.Status
            if flag & board.status()
        )
        raise OpeningError(f"{where}: impossible position ({problems}): {board.fen()}")
    fen = board.fen() if keep_fen else None
    canonical: list[str] = []
    for ply, uci in enumerate(moves, 1):
        try:
            move = board.parse_uci(uci)
        except ValueError:
            move = chess.Move.null()
        if not move:
            raise OpeningError(f"{where}: move {ply} {uci!r} is not legal in {board.fen()}")
        canonical.append(move.uci())
        board.push(move)
    outcome = board.outcome()
    if outcome is not None:
        reason = outcome.termination.name.lower().replace("_", " ")
        raise OpeningError(f"{where}: the game is already over ({reason})")
    return Opening(name=name, moves=tuple(canonical), fen=fen)


def opening_start(game_name: str, opening: Opening | None) -> tuple[str | None, tuple[str, ...]]:
    """Where a game with ``opening`` starts: ``(encoded initial state or None, moves)``.

    ``None`` as the state means the game's own initial position; the moves
    (canonical notation) are then played from it. Only games in
    :data:`OPENING_GAMES` take openings; giving one to another game is an
    :class:`OpeningError`. ``opening=None`` is always ``(None, ())``.
    """
    if opening is None:
        return None, ()
    initial, moves, _state = _play_out(game_name, opening)
    return initial, moves


def opening_position(game_name: str, opening: Opening | None) -> str | None:
    """The encoded position after ``opening`` (where a tournament game starts),
    or ``None`` for the game's own initial position."""
    if opening is None:
        return None
    _initial, _moves, state = _play_out(game_name, opening)
    return str(get_game(game_name).encode_state(state))


def _play_out(game_name: str, opening: Opening) -> tuple[str | None, tuple[str, ...], Any]:
    """(encoded initial state or None, canonical moves, state after them)."""
    if game_name not in OPENING_GAMES:
        valid = ", ".join(sorted(OPENING_GAMES))
        raise OpeningError(
            f"game {game_name!r} takes no openings (only {valid} does); got {opening.name!r}"
        )
    game = get_game(game_name)
    try:
        initial = None if opening.fen is None else game.decode_state(opening.fen)
        state = game.initial_state() if initial is None else initial
        moves: list[str] = []
        for move in opening.moves:
            moves.append(game.normalize_move(state, move))
            state = game.apply(state, moves[-1])
    except GameError as exc:
        raise OpeningError(f"opening {opening.name!r}: {exc}") from None
    if game.outcome(state) is not None:
        raise OpeningError(f"opening {opening.name!r}: the game is already over")
    return (None if initial is None else game.encode_state(initial)), tuple(moves), state
