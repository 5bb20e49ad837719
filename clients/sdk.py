"""The async bot SDK: connect, authenticate, follow games, answer with moves.

A bot author subclasses :class:`Bot` and overrides :meth:`Bot.choose_move`;
:class:`BotClient` does the rest over protocol v1: ``hello``, one
:class:`GameView` per game kept in step with ``game_start`` / ``state``
events, a move sent whenever it is the bot's turn, a rethink when the server
refuses a move as illegal, reconnection with backoff when the connection
drops, and optionally ``seek`` to ask for games. On reconnection the client
names, in ``hello.resume``, the last event ``seq`` it saw in each game; the
server sends exactly the events it missed (or a ``game_start`` snapshot), then
``resumed``, and play goes on where it stopped, also after a server restart.
Built-in players use exactly this client.

Speculation: a bot that also overrides :meth:`Bot.predict` (or sets
:attr:`Bot.speculator`) speculates through the speculation engine
(:mod:`clients.speculation`): while the opponent thinks, its predictions are
sent to the server (``predict``, so the arena scores them) and
:meth:`Bot.choose_move` is already called on the predicted positions; a hit
answers at once, a miss cancels those calls. :attr:`Bot.speculation_config`
sets the budget (k, depth, branches).

Example::

    class FirstMove(Bot):
        async def choose_move(self, view: GameView) -> str:
            return view.legal_moves()[0]

    await BotClient(FirstMove(), "ws://127.0.0.1:8000/ws", token).run()

For code that does not use asyncio, :mod:`clients.sync` wraps all of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from arena.access import install_token_redaction
from arena.errors import ErrorCode
from arena.protocol import (
    MAX_BRANCH_REPORTS,
    MAX_PREDICTIONS,
    MAX_RESUME_GAMES,
    PROTOCOL_VERSION,
    BranchReport,
    ErrorMessage,
    GameOver,
    GameStart,
    Hello,
    Move,
    MoveMeta,
    Predict,
    Resign,
    Resumed,
    Seek,
    ServerMessage,
    StateEvent,
    WarningMessage,
    Welcome,
    dump,
    parse_server_message,
)
from clients.speculation import (
    Action,
    ActorFailure,
    Guess,
    Meter,
    MoveReport,
    Position,
    Speculation,
    SpeculationConfig,
    Speculator,
    wait_stopped,
)
from games import Game, GameError, get_game, replay

__all__ = [
    "AuthenticationError",
    "Bot",
    "BotClient",
    "GameView",
    "MoveDecision",
    "Seek",
    "SeekError",
    "SpeculationConfig",
]

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


class SeekError(ValueError):
    """The server refused the client's ``seek`` (unknown game, bad time control,
    unknown opponent): retrying the same seek cannot help."""


@dataclass(frozen=True, slots=True)
class MoveDecision:
    """A move plus what the bot wants to report about it."""

    move: str
    meta: MoveMeta | None = None

    @classmethod
    def from_report(cls, report: MoveReport) -> MoveDecision:
        """The move of a speculation decision, with its figures as the move's ``meta``."""
        actor = report.actor
        meta = MoveMeta(
            actor_ms=round(actor.ms, 3),
            prompt_tokens=actor.prompt_tokens or None,
            completion_tokens=actor.completion_tokens or None,
            spec_calls=report.spec_calls,
            spec_tokens=report.spec_tokens,
            wasted_tokens=report.wasted_tokens,
            speculator_ms=None if report.speculator_ms is None else round(report.speculator_ms, 3),
            speculation=report.speculation,
            comment=None if actor.comment is None else actor.comment[:16_000],
            wait_ms=round(report.wait_ms, 3),
            branches=[
                BranchReport(
                    line=list(b.line[:16]),
                    rank=min(b.rank, MAX_PREDICTIONS),
                    started_ms=round(b.started_ms, 3),
                    ended_ms=round(b.ended_ms, 3),
                    outcome=b.outcome,
                )
                for b in report.branches[-MAX_BRANCH_REPORTS:]
            ]
            or None,
            backoff=None if report.backoff is None else report.backoff[:200],
        )
        return cls(report.move, meta)


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
    speculative: bool = False
    """True when the SDK asks about a *predicted* position (a speculation branch or
    window), not the real one: a move chosen here is used only if the prediction hits."""
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

    def position(self) -> Position:
        """The position as the speculation engine sees it (state, moves, start)."""
        return Position(self.game, self.state, tuple(self.moves), self.initial_state)

    def at(self, position: Position) -> GameView:
        """A copy of this view moved to ``position`` (a predicted position of this game)."""
        return dataclasses.replace(
            self,
            state=position.state,
            moves=list(position.moves),
            to_move=position.to_move,
            last_error=None,
            speculative=True,
        )


