"""The clients of ``arena bench load``: lightweight bots and spectators on real websockets.

Each bot speaks protocol v1 as any external bot does (``hello`` with its
token, ``seek`` naming its partner, ``move``; it reads ``welcome``,
``game_start``, ``state``, ``move_ack``, ``game_over`` and ``error``), but
thinks about nothing: it plays a scripted line of legal moves, so the load
generator spends its CPU on the protocol, not on chess. The server checks
every move in full as usual.

Pacing. With ``interval_s == 0`` a bot answers as soon as the position
arrives (saturation: every game moves as fast as the server relays). With an
interval, a game's next move is due a random ``interval_s * U(0.5, 1.5)``
after its previous one (the first after a random part of the interval): the
offered load is ``games / interval_s`` moves per second for as long as relays
take less than half the interval, and a game whose relay took longer answers
at once. The spacing is random, as independent agents' thinking times are:
with a fixed period, games that one stall delayed together would move
together from then on, and the offered load would turn into bursts of
hundreds of moves at once.

Every timing is taken with :func:`time.perf_counter` in this one process, so
a move's send time and the opponent's receive time are on the same clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["LoadBot", "Pair", "Recorder", "Spectator", "pace"]

MAX_ERROR_TEXTS = 20
"""Error descriptions kept in full (all are counted)."""


@dataclass
class Recorder:
    """What every client of one run writes to: counters, latency samples, errors."""

    window: tuple[float, float] = (float("inf"), float("inf"))
    """``perf_counter`` start and end of the measuring window."""
    stopping: bool = False
    """Set at the end of the run (:meth:`stop`): no new move is sent after it."""
    games_target: int = 0
    """Games that must start before the run goes on (:attr:`all_started`)."""
    all_started: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once stopping with no move left unacknowledged."""
    sent: int = 0
    acked: int = 0
    acked_in_window: int = 0
    outstanding: int = 0
    """Moves sent and not yet acknowledged."""
    relay_ms: list[float] = field(default_factory=list)
    """Move sent by one bot -> ``state`` received by its opponent, for moves sent in the window."""
    lichess_in_ms: list[float] = field(default_factory=list)
    """In the pairs of a websocket bot and a lichess-API bot (:mod:`arena.bench.lichessbots`):
    websocket move sent -> ``gameState`` read from the lichess bot's game stream."""
    lichess_out_ms: list[float] = field(default_factory=list)
    """The other way: lichess bot's move POSTed -> ``state`` read by its websocket partner."""
    ack_ms: list[float] = field(default_factory=list)
    """Move sent -> ``move_ack`` received by the mover, for moves sent in the window."""
    spectator_ms: list[float] = field(default_factory=list)
    """Move sent -> ``state`` received by a spectator, for moves sent in the window."""
    spectator_frames: int = 0
    games_started: int = 0
    games_finished: int = 0
    errors: int = 0
    error_texts: list[str] = field(default_factory=list)

    def in_window(self, t: float) -> bool:
        """Whether ``t`` (``perf_counter``) is inside the measuring window."""
        return self.window[0] <= t < self.window[1]

    def stop(self) -> None:
        """Send no more moves; :attr:`drained` is set once every move sent is acknowledged."""
        self.stopping = True
        if self.outstanding <= 0:
            self.drained.set()

    def game_started(self) -> None:
        """Count a new game."""
        self.games_started += 1
        if self.games_started >= self.games_target:
            self.all_started.set()

    def move_acked(self, now: float) -> None:
        """Count a ``move_ack``."""
        self.acked += 1
        self.outstanding -= 1
        if self.in_window(now):
            self.acked_in_window += 1
        if self.stopping and self.outstanding <= 0:
            self.drained.set()

    def error(self, text: str) -> None:
        """Count an error, keeping the first few descriptions."""
        self.errors += 1
        if len(self.error_texts) < MAX_ERROR_TEXTS:
            self.error_texts.append(text)


