"""Limits and timeouts the server applies, as pure values, and a token bucket for rates.

Each limit bounds what one client (or many unauthenticated ones) can cost the
server; the defaults suit a public arena and every one is a field, so tests
and deployments can tighten or relax them.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, OrderedDict
from dataclasses import dataclass

__all__ = ["AddressBuckets", "AddressCounts", "Limits", "TokenBucket", "address_key"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits the server applies to websocket connections and to absent players."""

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
    max_pending_hello: int = 256
    """Bot connections that have not authenticated yet, server-wide; more are
    refused at the handshake (HTTP 503) until some say hello or time out."""
    max_pending_hello_per_address: int = 8
    """Connections waiting for ``hello`` from one client address (an IPv6 /64);
    more from it get HTTP 503, so one address cannot lock other bots out."""
    hello_timeout_crowded_s: float = 2.0
    """Time allowed before ``hello`` for a connection from an address that already
    has half its share waiting, or while the server has half its cap waiting."""
    max_spectators: int = 5000
    """Spectator connections (never authenticated), server-wide; more get HTTP 503."""
    max_spectators_per_address: int = 100
    """Spectator connections from one client address (an IPv6 /64); more get HTTP 503."""
    http_idle_timeout_s: int = 5
    """An idle keep-alive HTTP connection is closed after this long."""
    http_header_timeout_s: float = 10.0
    """An HTTP request whose head has not fully arrived this long after the
    connection opened (or the previous answer) is dropped (a slow-headers attack)."""
    shutdown_timeout_s: int = 3
    """On SIGINT/SIGTERM, open connections get this long to finish before the
    server closes them and exits."""
    page_rate_per_s: float = 20.0
    """Requests per second one client address may make for the pages read by many
    (``/``, ``/tournaments``, ``/games``, ``/players/...``, ``/api/leaderboard``,
    ``/api/tournaments``); beyond it (after a burst) HTTP 429 with ``Retry-After``."""
    page_burst: int = 60
    """Page requests one address may make at once before the rate applies."""
    max_game_meta_bytes: int = 2 * 1024 * 1024
    """Client-reported ``meta`` one game may store (encoded JSON, all moves); past
    it a move is still accepted, its ``comment`` and ``branches`` are dropped and
    the mover is warned."""
    idle_timeout_s: float = 900.0
    """A connection with no game in progress on which no frame went either way
    for this long is closed (4091); spectators of a quiet game reconnect."""
    ping_interval_s: float = 20.0
    """Websocket keepalive pings, to find half-open connections."""
    ping_timeout_s: float = 20.0
    """A ping not answered within this closes the connection (1011)."""
    replay_events: int = 64
    """Missed events a resuming client is sent one by one; a longer gap gets a snapshot."""
    grace_min_s: float = 10.0
    """Shortest grace period for an absent player (see :mod:`arena.presence`)."""
    grace_max_s: float = 120.0
    """Longest grace period for an absent player."""
    revocation_poll_s: float = 1.0
    """How often open connections are checked against revocations made by
    another process (``arena bot revoke``); revocations over the API act at once."""
    cluster_sweep_s: float = 1.0
    """On PostgreSQL, how often a server looks for servers that are gone, to take
    over their games (it also looks when a bot connects)."""
    cluster_ping_s: float = 10.0
    """On PostgreSQL, how often a server pings its own database session, and how long
    the answer may take before the server counts the session as lost (and stops)."""


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


def address_key(host: str | None) -> str:
    """The unit per-address caps count: the client's IPv4 address, or its IPv6 /64
    (one host usually holds a whole /64); ``"?"`` when unknown."""
    if not host:
        return "?"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class AddressBuckets:
    """A :class:`TokenBucket` per client address, the least recently used dropped
    beyond ``max_addresses`` (a dropped address starts again with a full burst)."""

    def __init__(self, rate_per_s: float, burst: int, max_addresses: int = 10_000) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, address: str, now: float) -> bool:
        """Spend one request of ``address`` at ``now`` (seconds); False when over its rate."""
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self.rate, self.burst, now)
            if len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(address)
        return bucket.allow(now)


class AddressCounts:
    """Open connections of one kind, counted per client address and in total."""

    def __init__(self) -> None:
        self._by_address: Counter[str] = Counter()
        self.total = 0

    def count(self, address: str) -> int:
        return self._by_address[address]

    def full(self, address: str, cap: int, per_address: int) -> str | None:
        """Why one more from ``address`` is refused (``"from this address"`` or
        ``"on this server"``), or ``None`` when it may connect."""
        if self._by_address[address] >= per_address:
            return "from this address"
        if self.total >= cap:
            return "on this server"
        return None

    def add(self, address: str) -> None:
        self._by_address[address] += 1
        self.total += 1

    def remove(self, address: str) -> None:
        self._by_address[address] -= 1
        if self._by_address[address] <= 0:
            del self._by_address[address]
        self.total -= 1
