"""Who may do what: token scopes and the websocket ``Origin`` check, as pure functions.

Principals: a *bot* (a token of scope ``bot``) plays in its own seats of its
own games; an *admin* (a token of scope ``admin``) registers bots, revokes
tokens and creates tournaments over the JSON API; anyone may watch. Tokens are
random secrets stored as SHA-256 hashes (:func:`arena.store.hash_token`), sent
in ``hello`` or an ``Authorization: Bearer`` header, never in a URL, and never
written to logs, errors or API answers (except once, to the admin that
created one).

Browsers send ``Origin`` on websocket handshakes and let any page open a
websocket to any host, so the server accepts a browser connection only from
its own origin or an allowed one; programs (bots, ``websockets``) send no
``Origin`` and are accepted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from enum import StrEnum
from urllib.parse import urlsplit

from websockets.frames import Frame

__all__ = [
    "REDACTED_LOGGERS",
    "Scope",
    "TokenRedactor",
    "install_token_redaction",
    "origin_allowed",
]


class Scope(StrEnum):
    """What a token lets its holder do."""

    BOT = "bot"
    """Play: connect to ``/ws`` as the bot and act in its own seats."""
    ADMIN = "admin"
    """Administer: register bots, revoke tokens, create tournaments (JSON API)."""


def origin_allowed(origin: str | None, host: str | None, allowed: Collection[str] = ()) -> bool:
    """Whether a websocket handshake with this ``Origin`` may proceed.

    ``host`` is the request's ``Host`` header. No ``Origin`` (not a browser),
    the server's own origin, an origin listed in ``allowed`` (exact
    ``scheme://host[:port]``), or ``"*"`` in ``allowed`` pass.
    """
    if origin is None:
        return True
    if "*" in allowed or origin.rstrip("/") in {a.rstrip("/") for a in allowed}:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc or host is None:
        return False
    return parts.netloc.lower() == host.strip().lower()


_SECRETS = re.compile(r'(?P<key>"token"\s*:\s*"|[Bb]earer\s+)[^"\s]*|arena_[A-Za-z0-9_-]{8,}')

REDACTED_LOGGERS = ("uvicorn.error", "uvicorn.access", "websockets.server", "websockets.client")
"""Loggers that may see raw frames or headers (websockets logs every frame at DEBUG)."""


class TokenRedactor(logging.Filter):
    """Replaces tokens in log records (``"token": "..."``, ``Bearer ...``, ``arena_...``),
    and drops the records of frames received from clients (websockets logs each
    one at DEBUG as ``< TEXT ...``): a ``hello`` split across several frames
    would show part of its token where no pattern can recognise it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.msg == "< %s"
            and isinstance(record.args, tuple)
            and record.args
            and isinstance(record.args[0], Frame)
        ):
            return False
        message = record.getMessage()
        redacted = _SECRETS.sub(lambda m: (m.group("key") or "") + "[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_token_redaction() -> None:
    """Add a :class:`TokenRedactor` to the loggers that can see tokens (once)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactor) for f in logger.filters):
            logger.addFilter(TokenRedactor())
