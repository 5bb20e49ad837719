"""The one rule for bot names that people choose (``arena bot add``, ``POST /api/bots``,
players of a tournament created over the API).

A name appears in URLs (``/players/{name}``), logs and the crosstable, so it is
short, starts with a letter or digit, and holds no space, slash, quote or
control character. Names the arena makes itself for built-in players
(``arena play stockfish:nodes=20000 random``) are their specs and may be longer.
"""

from __future__ import annotations

import re

__all__ = ["BOT_NAME", "NAME_RULE", "check_name"]

BOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:#+=@-]{0,63}")
"""A valid name, matched with ``fullmatch``."""
NAME_RULE = "1-64 letters, digits and _.:#+=@- (starting with a letter or digit)"


def check_name(name: str) -> str:
    """``name`` if it follows the rule; ``ValueError`` quoting it otherwise."""
    if not BOT_NAME.fullmatch(name):
        raise ValueError(f"bot name {name[:80]!r} is not valid: a name is {NAME_RULE}")
    return name
