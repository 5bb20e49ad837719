"""The async bot SDK: connect, authenticate, follow games, answer with moves.

A bot author subclasses :class:`Bot` and overrides :meth:`Bot.choose_move`;
:class:`BotClient` does the rest over protocol v1: ``hello``, one
:class:`GameView` per game kept in step with ``game_start`` / ``state``
events, a move sent whenever it is the bot's turn, a rethink when the server
refuses a move as illegal, and reconnection with backoff when the connection
drops. On reconnection the client names, in ``hello.resume``, the last event
``seq`` it saw in each game; the server sends exactly the events it missed (or
a ``game_start`` snapshot), then ``resumed``, and play goes on where it
stopped, also after a server restart. Built-in players use exactly this client.

Example::

    class FirstMove(Bot):
        async def choose_move(self, view: GameView) -> str:
            return view.legal_moves()[0]

    await BotClient(FirstMove(), "ws://127.0.0.1:8000/ws", token).run()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from arena.access import install_token_redaction
from arena.errors import ErrorCode
from arena.protocol import (
    MAX_RESUME_GAMES,
    PROTOCOL_VERSION,
    ErrorMessage,
    GameOver,
    GameStart,
    Hello,
    Move,
    MoveMeta,
    Predict,
    Resign,
    Resumed,
    ServerMessage,
    StateEvent,
    Welcome,
    dump,
    parse_server_message,
)
from games import Game, get_game, replay

__all__ = ["AuthenticationError", "Bot", "BotClient", "GameView", "MoveDecision"]

log = logging.getLogger(__name__)

FATAL_CLOSE_CODES = {
    int(ErrorCode.BAD_TOKEN),
    int(ErrorCode.UNSUPPORTED_PROTOCOL),
    int(ErrorCode.HELLO_REQUIRED),
    int(ErrorCode.REPLACED),  # a newer connection of the same bot took over
    int(ErrorCode.WRONG_SCOPE),
}


class AuthenticationError(Exception):
    """The server refused the bot's token or protocol version (no retry helps)."""


@dataclass(frozen=True, slots=True)
class MoveDecision:
    """A move plus what the bot wants to report about it."""

    move: str
    meta: MoveMeta | None = None


@dataclass
class GameView:
    """One game as the bot sees it, kept up to date by the client."""

    game_id: str
    game: Game[Any]
    seat: int
    players: tuple[str, str]
    initial_state: Any
    state: Any
    moves: list[str]
    clocks: tuple[int | None, int | None]
    time_control: str
    max_plies: int | None
    to_move: int | None
    last_error: str | None = None
    """The server's message when the previous attempt this turn was refused."""
    seq: int = 0
    """The ``seq`` of the last event of this game applied to the view."""
    server_url: str = ""
    """The websocket URL of the arena this game is played on."""
    paused: bool = False
    """The game waits for both players after a server restart (no clock runs)."""

    @property
    def ply(self) -> int:
        return len(self.moves)

    @property
    def opponent(self) -> str:
        return self.players[1 - self.seat]

    @property
    def my_turn(self) -> bool:
        return self.to_move == self.seat

    def legal_moves(self) -> list[str]:
        moves: list[str] = self.game.legal_moves(self.state)
        return moves

    def my_time_ms(self) -> int | None:
        return self.clocks[self.seat]


class Bot:
    """Base class of every player. Override :meth:`choose_move`."""

    name = "bot"
    client: BotClient | None = None
    """The client running this bot (set by :class:`BotClient`), e.g. to send predictions."""

    async def choose_move(self, view: GameView) -> str | MoveDecision:
        """The move to play in ``view.state`` (canonical notation or any the game accepts)."""
        raise NotImplementedError

    async def on_game_start(self, view: GameView) -> None:
        """Called once per game when it starts or is resumed."""

    def on_opponent_turn(self, view: GameView) -> None:
        """Called when the opponent is to move (a speculating bot starts work here).

        Must return at once: start tasks rather than awaiting long work.
        """

    async def on_game_over(self, view: GameView, over: GameOver) -> None:
        """Called when a game ends."""

    async def close(self) -> None:
        """Release resources (engine processes, HTTP clients)."""


@dataclass
class _Thinking:
    ply: int
    task: asyncio.Task[None]


