"""The ASGI app: websocket endpoints for bots and spectators, and the JSON API.

A thin shell: frames are parsed into typed messages at the edge
(:func:`arena.protocol.parse_client_message`) and handed to the
:class:`~arena.host.Host`; nothing here knows game rules. Every failure a
client can cause is answered with an ``error`` frame (and, when fatal, the same
code as the close code); an unexpected failure is logged and answered with
``internal`` (4500), never a traceback.

Guards at the edge (:class:`~arena.limits.Limits`, :mod:`arena.access`): the
``Origin`` of browser handshakes, caps on connections that have not said
``hello`` and on spectators (HTTP 503 beyond them), the hello timeout, frame
size, message rate, an idle timeout, and token scopes: ``/ws`` takes bot
tokens; the admin endpoints (:mod:`arena.admin`) an admin token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from arena import __version__
from arena.access import Scope, origin_allowed
from arena.admin import AdminApi, TournamentHost, json_error
from arena.boards import Boards
from arena.errors import ErrorCode, ProtocolError
from arena.headers import PageRate, SecurityHeaders
from arena.host import Host, error_message
from arena.lichess import LichessApi
from arena.limits import AddressCounts, Limits, TokenBucket, address_key
from arena.protocol import (
    MAX_SEQ,
    PROTOCOL_VERSION,
    Hello,
    Move,
    Ping,
    Pong,
    WarningMessage,
    Welcome,
    dump,
    parse_client_frame,
)
from arena.records import NotChessError, game_detail, game_pgn, game_summary
from arena.safejson import SafeJSONResponse as JSONResponse
from arena.safejson import ascii_int
from arena.specpolicy import public_config
from arena.store import BotRow, Store, TokenRow, TournamentRow
from arena.wsprotocol import direct_send_of, text_frame

__all__ = ["WsPeer", "create_app"]

log = logging.getLogger(__name__)


async def _until_idle(
    read_loop: Coroutine[Any, Any, None],
    peer: WsPeer,
    limit: float,
    may_idle: Callable[[], bool],
) -> None:
    """Run a connection's ``read_loop``; once no frame went either way for ``limit``
    seconds while ``may_idle()`` holds (e.g. the bot has no game under way), close
    the connection (``idle``, 4091) and stop the loop, so no frame is handled after.

    One timer per connection, re-armed from ``peer.last_activity`` when it
    fires, rather than a timeout around every receive: under load that was a
    timer armed and cancelled for every frame.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    fired = False
    timer: asyncio.TimerHandle

    def check() -> None:
        nonlocal timer, fired
        left = peer.last_activity + limit - time.monotonic()
        if left <= 0 and may_idle():
            fired = True
            _Endpoints._fatal(peer, ErrorCode.IDLE, "idle connection closed; reconnect any time")
            task.cancel()
            return
        timer = loop.call_later(left if left > 0 else limit, check)

    timer = loop.call_later(limit, check)
    try:
        await read_loop
    except asyncio.CancelledError:
        if not fired:
            raise
        task.uncancel()  # our own stop, not the server's: return normally
    finally:
        timer.cancel()


class WsPeer:
    """A websocket connection with a bounded outgoing queue drained by one writer task.

    When the server offers a synchronous write (:data:`arena.wsprotocol.DIRECT_SEND`)
    and nothing is queued, a frame is written at once, encoded once for all
    its receivers (:func:`~arena.wsprotocol.text_frame`): no task switch and
    no ASGI layers per frame. When the transport is backed up (its buffer
    full) the frame goes to the queue, and so does every frame after it until
    the writer has sent them all, so the order holds and a client that does
    not read is still closed once ``limits.send_queue`` frames wait.
    """

    def __init__(self, ws: WebSocket, limits: Limits) -> None:
        self.ws = ws
        self.bot: BotRow | None = None
        self._queue: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue(limits.send_queue)
        self._direct = direct_send_of(ws.scope)
        self._writing = False
        """The writer holds a frame it has taken from the queue but not yet sent."""
        self._closing = False
        self.last_activity = time.monotonic()
        """When a frame last went either way (for the idle timeout)."""

    def send(self, *texts: str) -> None:
        if self._closing or not texts:
            return
        if (
            self._direct is not None
            and not self._writing
            and self._queue.empty()
            and self._direct(b"".join(map(text_frame, texts)))
        ):
            self.last_activity = time.monotonic()
            return
        for text in texts:
            try:
                self._queue.put_nowait(text)
            except asyncio.QueueFull:
                self._closing = True
                log.warning(
                    "closing a connection that fell %d messages behind", self._queue.qsize()
                )
                self._queue = asyncio.Queue()
                self._queue.put_nowait((1008, "too far behind: client is not reading its messages"))
                return

    def close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait((code, reason))

    async def writer(self) -> None:
        """Send queued frames in order; close when a close is queued."""
        while True:
            item = await self._queue.get()
            if isinstance(item, tuple):
                with contextlib.suppress(Exception):
                    await self.ws.close(code=item[0], reason=_close_reason(item[1]))
                return
            self._writing = True
            try:
                await self.ws.send_text(item)
            finally:
                self._writing = False
            self.last_activity = time.monotonic()


