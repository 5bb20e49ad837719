"""The ASGI app: websocket endpoints for bots and spectators, and the JSON API.

A thin shell: frames are parsed into typed messages at the edge
(:func:`arena.protocol.parse_client_message`) and handed to the
:class:`~arena.host.Host`; nothing here knows game rules. Every failure a
client can cause is answered with an ``error`` frame (and, when fatal, the same
code as the close code); an unexpected failure is logged and answered with
``internal`` (4500), never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from arena import __version__
from arena.errors import ErrorCode, ProtocolError
from arena.host import Host, error_message
from arena.leaderboard import build_leaderboard, crosstable
from arena.limits import Limits, TokenBucket
from arena.protocol import PROTOCOL_VERSION, Hello, Welcome, dump, parse_client_message
from arena.records import NotChessError, game_detail, game_pgn, game_summary
from arena.store import BotRow, Store, TournamentRow

__all__ = ["WsPeer", "create_app"]

log = logging.getLogger(__name__)

_CLOSE = object()


class WsPeer:
    """A websocket connection with a bounded outgoing queue drained by one writer task."""

    def __init__(self, ws: WebSocket, limits: Limits) -> None:
        self.ws = ws
        self.bot: BotRow | None = None
        self._queue: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue(limits.send_queue)
        self._closing = False

    def send(self, text: str) -> None:
        if self._closing:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self._closing = True
            log.warning("closing a connection that fell %d messages behind", self._queue.qsize())
            self._queue = asyncio.Queue()
            self._queue.put_nowait((1008, "too far behind: client is not reading its messages"))

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
                    await self.ws.close(code=item[0], reason=item[1][:120])
                return
            await self.ws.send_text(item)


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
    def __init__(self, store: Store, host: Host, limits: Limits) -> None:
        self.store = store
        self.host = host
        self.limits = limits

    # ------------------------------------------------------------------ websockets

    async def bot(self, ws: WebSocket) -> None:
        await ws.accept()
        peer = WsPeer(ws, self.limits)
        writer = asyncio.create_task(peer.writer())
        try:
            if await self._authenticate(ws, peer):
                await self.host.connect(peer)
                await self._serve_bot(ws, peer)
        except WebSocketDisconnect:
            pass
        finally:
            self.host.disconnect(peer)
            await self._finish(peer, writer)

    async def _authenticate(self, ws: WebSocket, peer: WsPeer) -> bool:
        try:
            async with asyncio.timeout(self.limits.hello_timeout_s):
                frame = await _receive(ws)
            text = None if frame is None else _as_text(frame)
        except TimeoutError:
            self._fatal(peer, ErrorCode.HELLO_REQUIRED, "no hello within the time allowed")
            return False
        except ProtocolError as exc:
            self._fatal(peer, exc.code, exc.message)
            return False
        if text is None:
            return False
        try:
            hello = parse_client_message(text)
        except ProtocolError as exc:
            self._fatal(peer, exc.code, exc.message)
            return False
        if not isinstance(hello, Hello):
            self._fatal(
                peer, ErrorCode.HELLO_REQUIRED, f"first message must be 'hello', got {hello.type!r}"
            )
            return False
        if hello.protocol != PROTOCOL_VERSION:
            self._fatal(
                peer,
                ErrorCode.UNSUPPORTED_PROTOCOL,
                f"protocol {hello.protocol} is not served; this server speaks {PROTOCOL_VERSION}",
            )
            return False
        bot = await self.store.bot_by_token(hello.token)
        if bot is None:
            self._fatal(peer, ErrorCode.BAD_TOKEN, "unknown or revoked token")
            return False
        peer.bot = bot
        peer.send(
            dump(
                Welcome(
                    bot=bot.name,
                    server=f"speculative-arena/{__version__}",
                    max_message_bytes=self.limits.max_message_bytes,
                    rate_limit_per_s=self.limits.rate_per_s,
                )
            )
        )
        return True

    async def _serve_bot(self, ws: WebSocket, peer: WsPeer) -> None:
        bucket = TokenBucket(self.limits.rate_per_s, self.limits.burst, time.monotonic())
        strikes = 0
        while True:
            try:
                frame = await _receive(ws)
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
                msg = parse_client_message(_as_text(frame))
                if isinstance(msg, Hello):
                    raise ProtocolError(
                        ErrorCode.ALREADY_AUTHENTICATED, "this connection is already authenticated"
                    )
                await self.host.handle(peer, msg)
            except ProtocolError as exc:
                peer.send(error_message(exc.code, exc.message))
            except WebSocketDisconnect:
                return
            except Exception:
                log.exception("internal error while handling a bot message")
                peer.send(
                    error_message(ErrorCode.INTERNAL, "internal error; the message changed nothing")
                )

    async def watch(self, ws: WebSocket) -> None:
        await ws.accept()
        peer = WsPeer(ws, self.limits)
        writer = asyncio.create_task(peer.writer())
        game_id = ws.path_params["game_id"]
        try:
            if not await self.host.watch(peer, game_id):
                self._fatal(peer, ErrorCode.UNKNOWN_GAME, f"no game {game_id!r}")
                return
            bucket = TokenBucket(self.limits.rate_per_s, self.limits.burst, time.monotonic())
            while True:
                frame = await _receive(ws)
                if frame is None:
                    return
                if not bucket.allow(time.monotonic()):
                    self._fatal(peer, ErrorCode.RATE_LIMITED, "message rate limit exceeded")
                    return
                if isinstance(frame, bytes):
                    peer.send(
                        error_message(ErrorCode.BINARY_FRAME, "binary frames are not supported")
                    )
                    continue
                peer.send(
                    error_message(
                        ErrorCode.READ_ONLY, "spectator connections are read-only", game_id=game_id
                    )
                )
        except WebSocketDisconnect:
            pass
        finally:
            self.host.disconnect(peer)
            await self._finish(peer, writer)

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
        try:
            limit = min(1000, max(1, int(request.query_params.get("limit", "100"))))
        except ValueError:
            return _json_error(400, "limit must be an integer")
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
            return _json_error(404, f"no game {game_id!r}")
        return JSONResponse(detail)

    async def get_pgn(self, request: Request) -> Response:
        game_id = request.path_params["game_id"]
        try:
            pgn = await game_pgn(self.store, game_id)
        except NotChessError as exc:
            return _json_error(409, str(exc))
        if pgn is None:
            return _json_error(404, f"no game {game_id!r}")
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
            return _json_error(400, "missing query parameter(s): " + ", ".join(missing))
        rows = await self.store.history(game, bot, key)
        moves = [{"move": move, "count": count} for move, count in rows]
        return JSONResponse({"game": game, "bot": bot, "key": key, "moves": moves})

    async def leaderboard(self, request: Request) -> Response:
        board = await build_leaderboard(
            self.store,
            tournament_id=request.query_params.get("tournament"),
            game=request.query_params.get("game"),
        )
        return JSONResponse(board.to_json())

    async def tournaments(self, request: Request) -> Response:
        rows = await self.store.list_tournaments()
        return JSONResponse({"tournaments": [await self._tournament_summary(t) for t in rows]})

    async def tournament(self, request: Request) -> Response:
        tournament_id = request.path_params["tournament_id"]
        row = await self.store.get_tournament(tournament_id)
        if row is None:
            return _json_error(404, f"no tournament {tournament_id!r}")
        games = await self.store.list_games(limit=None, tournament_id=tournament_id)
        detail = await self._tournament_summary(row)
        detail["config"] = row.config
        detail["leaderboard"] = (
            await build_leaderboard(self.store, tournament_id=tournament_id)
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
            {"status": "ok", "version": __version__, "live_games": len(self.host.games)}
        )


def _json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(
    store: Store,
    host: Host,
    limits: Limits | None = None,
    extra_routes: list[BaseRoute] | None = None,
) -> Starlette:
    """The arena's ASGI app over an open store and its host."""
    endpoints = _Endpoints(store, host, limits or Limits())
    routes: list[BaseRoute] = [
        WebSocketRoute("/ws", endpoints.bot),
        WebSocketRoute("/ws/watch/{game_id}", endpoints.watch),
        Route("/api/health", endpoints.health),
        Route("/api/games", endpoints.list_games),
        Route("/api/games/{game_id}", endpoints.get_game),
        Route("/api/games/{game_id}/pgn", endpoints.get_pgn),
        Route("/api/history", endpoints.history),
        Route("/api/leaderboard", endpoints.leaderboard),
        Route("/api/tournaments", endpoints.tournaments),
        Route("/api/tournaments/{tournament_id}", endpoints.tournament),
        *(extra_routes or []),
    ]

    async def on_error(request: Any, exc: Exception) -> Response:
        log.exception("internal error on %s", getattr(request, "url", "?"))
        return _json_error(500, "internal error")

    return Starlette(routes=routes, exception_handlers={500: on_error})
