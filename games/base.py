"""The one protocol every game implements, and the types it speaks in.

A game is pure rules: data in, data out, no I/O and no asyncio. States are
immutable values (a game never mutates a state it was given), so the match
engine can keep old states, branch on predicted positions, and roll back
without copying defensively.

Seats are numbered ``0`` (moves first: White, Red, Black in Othello) and ``1``.
Moves on the wire are strings in the game's canonical notation (UCI for chess,
a column number for Connect Four); :meth:`Game.normalize_move` turns any
accepted spelling (SAN for chess) into that canonical form.

Exceptions::

    GameError(Exception)
    ├── IllegalMoveError(GameError, ValueError)   a move that is not legal here
    └── InvalidStateError(GameError, ValueError)  an encoded state that does not parse
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

__all__ = [
    "Game",
    "GameError",
    "GameInfo",
    "IllegalMoveError",
    "InvalidStateError",
    "Outcome",
    "TerminalExample",
    "result_score",
    "result_string",
]

StateT = TypeVar("StateT")


class GameError(Exception):
    """Base class of every error raised by a game's rules."""


class IllegalMoveError(GameError, ValueError):
    """A move that is not legal in the given state.

    The message quotes the move and lists the legal alternatives, so that it can
    be sent verbatim to a bot (or an LLM) as feedback.
    """

    def __init__(self, move: str, legal: Sequence[str], detail: str = "") -> None:
        self.move = move
        self.legal = tuple(legal)
        shown = ", ".join(self.legal[:60]) + (" ..." if len(self.legal) > 60 else "")
        why = f" ({detail})" if detail else ""
        super().__init__(f"illegal move {move!r}{why}; legal moves: {shown or 'none'}")


class InvalidStateError(GameError, ValueError):
    """An encoded state that cannot be decoded."""


@dataclass(frozen=True, slots=True)
class GameInfo:
    """What a game is, as data: shown in listings and sent in ``game_start``."""

    name: str
    """Registry key and wire name, e.g. ``"chess"``."""
    title: str
    """Human-readable name, e.g. ``"Chess"``."""
    seats: tuple[str, str]
    """Names of seat 0 and seat 1, e.g. ``("white", "black")``."""
    move_notation: str
    """One line describing the canonical move notation, for docs and prompts."""
    max_plies_hint: int
    """A generous upper bound on the length of a normal game, for defaults."""
    move_pattern: str | None = None
    """A regular expression every canonical move matches (``re.fullmatch``), so that
    text can be checked for being a move before its position is known (a
    prediction for a later ply); ``None``: not checked."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a game ended by its rules (the match adds time, resignation, ...)."""

    winner: int | None
    """Seat that won, or ``None`` for a draw."""
    reason: str
    """Snake-case reason, e.g. ``"checkmate"``, ``"stalemate"``, ``"four_in_a_row"``."""

    @property
    def result(self) -> str:
        """The result in PGN style: ``"1-0"``, ``"0-1"`` or ``"1/2-1/2"``."""
        return result_string(self.winner)


def result_score(result: str | None) -> float | None:
    """Seat 0's points for a result (1, 0.5 or 0); ``None`` for ``*`` (aborted,
    interrupted) or no result, which are not rated."""
    return _RESULT_SCORES.get(result or "")


_RESULT_SCORES = {"1-0": 1.0, "0-1": 0.0, "1/2-1/2": 0.5}


def result_string(winner: int | None) -> str:
    """``"1-0"`` when seat 0 won, ``"0-1"`` when seat 1 won, else ``"1/2-1/2"``."""
    if winner is None:
        return "1/2-1/2"
    return "1-0" if winner == 0 else "0-1"


@dataclass(frozen=True, slots=True)
class TerminalExample:
    """A known finished game, used by the conformance suite to check scoring."""

    moves: tuple[str, ...]
    """Moves from the initial state, in canonical notation."""
    outcome: Outcome
    """The outcome the rules must report after the last move."""
    name: str = ""


@runtime_checkable
class Game(Protocol[StateT]):
    """The rules of one two-player, turn-based game.

    Implementations are stateless objects; all game data lives in the
    immutable ``StateT`` values they create and return.
    """

    info: GameInfo

    def initial_state(self) -> StateT:
        """The start position."""
        ...

    def encode_state(self, state: StateT) -> str:
        """A compact, printable encoding (FEN for chess), sent on the wire."""
        ...

    def decode_state(self, encoded: str) -> StateT:
        """Inverse of :meth:`encode_state`; raises :class:`InvalidStateError`."""
        ...

    def to_move(self, state: StateT) -> int:
        """The seat (0 or 1) whose turn it is."""
        ...

    def legal_moves(self, state: StateT) -> list[str]:
        """All legal moves in canonical notation, in a stable order."""
        ...

    def normalize_move(self, state: StateT, move: str) -> str:
        """The canonical spelling of ``move``; raises :class:`IllegalMoveError`."""
        ...

    def apply(self, state: StateT, move: str) -> StateT:
        """The state after ``move`` (any accepted spelling); the input is unchanged.

        Raises :class:`IllegalMoveError` when the move is not legal.
        """
        ...

    def outcome(self, state: StateT) -> Outcome | None:
        """The outcome if the rules end the game here, else ``None``."""
        ...

    def display_move(self, state: StateT, move: str) -> str:
        """How ``move`` (legal in ``state``) is written for people (SAN for chess)."""
        ...

    def render_text(self, state: StateT) -> str:
        """A plain-text picture of the position, for logs and LLM prompts."""
        ...

    def render_svg(self, state: StateT, last_move: str | None = None) -> str:
        """An SVG picture of the position, for the web pages."""
        ...

    def terminal_examples(self) -> Sequence[TerminalExample]:
        """Known finished games, checked by the conformance suite."""
        ...
