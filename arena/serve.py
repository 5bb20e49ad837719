"""Run the arena's ASGI app on uvicorn inside the current event loop.

Used by ``arena serve`` (until Ctrl-C), by ``arena play`` (an embedded server
on a free port) and by the tests (port 0 on loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import uvicorn

from arena.access import install_token_redaction
from arena.boards import Boards
from arena.host import Host
from arena.httpprotocol import head_timeout_protocol
from arena.lichess import LichessApi
from arena.limits import Limits
from arena.server import create_app
from arena.specpolicy import SpecPolicy
from arena.store import Store
from arena.wsprotocol import ReadAheadProtocol

if TYPE_CHECKING:
    from arena.cluster import Cluster
    from arena.tournament.service import TournamentService

__all__ = [
    "GC_CHECK_S",
    "GC_GROWTH",
    "RunningServer",
    "collect_garbage",
    "collector_for_serving",
    "collector_paused",
    "running_server",
    "serve_asgi",
]

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
    boards: Boards | None = None
    """The caches of leaderboards and ratings the pages and the API answer from."""

    @property
    def url(self) -> str:
        return f"http://{self.host_name}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host_name}:{self.port}/ws"


@contextlib.asynccontextmanager
async def serve_asgi(
    app: Any,
    host_name: str,
    port: int,
    on_exit: Callable[[], None] | None = None,
    **options: Any,
) -> AsyncIterator[int]:
    """Serve an ASGI app on uvicorn in this event loop; yields the bound port.

    ``port=0`` picks a free port. ``on_exit`` is called as soon as the server
    begins to stop, whoever stops it (uvicorn's own SIGINT/SIGTERM handlers
    included), before it waits for open connections: long HTTP streams end
    there, or they would hold the stop until its timeout. Extra ``options`` go
    to :class:`uvicorn.Config`.
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
    watcher = asyncio.create_task(_when_exiting(server, task, on_exit))
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
            await task