@dataclass
class BotClient:
    """Runs one :class:`Bot` on one server connection (reconnecting as needed)."""

    bot: Bot
    url: str
    token: str = field(repr=False)
    max_games: int | None = None
    """Return after this many games have ended; ``None`` runs until cancelled."""
    reconnect: bool = True
    backoff_s: tuple[float, float] = (0.1, 5.0)
    client_name: str = "speculative-arena-sdk"
    results: list[GameOver] = field(default_factory=list)
    welcome: Welcome | None = None
    connections: int = 0
    """Successful connections so far (more than 1 means it reconnected)."""
    ping_interval_s: float | None = 20.0
    """Websocket keepalive pings, to notice a half-open connection (``None``: off)."""
    ping_timeout_s: float | None = 20.0
    on_message: Callable[[ServerMessage], None] | None = field(default=None, repr=False)
    """Called with every message from the server, before the client acts on it."""
    gaps: int = 0
    """``state`` events that skipped a ``seq`` (resynchronised from the move list)."""
    duplicates: int = 0
    """``state`` events received again (ignored)."""
    _views: dict[str, GameView] = field(default_factory=dict)
    _catching_up: bool = False
    """Between ``hello`` and ``resumed``: events are replayed, nothing is played yet."""
    _thinking: dict[str, _Thinking] = field(default_factory=dict)
    _ws: ClientConnection | None = None

    async def run(self) -> None:
        """Play until ``max_games`` have ended (or forever), reconnecting on drops."""
        delay = self.backoff_s[0]
        self.bot.client = self
        install_token_redaction()  # websockets logs whole frames, hello included, at DEBUG
        try:
            while True:
                try:
                    async with websockets.connect(
                        self.url,
                        max_size=None,
                        ping_interval=self.ping_interval_s,
                        ping_timeout=self.ping_timeout_s,
                    ) as ws:
                        self._ws = ws
                        self.connections += 1
                        await self._session(ws)
                        delay = self.backoff_s[0]
                        if self._done():
                            return
                except websockets.ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd is not None else None
                    if code in FATAL_CLOSE_CODES:
                        raise AuthenticationError(
                            f"server closed the connection: {code} "
                            f"{exc.rcvd.reason if exc.rcvd else ''}"
                        ) from None
                    if self._done():
                        return
                    log.info("connection closed (%s); reconnecting in %.1fs", code, delay)
                except (OSError, websockets.InvalidHandshake) as exc:
                    log.info("cannot connect to %s (%s); retrying in %.1fs", self.url, exc, delay)
                finally:
                    self._ws = None
                    await self._stop_thinking()
                if not self.reconnect:
                    return
                await asyncio.sleep(delay)
                delay = min(self.backoff_s[1], delay * 2)
        finally:
            await self._stop_thinking()

    def _done(self) -> bool:
        return self.max_games is not None and len(self.results) >= self.max_games

    async def _session(self, ws: ClientConnection) -> None:
        # games beyond the limit are caught up with a snapshot instead
        followed = list(self._views.items())[:MAX_RESUME_GAMES]
        resume = {game_id: view.seq for game_id, view in followed}
        hello = Hello(
            token=self.token,
            protocol=PROTOCOL_VERSION,
            client=self.client_name,
            resume=resume or None,
        )
        self._catching_up = True
        await ws.send(dump(hello))
        async for frame in ws:
            try:
                msg = parse_server_message(frame)
            except ValueError as exc:  # a message type this client does not know
                log.info("ignoring a server message this SDK does not understand: %s", exc)
                continue
            if self.on_message is not None:
                self.on_message(msg)
            if isinstance(msg, Welcome):
                self.welcome = msg
            elif isinstance(msg, Resumed):
                self._on_resumed(msg)
            elif isinstance(msg, GameStart):
                await self._on_game_start(msg)
            elif isinstance(msg, StateEvent):
                self._on_state(msg)
            elif isinstance(msg, GameOver):
                await self._on_game_over(msg)
                if self._done():
                    await ws.close()
                    return
            elif isinstance(msg, ErrorMessage):
                self._on_error(msg)

    # ------------------------------------------------------------------ events

    async def _on_game_start(self, msg: GameStart) -> None:
        if msg.seat is None:
            return
        game = get_game(msg.game)
        initial = game.decode_state(msg.initial_state)
        view = GameView(
            game_id=msg.game_id,
            game=game,
            seat=msg.seat,
            players=msg.players,
            initial_state=initial,
            state=replay(game, msg.moves, initial),
            moves=list(msg.moves),
            clocks=msg.clocks.remaining_ms,
            time_control=msg.clocks.time_control,
            max_plies=msg.max_plies,
            to_move=msg.to_move,
            seq=msg.seq,
            server_url=self.url,
            paused=msg.status == "paused",
        )
        resumed = msg.game_id in self._views
        self._views[msg.game_id] = view
        if not resumed:
            await self.bot.on_game_start(view)
        self._maybe_think(view)
        self._maybe_speculate(view)

    def _on_resumed(self, msg: Resumed) -> None:
        """The catch-up after a (re)connection is complete: think where it is our turn."""
        self._catching_up = False
        for entry in msg.games:
            view = self._views.get(entry.game_id)
            if view is not None:
                view.paused = entry.status == "paused"
        for view in list(self._views.values()):  # a game may have started meanwhile
            self._maybe_think(view)
            self._maybe_speculate(view)

    def _on_state(self, msg: StateEvent) -> None:
        view = self._views.get(msg.game_id)
        if view is None:
            return
        if msg.seq <= view.seq:
            self.duplicates += 1
            log.info("ignoring a repeated event %d of game %s", msg.seq, msg.game_id)
            return
        if msg.seq == view.seq + 1 and msg.moves[:-1] == view.moves:
            view.state = view.game.apply(view.state, msg.last_move)
        else:  # missed an event: rebuild from the full move list
            self.gaps += 1
            log.warning("missed events %d..%d of game %s", view.seq + 1, msg.seq - 1, msg.game_id)
            view.state = replay(view.game, msg.moves, view.initial_state)
        view.moves = list(msg.moves)
        view.clocks = msg.clocks.remaining_ms
        view.to_move = msg.to_move
        view.seq = msg.seq
        view.last_error = None
        self._maybe_think(view)
        self._maybe_speculate(view)

    async def _on_game_over(self, msg: GameOver) -> None:
        thinking = self._thinking.pop(msg.game_id, None)
        if thinking is not None:
            thinking.task.cancel()
        view = self._views.pop(msg.game_id, None)
        if view is None:
            return  # not a game this client followed (or already settled)
        self.results.append(msg)
        view.to_move = None
        await self.bot.on_game_over(view, msg)

    def _on_error(self, msg: ErrorMessage) -> None:
        view = self._views.get(msg.game_id or "")
        if msg.code == ErrorCode.ILLEGAL_MOVE and view is not None and msg.ply == view.ply:
            log.info("move refused in %s: %s", msg.game_id, msg.message)
            view.last_error = msg.message
            self._thinking.pop(view.game_id, None)
            self._maybe_think(view)
        elif msg.code == ErrorCode.GAME_FINISHED:
            # e.g. a prediction published just as the game ended: nothing was lost.
            log.debug("server: %s", msg.message)
        else:
            log.warning("server error %s %s: %s", msg.code, msg.name, msg.message)

    # ------------------------------------------------------------------ thinking

    def _maybe_speculate(self, view: GameView) -> None:
        waiting = view.to_move is not None and not view.my_turn
        if waiting and not view.paused and not self._catching_up:
            self.bot.on_opponent_turn(view)

    async def predict(
        self, game_id: str, ply: int, moves: list[str], probs: list[float] | None = None
    ) -> None:
        """Send ranked predictions of the move at ``ply`` (see ``predict`` in the protocol)."""
        await self._send(dump(Predict(game_id=game_id, ply=ply, moves=moves, probs=probs)))

    def _maybe_think(self, view: GameView) -> None:
        if not view.my_turn or view.paused or self._catching_up:
            return
        current = self._thinking.get(view.game_id)
        if current is not None and current.ply == view.ply and not current.task.done():
            return
        task = asyncio.create_task(self._think(view, view.ply), name=f"think {view.game_id}")
        self._thinking[view.game_id] = _Thinking(view.ply, task)

    async def _think(self, view: GameView, ply: int) -> None:
        started = time.perf_counter()
        try:
            decision = await self.bot.choose_move(view)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "%s failed to choose a move in game %s; resigning", self.bot.name, view.game_id
            )
            await self._send(dump(Resign(game_id=view.game_id)))
            return
        actor_ms = (time.perf_counter() - started) * 1000.0
        if isinstance(decision, str):
            decision = MoveDecision(decision)
        meta = decision.meta or MoveMeta()
        if meta.actor_ms is None:
            meta = meta.model_copy(update={"actor_ms": round(actor_ms, 3)})
        await self._send(dump(Move(game_id=view.game_id, ply=ply, move=decision.move, meta=meta)))

    async def _send(self, frame: str) -> None:
        ws = self._ws
        if ws is None:
            return  # disconnected: the server re-sends game_start on reconnect
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(frame)

    async def _stop_thinking(self) -> None:
        tasks = [t.task for t in self._thinking.values()]
        self._thinking.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
