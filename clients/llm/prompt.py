"""Prompts and JSON schemas for the LLM actor and speculator: pure functions.

A prompt depends on the position only (the game, its state and the moves that
led to it), never on clocks, timestamps or counters of calls: the prompt of a
speculative branch is byte for byte the prompt of the same position played
sequentially, which is what keeps speculation lossless at temperature 0.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from clients.speculation import Position
from games import GameError, get_game

__all__ = [
    "JSONObject",
    "Message",
    "Prompt",
    "Rethink",
    "actor_prompt",
    "game_so_far",
    "guesses_schema",
    "legal_sorted",
    "move_schema",
    "moves_grammar",
    "rethink_messages",
    "speculator_prompt",
]

JSONObject = dict[str, Any]

REPLY_ECHO_CHARS = 2000
"""How much of a rejected reply is sent back as the assistant's turn of a rethink."""

QUOTE_CHARS = 200
"""How much of a rejected reply the feedback quotes."""


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str


Prompt = tuple[Message, ...]
"""The messages of one call, in order."""


@dataclass(frozen=True, slots=True)
class Rethink:
    """A rejected answer and why: sent back so the model can correct itself."""

    reply: str
    reason: str


def legal_sorted(position: Position) -> list[str]:
    """The legal moves in canonical notation, sorted (the order prompts and schemas use)."""
    return sorted(position.legal_moves())


def game_so_far(position: Position) -> str:
    """The moves played, in display notation: numbered SAN for chess, else space-separated.

    Moves replay from the position's start (an opening's position in a
    tournament); canonical notation is the fallback if they do not.
    """
    game = position.game
    if not position.moves:
        return "(none yet)"
    initial = None if position.initial is None else game.encode_state(position.initial)
    try:
        for end in range(0, len(position.moves), 200):  # bounds the recursion on long games
            _display_line(game.info.name, initial, position.moves[:end])
        shown, _state = _display_line(game.info.name, initial, position.moves)
    except GameError:
        return " ".join(position.moves)
    if game.info.name != "chess":
        return " ".join(shown)
    parts: list[str] = []
    for i, san in enumerate(shown):
        parts.append(f"{i // 2 + 1}. {san}" if i % 2 == 0 else san)
    return " ".join(parts)


@functools.lru_cache(maxsize=4096)
def _display_line(
    name: str, initial: str | None, moves: tuple[str, ...]
) -> tuple[tuple[str, ...], Any]:
    """``moves`` of the registered game ``name`` in display notation from
    ``initial`` (encoded; ``None``: the game's start), and the state after them.
    Memoised by prefix: the prompts of one game (real and speculative) share all
    but their last moves, so each costs one ``apply`` instead of a replay of the
    whole game."""
    game = get_game(name)
    if not moves:
        return (), game.initial_state() if initial is None else game.decode_state(initial)
    shown, state = _display_line(name, initial, moves[:-1])
    return (*shown, game.display_move(state, moves[-1])), game.apply(state, moves[-1])


def _seat(position: Position) -> str:
    return position.game.info.seats[position.to_move]


def _game_text(position: Position) -> str:
    """The stable part of a prompt: the game and its moves so far.

    It comes first, so consecutive calls of a player (and a branch and the real
    call on the same line) share it as a prefix a server can keep cached: the
    next call's text extends it by the moves played since.
    """
    game = position.game
    lines = [f"Game: {game.info.title}"]
    if position.initial is not None:
        lines.append(f"Start: {game.encode_state(position.initial)}")
    lines.append(f"Moves so far: {game_so_far(position)}")
    return "\n".join(lines)


def _position_text(
    position: Position, show_legal: bool, show_board: bool = True, show_state: bool = True
) -> str:
    """The per-position part, short and last (empty when nothing is shown: the
    question that ends the prompt names the player to move)."""
    game = position.game
    lines: list[str] = []
    if show_state:
        lines.append(f"State: {game.encode_state(position.state)}")
    if show_board:
        lines += (
            ["", game.render_text(position.state)] if lines else [game.render_text(position.state)]
        )
    if show_legal:
        lines.append(f"Legal moves: {', '.join(legal_sorted(position))}")
    if lines:
        lines.insert(0, f"To move: {_seat(position)} (seat {position.to_move})")
    return "\n".join(lines)


def _move_instruction(structured: bool, bare: bool = False) -> str:
    if structured and bare:
        return "Answer with moves alone, nothing else."
    if structured:
        return 'Answer with a JSON object and nothing else: {"move": "<your move>"}.'
    return (
        "Think briefly if you need to, then end your answer with a line "
        "`Move: <your move>` naming exactly one legal move."
    )


