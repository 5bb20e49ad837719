"""The websocket protocol uvicorn runs for the arena: its sans-I/O one, with read-ahead.

uvicorn's ``websockets-sansio`` protocol stops reading the socket after every
message and starts again once the app has taken it: two ``epoll_ctl`` system
calls and selector bookkeeping per message, a tenth of the server's time under
load. :class:`ReadAheadProtocol` keeps reading until :data:`READ_AHEAD`
messages are waiting for the app, and only then applies the same
back-pressure, so a connection still holds a bounded number of messages
(each at most ``max_message_bytes``).
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["READ_AHEAD", "ReadAheadProtocol"]

READ_AHEAD = 8
"""Messages a connection may hold for the app before reading pauses."""


class ReadAheadProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websocket protocol, pausing reads only past :data:`READ_AHEAD`."""

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