def ignored_fields_warning(msg: Move, ignored: list[str]) -> str:
    """The ``warning`` that a move's unknown ``meta`` fields were not stored."""
    return dump(
        WarningMessage(
            name="ignored_fields",
            message=f"move accepted; unknown meta field(s) not stored: {', '.join(ignored)}",
            game_id=msg.game_id,
            ply=msg.ply,
            ref="move",
            ignored=ignored,
        )
    )


def _close_reason(text: str) -> str:
    """``text`` cut to the 123 UTF-8 bytes a close frame's reason may hold."""
    return text.encode()[:123].decode(errors="ignore")


async def _receive(ws: WebSocket) -> str | bytes | None:
    """The next frame (text or binary); ``None`` on disconnect."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        return None
    if message.get("text") is not None:
        text: str = message["text"]
        return text
    data: bytes = message.get("bytes") or b""
    return data


def _as_text(frame: str | bytes) -> str:
    """The frame's text; a binary frame is a ProtocolError (the protocol is JSON text)."""
    if isinstance(frame, bytes):
        raise ProtocolError(
            ErrorCode.BINARY_FRAME, "binary frames are not supported; send JSON text"
        )
    return frame


class _Endpoints:
    def __init__(
        self,
        store: Store,
        host: Host,
        limits: Limits,
        allowed_origins: Collection[str],
        boards: Boards,
    ) -> None:
        self.store = store
        self.boards = boards
        self.host = host
        self.limits = limits
        self.allowed_origins = tuple(allowed_origins)
        self.pending = AddressCounts()
        """Bot connections accepted that have not authenticated yet, per address."""
        self.spectators = AddressCounts()

    # ------------------------------------------------------------------ websockets

    async def _admit(self, ws: WebSocket, *, spectator: bool) -> str | None:
        """Refuse a handshake from a foreign browser origin (403) or over a cap (503);
        the client's address key (counted by the caller) when it may proceed."""
        origin = ws.headers.get("origin")
        if not origin_allowed(origin, ws.headers.get("host"), self.allowed_origins):
            log.info("refused a websocket from origin %r", origin[:100] if origin else origin)
            await ws.send_denial_response(
                JSONResponse({"error": "origin not allowed"}, status_code=403)
            )
            return None
        address = address_key(ws.client.host if ws.client else None)
        if spectator:
            full = self.spectators.full(
                address, self.limits.max_spectators, self.limits.max_spectators_per_address
            )
        else:
            full = self.pending.full(
                address, self.limits.max_pending_hello, self.limits.max_pending_hello_per_address
            )
        if full is not None:
            what = "spectators" if spectator else "connections waiting for hello"
            await ws.send_denial_response(
                JSONResponse(
                    {"error": f"too many {what} {full}; try again later"},
                    status_code=503,
                    headers={"Retry-After": "1"},
                )
            )
            return None
        return address

    async def bot(self, ws: WebSocket) -> None:
        address = await self._admit(ws, spectator=False)
        if address is None:
            return
        # A crowded address (or server) gets less time to say hello.
        crowded = self.pending.count(address) * 2 >= self.limits.max_pending_hello_per_address or (
            self.pending.total * 2 >= self.limits.max_pending_hello
        )
        timeout = (
            min(self.limits.hello_timeout_s, self.limits.hello_timeout_crowded_s)
            if crowded
            else self.limits.hello_timeout_s
        )
        self.pending.add(address)
        counted = True
        peer: WsPeer | None = None
        writer: asyncio.Task[None] | None = None
        try:
            await ws.accept()
            peer = WsPeer(ws, self.limits)
            writer = asyncio.create_task(peer.writer())
            auth = await self._authenticate(ws, peer, timeout)
            self.pending.remove(address)
            counted = False
            if auth is not None:
                token, hello = auth
                await self.host.connect(peer, resume=hello.resume, token_id=token.id)
                await self._serve_bot(ws, peer)
        except WebSocketDisconnect:
            pass
        finally:
            if counted:
                self.pending.remove(address)
            if peer is not None and writer is not None:
                self.host.disconnect(peer)
                await self._finish(peer, writer)

    async def _authenticate(
        self, ws: WebSocket, peer: WsPeer, timeout_s: float
    ) -> tuple[TokenRow, Hello] | None:
        try:
            async with asyncio.timeout(timeout_s):
                frame = await _receive(ws)
            text = None if frame is None else _as_text(frame)
        except TimeoutError:
            self._fatal(peer, ErrorCode.HELLO_REQUIRED, "no hello within the time allowed")
            return None
        except ProtocolError as exc:
            self._fatal(peer, exc.code, exc.message)
            return None
        if text is None:
            return None
        try:
            hello, _ = parse_client_frame(text)
        except ProtocolError as exc:
            self._fatal(peer, exc.code, exc.message)
            return None
        if not isinstance(hello, Hello):
            self._fatal(
                peer, ErrorCode.HELLO_REQUIRED, f"first message must be 'hello', got {hello.type!r}"
            )
            return None
        if hello.protocol != PROTOCOL_VERSION:
            self._fatal(
                peer,
                ErrorCode.UNSUPPORTED_PROTOCOL,
                f"protocol {hello.protocol} is not served; this server speaks {PROTOCOL_VERSION}",
            )
            return None
        token = await self.store.principal_by_token(hello.token)
        if token is None:
            self._fatal(peer, ErrorCode.BAD_TOKEN, "unknown or revoked token")
            return None
        if token.scope != Scope.BOT.value:
            self._fatal(
                peer,
                ErrorCode.WRONG_SCOPE,
                f"a token of scope {token.scope!r} cannot play; connect with a bot token",
            )
            return None
        peer.bot = token.bot
        peer.send(
            dump(
                Welcome(
                    bot=token.bot.name,
                    server=f"speculative-arena/{__version__}",
                    max_message_bytes=self.limits.max_message_bytes,
                    rate_limit_per_s=self.limits.rate_per_s,
                )
            )
        )
        return token, hello

    async def _next_frame(self, ws: WebSocket, peer: WsPeer) -> str | bytes | None:
        """The next frame (``None`` on disconnect), noting the activity for :func:`_until_idle`."""
        frame = await _receive(ws)
        peer.last_activity = time.monotonic()
        return frame

    async def _serve_bot(self, ws: WebSocket, peer: WsPeer) -> None:
        bot = peer.bot
        assert bot is not None
        bucket = TokenBucket(self.limits.rate_per_s, self.limits.burst, time.monotonic())
        await _until_idle(
            self._serve_bot_frames(ws, peer, bucket),
            peer,
            self.limits.idle_timeout_s,
            lambda: not self.host.has_game_under_way(bot.id),
        )

    async def _serve_bot_frames(self, ws: WebSocket, peer: WsPeer, bucket: TokenBucket) -> None:
        strikes = 0
        while True:
            try:
                frame = await self._next_frame(ws, peer)
                if frame is None:
                    return
                if not bucket.allow(time.monotonic()):
                    strikes += 1
                    if strikes >= self.limits.max_strikes:
                        self._fatal(peer, ErrorCode.RATE_LIMITED, "message rate limit exceeded")
                        return
                    raise ProtocolError(
                        ErrorCode.RATE_LIMITED,
                        f"more than {self.limits.rate_per_s:g} messages/s; message dropped",
                    )
                strikes = 0
                msg, ignored = parse_client_frame(_as_text(frame))
                if isinstance(msg, Hello):
                    raise ProtocolError(
                        ErrorCode.ALREADY_AUTHENTICATED,
                        "this connection is already authenticated",
                        ref="hello",
                    )
                if ignored and isinstance(msg, Move):
                    peer.send(ignored_fields_warning(msg, ignored))
                await self.host.handle(peer, msg)
            except ProtocolError as exc:
                peer.send(
                    error_message(
                        exc.code, exc.message, game_id=exc.game_id, ply=exc.ply, ref=exc.ref
                    )
                )
            except WebSocketDisconnect:
                return
            except Exception:
                log.exception("internal error while handling a bot message")
                peer.send(
                    error_message(ErrorCode.INTERNAL, "internal error; the message changed nothing")
                )

    async def watch(self, ws: WebSocket) -> None:
        address = await self._admit(ws, spectator=True)
        if address is None:
            return
        self.spectators.add(address)
        try:
            await self._watch(ws)
        finally:
            self.spectators.remove(address)

    async def _watch(self, ws: WebSocket) -> None:
        await ws.accept()
        peer = WsPeer(ws, self.limits)
        writer = asyncio.create_task(peer.writer())
        game_id = ws.path_params["game_id"]
        try:
            since_text = ws.query_params.get("since")
            since: int | None = None
            if since_text is not None:
                since = ascii_int(since_text, low=0, high=MAX_SEQ)
                if since is None:
                    self._fatal(
                        peer,
                        ErrorCode.BAD_MESSAGE,
                        "since must be a seq (an integer 0-"
                        f"{MAX_SEQ} in ASCII digits), got {since_text[:20]!r}",
                    )
                    return
            if not await self.host.watch(peer, game_id, since):
                self._fatal(peer, ErrorCode.UNKNOWN_GAME, f"no game {game_id[:64]!r}")
                return
            bucket = TokenBucket(self.limits.rate_per_s, self.limits.burst, time.monotonic())
            await _until_idle(
                self._read_only(ws, peer, bucket, game_id),
                peer,
                self.limits.idle_timeout_s,
                lambda: True,
            )
        except WebSocketDisconnect:
            pass
        finally:
            self.host.disconnect(peer)
            await self._finish(peer, writer)

    async def _read_only(
        self, ws: WebSocket, peer: WsPeer, bucket: TokenBucket, game_id: str
    ) -> None:
        """A spectator's frames: pings are answered, anything else is refused."""
        while True:
            frame = await self._next_frame(ws, peer)
            if frame is None:
                return
            if not bucket.allow(time.monotonic()):
                self._fatal(peer, ErrorCode.RATE_LIMITED, "message rate limit exceeded")
                return
            if isinstance(frame, bytes):
                peer.send(error_message(ErrorCode.BINARY_FRAME, "binary frames are not supported"))
                continue
            with contextlib.suppress(ProtocolError):
                msg, _ = parse_client_frame(frame)
                if isinstance(msg, Ping):  # liveness checks are fine; acting is not
                    peer.send(dump(Pong(id=msg.id)))
                    continue
            peer.send(
                error_message(
                    ErrorCode.READ_ONLY, "spectator connections are read-only", game_id=game_id
                )
            )

    @staticmethod
    def _fatal(peer: WsPeer, code: ErrorCode, message: str) -> None:
        peer.send(error_message(code, message))
        peer.close(int(code), message)

    @staticmethod
    async def _finish(peer: WsPeer, writer: asyncio.Task[None]) -> None:
        peer.close(1000, "bye")
        try:
            async with asyncio.timeout(2.0):
                await writer
        except Exception:  # a writer that cannot finish (TimeoutError included) is cancelled
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer

    # ------------------------------------------------------------------ JSON API

    async def list_games(self, request: Request) -> Response:
        raw = ascii_int(request.query_params.get("limit", "100"), low=-(10**18), high=10**18)
        if raw is None:
            return json_error(400, "limit must be an integer (ASCII digits)")
        limit = min(1000, max(1, raw))
        rows = await self.store.list_games(
            limit=limit,
            status=request.query_params.get("status"),
            bot=request.query_params.get("bot"),
        )
        return JSONResponse({"games": [game_summary(r) for r in rows]})

    async def get_game(self, request: Request) -> Response:
        game_id = request.path_params["game_id"]
        detail = await game_detail(self.store, game_id)
        if detail is None:
            return json_error(404, f"no game {game_id!r}")
        return JSONResponse(detail)

    async def get_pgn(self, request: Request) -> Response:
        game_id = request.path_params["game_id"]
        try:
            pgn = await game_pgn(self.store, game_id)
        except NotChessError as exc:
            return json_error(409, str(exc))
        if pgn is None:
            return json_error(404, f"no game {game_id!r}")
        return PlainTextResponse(
            pgn,
            media_type="application/x-chess-pgn",
            headers={"Content-Disposition": f'attachment; filename="{game_id}.pgn"'},
        )

    async def history(self, request: Request) -> Response:
        """What a bot played before in one position: ``?game=&bot=&key=``."""
        params = request.query_params
        game, bot, key = params.get("game"), params.get("bot"), params.get("key")
        if not game or not bot or not key:
            missing = [n for n, v in (("game", game), ("bot", bot), ("key", key)) if not v]
            return json_error(400, "missing query parameter(s): " + ", ".join(missing))
        rows = await self.store.history(game, bot, key)
        moves = [{"move": move, "count": count} for move, count in rows]
        return JSONResponse({"game": game, "bot": bot, "key": key, "moves": moves})

    async def leaderboard(self, request: Request) -> Response:
        board = await self.boards.leaderboard(
            tournament_id=request.query_params.get("tournament"),
            game=request.query_params.get("game"),
        )
        return JSONResponse(board.to_json())

    async def tournaments(self, request: Request) -> Response:
        rows = await self.store.list_tournaments()
        return JSONResponse({"tournaments": [await self._tournament_summary(t) for t in rows]})

    async def tournament(self, request: Request) -> Response:
        from arena.leaderboard import crosstable

        tournament_id = request.path_params["tournament_id"]
        row = await self.store.get_tournament(tournament_id)
        if row is None:
            return json_error(404, f"no tournament {tournament_id!r}")
        games = await self.store.list_games(limit=None, tournament_id=tournament_id)
        detail = await self._tournament_summary(row)
        detail["config"] = public_config(row.config)
        detail["leaderboard"] = (
            await self.boards.leaderboard(tournament_id=tournament_id)
        ).to_json()
        detail["crosstable"] = crosstable(games)
        detail["games"] = [game_summary(g) for g in games]
        return JSONResponse(detail)

    async def _tournament_summary(self, row: TournamentRow) -> dict[str, Any]:
        games = await self.store.list_games(limit=None, tournament_id=row.id)
        return {
            "id": row.id,
            "name": row.name,
            "format": row.format,
            "game": row.game,
            "status": row.status,
            "players": [p["name"] for p in row.config.get("players", [])],
            "games_finished": sum(1 for g in games if g.status == "finished" and g.result != "*"),
            "created_at": row.created_at,
            "finished_at": row.finished_at,
        }

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "live_games": len(self.host.games),
                "recovered_games": len(self.host.recovered),
            }
        )