def actor_prompt(
    position: Position,
    *,
    structured: bool,
    show_legal: bool = True,
    show_board: bool = True,
    show_state: bool = True,
    bare: bool = False,
    rethinks: Sequence[Rethink] = (),
) -> Prompt:
    """The messages asking for the move of the player to move in ``position``.

    ``structured`` selects the answer instructions (a JSON object, or with
    ``bare`` the move alone, as a grammar constrains it; else a final ``Move:``
    line). The system message and the game so far come first and do not depend
    on the position; the position's own part is short and last (see
    :func:`_game_text`). Each rejected answer in ``rethinks`` is appended as the
    assistant's turn followed by a user message quoting it and saying what was
    wrong (roles alternate, which strict chat templates require).
    """
    game = position.game
    system = "\n".join(
        [
            f"You are playing {game.info.title}. Choose the best move for the player to move.",
            f"Moves are written in {game.info.move_notation}.",
            _move_instruction(structured, bare),
        ]
    )
    user = "\n\n".join(
        part
        for part in (
            _game_text(position),
            _position_text(position, show_legal, show_board, show_state),
            f"Your move as {_seat(position)}?",
        )
        if part
    )
    messages = [Message("system", system), Message("user", user)]
    for rethink in rethinks:
        messages += rethink_messages(rethink, structured, bare)
    return tuple(messages)


def rethink_messages(rethink: Rethink, structured: bool, bare: bool = False) -> list[Message]:
    """The rejected answer (as the assistant said it) and the feedback on it."""
    said = rethink.reply[:REPLY_ECHO_CHARS] or "(empty reply)"
    quoted = rethink.reply[:QUOTE_CHARS] + ("..." if len(rethink.reply) > QUOTE_CHARS else "")
    feedback = "\n".join(
        [
            f"Your answer was not accepted: {rethink.reason}.",
            f'You answered: "{quoted}"',
            f"Choose again. {_move_instruction(structured, bare)}",
        ]
    )
    return [Message("assistant", said), Message("user", feedback)]


def speculator_prompt(
    position: Position,
    k: int,
    *,
    structured: bool,
    show_legal: bool = True,
    show_board: bool = True,
    show_state: bool = True,
    bare: bool = False,
) -> Prompt:
    """The messages asking for the ``k`` most likely moves of the player to move, ranked.

    The answer format is the same JSON object with or without ``structured``
    (the parser also reads a plain ranked list when a model ignores it). Laid
    out like :func:`actor_prompt`: the game so far first, the position last.

    With ``bare`` (a grammar constrains the answer to moves, one per line) the
    prompt is the actor's own, system message and all, so it shares the
    actor's cached prefix on a server; for ``k = 1`` it *is* the actor's prompt
    for the player to move (what the model would play there), byte for byte.
    """
    game = position.game
    seat = _seat(position)
    if structured and bare:
        own = actor_prompt(
            position,
            structured=True,
            bare=True,
            show_legal=show_legal,
            show_board=show_board,
            show_state=show_state,
        )
        if k <= 1:
            return own
        ask = f"List the {k} moves {seat} is most likely to play here, one per line, best first."
        return (own[0], Message("user", own[1].content.rpartition("\n\n")[0] + "\n\n" + ask))
    else:
        answer = (
            "Answer with a JSON object and nothing else: "
            '{"moves": [{"move": "<move>", "prob": <probability from 0 to 1>}, ...]}, '
            "most likely move first."
        )
    system = "\n".join(
        [
            f"You predict the moves of players of {game.info.title}.",
            f"Moves are written in {game.info.move_notation}.",
            answer,
        ]
    )
    ask = (
        f"List the {k} moves {seat} is most likely to play here, most likely first, "
        "each with its probability."
    )
    user = "\n\n".join(
        part
        for part in (
            _game_text(position),
            _position_text(position, show_legal, show_board, show_state),
            ask,
        )
        if part
    )
    return (Message("system", system), Message("user", user))


def moves_grammar(legal: Sequence[str], k: int = 1, *, dialect: str = "gbnf") -> str:
    """A grammar (llama.cpp's ``grammar``) whose sentences are 1 to ``k`` of the legal
    moves, one per line: the answer is the moves alone, in as few tokens as they
    take, and cannot be anything else.

    ``dialect``: ``gbnf`` (any llama.cpp server) or ``llguidance`` (Lark syntax for
    a server built with LLGuidance, as xllamacpp's wheels are: it masks the
    vocabulary in microseconds where GBNF checks every token of Gemma's 262,144,
    ~25 ms per generated token on one thread).
    """
    if not legal:
        raise ValueError("no legal moves to choose from")
    alternatives = " | ".join(_gbnf_literal(move) for move in legal)
    more = ""
    for _ in range(k - 1):
        more = f'("\\n" move{more})?'
    root = f"move {more}".strip()
    if dialect == "llguidance":
        return f"%llguidance {{}}\nstart: {root}\nmove: {alternatives}\n"
    if dialect != "gbnf":
        raise ValueError(f"dialect={dialect!r}; expected gbnf or llguidance")
    return f"root ::= {root}\nmove ::= {alternatives}\n"


def _gbnf_literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def move_schema(legal: Sequence[str]) -> JSONObject:
    """JSON schema of an actor's answer: one move, an enum of the legal moves."""
    return {
        "type": "object",
        "properties": {"move": {"type": "string", "enum": list(legal)}},
        "required": ["move"],
        "additionalProperties": False,
    }


def guesses_schema(legal: Sequence[str], k: int) -> JSONObject:
    """JSON schema of a speculator's answer: up to ``k`` legal moves with probabilities."""
    guess = {
        "type": "object",
        "properties": {
            "move": {"type": "string", "enum": list(legal)},
            "prob": {"type": "number"},
        },
        "required": ["move", "prob"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"moves": {"type": "array", "items": guess, "maxItems": k}},
        "required": ["moves"],
        "additionalProperties": False,
    }
