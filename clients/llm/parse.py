"""Reading moves out of model replies: pure functions, no I/O.

An actor's reply is read as, in order of preference:

1. a JSON object ``{"move": ...}`` (what structured output produces);
2. the *last* explicit commitment in the text: a ``Move: X`` / ``move = X``
   line, ``Final answer: X``, or an embedded ``"move": "X"``;
3. otherwise the last legal move mentioned anywhere in the text.

Moves may be in any spelling the game accepts (SAN or UCI for chess) and come
back canonical. A reply with no legal move raises :class:`ParseError`, whose
reason is meant to be sent back to the model.

A speculator's reply (a JSON list of moves with probabilities, or a plain
ranked list) never raises: what cannot be read is dropped.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from clients.llm.errors import ParseError
from clients.speculation import Guess
from games import Game, GameError, IllegalMoveError

__all__ = ["MAX_REPLY_CHARS", "parse_guesses", "parse_move"]

MAX_REPLY_CHARS = 100_000
"""Longer replies are not read (a runaway generation, or not a model at all)."""

_TOKEN = r"[A-Za-z0-9][A-Za-z0-9+#=\-]*"
_TOKEN_RE = re.compile(_TOKEN)
_DECOR = r"[*_`'\" \t]*"
_COMMIT_RE = re.compile(
    r"(?i)(?:\bfinal\s+(?:answer|move)\b" + _DECOR + r"(?::|=|\bis\b)"
    r"|\bmove\b" + _DECOR + r"[:=])" + _DECOR + r"(?:\d+\.+[ \t]*)?(?P<move>" + _TOKEN + ")"
)
_FENCE_RE = re.compile(r"^```[A-Za-z]*\s*|\s*```$")
_LIST_MARKER_RE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_PROB_RE = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?|\.\d+)\s*(%?)")


def parse_move(game: Game[Any], state: Any, reply: str) -> str:
    """The canonical move ``reply`` commits to; raises :class:`ParseError` saying why not."""
    text = reply.strip()
    if not text:
        raise ParseError("the reply is empty", reply)
    if len(reply) > MAX_REPLY_CHARS:
        raise ParseError(
            f"the reply is too long ({len(reply)} characters; at most {MAX_REPLY_CHARS})", reply
        )
    claim = _json_move(text)
    if claim is None:
        commitments = list(_COMMIT_RE.finditer(text))
        claim = commitments[-1].group("move") if commitments else None
    if claim is not None:
        try:
            return game.normalize_move(state, claim)
        except IllegalMoveError as exc:
            raise ParseError(f"the move you chose is not legal here: {exc}", reply) from None
    found = _last_mentioned(game, state, text)
    if found is None:
        raise ParseError("no legal move found in the reply", reply)
    return found


def parse_guesses(game: Game[Any], state: Any, reply: str) -> list[Guess]:
    """The legal moves of a ranked reply, in order, without repeats; ``[]`` for garbage."""
    text = reply.strip()
    if not text or len(reply) > MAX_REPLY_CHARS:
        return []
    data = _load_json(text)
    if isinstance(data, dict):
        data = data.get("moves")
    raw: list[tuple[str, float | None]] = []
    if isinstance(data, list):
        for item in data:
            if isinstance(item, str):
                raw.append((item, None))
            elif isinstance(item, dict) and isinstance(item.get("move"), str):
                raw.append((item["move"], _prob(item.get("prob", item.get("probability")))))
    elif data is None:
        raw = _ranked_lines(game, state, text)
    guesses: list[Guess] = []
    seen: set[str] = set()
    for move, prob in raw:
        try:
            canonical = game.normalize_move(state, move)
        except GameError:
            continue
        if canonical not in seen:
            seen.add(canonical)
            guesses.append(Guess(canonical, prob))
    return guesses


# ---------------------------------------------------------------------- helpers


def _load_json(text: str) -> Any:
    """The JSON value in ``text`` (bare, fenced, or the outermost ``{...}``), else ``None``."""
    bare = _FENCE_RE.sub("", text).strip()
    candidates = [bare]
    start, end = bare.find("{"), bare.rfind("}")
    if 0 <= start < end:
        candidates.append(bare[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def _json_move(text: str) -> str | None:
    data = _load_json(text)
    if isinstance(data, dict) and isinstance(data.get("move"), str):
        move: str = data["move"]
        return move
    return None


def _spellings(game: Game[Any], state: Any) -> dict[str, str]:
    """Every exact spelling of each legal move (canonical, display, without check marks)."""
    table: dict[str, str] = {}
    for move in game.legal_moves(state):
        shown = game.display_move(state, move)
        for spelling in (move, move.lower(), shown, shown.rstrip("+#")):
            table.setdefault(spelling, move)
    return table


def _lookup(table: dict[str, str], token: str) -> str | None:
    return table.get(token) or table.get(token.rstrip("+#=-"))


def _last_mentioned(game: Game[Any], state: Any, text: str) -> str | None:
    table = _spellings(game, state)
    for match in reversed(list(_TOKEN_RE.finditer(text))):
        if (move := _lookup(table, match.group())) is not None:
            return move
    return None


def _ranked_lines(game: Game[Any], state: Any, text: str) -> list[tuple[str, float | None]]:
    """One guess per line: its first legal move, and a probability written after it."""
    table = _spellings(game, state)
    found: list[tuple[str, float | None]] = []
    for line in text.splitlines():
        line = _LIST_MARKER_RE.sub("", line)
        for match in _TOKEN_RE.finditer(line):
            if (move := _lookup(table, match.group())) is not None:
                number = _PROB_RE.search(line, match.end())
                prob = None if number is None else _prob(number.group(1) + number.group(2))
                found.append((move, prob))
                break
    return found


def _prob(value: object) -> float | None:
    """A probability in [0, 1] from a number or a string (``0.4``, ``40``, ``"40%"``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        percent = text.endswith("%")
        try:
            number = float(text.rstrip("%"))
        except ValueError:
            return None
        value = number / 100.0 if percent else number
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if 0.0 <= value <= 1.0:
        return float(value)
    if 1.0 < value <= 100.0:
        return float(value) / 100.0
    return None
