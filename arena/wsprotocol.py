"""The websocket protocol uvicorn runs for the arena: its sans-I/O one, with
read-ahead and a synchronous write of encoded frames.

uvicorn's ``websockets-sansio`` protocol stops reading the socket after every
message and starts again once the app has taken it: two ``epoll_ctl`` system
calls and selector bookkeeping per message, a tenth of the server's time under
load. :class:`ReadAheadProtocol` keeps reading until :data:`READ_AHEAD`
messages are waiting for the app, and only then applies the same
back-pressure, so a connection still holds a bounded number of messages
(each at most ``max_message_bytes``).

Sending through ASGI costs a task switch and five layers per frame (a queue,
a writer task, Starlette, uvicorn, the websockets state machine). The
protocol also offers, under the scope extension :data:`DIRECT_SEND`, a plain
function that writes an already encoded text frame (:func:`text_frame`) to
the transport at once, when nothing stands in the way; when it cannot (the
transport's buffer is full, the connection is closing) it says so and the
caller sends the frame the ordinary way.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Mapping
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

__all__ = [
    "DIRECT_SEND",
    "READ_AHEAD",
    "DirectSend",
    "ReadAheadProtocol",
    "direct_send_of",
    "text_frame",
]

READ_AHEAD = 8
"""Messages a connection may hold for the app before reading pauses."""

DIRECT_SEND = "arena.direct_send"
"""Key of the scope extension (``scope["extensions"]``) whose ``"send"`` is a
:data:`DirectSend` (an ASGI extension's value is a dict)."""

DirectSend = Callable[[bytes], bool]
"""Write encoded frames (one, or several concatenated: one system call) now and
return True, or return False (nothing written) when it must wait: the
transport is paused or the connection is not open. Frames written this way go
out in call order, between whole frames the protocol writes itself (pings,
close)."""

_SHORT = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")
_FIN_TEXT = 0x81


@functools.lru_cache(maxsize=8)
def text_frame(text: str) -> bytes:
    """``text`` as one final, unmasked websocket text frame (RFC 6455 section 5.2),
    the bytes a server sends.

    Server frames are not masked, so one frame's bytes are the same for every
    receiver; the few latest are kept, so an event broadcast to several
    connections is encoded once.
    """
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return bytes((_FIN_TEXT, size)) + payload
    if size < 1 << 16:
        return _SHORT.pack(_FIN_TEXT, 126, size) + payload
    return _LONG.pack(_FIN_TEXT, 127, size) + payload


def direct_send_of(scope: Mapping[str, Any]) -> DirectSend | None:
    """The :data:`DirectSend` of a connection's ASGI scope, if its server offers one."""
    offered = scope.get("extensions", {}).get(DIRECT_SEND)
    send = None if offered is None else offered.get("send")
    return send if callable(send) else None


class ReadAheadProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websocket protocol, pausing reads only past :data:`READ_AHEAD`,
    with :meth:`write_frame` offered to the app as :data:`DIRECT_SEND`."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # the handshake goes on: the app is about to run
            extensions = self.scope.get("extensions")
            if extensions is not None:
                extensions[DIRECT_SEND] = {"send": self.write_frame}

    def write_frame(self, frame: bytes) -> bool:
        """Write ``frame`` (from :func:`text_frame`) to the transport now, if the
        connection is open, its transport not paused, and no extension (such as
        per-message deflate) or frame logging needs the frame to go through the
        websockets state machine; otherwise write nothing and return False."""
        conn = self.conn
        if (
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and self.writable.is_set()
            and conn.state is State.OPEN
            and not conn.extensions
            and not conn.debug
            and not conn.expect_continuation_frame
            and not self.transport.is_closing()
        ):
            self.transport.write(frame)
            return True
        return False

    def send_receive_event_to_app(self) -> None:
        paused = self.read_paused
        # The parent pauses reading after queueing any message unless reading is
        # already paused: let it think so, then pause only when the queue is full.
        self.read_paused = True
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = paused
        if not paused and self.queue.qsize() >= READ_AHEAD:
            self.read_paused = True
            self.transport.pause_reading()
