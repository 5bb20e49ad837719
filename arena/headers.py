"""Security headers on every HTTP answer of the arena (pages, JSON API, static files),
and a per-address rate for the pages read by many.

The pages use only their own scripts and styles (``web/static``), images from
the same origin (the board SVG) and a websocket back to the same host (the live
view), so the Content-Security-Policy allows exactly that and nothing inline:
an injected ``<script>`` or ``onerror=`` attribute would not run even if some
escaping failed. Framing is refused (clickjacking), content types are not
sniffed, and no page address leaks to other sites in ``Referer``.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arena.limits import AddressBuckets, address_key

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "SECURITY_HEADERS",
    "PageRate",
    "SecurityHeaders",
    "is_page",
]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""What a page may load: its own scripts, styles, images, fetches and websocket."""

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
)


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response, keeping
    any the app already set. Websockets pass untouched (no cost per frame)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._encoded = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in self._encoded if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


PAGE_PREFIXES = ("/tournaments", "/games", "/players/", "/api/leaderboard", "/api/tournaments")
"""Paths read by many (besides ``/`` and the exact ``/games``): the per-address page rate
applies to them; a game's own page, its board and timeline, the game API and static
files are not limited (a replay loads many of them)."""


def is_page(path: str) -> bool:
    """Whether ``path`` is one of the pages read by many (rate limited per address)."""
    if path in ("/", "/games", "/tournaments"):
        return True
    if path.startswith("/games/"):
        return False
    return path.startswith(PAGE_PREFIXES)


class PageRate:
    """ASGI middleware: GET requests for the pages read by many, per client address,
    at most ``rate`` per second after a burst; more get HTTP 429 with ``Retry-After``
    (answered before any page work). Keeps anonymous readers from taking the event
    loop that relays moves."""

    def __init__(self, app: ASGIApp, rate_per_s: float, burst: int) -> None:
        self.app = app
        self.buckets = AddressBuckets(rate_per_s, burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET" and is_page(scope["path"]):
            client = scope.get("client")
            address = address_key(client[0] if client else None)
            if not self.buckets.allow(address, time.monotonic()):
                await _too_many(send)
                return
        await self.app(scope, receive, send)


async def _too_many(send: Send) -> None:
    body = b'{"error":"too many page requests from this address; retry in a second"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
