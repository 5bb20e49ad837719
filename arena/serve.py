"""Run the arena's ASGI app on uvicorn inside the current event loop.

Used by ``arena serve`` (until Ctrl-C), by ``arena play`` (an embedded server
on a free port) and by the tests (port 0 on loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import uvicorn

from arena.access import install_token_redaction
from arena.host import Host
from arena.limits import Limits
from arena.server import create_app
from arena.store import Store
from arena.wsprotocol import ReadAheadProtocol

if TYPE_CHECKING:
    from arena.cluster import Cluster
    from arena.tournament.service import TournamentService

__all__ = ["GC_THRESHOLDS", "RunningServer", "running_server", "serve_asgi", "tune_gc_for_serving"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningServer:
    """A server listening on ``host:port`` over ``store``."""

    host_name: str
    port: int
    store: Store
    host: Host
    tournaments: TournamentService | None = None
    """The tournaments this server runs (``run_tournaments=True``)."""
    cluster: Cluster | None = None
    """This process as a node of a cluster (on PostgreSQL, see :mod:`arena.cluster`)."""

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
    recover: bool = False,
    run_tournaments: bool = False,
    allowed_origins: Collection[str] = (),
) -> AsyncIterator[RunningServer]:
    """Open the store at ``db``, serve it, and stop cleanly on exit.

    ``port=0`` picks a free port; the bound one is in the result. With
    ``recover``, every unfinished game in the store is resumed before the
    first connection is accepted (``arena serve`` does this after a crash);
    with ``run_tournaments``, the server runs the tournaments created over the
    admin API and resumes those left running. Open connections are checked
    against token revocations every ``limits.revocation_poll_s``.

    On PostgreSQL the server is a node of a cluster (:mod:`arena.cluster`):
    other servers on the same database host games with it, and ``recover``
    takes over only the games and tournaments of servers that are gone.
    """
    limits = limits or Limits()
    install_token_redaction()  # websockets logs whole frames (hello included) at DEBUG
    store = await Store.open(db)
    host = Host(store, limits=limits)
    service: TournamentService | None = None
    cluster: Cluster | None = None
    try:
        if store.is_postgres:
            from arena.cluster import Cluster

            cluster = await Cluster.start(
                store,
                host,
                adopt=recover,
                sweep_s=limits.cluster_sweep_s,
                ping_s=limits.cluster_ping_s,
            )
        elif recover:
            await host.recover()
        if run_tournaments:
            from arena.tournament.service import TournamentService

            service = TournamentService(store)
        from web.routes import routes as web_routes

        app = create_app(
            store,
            host,
            limits,
            extra_routes=web_routes(store),
            allowed_origins=allowed_origins,
            tournaments=service,
        )
        async with serve_asgi(
            app,
            host_name,
            port,
            ws=ReadAheadProtocol,
            # Frames are small JSON: compressing each costs more CPU than it saves
            # (an eighth of the server's time under load), so it is not offered.
            ws_per_message_deflate=False,
            ws_max_size=limits.max_message_bytes,
            ws_ping_interval=limits.ping_interval_s,
            ws_ping_timeout=limits.ping_timeout_s,
            log_level=log_level,
        ) as bound:
            server = RunningServer(host_name, bound, store, host, service, cluster)
            stop = asyncio.Event()
            poller = asyncio.create_task(_poll_revocations(host, limits.revocation_poll_s, stop))
            try:
                if service is not None:
                    await service.start(server)
                yield server
            finally:
                if service is not None:
                    await service.close()
                stop.set()  # not cancelled: a query cut off mid-way would strand its connection
                await poller
                if cluster is not None:  # first: no game is taken over while stopping
                    await cluster.close()
                    cluster = None
                await host.close()
    finally:
        if cluster is not None:  # the server did not start
            await cluster.close()
        await store.close()


async def _poll_revocations(host: Host, every_s: float, stop: asyncio.Event) -> None:
    """Close connections whose token was revoked by another process (``arena bot revoke``)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every_s):
                await stop.wait()
            return
        try:
            revoked = await host.store.revoked_among(host.connected_tokens())
        except Exception:  # a busy database must not end the poller
            log.exception("could not check tokens for revocation")
            continue
        if revoked:
            log.info("closing %d connection(s) whose token was revoked", host.revoke(revoked))


GC_THRESHOLDS = (10_000, 50, 100)
"""Collection thresholds of a serving process (Python's defaults are 700, 10, 10)."""


def tune_gc_for_serving() -> None:
    """Make the cyclic garbage collector cheap for a long-running server.

    Under load a server process holds hundreds of thousands of long-lived
    objects (connections, games, their move records), and every move makes
    short-lived ones (boards, frames) that live as long as a turn. With
    Python's default thresholds those outlive a young collection, are
    promoted, and trigger full collections every few seconds: measured with
    ``arena bench load``, 60% of the server's CPU went to the collector, in
    pauses of up to 0.6 s. Here, what exists after start-up is frozen (never
    scanned again) and young collections run every 10,000 allocations
    instead of 700, so objects that live a turn die before they are
    promoted. Reference counting frees almost everything anyway; only
    cycles wait for a collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def configure_logging(level: str = "info") -> None:
    """Plain log lines on stderr for ``arena serve``."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