class Bot:
    """Base class of every player. Override :meth:`choose_move`; to speculate, also
    override :meth:`predict` (or set :attr:`speculator`)."""

    name = "bot"
    client: BotClient | None = None
    """The client running this bot (set by :class:`BotClient`), e.g. to send predictions."""
    speculator: Speculator | None = None
    """A ready-made predictor of the opponent's moves (e.g.
    :class:`clients.speculators.engine.EngineSpeculator`), used instead of :meth:`predict`."""
    speculation_config: SpeculationConfig = SpeculationConfig(k=1)
    """The speculation budget when this bot predicts: ``k`` predictions published and
    branched on per window, ``depth`` (2+: pipelined), ``max_branches`` (0: publish
    predictions without computing anything early), ``threshold``, ``adaptive``."""
    resource: str | None = None
    """What :meth:`choose_move` computes on (``"cpu"``, a server URL), or ``None`` for
    capacity that does not slow down with parallel calls; the adaptive policy
    (``speculation_config.adaptive``) watches it."""

    async def choose_move(self, view: GameView) -> str | MoveDecision:
        """The move to play in ``view.state`` (canonical notation or any the game accepts).

        A speculating bot is also asked about predicted positions
        (``view.speculative`` is then true); for speculation to be lossless the
        move must depend on the position (``view.state``, ``view.moves``), not on
        clocks or on when it is asked.
        """
        raise NotImplementedError

    async def predict(self, view: GameView) -> Sequence[str | Guess]:
        """The opponent's likely next moves in ``view`` (the opponent to move), best first.

        Override to speculate. Return moves (any notation the game accepts) or
        :class:`~clients.speculation.Guess` objects with probabilities; the first
        ``speculation_config.k`` legal ones are sent to the server and branched on.
        """
        return ()

    @property
    def speculates(self) -> bool:
        """Whether the SDK runs speculation for this bot (it predicts)."""
        return self.speculator is not None or type(self).predict is not Bot.predict

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
    seek: Seek | None = None
    """Ask the server for a game like this whenever the bot has none in progress
    (again after each game ends), until ``max_games`` have ended."""
    on_result: Callable[[GameOver], None] | None = None
    """Called with each game's ``game_over`` (after :meth:`Bot.on_game_over`)."""
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
    _speculations: dict[str, Speculation] = field(default_factory=dict)
    _seeking: bool = False
    _ws: ClientConnection | None = None
    _established: bool = False
    """The current connection got ``welcome`` (so a drop after it resets the backoff)."""

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
                        self._established = False
                        await self._session(ws)
                        delay = self.backoff_s[0]  # closed cleanly: the server is there
                        if self._done():
                            return
                except websockets.ConnectionClosed as exc:
                    delay = self._first_delay(delay)
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
                    delay = self._first_delay(delay)
                    log.info("cannot connect to %s (%s); retrying in %.1fs", self.url, exc, delay)
                finally:
                    self._ws = None
                    self._seeking = False  # the server drops a connection's seek with it
                    await self._stop_thinking()
                if not self.reconnect:
                    return
                await asyncio.sleep(delay)
                delay = min(self.backoff_s[1], delay * 2)
        finally:
            await self._stop_thinking()
            for spec in self._speculations.values():
                await spec.close()
            self._speculations.clear()

    def _first_delay(self, delay: float) -> float:
        """The wait before the next attempt: from the minimum again once a session was
        established on the connection that just dropped (the server was fine)."""
        if self._established:
            self._established = False
            return self.backoff_s[0]
        return delay

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
                self._established = True  # the backoff starts again from its minimum
            elif isinstance(msg, Resumed):
                self._on_resumed(msg)
                # Every game in progress has been re-sent by now: seek only if none.
                await self._maybe_seek()
            elif isinstance(msg, GameStart):
                await self._on_game_start(msg)
            elif isinstance(msg, StateEvent):
                self._on_state(msg)
            elif isinstance(msg, GameOver):
                await self._on_game_over(msg)
                if self._done():
                    await ws.close()
                    return
                await self._maybe_seek()
            elif isinstance(msg, ErrorMessage):
                self._on_error(msg)
            elif isinstance(msg, WarningMessage):
                log.warning("server warning about %s ply %s: %s", msg.game_id, msg.ply, msg.message)

    async def _maybe_seek(self) -> None:
        if self.seek is None or self._views or self._seeking or self._done():
            return
        self._seeking = True
        await self._send(dump(self.seek))

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
        self._seeking = False  # a seek, if any, was answered by this game
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
        spec = self._speculations.pop(msg.game_id, None)
        if spec is not None:
            await spec.close()
        view = self._views.pop(msg.game_id, None)
        if view is None:
            return  # not a game this client followed (or already settled)
        self.results.append(msg)
        view.to_move = None
        await self.bot.on_game_over(view, msg)
        if self.on_result is not None:
            self.on_result(msg)

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
        elif (
            msg.code == ErrorCode.BAD_PREDICTION
            and view is not None
            and msg.ply is not None
            and msg.ply < view.ply
        ):
            # A prediction that crossed the opponent's move on the wire: it would
            # not have counted anyway (only predictions received before it do).
            log.debug("late prediction in %s: %s", msg.game_id, msg.message)
        elif msg.code == ErrorCode.BAD_SEEK:
            raise SeekError(f"the server refused the seek {self.seek}: {msg.message}")
        else:
            log.warning("server error %s %s: %s", msg.code, msg.name, msg.message)

    # ------------------------------------------------------------------ thinking

    def _maybe_speculate(self, view: GameView) -> None:
        waiting = view.to_move is not None and not view.my_turn
        if waiting and not view.paused and not self._catching_up:
            self.bot.on_opponent_turn(view)
            spec = self._speculation(view)
            if spec is not None:
                spec.opponent_to_move(view.position())

    def _speculation(self, view: GameView) -> Speculation | None:
        """The speculation of ``view``'s game, for a bot that predicts (else ``None``)."""
        if not self.bot.speculates:
            return None
        spec = self._speculations.get(view.game_id)
        if spec is None:
            game_id = view.game_id

            async def publish(ply: int, guesses: list[Guess]) -> None:
                probs = [g.prob for g in guesses]
                await self.predict(
                    game_id,
                    ply,
                    [g.move for g in guesses],
                    None if any(p is None for p in probs) else [float(p or 0.0) for p in probs],
                )

            spec = Speculation(
                _BotActor(self, view),
                _BotSpeculator(self, view),
                self.bot.speculation_config,
                publish,
            )
            self._speculations[game_id] = spec
        return spec

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

    async def _decide(self, view: GameView) -> str | MoveDecision:
        spec = self._speculation(view)
        if spec is None or view.last_error is not None:
            return await self.bot.choose_move(view)
        try:
            report = await spec.decide(view.position())
        except GameError:
            # The bot chose an illegal move: send it as a plain move, so the server
            # refuses it with the legal alternatives and the bot can retry.
            return await self.bot.choose_move(view)
        return MoveDecision.from_report(report)

    async def _think(self, view: GameView, ply: int) -> None:
        started = time.perf_counter()
        try:
            decision = await self._decide(view)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The program failing (a dead engine) is not a loss at chess: the game
            # ends unrated as an engine error. A policy that fails to play (an LLM
            # with no legal answer) resigns, as before.
            crashed = isinstance(exc, ActorFailure)
            log.exception(
                "%s failed to choose a move in game %s; %s",
                self.bot.name,
                view.game_id,
                "ending it as an engine error" if crashed else "resigning",
            )
            reason = "engine_error" if crashed else None
            await self._send(dump(Resign(game_id=view.game_id, reason=reason)))
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
        await wait_stopped(tasks)