def create_app(
    store: Store,
    host: Host,
    limits: Limits | None = None,
    extra_routes: list[BaseRoute] | None = None,
    *,
    allowed_origins: Collection[str] = (),
    tournaments: TournamentHost | None = None,
    boards: Boards | None = None,
    lichess: LichessApi | None = None,
) -> Starlette:
    """The arena's ASGI app over an open store and its host.

    ``allowed_origins`` lists browser origins (``scheme://host[:port]``, or
    ``*``) allowed to open websockets besides the server's own;
    ``tournaments`` runs the tournaments created over the admin API;
    ``lichess`` serves the lichess Bot API (:mod:`arena.lichess`; one is made if
    not given: whoever runs the app ends its streams with ``shutdown()``).
    """
    limits = limits or Limits()
    endpoints = _Endpoints(store, host, limits, allowed_origins, boards or Boards(store))
    routes: list[BaseRoute] = [
        WebSocketRoute("/ws", endpoints.bot),
        WebSocketRoute("/ws/watch/{game_id}", endpoints.watch),
        Route("/api/health", endpoints.health),
        Route("/api/games", endpoints.list_games),
        Route("/api/games/{game_id}", endpoints.get_game),
        Route("/api/games/{game_id}/pgn", endpoints.get_pgn),
        Route("/api/history", endpoints.history),
        Route("/api/leaderboard", endpoints.leaderboard),
        Route("/api/tournaments", endpoints.tournaments, methods=["GET"]),
        Route("/api/tournaments/{tournament_id}", endpoints.tournament),
        *AdminApi(store, host, limits, tournaments).routes(),
        *(lichess or LichessApi(store, host, limits)).routes(),
        *(extra_routes or []),
    ]

    async def on_error(request: Any, exc: Exception) -> Response:
        log.exception("internal error on %s", getattr(request, "url", "?"))
        return json_error(500, "internal error")

    return Starlette(
        routes=routes,
        exception_handlers={500: on_error},
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(PageRate, rate_per_s=limits.page_rate_per_s, burst=limits.page_burst),
        ],
    )
