"""A populated arena for the page tests: two small stored tournaments (chess with
real Stockfish players speculating, and Connect Four), served on a free
loopback port by the real server in a background thread with its own event
loop, so that synchronous tests (Playwright's sync API, httpx) can use it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from arena.serve import RunningServer, running_server
from arena.tournament.config import config_from_dict
from arena.tournament.runner import TournamentRunner

T = TypeVar("T")

CHESS = {
    "name": "web-chess",
    "game": "chess",
    "format": "round-robin",
    "openings": "bundled",
    "opening_pairs": 1,
    "time_control": "60+1",
    "max_plies": 24,
    "concurrency": 2,
    "players": [
        # The speculator (300 nodes) is far faster than the actors, so predictions
        # arrive and branches run before the opponent moves even on a loaded machine;
        # the actors are slow enough that a game outlasts the speculator engine's
        # start-up (~0.2 s, more under load).
        {
            "name": "sf-pipelined",
            "spec": "stockfish:nodes=60000,spec=engine,spec_nodes=300,k=2,depth=2,adaptive=false",
        },
        {
            "name": "sf-onestep",
            "spec": "stockfish:nodes=40000,spec=engine,spec_nodes=300,k=1,adaptive=false",
        },
        {"name": "rnd", "spec": "random:seed=1"},
    ],
    "anchor": {"player": "rnd", "rating": 1000},
}
CONNECT4 = {
    "name": "web-c4",
    "game": "connect4",
    "openings": "none",
    "time_control": "none",
    "max_plies": 42,
    "players": [
        {"name": "c4-a", "spec": "random:seed=5"},
        {"name": "c4-b", "spec": "random:seed=6"},
    ],
}


@dataclass
class Site:
    """The running arena and what was stored in it."""

    url: str = ""
    server: RunningServer | None = None
    loop: asyncio.AbstractEventLoop | None = None
    chess_tournament: str = ""
    c4_tournament: str = ""
    chess_game: str = ""
    """The finished chess game with the most speculation (predictions, branches)."""
    c4_game: str = ""
    error: BaseException | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the server's event loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def srv(self) -> RunningServer:
        assert self.server is not None
        return self.server


async def _populate_and_serve(db: str, site: Site, ready: threading.Event) -> None:
    site.loop = asyncio.get_running_loop()
    site.stop = asyncio.Event()
    site.chess_tournament = await TournamentRunner(db, config_from_dict(CHESS)).run()
    site.c4_tournament = await TournamentRunner(db, config_from_dict(CONNECT4)).run()
    async with running_server(db) as server:
        site.server = server
        site.url = server.url
        games = await server.store.list_games(limit=None, tournament_id=site.chess_tournament)
        # The game whose players reported the most branches: how many a game gets
        # depends on how the searches interleave on a busy machine.
        branches = {g.id: await _branches(server, g.id) for g in games}
        site.chess_game = max(branches, key=branches.__getitem__)
        c4 = await server.store.list_games(limit=None, tournament_id=site.c4_tournament)
        site.c4_game = c4[0].id
        ready.set()
        await site.stop.wait()


async def _branches(server: RunningServer, game_id: str) -> int:
    """How many branches the players of a stored game reported, over all its moves."""
    moves = await server.store.get_moves(game_id)
    return sum(len((m.meta or {}).get("branches", [])) for m in moves)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The arena, populated once per test session."""
    db = str(Path(tmp_path_factory.mktemp("web")) / "arena.db")
    site = Site()
    ready = threading.Event()

    def main() -> None:
        try:
            asyncio.run(_populate_and_serve(db, site, ready))
        except BaseException as exc:  # reported by the fixture, not lost in the thread
            site.error = exc
            ready.set()

    thread = threading.Thread(target=main, name="web-test-arena", daemon=True)
    thread.start()
    if not ready.wait(120) or site.error is not None:
        raise RuntimeError("the test arena did not start") from site.error
    yield site
    assert site.loop is not None
    site.loop.call_soon_threadsafe(site.stop.set)
    thread.join(30)
