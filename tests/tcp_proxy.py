"""A local TCP proxy for fault tests: forwards bytes; on command drops, stalls or delays them.

Clients connect to the proxy's port; each connection is forwarded to the
target. :meth:`TcpProxy.drop` cuts every open connection at once (both sides
see the TCP connection end, as when a network path dies); :meth:`TcpProxy.stall`
holds all traffic (nothing is lost, as in a congested or briefly partitioned
link) until :meth:`TcpProxy.release`; ``delay_s`` holds every chunk that long
before it is passed on (order kept).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

__all__ = ["TcpProxy", "tcp_proxy"]


@dataclass(eq=False)
class _Pipe:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    upstream_reader: asyncio.StreamReader
    upstream_writer: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for task in self.tasks:
            task.cancel()
        for writer in (self.writer, self.upstream_writer):
            transport = writer.transport
            if not transport.is_closing():
                transport.abort()


@dataclass(eq=False)
class TcpProxy:
    """The running proxy (see :func:`tcp_proxy`)."""

    target: tuple[str, int]
    port: int = 0
    delay_s: float = 0.0
    connections: int = 0
    """Connections accepted so far."""
    drops: int = 0
    stalls: int = 0
    _pipes: set[_Pipe] = field(default_factory=set)
    _flowing: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._flowing.set()

    def drop(self) -> int:
        """Cut every open connection; returns how many."""
        pipes = list(self._pipes)
        for pipe in pipes:
            pipe.abort()
        self._pipes.clear()
        self.drops += 1
        return len(pipes)

    def stall(self) -> None:
        """Hold all traffic, both ways, until :meth:`release` (nothing is lost)."""
        self.stalls += 1
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    @property
    def open_connections(self) -> int:
        return len(self._pipes)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        pipe = _Pipe(reader, writer, up_reader, up_writer)
        self._pipes.add(pipe)
        pipe.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, pipe)),
            asyncio.create_task(self._pump(up_reader, writer, pipe)),
        ]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*pipe.tasks, return_exceptions=True)
        self._pipes.discard(pipe)
        pipe.abort()

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, pipe: _Pipe
    ) -> None:
        try:
            while True:
                chunk = await source.read(65536)
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                await self._flowing.wait()
                if not chunk:  # the other side closed: close this one once flowing
                    pipe.abort()
                    return
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, OSError):
            pipe.abort()


@contextlib.asynccontextmanager
async def tcp_proxy(host: str, port: int) -> AsyncIterator[TcpProxy]:
    """A proxy on a free loopback port in front of ``host:port``."""
    proxy = TcpProxy((host, port))
    server = await asyncio.start_server(proxy._handle, "127.0.0.1", 0)
    proxy.port = int(server.sockets[0].getsockname()[1])
    try:
        yield proxy
    finally:
        server.close()
        proxy.release()
        proxy.drop()
        await server.wait_closed()
