"""``arena bench load --lichess N``: bots that play over the lichess Bot API (HTTP + NDJSON).

A :class:`LichessLoadBot` is the second bot of a :class:`~arena.bench.loadbots.Pair`
whose first bot is an ordinary websocket :class:`~arena.bench.loadbots.LoadBot`
(which does not seek: the lichess bot challenges it, as lichess-bot's
matchmaking would, and a websocket bot plays every game it is given). It keeps
its event stream open, opens the game stream of each game it is given, plays
its scripted moves with ``POST .../move/{uci}`` (the answer is its ``move_ack``)
and challenges again when a game ends. Relay latency is taken both ways on the
one ``perf_counter`` clock: a websocket move sent -> ``gameState`` read from the
NDJSON stream, and a move POSTed -> ``state`` read by the websocket partner.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx

from arena.bench.loadbots import Pair, Recorder, pace
from arena.clock import TimeControl

__all__ = ["LichessLoadBot"]


class LichessLoadBot:
    """One lichess-API bot of a pair (always ``me = 1``), over one shared HTTP client."""

    def __init__(
        self,
        pair: Pair,
        token: str,
        http: httpx.AsyncClient,
        recorder: Recorder,
        *,
        interval_s: float,
        time_control: str,
        max_plies: int,
        rng: random.Random,
    ) -> None:
        self.pair = pair
        self.me = 1
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rec = recorder
        self.interval_s = interval_s
        self.max_plies = max_plies
        self.rng = rng
        control = TimeControl.parse(time_control)
        self.challenge = {
            "clock.limit": (control.base_ms or 60_000) // 1000,
            "clock.increment": control.increment_ms // 1000,
            "color": "black",
            "max_plies": max_plies,
        }
        self.closing = False
        self._games: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return self.pair.names[self.me]

    async def run(self) -> None:
        """Open the event stream, challenge the partner, play each game it starts."""
        try:
            async with self.http.stream(
                "GET", "/api/stream/event", headers=self.headers, timeout=None
            ) as response:
                if response.status_code != 200:
                    self.rec.error(f"bot {self.name}: event stream: {response.status_code}")
                    return
                await self._challenge()
                async for line in response.aiter_lines():
                    if line:
                        await self._on_event(json.loads(line))
        except (httpx.HTTPError, asyncio.IncompleteReadError) as exc:
            if not self.closing:
                self.rec.error(f"bot {self.name}: event stream: {exc!r}")
        finally:
            for task in self._games:
                task.cancel()

    async def close(self) -> None:
        """Stop (the end of the run, not an error)."""
        self.closing = True

    async def _challenge(self) -> None:
        if self.rec.stopping:
            return
        answer = await self.http.post(
            f"/api/challenge/{self.pair.names[0]}", json=self.challenge, headers=self.headers
        )
        if answer.status_code != 200:
            self.rec.error(f"bot {self.name}: challenge: {answer.status_code} {answer.text}")

    async def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        game = event.get("game", {})
        if kind == "gameStart":
            if self.pair.start(game["gameId"]):
                self.rec.game_started()
            task = asyncio.create_task(self._play(game["gameId"]))
            self._games.add(task)
            task.add_done_callback(self._games.discard)
        elif kind == "gameFinish":
            pair = self.pair
            if game.get("gameId") == pair.game_id and pair.in_progress:
                pair.in_progress = False
                self.rec.games_finished += 1
                if game["status"]["name"] != "draw":  # max_plies
                    self.rec.error(f"game {pair.game_id} ended early: {game['status']}")
            await self._challenge()

    async def _play(self, game_id: str) -> None:
        try:
            async with self.http.stream(
                "GET", f"/api/bot/game/stream/{game_id}", headers=self.headers, timeout=None
            ) as response:
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    now = time.perf_counter()
                    event = json.loads(line)
                    state = event.get("state", event)
                    if event.get("type") not in ("gameFull", "gameState"):
                        continue
                    ply = len(state["moves"].split())
                    sent = self.pair.sent_at.get(ply - 1)
                    if sent is not None and sent[1] != self.me and self.rec.in_window(sent[0]):
                        self.rec.lichess_in_ms.append((now - sent[0]) * 1000.0)
                    if state["status"] == "started" and ply % 2 == self.me:
                        await self._move(game_id, ply, now)
        except (httpx.HTTPError, asyncio.IncompleteReadError) as exc:
            if not self.closing:
                self.rec.error(f"bot {self.name}: game stream: {exc!r}")

    async def _move(self, game_id: str, ply: int, now: float) -> None:
        pair = self.pair
        if self.rec.stopping or ply >= len(pair.line) or game_id != pair.game_id:
            return
        await pace(pair, ply, now, self.interval_s, self.rng)
        if self.rec.stopping:
            return
        sent = time.perf_counter()
        pair.sent_at[ply] = (sent, self.me)
        pair.last_sent = sent
        self.rec.sent += 1
        self.rec.outstanding += 1
        answer = await self.http.post(
            f"/api/bot/game/{game_id}/move/{pair.line[ply]}", headers=self.headers
        )
        acked = time.perf_counter()
        if answer.status_code != 200:
            self.rec.error(f"bot {self.name}: move: {answer.status_code} {answer.text}")
            self.rec.outstanding -= 1
            return
        self.rec.move_acked(acked)  # its latency is not the websocket move_ack's: not sampled
