"""Page readers for ``arena bench load``: stored games to read and clients reloading pages.

``--stored-games N`` fills the fresh database with N finished chess games
between ten seeded players (random legal moves, each with a prediction and an
``actor_ms``), so that the leaderboard and the player pages have real work to
do; ``--page-readers M`` runs M clients (each from its own loopback address)
that reload ``/``, ``/api/leaderboard`` and a player's page one after another
as fast as they are answered, waiting as told when the server answers 429 (its
per-address page rate), during the warm-up and the window. The bench then
reports the pages' latency beside the relay latency of the games, which is
what the readers must not disturb.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import httpx

from arena.clock import TimeControl
from arena.match import Match, MatchConfig
from arena.store import Store, now_ms
from arena.store.group import PendingMove, PendingPrediction, PendingWrite
from games import get_game

__all__ = ["PAGE_PATHS", "SEEDED_PLAYERS", "PageReaders", "seed_finished_games"]

SEEDED_PLAYERS = 10
SEEDED_PLIES = 40
PAGE_PATHS = ("/", "/api/leaderboard", "/players/seeded-0")
"""What each reader loads in turn."""


async def seed_finished_games(db: str, count: int, seed: int = 0) -> None:
    """Store ``count`` finished chess games of :data:`SEEDED_PLIES` plies (random legal
    moves, a prediction and client figures per move) between seeded players."""
    if count <= 0:
        return
    rng = random.Random(seed)
    chess = get_game("chess")
    config = MatchConfig(time_control=TimeControl.parse("none"), max_plies=SEEDED_PLIES)
    store = await Store.open(db)
    try:
        bots = [await store.ensure_bot(f"seeded-{i}", "external") for i in range(SEEDED_PLAYERS)]
        for _ in range(count):
            white, black = rng.sample(bots, 2)
            match = Match.new(chess, config, chess.initial_state())
            game_id = await store.create_game(
                game="chess",
                seat_bot_ids=(white.id, black.id),
                time_control="none",
                max_plies=SEEDED_PLIES,
                max_retries=3,
                initial_state=chess.encode_state(match.state),
                clocks=match.clock.remaining_ms,
            )
            await store.start_game(game_id)
            match = match.start(0.0)
            batch: list[PendingWrite] = []
            at = now_ms()
            while not match.finished:
                seat = chess.to_move(match.state)
                move = rng.choice(chess.legal_moves(match.state))
                guess = move if rng.random() < 0.4 else rng.choice(chess.legal_moves(match.state))
                batch.append(PendingPrediction(game_id, match.ply, seat, (guess,), None, at))
                transition = match.play(seat, match.ply, move, float(match.ply))
                match = transition.match
                assert transition.record is not None
                finish = (
                    (match.result or "*", match.winner, match.reason or "")
                    if match.finished
                    else None
                )
                meta = {"actor_ms": round(rng.uniform(5, 500), 1)}
                batch.append(PendingMove(game_id, transition.record, at, at, meta, finish, None))
            await store.commit_moves(batch)
    finally:
        await store.close()


@dataclass
class PageReaders:
    """Clients reloading pages against one server while the window is open."""

    base_url: str
    readers: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    limited: int = 0
    """Answers 429 (over the server's per-address page rate): the reader waits as told."""
    window: tuple[float, float] | None = None
    """``perf_counter`` bounds inside which latencies count."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._read(i)) for i in range(self.readers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _read(self, index: int) -> None:
        # Each reader from its own loopback address, as separate clients would be.
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.2.{index % 250 + 1}")
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=30.0, transport=transport
        ) as http:
            turn = index
            while True:
                path = PAGE_PATHS[turn % len(PAGE_PATHS)]
                turn += 1
                began = time.perf_counter()
                try:
                    answer = await http.get(path)
                except httpx.HTTPError as exc:
                    self.errors.append(f"page reader: {path}: {exc!r}"[:200])
                    continue
                took = (time.perf_counter() - began) * 1000.0
                if answer.status_code == 429:
                    self.limited += 1
                    await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
                    continue
                if answer.status_code >= 500:
                    self.errors.append(f"page reader: {path}: HTTP {answer.status_code}")
                if self.window is not None and self.window[0] <= began <= self.window[1]:
                    self.latencies_ms.append(took)
