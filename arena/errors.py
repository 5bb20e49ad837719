"""Error codes of protocol v1 and the arena's exception tree.

Every error the server reports has a stable number (sent as ``code``) and a
snake-case name (sent as ``name``); fatal ones are also used as the websocket
close code, so a client sees the same number either way. Codes are grouped::

    4000-4009  the message itself (malformed, unknown type, binary, too large)
    4010-4019  authentication (missing hello, bad token, protocol version, scope)
    4020-4039  games and seats (unknown game, not your turn, illegal move, ...)
    4040-4049  seeks (ad-hoc game requests)
    4090-4099  limits (rate, idle)
    4500       the server's own fault (never a traceback)

Exceptions::

    ArenaError(Exception)
    ├── ProtocolError      a message that cannot be accepted as sent
    └── MatchError         a move, resignation, ... refused by the match rules
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ArenaError", "ErrorCode", "MatchError", "ProtocolError"]


class ErrorCode(IntEnum):
    """Numbered error codes of protocol v1 (see docs/protocol.md)."""

    BAD_MESSAGE = 4000
    """Not valid JSON, or a field is missing or has the wrong type."""
    UNKNOWN_TYPE = 4001
    """The ``type`` field names no client message."""
    BINARY_FRAME = 4002
    """Binary frames are not part of the protocol; send JSON text."""
    TOO_LARGE = 4003
    """The frame exceeds the size limit (the server closes with 1009)."""
    HELLO_REQUIRED = 4010
    """The first message on a bot connection must be ``hello``."""
    BAD_TOKEN = 4011
    """The token is unknown or revoked."""
    UNSUPPORTED_PROTOCOL = 4012
    """The ``protocol`` version in ``hello`` is not served here."""
    ALREADY_AUTHENTICATED = 4013
    """A second ``hello`` on an authenticated connection."""
    REPLACED = 4014
    """Close code only: a newer connection of the same bot took over."""
    WRONG_SCOPE = 4016
    """The token is valid but not for this: an admin token cannot play, a bot
    token cannot administer."""
    UNKNOWN_GAME = 4020
    """No game with this id."""
    NOT_YOUR_GAME = 4021
    """The bot does not sit in this game."""
    NOT_YOUR_TURN = 4022
    """The other seat is to move."""
    WRONG_PLY = 4023
    """``ply`` does not match the number of moves already played."""
    ILLEGAL_MOVE = 4024
    """The move is not legal in the current position."""
    GAME_FINISHED = 4025
    """The game is over (or has not started) and accepts no moves."""
    READ_ONLY = 4026
    """Spectator connections cannot act."""
    BAD_PREDICTION = 4027
    """A ``predict`` message that cannot be stored (wrong ply, too many moves)."""
    GAME_PAUSED = 4028
    """The game waits, clocks stopped, for both players after a server restart."""
    BAD_SEEK = 4040
    """A ``seek`` with an unknown game, bad time control or unknown opponent."""
    RATE_LIMITED = 4090
    """Too many messages; slow down (repeated abuse closes the connection)."""
    IDLE = 4091
    """Close code only: nothing went either way for too long on a connection
    with no game in progress."""
    INTERNAL = 4500
    """The server failed; the message changed nothing."""


class ArenaError(Exception):
    """Base class of the arena's own errors; carries an :class:`ErrorCode`."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ProtocolError(ArenaError):
    """A message that cannot be accepted as sent (shape, auth, limits).

    ``game_id``, ``ply`` and ``ref`` (the message's type) are those the refused
    frame named, when it named them, so the error can say which frame it is about.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        game_id: str | None = None,
        ply: int | None = None,
        ref: str | None = None,
    ) -> None:
        super().__init__(code, message)
        self.game_id = game_id
        self.ply = ply
        self.ref = ref


class MatchError(ArenaError):
    """An action refused by the match rules; the match is unchanged."""
