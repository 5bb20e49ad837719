"""Challenges between bots, as the lichess API has them (``ChallengeJson``; pure).

A challenge lives in the memory of the server that received it until it is
accepted (a game is created through the host, as for a seek), declined or
canceled; a restart forgets open challenges, as lichess expires them. A bot
that plays over the websocket protocol (or a built-in player) has no way to
answer a challenge, so one sent to it is accepted at once: the arena's
websocket bots play every game they are given.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

import chess

from arena.clock import TimeControl
from arena.lichess.shapes import speed_of, user_id
from arena.store import BotRow

__all__ = ["DECLINE_REASONS", "Challenge", "ChallengeError", "challenge_json", "parse_challenge"]

DECLINE_REASONS = {
    "generic": "I'm not accepting challenges at the moment.",
    "later": "This is not the right time for me, please ask again later.",
    "tooFast": "This time control is too fast for me, please challenge again with a slower game.",
    "tooSlow": "This time control is too slow for me, please challenge again with a faster game.",
    "timeControl": "I'm not accepting challenges with this time control.",
    "rated": "Please send me a rated challenge instead.",
    "casual": "Please send me a casual challenge instead.",
    "standard": "I'm not accepting variant challenges right now.",
    "variant": "I'm not willing to play this variant right now.",
    "noBot": "I'm not accepting challenges from bots.",
    "onlyBot": "I'm only accepting challenges from bots.",
}
"""lichess's decline reason keys and their English texts."""

Color = Literal["white", "black", "random"]


class ChallengeError(ValueError):
    """A challenge request that cannot be made (quotes what was wrong)."""


@dataclass
class Challenge:
    """An open challenge from one bot to another."""

    id: str
    challenger: BotRow
    dest: BotRow
    time_control: TimeControl
    color: Color
    """The challenger's colour, as asked."""
    final_color: Literal["white", "black"]
    """The challenger's colour in the game (``random`` drawn when the challenge is made)."""
    rated: bool
    fen: str | None = None
    max_plies: int | None = None
    """Arena extension: a draw after this many moves (as a seek's ``max_plies``)."""
    status: str = "created"
    decline_key: str | None = None


def parse_challenge(challenger: BotRow, dest: BotRow, form: dict[str, str]) -> Challenge:
    """A challenge from ``POST /api/challenge/{username}``'s fields (form or JSON)."""
    if challenger.id == dest.id:
        raise ChallengeError("You cannot challenge yourself")
    variant = form.get("variant", "standard")
    if variant not in ("standard", "fromPosition"):
        raise ChallengeError(f"variant {variant!r} is not played here; use standard")
    limit, increment = form.get("clock.limit"), form.get("clock.increment")
    if limit is None:
        raise ChallengeError(
            "the arena plays real-time games only: give clock.limit and clock.increment"
        )
    try:
        limit_s, increment_s = int(float(limit)), int(float(increment or 0))
        control = TimeControl.parse(f"{limit_s}+{increment_s}")
    except ValueError as exc:
        raise ChallengeError(f"bad clock: {exc}") from None
    color = form.get("color", "random")
    if color not in ("white", "black", "random"):
        raise ChallengeError(f"color must be white, black or random, not {color!r}")
    plies_text = form.get("max_plies")
    if plies_text is not None and (not plies_text.isdigit() or not 1 <= int(plies_text) <= 10_000):
        raise ChallengeError(f"max_plies must be 1..10000, not {plies_text[:20]!r}")
    fen = form.get("fen") or None
    if fen is not None:
        try:
            valid = chess.Board(fen).is_valid()
        except ValueError:
            valid = False
        if not valid:
            raise ChallengeError(f"invalid fen {fen[:100]!r}")
    return Challenge(
        id=secrets.token_urlsafe(6)[:8],
        challenger=challenger,
        dest=dest,
        time_control=control,
        color=color,  # type: ignore[arg-type]
        final_color=secrets.choice(("white", "black")) if color == "random" else color,  # type: ignore[arg-type]
        rated=form.get("rated", "false").lower() == "true",
        fen=fen,
        max_plies=None if plies_text is None else int(plies_text),
    )


def _user(bot: BotRow, online: bool) -> dict[str, Any]:
    return {
        "id": user_id(bot.name),
        "name": bot.name,
        "title": "BOT",
        "rating": 1500,
        "provisional": True,
        "online": online,
    }


def challenge_json(
    challenge: Challenge, *, base_url: str = "", online: tuple[bool, bool] = (True, True)
) -> dict[str, Any]:
    """The challenge as lichess's ``ChallengeJson``."""
    control = challenge.time_control
    limit_s = (control.base_ms or 0) // 1000
    increment_s = control.increment_ms // 1000
    speed = speed_of(control)
    data: dict[str, Any] = {
        "id": challenge.id,
        "url": f"{base_url}/{challenge.id}",
        "status": challenge.status,
        "challenger": _user(challenge.challenger, online[0]),
        "destUser": _user(challenge.dest, online[1]),
        "variant": {"key": "standard", "name": "Standard", "short": "Std"},
        "rated": challenge.rated,
        "speed": speed,
        "timeControl": {
            "type": "clock",
            "limit": limit_s,
            "increment": increment_s,
            "show": f"{limit_s // 60 if limit_s % 60 == 0 else limit_s / 60:g}+{increment_s}",
        },
        "color": challenge.color,
        "finalColor": challenge.final_color,
        "perf": {"icon": "", "name": speed.capitalize()},
    }
    if challenge.fen is not None:
        data["initialFen"] = challenge.fen
    if challenge.decline_key is not None:
        data["declineReason"] = DECLINE_REASONS[challenge.decline_key]
        data["declineReasonKey"] = challenge.decline_key
    return data