class _BotActor:
    """A bot's :meth:`Bot.choose_move` as the speculation engine's actor, for one game."""

    def __init__(self, client: BotClient, view: GameView) -> None:
        self.client = client
        self.view = view
        self.resource = client.bot.resource

    async def act(self, position: Position, meter: Meter) -> Action:
        view = self.client._views.get(self.view.game_id, self.view)
        real = position.moves == tuple(view.moves)
        decision = await self.client.bot.choose_move(view if real else view.at(position))
        if isinstance(decision, str):
            return Action(decision)
        meta = decision.meta
        if meta is None:
            return Action(decision.move)
        meter.prompt_tokens += meta.prompt_tokens or 0
        meter.completion_tokens += meta.completion_tokens or 0
        return Action(decision.move, meta.comment)


class _BotSpeculator:
    """A bot's :meth:`Bot.predict` (or its :attr:`Bot.speculator`) as a speculator."""

    def __init__(self, client: BotClient, view: GameView) -> None:
        self.client = client
        self.view = view

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        bot = self.client.bot
        if bot.speculator is not None:
            return await bot.speculator.predict(position, k, meter)
        view = self.client._views.get(self.view.game_id, self.view)
        guesses: list[Guess] = []
        for guess in await bot.predict(view.at(position)):
            move, prob = (guess, None) if isinstance(guess, str) else (guess.move, guess.prob)
            try:
                canonical = position.game.normalize_move(position.state, move)
            except GameError:
                log.info("dropping the prediction %r: not a legal move there", move)
                continue
            if all(g.move != canonical for g in guesses):
                guesses.append(Guess(canonical, prob))
        return guesses[:k]
