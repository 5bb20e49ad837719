"""Per-connection limits as pure values: a token bucket for the message rate."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits the server applies to every websocket connection."""

    max_message_bytes: int = 64 * 1024
    """Larger frames close the connection with code 1009 (message too big)."""
    rate_per_s: float = 200.0
    """Sustained messages per second per connection (a fast bot in a fast game
    sends about one per move; floods are what this stops)."""
    burst: int = 400
    """Messages allowed at once before the rate applies."""
    max_strikes: int = 20
    """Messages refused for rate in a row before the connection is closed (4090)."""
    hello_timeout_s: float = 10.0
    """Time allowed between connecting and a valid ``hello``."""
    send_queue: int = 1024
    """Outgoing messages buffered per connection; a client this far behind is closed."""


class TokenBucket:
    """Classic token bucket: ``allow(now)`` spends one token if there is one."""

    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = now

    def allow(self, now: float) -> bool:
        """Spend a token at time ``now`` (seconds); False when the bucket is empty."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
