"""Run the arena's ASGI app on uvicorn inside the current event loop.

Used by ``arena serve`` (until Ctrl-C), by ``arena play`` (an embedded server
on a free port) and by the tests (port 0 on loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from arena.host import Host
from arena.limits import Limits
from arena.server import create_app
from arena.store import Store

__all__ = ["RunningServer", "running_server", "serve_asgi"]


@dataclass(frozen=True)
class RunningServer:
    """A server listening on ``host:port`` over ``store``."""

    host_name: str
    port: int
    store: Store
    host: Host

    @property
    def url(self) -> str:
        return f"http://{self.host_name}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host_name}:{self.port}/ws"


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, host_name: str, port: int, **options: Any) -> AsyncIterator[int]:
    """Serve an ASGI app on uvicorn in this event loop; yields the bound port.

    ``port=0`` picks a free port. Extra ``options`` go to :class:`uvicorn.Config`.
    """
    options.setdefault("log_level", "warning")
    config = uvicorn.Config(app, host=host_name, port=port, lifespan="off", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn offers no readiness event to await
        if task.done():
            task.result()  # re-raise why it could not start (e.g. port in use)
            raise RuntimeError("server stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def running_server(
    db: str,
    *,
    host_name: str = "127.0.0.1",
    port: int = 0,
    limits: Limits | None = None,
    log_level: str = "warning",
) -> AsyncIterator[RunningServer]:
    """Open the store at ``db``, serve it, and stop cleanly on exit.

    ``port=0`` picks a free port; the bound one is in the result.
    """
    limits = limits or Limits()
    store = await Store.open(db)
    host = Host(store)
    try:
        from web.routes import routes as web_routes

        app = create_app(store, host, limits, extra_routes=web_routes(store))
        async with serve_asgi(
            app,
            host_name,
            port,
            ws="websockets-sansio",
            ws_max_size=limits.max_message_bytes,
            ws_ping_interval=20.0,
            ws_ping_timeout=20.0,
            log_level=log_level,
        ) as bound:
            try:
                yield RunningServer(host_name, bound, store, host)
            finally:
                await host.close()
    finally:
        await store.close()


def configure_logging(level: str = "info") -> None:
    """Plain log lines on stderr for ``arena serve``."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
