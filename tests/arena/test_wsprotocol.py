"""The arena's websocket protocol: frames encoded once and written at once, over a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from websockets.frames import Frame, Opcode

from arena.serve import serve_asgi
from arena.wsprotocol import ReadAheadProtocol, direct_send_of, text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
def test_text_frame_is_what_websockets_sends(size: int) -> None:
    """An encoded frame has the bytes websockets writes for the same text, at every length form."""
    text = ("é" + "x" * size)[:size] if size else ""
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    assert text_frame(text) == expected


def test_direct_send_absent_without_the_extension() -> None:
    """A scope from another server (no extension) offers no synchronous write."""
    assert direct_send_of({"type": "websocket", "extensions": {}}) is None
    assert direct_send_of({"type": "websocket"}) is None


async def test_direct_send_writes_in_order_and_refuses_when_paused() -> None:
    """Frames written directly arrive in order with those sent through ASGI; while the
    transport is paused, or once the connection is closed, nothing is written."""
    written: list[bool] = []
    closed = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        direct = direct_send_of(scope)
        assert direct is not None
        protocol = direct.__self__  # type: ignore[attr-defined]
        written.append(direct(text_frame("one")))
        protocol.pause_writing()  # as the transport does when its buffer is full
        written.append(direct(text_frame("never")))
        protocol.resume_writing()
        written.append(direct(text_frame("two")))
        await send({"type": "websocket.send", "text": "three"})
        written.append(direct(text_frame("four")))
        await send({"type": "websocket.close", "code": 1000})
        written.append(direct(text_frame("after close")))
        closed.set()

    options: dict[str, Any] = {"ws": ReadAheadProtocol, "ws_per_message_deflate": False}
    async with serve_asgi(app, "127.0.0.1", 0, **options) as port:
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
            received = [await asyncio.wait_for(ws.recv(), 5) for _ in range(4)]
            with pytest.raises(websockets.ConnectionClosedOK):
                await asyncio.wait_for(ws.recv(), 5)
        await asyncio.wait_for(closed.wait(), 5)
    assert received == ["one", "two", "three", "four"]
    assert written == [True, False, True, True, False]


async def test_direct_send_refuses_when_deflate_was_negotiated() -> None:
    """With per-message deflate the frame must be compressed: the direct write declines
    and the ordinary send delivers it."""
    written: list[bool] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        direct = direct_send_of(scope)
        assert direct is not None
        written.append(direct(text_frame("raw")))
        await send({"type": "websocket.send", "text": "compressed"})
        await send({"type": "websocket.close", "code": 1000})

    async with (
        serve_asgi(app, "127.0.0.1", 0, ws=ReadAheadProtocol) as port,  # deflate on
        websockets.connect(f"ws://127.0.0.1:{port}/") as ws,
    ):
        assert await asyncio.wait_for(ws.recv(), 5) == "compressed"
    assert written == [False]