@dataclass(eq=False)
class Pair:
    """Two bots that play each other, one game after another, and what they share."""

    index: int
    names: tuple[str, str]
    lines: Sequence[Sequence[str]]
    """The scripted lines of legal moves; each game plays one, chosen by its id."""
    game_id: str | None = None
    line: Sequence[str] = ()
    sent_at: dict[int, tuple[float, int]] = field(default_factory=dict)
    """Per ply of the current game: (send time, bot index in the pair)."""
    last_sent: float = 0.0
    in_progress: bool = False
    new_game: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a game starts (spectators wait for it)."""

    def start(self, game_id: str) -> bool:
        """Note a ``game_start``; True if it is a new game (the first of the two bots)."""
        if game_id == self.game_id:
            return False
        self.game_id = game_id
        self.line = self.lines[zlib.crc32(game_id.encode()) % len(self.lines)]
        self.sent_at = {}
        self.last_sent = 0.0
        self.in_progress = True
        self.new_game.set()
        self.new_game = asyncio.Event()
        return True


CLIENT_ADDRESSES = 250
"""Loopback addresses (127.0.1.1 ...) the generator's connections come from, as many
clients would: the server caps connections per address."""


def client_address(index: int) -> str:
    """The loopback address connection ``index`` comes from."""
    return f"127.0.1.{index % CLIENT_ADDRESSES + 1}"


class LoadBot:
    """One bot of a pair: connects, seeks its partner, plays its scripted moves."""

    def __init__(
        self,
        pair: Pair,
        me: int,
        token: str,
        url: str,
        recorder: Recorder,
        *,
        interval_s: float,
        time_control: str,
        max_plies: int,
        rng: random.Random,
        seeks: bool = True,
    ) -> None:
        self.pair = pair
        self.me = me
        self.seeks = seeks
        """Whether it seeks its partner (not when the partner, a lichess-API bot, challenges it)."""
        self.relay_ms = recorder.relay_ms if seeks else recorder.lichess_out_ms
        self.token = token
        self.url = url
        self.rec = recorder
        self.interval_s = interval_s
        self.time_control = time_control
        self.max_plies = max_plies
        self.rng = rng
        self.seat: int | None = None
        self.ws: ClientConnection | None = None
        self.closing = False

    async def connect(self, gate: asyncio.Semaphore) -> None:
        """Open the connection and authenticate (``gate`` bounds handshakes in flight,
        as the server refuses more than a few dozen connections waiting for hello)."""
        async with gate:
            ws = await websockets.connect(
                self.url,
                max_size=None,
                open_timeout=60,
                local_addr=(client_address(2 * self.pair.index + self.me), 0),
            )
            await ws.send(json.dumps({"type": "hello", "token": self.token, "protocol": 1}))
            welcome = json.loads(await ws.recv())
            if welcome.get("type") != "welcome":
                await ws.close()
                raise RuntimeError(f"bot {self.pair.names[self.me]}: no welcome: {welcome}")
        self.ws = ws

    async def run(self) -> None:
        """Seek the partner, then play until the connection is closed."""
        ws = self.ws
        assert ws is not None
        if self.seeks:
            await self._seek(ws)
        try:
            async for text in ws:
                await self._on_frame(ws, text, time.perf_counter())
        except websockets.ConnectionClosed as exc:
            if not self.closing:
                self.rec.error(f"bot {self.pair.names[self.me]}: connection closed: {exc}")
            return
        if not self.closing:
            self.rec.error(f"bot {self.pair.names[self.me]}: server closed the connection")

    async def close(self) -> None:
        """Close the connection (the end of the run, not an error)."""
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def _seek(self, ws: ClientConnection) -> None:
        seek = {
            "type": "seek",
            "game": "chess",
            "time_control": self.time_control,
            "max_plies": self.max_plies,
            "opponent": self.pair.names[1 - self.me],
        }
        await ws.send(json.dumps(seek))

    async def _on_frame(self, ws: ClientConnection, text: str | bytes, now: float) -> None:
        msg = json.loads(text)
        kind = msg.get("type")
        pair = self.pair
        rec = self.rec
        if kind == "state":
            if msg["game_id"] != pair.game_id:
                return
            sent = pair.sent_at.get(msg["ply"] - 1)
            if sent is not None and sent[1] != self.me and rec.in_window(sent[0]):
                self.relay_ms.append((now - sent[0]) * 1000.0)
            if msg["to_move"] == self.seat:
                await self._move(ws, msg["ply"], now)
        elif kind == "move_ack":
            rec.move_acked(now)
            sent = pair.sent_at.get(msg["ply"])
            if sent is not None and rec.in_window(sent[0]):
                rec.ack_ms.append((now - sent[0]) * 1000.0)
        elif kind == "game_start":
            self.seat = msg["seat"]
            if pair.start(msg["game_id"]):
                rec.game_started()
            if msg["to_move"] == self.seat:
                await self._move(ws, msg["ply"], now)
        elif kind == "game_over":
            if msg["game_id"] == pair.game_id and pair.in_progress:
                pair.in_progress = False
                rec.games_finished += 1
                if msg["reason"] != "max_plies":
                    rec.error(f"game {msg['game_id']} ended early: {msg['reason']} {msg['result']}")
            if not rec.stopping and self.seeks:
                await self._seek(ws)
        elif kind == "error":
            rec.error(f"bot {pair.names[self.me]}: error {msg.get('code')}: {msg.get('message')}")

    async def _move(self, ws: ClientConnection, ply: int, now: float) -> None:
        pair = self.pair
        if self.rec.stopping or ply >= len(pair.line):
            return
        if self.interval_s > 0:
            await pace(pair, ply, now, self.interval_s, self.rng)
            if self.rec.stopping:
                return
        game_id = pair.game_id
        sent = time.perf_counter()
        pair.sent_at[ply] = (sent, self.me)
        pair.last_sent = sent
        self.rec.sent += 1
        self.rec.outstanding += 1
        frame = {"type": "move", "game_id": game_id, "ply": ply, "move": pair.line[ply]}
        await ws.send(json.dumps(frame))


async def pace(pair: Pair, ply: int, now: float, interval_s: float, rng: random.Random) -> None:
    """Wait until the game's next move is due (see the module docstring; at once with no
    interval)."""
    if interval_s <= 0:
        return
    if ply == 0:
        due = now + rng.uniform(0.0, interval_s)
    else:
        due = max(now, pair.last_sent + interval_s * rng.uniform(0.5, 1.5))
    if due > now:
        await asyncio.sleep(due - now)


class Spectator:
    """Watches the current game of one pair, and the next one when it ends."""

    def __init__(self, pair: Pair, base_url: str, recorder: Recorder) -> None:
        self.pair = pair
        self.base_url = base_url
        self.rec = recorder
        self.closing = False
        self.ws: ClientConnection | None = None

    async def run(self, gate: asyncio.Semaphore) -> None:
        """Follow the pair's games until closed."""
        watched: str | None = None
        while not self.rec.stopping:
            while self.pair.game_id in (None, watched):
                await self.pair.new_game.wait()
            watched = self.pair.game_id
            async with gate:
                ws = await websockets.connect(
                    f"{self.base_url}/ws/watch/{watched}",
                    max_size=None,
                    open_timeout=60,
                    local_addr=(client_address(self.pair.index), 0),
                )
            self.ws = ws
            try:
                async for text in ws:
                    if self._on_frame(json.loads(text), time.perf_counter()):
                        break
            except websockets.ConnectionClosed as exc:
                if not self.closing:
                    self.rec.error(f"spectator of {watched}: connection closed: {exc}")
                return
            finally:
                with contextlib.suppress(Exception):
                    await ws.close()

    def _on_frame(self, msg: dict[str, object], now: float) -> bool:
        """Record one frame; True once the game is over."""
        kind = msg.get("type")
        if kind == "state":
            self.rec.spectator_frames += 1
            ply = msg.get("ply")
            current = msg.get("game_id") == self.pair.game_id
            sent = self.pair.sent_at.get(ply - 1) if current and isinstance(ply, int) else None
            if sent is not None and self.rec.in_window(sent[0]):
                self.rec.spectator_ms.append((now - sent[0]) * 1000.0)
        elif kind == "error":
            self.rec.error(f"spectator: {msg.get('message')}")
        return kind == "game_over"

    async def close(self) -> None:
        """Close the connection (the end of the run, not an error)."""
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
