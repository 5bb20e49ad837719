"""A lichess-API bot as one connection of the host: a :class:`~arena.host.Peer`.

The host talks to every player in protocol v1 frames (``game_start``,
``state``, ``game_over``, ``error``, ...). :class:`LichessPeer` keeps a
:class:`~arena.lichess.shapes.GameView` of each of the bot's chess games
current from those frames and turns them into the lichess events of the bot's
open NDJSON streams: ``gameStart``/``gameFinish`` on the event stream,
``gameState`` on the game's streams. ``error`` frames answer the HTTP request
that caused them (:meth:`LichessPeer.capture`). So a lichess bot plays through
the same host code as a websocket bot: moves, clocks, storage, resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from arena.clock import TimeControl
from arena.lichess.shapes import GameView, event_game, game_full, game_state, ndjson
from arena.protocol import (
    ErrorMessage,
    GameOver,
    GameStart,
    ServerMessage,
    StateEvent,
    parse_server_message,
)
from arena.store import BotRow, now_ms

__all__ = ["Captured", "LichessPeer", "Stream"]

log = logging.getLogger(__name__)

STREAM_QUEUE = 1000
"""Lines a stream may hold for a client that does not read before it is ended."""


class Stream:
    """One open NDJSON response: lines queued for its writer; ``None`` ends it."""

    def __init__(self, game_id: str | None = None) -> None:
        self.game_id = game_id
        """The game of a game stream; ``None`` for the event stream."""
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(STREAM_QUEUE)
        self.ended = False
        self.waiting = False
        """A game stream whose ``gameFull`` waits for the game to start (or to resume
        after a restart): a lichess bot must not move before the clocks run."""

    def put(self, line: bytes) -> None:
        if self.ended:
            return
        try:
            self.queue.put_nowait(line)
        except asyncio.QueueFull:
            log.warning("ending a lichess stream whose client fell %d lines behind", STREAM_QUEUE)
            self.end()

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        while True:  # make room for the end marker
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()


class Captured:
    """The error the host answered one request with (``code``, ``message``), if any."""

    def __init__(self) -> None:
        self.code: int | None = None
        self.message = ""


class LichessPeer:
    """A lichess-API bot's presence at the host: its open streams, as one connection."""

    def __init__(self, bot: BotRow, on_closed: Callable[[LichessPeer], None]) -> None:
        self.bot: BotRow | None = bot
        self.views: dict[str, GameView] = {}
        self.streams: set[Stream] = set()
        self.connected = False
        """Whether the host has this peer as the bot's connection."""
        self.closed = False
        self._captures: dict[tuple[str, str], Captured] = {}
        self._on_closed = on_closed

    # ------------------------------------------------------------------ Peer

    def send(self, *texts: str) -> None:
        for text in texts:
            try:
                self._on_message(parse_server_message(text))
            except Exception:  # one bad frame must not stall the game's other listeners
                log.exception("could not relay a frame to a lichess stream")

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        log.info("closing the lichess streams of %s: %s", self.bot_name, reason)
        self.closed = True
        for stream in list(self.streams):
            stream.end()
        self._on_closed(self)

    # ------------------------------------------------------------------ requests

    @property
    def bot_name(self) -> str:
        return self.bot.name if self.bot is not None else "?"

    @contextlib.contextmanager
    def capture(self, game_id: str, ref: str) -> Iterator[Captured]:
        """Collect the ``error`` the host sends about ``ref`` in ``game_id`` meanwhile."""
        captured = Captured()
        self._captures[(game_id, ref)] = captured
        try:
            yield captured
        finally:
            self._captures.pop((game_id, ref), None)

    def event_lines(self) -> list[bytes]:
        """``gameStart`` for every game under way (what a new event stream begins with)."""
        return [
            ndjson({"type": "gameStart", "game": event_game(v)})
            for v in self.views.values()
            if not v.finished
        ]

    # ------------------------------------------------------------------ frames

    def _on_message(self, msg: ServerMessage) -> None:
        if isinstance(msg, GameStart):
            self._on_start(msg)
        elif isinstance(msg, StateEvent):
            view = self.views.get(msg.game_id)
            if view is not None:
                view.moves = list(msg.moves)
                view.clocks = msg.clocks.remaining_ms
                if msg.to_move is not None:  # else the game_over next tells the end
                    self._to_game(view.id, ndjson(game_state(view)))
        elif isinstance(msg, GameOver):
            self._on_over(msg)
        elif isinstance(msg, ErrorMessage):
            captured = self._captures.get((msg.game_id or "", msg.ref or ""))
            if captured is not None:
                captured.code, captured.message = msg.code, msg.message

    def _on_start(self, msg: GameStart) -> None:
        if msg.game != "chess" or msg.seat is None:
            return  # the lichess API plays chess only
        view = self.views.get(msg.game_id)
        new = view is None
        if view is None:
            view = GameView(
                id=msg.game_id,
                seat=msg.seat,
                players=msg.players,
                initial_fen=msg.initial_state,
                time_control=TimeControl.parse(msg.clocks.time_control),
                created_at=round(now_ms()),
            )
            self.views[msg.game_id] = view
        moved = view.moves != msg.moves
        view.moves = list(msg.moves)
        view.clocks = msg.clocks.remaining_ms
        view.paused = msg.status == "paused"
        if msg.status == "finished":
            return  # its game_over follows
        if new:
            self._to_events(ndjson({"type": "gameStart", "game": event_game(view)}))
        if view.paused:
            return
        for stream in self.streams:
            if stream.game_id != msg.game_id:
                continue
            if stream.waiting:  # opened while the game waited to start or resume
                stream.waiting = False
                stream.put(ndjson(game_full(view)))
            elif moved:
                stream.put(ndjson(game_state(view)))

    def _on_over(self, msg: GameOver) -> None:
        view = self.views.pop(msg.game_id, None)
        if view is None:  # ended before it started: a stream reopened reads it stored
            for stream in list(self.streams):
                if stream.game_id == msg.game_id:
                    stream.end()
            return
        view.finished = True
        view.winner = msg.winner
        view.reason = msg.reason
        for stream in list(self.streams):
            if stream.game_id == view.id:
                # one that waited for the start gets the whole (finished) game
                stream.put(ndjson(game_full(view) if stream.waiting else game_state(view)))
                stream.waiting = False
                stream.end()  # lichess closes a game stream when the game ends
        self._to_events(ndjson({"type": "gameFinish", "game": event_game(view)}))

    def _to_events(self, line: bytes) -> None:
        for stream in self.streams:
            if stream.game_id is None:
                stream.put(line)

    def _to_game(self, game_id: str, line: bytes) -> None:
        for stream in self.streams:
            if stream.game_id == game_id and not stream.waiting:  # gameFull comes first
                stream.put(line)

    def to_events(self, line: bytes) -> None:
        """Add a line (a challenge event) to the bot's event streams."""
        self._to_events(line)

    def to_game(self, game_id: str, line: bytes) -> None:
        """Add a line (a ``chatLine``) to the game's open streams."""
        self._to_game(game_id, line)
