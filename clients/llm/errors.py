"""Errors of the LLM players.

Exceptions::

    LLMError(Exception)
    ├── ParseError(LLMError, ValueError)         a reply with no readable legal move
    ├── IllegalAnswerError(LLMError, ValueError) no legal move after every rethink
    ├── LLMTimeoutError(LLMError, TimeoutError)  the call's deadline passed
    └── EndpointError(LLMError)                  the endpoint refused or failed (HTTP)
        └── RateLimitedError(EndpointError)      429 with no time left to wait

A speculator never raises them: it logs a warning and predicts nothing.
"""

from __future__ import annotations

__all__ = [
    "EndpointError",
    "IllegalAnswerError",
    "LLMError",
    "LLMTimeoutError",
    "ParseError",
    "RateLimitedError",
    "excerpt",
]

EXCERPT_CHARS = 200


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis and the full length if cut)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} chars)"


class LLMError(Exception):
    """Base class of the errors of the LLM actor and speculator."""


class ParseError(LLMError, ValueError):
    """A reply from which no legal move can be read.

    ``reason`` says what was wrong (sent back to the model as feedback);
    ``reply`` is the reply itself. The message quotes at most 200 characters of it.
    """

    def __init__(self, reason: str, reply: str) -> None:
        self.reason = reason
        self.reply = reply
        super().__init__(f"{reason}; reply: {excerpt(reply)!r}")


class IllegalAnswerError(LLMError, ValueError):
    """The model gave no legal move, even after its rethinks: the player cannot move."""


class LLMTimeoutError(LLMError, TimeoutError):
    """A call did not finish before its deadline (the per-call cap or the clock)."""


class EndpointError(LLMError):
    """The endpoint answered with an HTTP error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class RateLimitedError(EndpointError):
    """429 Too Many Requests, and the wait it asks for does not fit in the time left."""
