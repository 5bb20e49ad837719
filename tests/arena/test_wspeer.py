"""WsPeer: frames written at once while the transport takes them, queued in order behind
any backlog, and a client that does not read closed once the queue is full."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from starlette.websockets import WebSocket

from arena.limits import Limits
from arena.server import WsPeer
from arena.wsprotocol import DIRECT_SEND, text_frame


class FakeSocket:
    """A websocket whose ordinary sends are recorded and can be held back, and whose
    direct write takes frames only while ``open_for_direct`` is set."""

    def __init__(self, *, direct: bool = True) -> None:
        self.open_for_direct = True
        self.direct_frames: list[bytes] = []
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.release = asyncio.Event()
        self.release.set()
        extensions = {DIRECT_SEND: {"send": self._direct}} if direct else {}
        self.scope: dict[str, Any] = {"type": "websocket", "extensions": extensions}

    def _direct(self, frame: bytes) -> bool:
        if not self.open_for_direct:
            return False
        self.direct_frames.append(frame)
        return True

    async def send_text(self, text: str) -> None:
        await self.release.wait()
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def peer_of(sock: FakeSocket, send_queue: int = 8) -> WsPeer:
    return WsPeer(cast(WebSocket, sock), Limits(send_queue=send_queue))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_frames_written_directly_when_the_transport_takes_them() -> None:
    """With nothing queued, each frame is written at once, encoded once, with no writer hop."""
    sock = FakeSocket()
    peer = peer_of(sock)
    peer.send('{"type":"pong"}')
    peer.send('{"type":"pong","id":"2"}')
    assert sock.direct_frames == [
        text_frame('{"type":"pong"}'),
        text_frame('{"type":"pong","id":"2"}'),
    ]
    assert sock.sent == []


async def test_several_frames_go_out_in_one_write_in_order() -> None:
    """``send(a, b)`` (a mover's ``move_ack`` and ``state``) is one direct write of both
    frames, in order; behind a backlog both are queued, in order."""
    sock = FakeSocket()
    peer = peer_of(sock)
    peer.send("ack", "state")
    assert sock.direct_frames == [text_frame("ack") + text_frame("state")]
    sock.open_for_direct = False
    peer.send("ack2", "state2")
    writer = asyncio.create_task(peer.writer())
    await settle()
    assert sock.sent == ["ack2", "state2"]
    peer.close(1000, "bye")
    await asyncio.wait_for(writer, 1)


async def test_backpressure_queues_and_keeps_the_order() -> None:
    """While the transport is backed up frames are queued; later frames wait behind them
    even once it takes frames again, and go direct only after the queue is sent."""
    sock = FakeSocket()
    peer = peer_of(sock)
    writer = asyncio.create_task(peer.writer())
    sock.open_for_direct = False
    sock.release.clear()  # the writer's send waits, as on a paused transport
    peer.send("a")
    sock.open_for_direct = True
    await settle()  # the writer now holds "a"
    peer.send("b")  # the queue is empty but "a" is not sent: "b" must not overtake it
    sock.release.set()
    await settle()
    assert sock.sent == ["a", "b"]
    assert sock.direct_frames == []
    peer.send("c")
    assert sock.direct_frames == [text_frame("c")]
    peer.close(1000, "bye")
    await asyncio.wait_for(writer, 1)
    assert sock.closed == (1000, "bye")


async def test_client_that_does_not_read_is_closed() -> None:
    """Once ``send_queue`` frames wait behind a backed-up transport the connection is
    closed with 1008 and nothing more is queued."""
    sock = FakeSocket()
    sock.open_for_direct = False
    sock.release.clear()
    peer = peer_of(sock, send_queue=3)
    for n in range(5):
        peer.send(str(n))
    writer = asyncio.create_task(peer.writer())
    await asyncio.wait_for(writer, 1)
    assert sock.closed is not None and sock.closed[0] == 1008
    assert sock.sent == [] and sock.direct_frames == []


async def test_without_direct_send_everything_goes_through_the_writer() -> None:
    """On a server that offers no synchronous write, frames go through the queue in order."""
    sock = FakeSocket(direct=False)
    peer = peer_of(sock)
    writer = asyncio.create_task(peer.writer())
    for text in ("x", "y", "z"):
        peer.send(text)
    await settle()
    assert sock.sent == ["x", "y", "z"]
    peer.close(1000, "bye")
    await asyncio.wait_for(writer, 1)
