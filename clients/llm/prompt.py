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


def _position_text(position: Position, show_legal: bool, show_board: bool = True) -> str:
    """The part shared by every prompt: who is to move, the state, the board, the history."""
    game = position.game
    seat = position.to_move
    lines = [
        f"Game: {game.info.title}",
        f"To move: {_seat(position)} (seat {seat})",
        f"State: {game.encode_state(position.state)}",
    ]
    if show_board:
        lines += ["", game.render_text(position.state)]
    lines += ["", f"Moves so far: {game_so_far(position)}"]
    if show_legal:
        lines.append(f"Legal moves: {', '.join(legal_sorted(position))}")
    return "\n".join(lines)


def _move_instruction(structured: bool) -> str:
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
    rethinks: Sequence[Rethink] = (),
) -> Prompt:
    """The messages asking for the move of the player to move in ``position``.

    ``structured`` selects the answer instructions (a JSON object, or a final
    ``Move:`` line). Each rejected answer in ``rethinks`` is appended as the
    assistant's turn followed by a user message quoting it and saying what
    was wrong (roles alternate, which strict chat templates require).
    """
    game = position.game
    seat = _seat(position)
    system = "\n".join(
        [
            f"You are playing {game.info.title} as {seat}. Choose the best move for {seat}.",
            f"Moves are written in {game.info.move_notation}.",
            _move_instruction(structured),
        ]
    )
    user = f"{_position_text(position, show_legal, show_board)}\n\nYour move as {seat}?"
    messages = [Message("system", system), Message("user", user)]
    for rethink in rethinks:
        messages += rethink_messages(rethink, structured)
    return tuple(messages)


def rethink_messages(rethink: Rethink, structured: bool) -> list[Message]:
    """The rejected answer (as the assistant said it) and the feedback on it."""
    said = rethink.reply[:REPLY_ECHO_CHARS] or "(empty reply)"
    quoted = rethink.reply[:QUOTE_CHARS] + ("..." if len(rethink.reply) > QUOTE_CHARS else "")
    feedback = "\n".join(
        [
            f"Your answer was not accepted: {rethink.reason}.",
            f'You answered: "{quoted}"',
            f"Choose again. {_move_instruction(structured)}",
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
) -> Prompt:
    """The messages asking for the ``k`` most likely moves of the player to move, ranked.

    The answer format is the same JSON object with or without ``structured``
    (the parser also reads a plain ranked list when a model ignores it).
    """
    game = position.game
    seat = _seat(position)
    system = "\n".join(
        [
            f"You predict the moves of players of {game.info.title}.",
            f"Moves are written in {game.info.move_notation}.",
            "Answer with a JSON object and nothing else: "
            '{"moves": [{"move": "<move>", "prob": <probability from 0 to 1>}, ...]}, '
            "most likely move first.",
        ]
    )
    ask = (
        f"List the {k} moves {seat} is most likely to play here, most likely first, "
        "each with its probability."
    )
    user = f"{_position_text(position, show_legal, show_board)}\n\n{ask}"
    return (Message("system", system), Message("user", user))


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