async def _when_exiting(
    server: uvicorn.Server, task: asyncio.Task[None], on_exit: Callable[[], None] | None
) -> None:
    """Call ``on_exit`` once uvicorn is told to stop (it has no event for that)."""
    while not server.should_exit and not task.done():  # noqa: ASYNC110 - no event to wait on
        await asyncio.sleep(0.05)
    if on_exit is not None:
        on_exit()


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
    spec_policy: SpecPolicy | None = None,
) -> AsyncIterator[RunningServer]:
    """Open the store at ``db``, serve it, and stop cleanly on exit.

    ``port=0`` picks a free port; the bound one is in the result. With
    ``recover``, every unfinished game in the store is resumed before the
    first connection is accepted (``arena serve`` does this after a crash);
    with ``run_tournaments``, the server runs the tournaments created over the
    admin API and resumes those left running, their players checked against
    ``spec_policy`` (by default Debian's engines, no API key variables). Open
    connections are checked
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

            service = TournamentService(store, spec_policy or SpecPolicy.configured())
        from web.routes import routes as web_routes

        boards = Boards(store)
        lichess = LichessApi(store, host, limits)

        app = create_app(
            store,
            host,
            limits,
            extra_routes=web_routes(store, boards),
            boards=boards,
            allowed_origins=allowed_origins,
            tournaments=service,
            lichess=lichess,
        )
        async with serve_asgi(
            app,
            host_name,
            port,
            ws=ReadAheadProtocol,
            http=head_timeout_protocol(limits.http_header_timeout_s),
            # Frames are small JSON: compressing each costs more CPU than it saves
            # (an eighth of the server's time under load), so it is not offered.
            ws_per_message_deflate=False,
            ws_max_size=limits.max_message_bytes,
            ws_ping_interval=limits.ping_interval_s,
            ws_ping_timeout=limits.ping_timeout_s,
            timeout_keep_alive=limits.http_idle_timeout_s,
            timeout_graceful_shutdown=limits.shutdown_timeout_s,
            log_level=log_level,
            on_exit=lichess.shutdown,  # its HTTP streams would hold uvicorn's stop
        ) as bound:
            server = RunningServer(host_name, bound, store, host, service, cluster, boards)
            warm = asyncio.create_task(_warm(boards))
            stop = asyncio.Event()
            poller = asyncio.create_task(_poll_revocations(host, limits.revocation_poll_s, stop))
            try:
                if service is not None:
                    await service.start(server)
                yield server
            finally:
                warm.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await warm
                if service is not None:
                    await service.close()
                lichess.shutdown()  # its HTTP streams would hold uvicorn's shutdown
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


async def _warm(boards: Boards) -> None:
    """Compute the leaderboard once at start-up, so the first reader does not wait for it."""
    try:
        await boards.leaderboard()
    except Exception:  # a page will try again (and answer the error)
        log.exception("could not compute the leaderboard at start-up")


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


GC_GROWTH = 100_000
"""Net new objects (tracked by the collector) that trigger a collection of a serving process."""
GC_CHECK_S = 1.0
"""How often a serving process looks at that growth."""


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Inside the block, what existed at its start is frozen (never scanned again)
    and automatic cyclic garbage collection is off; both are restored after it."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


@contextlib.asynccontextmanager
async def collector_for_serving() -> AsyncIterator[None]:
    """Take the cyclic garbage collector off the event loop's hot path.

    Reference counting frees almost every object a server makes; the
    collector is only needed for cycles (a closed connection's protocol and
    transport, an exception and its traceback). But under load the objects
    that live a turn are many: every connection waits on a chain of
    coroutines and futures renewed at every frame, and every game holds its
    current position. Measured with ``arena bench load`` (1,000 games), a
    young-generation collection found 50,000-80,000 such live objects and
    stopped the event loop for 50-70 ms, three times a second; with
    Python's default thresholds 60% of the CPU went to full collections,
    and one full collection of the loaded heap took 0.7 s.

    So inside the block automatic collection is off (:func:`collector_paused`:
    what exists at its start, after start-up, is frozen) and
    :func:`collect_garbage` collects when the heap has grown instead. Should
    that task ever fail, it is logged and automatic collection comes back.
    """

    def failed(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "the garbage collector task failed; automatic collection is back on",
                exc_info=task.exception(),
            )
            gc.enable()

    with collector_paused():
        collector = asyncio.create_task(collect_garbage())
        collector.add_done_callback(failed)
        try:
            yield
        finally:
            collector.cancel()


async def collect_garbage(growth: int = GC_GROWTH, check_s: float = GC_CHECK_S) -> None:
    """Collect whenever ``growth`` net new objects exist since the last collection.

    The collector's young-generation count keeps counting while automatic
    collection is off: allocations minus deallocations, so it grows with
    what is kept alive and with cyclic garbage (which reference counting
    cannot free), not with the churn of a steady load. Survivors are frozen.
    Cycles among frozen objects wait for a full pass, which runs once the
    frozen objects have doubled since the last one, so garbage among them
    stays below the size the frozen heap had at the last full pass (the
    first full pass comes when the heap has doubled since start-up, usually
    while games are being set up). Runs until cancelled, logging each pause.
    """
    full_at = 2 * max(gc.get_freeze_count(), growth)
    while True:
        await asyncio.sleep(check_s)
        if gc.get_count()[0] < growth:
            continue
        full = gc.get_freeze_count() >= full_at
        began = time.perf_counter()
        if full:
            gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        pause_ms = (time.perf_counter() - began) * 1000.0
        if full:
            full_at = 2 * max(gc.get_freeze_count(), growth)
        log.info(
            "garbage collection (%s): %d unreachable objects freed in %.0f ms",
            "full" if full else "new objects",
            found,
            pause_ms,
        )


def configure_logging(level: str = "info") -> None:
    """Plain log lines on stderr for ``arena serve``."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
