"""The lichess Bot API's HTTP routes (a thin shell over :class:`~arena.lichess.hub.LichessHub`).

Paths, methods, status codes and bodies follow lichess (``lichess-org/api``),
so lichess-bot or berserk plays here by changing its base URL; tokens are the
arena's bot tokens, as ``Authorization: Bearer``. Refusals are lichess's
``{"error": ...}`` with 400/401/404, never a traceback. One arena extension:
``POST /api/bot/game/{id}/predict`` (see ``docs/lichess.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import chess
import pydantic
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from arena.access import Scope
from arena.clock import TimeControl
from arena.host import Host
from arena.lichess.challenges import ChallengeError, challenge_json, parse_challenge
from arena.lichess.hub import LichessHub, error_status
from arena.lichess.peer import Captured, Stream
from arena.lichess.shapes import (
    GameView,
    account,
    event_game,
    game_full,
    ndjson,
    speed_of,
    user_id,
    user_status,
)
from arena.limits import Limits, TokenBucket
from arena.protocol import Move, Predict, Resign
from arena.records import NotChessError, game_pgn
from arena.store import BotRow, GameRow, Store, TokenRow, hash_token

__all__ = ["KEEPALIVE_S", "LichessApi"]

log = logging.getLogger(__name__)

KEEPALIVE_S = 6.0
"""A stream with nothing to say sends an empty line this often (lichess: about 6 s)."""
MAX_BODY = 16 * 1024
"""Bytes read of a request body (chat, challenge, predict)."""
MAX_STREAMS = 32
"""Open NDJSON streams per bot (an event stream and one per game it plays)."""
MAX_CACHED_TOKENS = 10_000
"""Valid tokens remembered between requests (forgotten all at once beyond it)."""

NDJSON_TYPE = "application/x-ndjson"
Handler = Callable[[Request, TokenRow], Awaitable[Response]]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _ok() -> JSONResponse:
    return JSONResponse({"ok": True})


def _refused(captured: Captured) -> Response:
    if captured.code is None:
        return _ok()
    return _error(error_status(captured.code), captured.message)


def view_of_row(row: GameRow, moves: list[str], seat: int) -> GameView:
    """A stored chess game as a lichess client sees it."""
    finished = row.status == "finished"
    return GameView(
        id=row.id,
        seat=seat,
        players=row.players,
        initial_fen=row.initial_state,
        time_control=TimeControl.parse(row.time_control),
        moves=moves,
        clocks=row.clocks,
        finished=finished,
        winner=row.winner if finished else None,
        reason=row.reason if finished else None,
        created_at=row.created_at,
        tournament_id=row.tournament_id,
    )


class LichessApi:
    """The lichess-compatible routes of one server."""

    def __init__(
        self,
        store: Store,
        host: Host,
        limits: Limits | None = None,
        *,
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self.store = store
        self.host = host
        self.limits = limits or Limits()
        self.hub = LichessHub(store, host)
        self.keepalive_s = keepalive_s
        self._buckets: dict[int, TokenBucket] = {}
        """Each bot's request rate, limited as a websocket connection's messages are."""
        self._principals: dict[str, tuple[TokenRow, float]] = {}
        """Valid tokens (by hash) and when the store said so, re-checked after
        ``limits.revocation_poll_s``: a revoked token is refused as soon as an open
        websocket of it is closed, without a query for every move."""

    def routes(self) -> list[BaseRoute]:
        bot = self._bot
        return [
            Route("/api/token/test", self.token_test, methods=["POST"]),
            Route("/api/account", bot(self.account)),
            Route("/api/account/playing", bot(self.playing)),
            Route("/api/bot/account/upgrade", bot(self.upgrade), methods=["POST"]),
            Route("/api/stream/event", bot(self.event_stream)),
            Route("/api/bot/game/stream/{game_id}", bot(self.game_stream)),
            Route("/api/bot/game/{game_id}/move/{move}", bot(self.move), methods=["POST"]),
            Route("/api/bot/game/{game_id}/resign", bot(self.resign), methods=["POST"]),
            Route("/api/bot/game/{game_id}/abort", bot(self.abort), methods=["POST"]),
            Route("/api/bot/game/{game_id}/chat", bot(self.chat), methods=["POST"]),
            Route(
                "/api/bot/game/{game_id}/claim-victory", bot(self.claim_victory), methods=["POST"]
            ),
            Route("/api/bot/game/{game_id}/predict", bot(self.predict), methods=["POST"]),
            Route(
                "/api/bot/game/{game_id}/takeback/{answer}", bot(self.unsupported), methods=["POST"]
            ),
            Route("/api/bot/game/{game_id}/draw/{answer}", bot(self.unsupported), methods=["POST"]),
            Route("/api/challenge/{username}", bot(self.create_challenge), methods=["POST"]),
            Route("/api/challenge/{challenge_id}/accept", bot(self.accept), methods=["POST"]),
            Route("/api/challenge/{challenge_id}/decline", bot(self.decline), methods=["POST"]),
            Route("/api/challenge/{challenge_id}/cancel", bot(self.cancel), methods=["POST"]),
            Route("/api/bot/online", self.online),
            Route("/api/users/status", self.users_status),
            Route("/api/user/{name}", self.user),
            Route("/game/export/{game_id}", self.export),
        ]

    def shutdown(self) -> None:
        """End every open stream (before the server stops: streams never end by themselves)."""
        self.hub.shutdown()

    # ------------------------------------------------------------------ auth

    def _bot(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            scheme, _, credential = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                return _error(401, "No such token")
            token = await self._principal(credential.strip())
            if token is None:
                return _error(401, "No such token")
            if token.scope != Scope.BOT.value:
                return _error(403, "Missing scope: bot:play (this is not a bot token)")
            bucket = self._buckets.get(token.bot.id)
            if bucket is None:
                bucket = TokenBucket(self.limits.rate_per_s, self.limits.burst, time.monotonic())
                self._buckets[token.bot.id] = bucket
            if not bucket.allow(time.monotonic()):
                return _error(429, "Too many requests. Try again later.")
            return await handler(request, token)

        return endpoint

    async def _principal(self, credential: str) -> TokenRow | None:
        key = hash_token(credential)
        now = time.monotonic()
        cached = self._principals.get(key)
        if cached is not None and now - cached[1] < self.limits.revocation_poll_s:
            return cached[0]
        token = await self.store.principal_by_token(credential)
        if token is None:
            self._principals.pop(key, None)
            return None
        if len(self._principals) >= MAX_CACHED_TOKENS:
            self._principals.clear()
        self._principals[key] = (token, now)
        return token

    async def token_test(self, request: Request) -> Response:
        """``POST /api/token/test``: the body lists tokens, comma-separated."""
        body = (await _body(request)).decode(errors="replace")
        answer: dict[str, Any] = {}
        for text in body.split(","):
            token = text.strip()
            if not token:
                continue
            row = await self.store.principal_by_token(token)
            answer[token] = (
                None
                if row is None or row.scope != Scope.BOT.value
                else {
                    "scopes": "bot:play,challenge:read,challenge:write",
                    "userId": user_id(row.bot.name),
                    "expires": None,
                }
            )
        return JSONResponse(answer)

    # ------------------------------------------------------------------ account

    async def account(self, request: Request, token: TokenRow) -> Response:
        playing = len(await self.store.unfinished_games(bot_id=token.bot.id))
        return JSONResponse(account(token.bot.name, token.bot.created_at, playing=playing))

    async def upgrade(self, request: Request, token: TokenRow) -> Response:
        return _ok()  # every arena bot is a bot account already

    async def playing(self, request: Request, token: TokenRow) -> Response:
        games = []
        for row in await self.store.unfinished_games(bot_id=token.bot.id):
            if row.game != "chess" or row.status == "created":
                continue
            moves = [m.move for m in await self.store.get_moves(row.id)]
            view = view_of_row(row, moves, row.seat_bot_ids.index(token.bot.id))
            games.append(event_game(view))
        return JSONResponse({"nowPlaying": games})

    # ------------------------------------------------------------------ streams

    def _stream(self, bot: BotRow, stream: Stream, first: list[bytes]) -> Response:
        async def lines() -> AsyncIterator[bytes]:
            try:
                for line in first:
                    yield line
                while True:
                    try:
                        async with asyncio.timeout(self.keepalive_s):
                            item = await stream.queue.get()
                    except TimeoutError:
                        yield b"\n"
                        continue
                    if item is None:
                        return
                    yield item
            finally:
                self.hub.close(bot, stream)

        return StreamingResponse(lines(), media_type=NDJSON_TYPE)

    async def event_stream(self, request: Request, token: TokenRow) -> Response:
        peer = self.hub.peer_of(token.bot)
        if len(peer.streams) >= MAX_STREAMS:
            return _error(429, f"Too many open streams (at most {MAX_STREAMS} per bot)")
        already = peer.connected
        stream = await self.hub.open(token.bot, token.id)
        # A first stream got gameStart for every game under way as the host
        # connected the bot; another one is told here.
        first = peer.event_lines() if already else []
        return self._stream(token.bot, stream, [*first, *self.hub.pending_for(token.bot)])

    async def _own_game(self, game_id: str, bot: BotRow) -> GameRow | Response:
        row = await self.store.get_game(game_id)
        if row is None or bot.id not in row.seat_bot_ids:
            return _error(404, "No such game")
        if row.game != "chess":
            return _error(400, f"game {game_id!r} is {row.game!r}; the lichess API plays chess")
        return row

    async def game_stream(self, request: Request, token: TokenRow) -> Response:
        game_id = request.path_params["game_id"]
        row = await self._own_game(game_id, token.bot)
        if isinstance(row, Response):
            return row
        if len(self.hub.peer_of(token.bot).streams) >= MAX_STREAMS:
            return _error(429, f"Too many open streams (at most {MAX_STREAMS} per bot)")
        stream = await self.hub.open(token.bot, token.id, game_id)
        view = self.hub.view(token.bot, game_id)
        if view is None:  # finished, not started yet, or ended as we connected
            fresh = await self.store.get_game(game_id)
            assert fresh is not None
            moves = [m.move for m in await self.store.get_moves(game_id)]
            view = view_of_row(fresh, moves, fresh.seat_bot_ids.index(token.bot.id))
            view.paused = fresh.status == "created"
        view.tournament_id = row.tournament_id  # not in the host's frames
        view.created_at = row.created_at
        if view.finished:
            stream.end()
        if view.paused:  # gameFull when the clocks run (the peer sends it)
            stream.waiting = True
            return self._stream(token.bot, stream, [])
        return self._stream(token.bot, stream, [ndjson(game_full(view))])

    # ------------------------------------------------------------------ game actions

    async def move(self, request: Request, token: TokenRow) -> Response:
        game_id = request.path_params["game_id"]
        hosted = self.host.games.get(game_id)
        ply = hosted.match.ply if hosted is not None else 0
        try:
            msg = Move(game_id=game_id, ply=ply, move=request.path_params["move"])
        except pydantic.ValidationError:
            return _error(400, f"Invalid move: {request.path_params['move'][:20]!r}")
        return _refused(await self.hub.act(token.bot, msg))

    async def resign(self, request: Request, token: TokenRow) -> Response:
        game_id = request.path_params["game_id"]
        try:
            msg = Resign(game_id=game_id)
        except pydantic.ValidationError:
            return _error(404, "No such game")
        return _refused(await self.hub.act(token.bot, msg))

    async def abort(self, request: Request, token: TokenRow) -> Response:
        return _refused(await self.hub.abort(token.bot, request.path_params["game_id"]))

    async def claim_victory(self, request: Request, token: TokenRow) -> Response:
        # The arena ends a game whose player stays away past its grace period itself.
        return _error(400, "The arena adjudicates abandoned games itself; nothing to claim")

    async def unsupported(self, request: Request, token: TokenRow) -> Response:
        # Takebacks and draw offers are not part of an arena game.
        return _error(400, "Takebacks and draw offers are not played in the arena")

    async def chat(self, request: Request, token: TokenRow) -> Response:
        game_id = request.path_params["game_id"]
        row = await self._own_game(game_id, token.bot)
        if isinstance(row, Response):
            return row
        form = await _form(request)
        text = form.get("text", "")[:140]
        room = form.get("room", "player")
        if room not in ("player", "spectator") or not text:
            return _error(400, "chat needs a room (player or spectator) and a text")
        self.hub.chat(token.bot, game_id, room, text)
        return _ok()

    async def predict(self, request: Request, token: TokenRow) -> Response:
        """Arena extension: the bot's ranked guesses of the opponent's next move."""
        game_id = request.path_params["game_id"]
        form = await _form(request)
        moves = form.get("moves", "").replace(",", " ").split()
        ply_text = form.get("ply")
        try:
            ply = int(ply_text) if ply_text is not None else self._reply_ply(game_id, token.bot)
            msg = Predict(game_id=game_id, ply=ply, moves=moves)
        except (ValueError, pydantic.ValidationError):
            return _error(400, "predict needs moves (UCI, space-separated) and an optional ply")
        return _refused(await self.hub.act(token.bot, msg))

    # ------------------------------------------------------------------ challenges

    async def create_challenge(self, request: Request, token: TokenRow) -> Response:
        dest = await self._bot_named(request.path_params["username"])
        if dest is None:
            return _error(404, "Not found")
        try:
            challenge = parse_challenge(token.bot, dest, await _form(request))
            await self.hub.challenge(challenge)
        except ChallengeError as exc:
            return _error(400, str(exc))
        return JSONResponse(challenge_json(challenge, base_url=str(request.base_url).rstrip("/")))

    async def accept(self, request: Request, token: TokenRow) -> Response:
        try:
            await self.hub.accept(token.bot, request.path_params["challenge_id"])
        except ChallengeError as exc:
            return _error(404, str(exc))
        return _ok()

    async def decline(self, request: Request, token: TokenRow) -> Response:
        reason = (await _form(request)).get("reason", "generic")
        try:
            self.hub.decline(token.bot, request.path_params["challenge_id"], reason)
        except ChallengeError as exc:
            return _error(404, str(exc))
        return _ok()

    async def cancel(self, request: Request, token: TokenRow) -> Response:
        try:
            self.hub.cancel(token.bot, request.path_params["challenge_id"])
        except ChallengeError as exc:
            return _error(404, str(exc))
        return _ok()

    def _reply_ply(self, game_id: str, bot: BotRow) -> int:
        """The ply of the opponent's next move (a prediction's default)."""
        hosted = self.host.games.get(game_id)
        if hosted is None:
            return 0
        mine = hosted.match.to_move == hosted.seat_of(bot.id)
        return hosted.match.ply + (1 if mine else 0)

    # ------------------------------------------------------------------ users and games

    async def user(self, request: Request) -> Response:
        bot = await self._bot_named(request.path_params["name"])
        if bot is None:
            return _error(404, "Not found")
        playing = len(await self.store.unfinished_games(bot_id=bot.id))
        data = account(bot.name, bot.created_at, playing=playing)
        data["online"] = self.hub.is_online(bot.id)
        return JSONResponse(data)

    async def users_status(self, request: Request) -> Response:
        names = [n for n in request.query_params.get("ids", "").split(",") if n.strip()][:100]
        answer = []
        for name in names:
            bot = await self._bot_named(name.strip())
            if bot is not None:
                answer.append(
                    user_status(
                        bot.name,
                        online=self.hub.is_online(bot.id),
                        playing=self.host.has_game_under_way(bot.id),
                    )
                )
        return JSONResponse(answer)

    async def online(self, request: Request) -> Response:
        limit_text = request.query_params.get("nb", "")
        limit = int(limit_text) if limit_text.isdigit() else None
        peers = [p.bot for p in self.host.peers.values() if p.bot is not None]
        lines = [
            ndjson(account(bot.name, bot.created_at, playing=0) | {"online": True})
            for bot in sorted(peers, key=lambda b: b.name)[:limit]
        ]
        return Response(b"".join(lines), media_type=NDJSON_TYPE)

    async def _bot_named(self, name: str) -> BotRow | None:
        bot = await self.store.bot_by_name(name)
        if bot is not None:
            return bot
        for candidate, _ in await self.store.list_bots():
            if user_id(candidate.name) == user_id(name):
                return candidate
        return None

    async def export(self, request: Request) -> Response:
        game_id = request.path_params["game_id"]
        accept = request.headers.get("accept", "")
        try:
            pgn = await game_pgn(self.store, game_id)
        except NotChessError as exc:
            return _error(400, str(exc))
        if pgn is None:
            return _error(404, "No such game")
        if "json" not in accept:
            return PlainTextResponse(pgn, media_type="application/x-chess-pgn")
        row = await self.store.get_game(game_id)
        assert row is not None
        moves = [m.move for m in await self.store.get_moves(game_id)]
        return JSONResponse(_export_json(view_of_row(row, moves, 0), pgn))


def _export_json(view: GameView, pgn: str) -> dict[str, Any]:
    """A game as lichess's JSON export describes one (``GameJson``)."""
    board = chess.Board(view.initial_fen)
    sans = []
    for move in view.moves:
        parsed = chess.Move.from_uci(move)
        sans.append(board.san(parsed))
        board.push(parsed)
    speed = speed_of(view.time_control)
    data: dict[str, Any] = {
        "id": view.id,
        "rated": True,
        "variant": "standard",
        "speed": speed,
        "perf": speed,
        "createdAt": view.created_at,
        "lastMoveAt": view.created_at,
        "status": view.status,
        "players": {
            color: {"user": {"name": name, "id": user_id(name), "title": "BOT"}}
            for color, name in zip(("white", "black"), view.players, strict=True)
        },
        "moves": " ".join(sans),
        "pgn": pgn,
    }
    if view.finished and view.winner is not None:
        data["winner"] = ("white", "black")[view.winner]
    if view.time_control.base_ms is not None:
        data["clock"] = {
            "initial": view.time_control.base_ms // 1000,
            "increment": view.time_control.increment_ms // 1000,
        }
    return data


async def _body(request: Request) -> bytes:
    """A request's body, read up to ``MAX_BODY`` bytes (the rest is not read)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            break
    return body[:MAX_BODY]


async def _form(request: Request) -> dict[str, str]:
    """A small request body as fields: JSON (berserk) or a form (lichess-bot)."""
    text = (await _body(request)).decode(errors="replace")
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict):
            return {
                str(k): " ".join(map(str, v)) if isinstance(v, list) else str(v)
                for k, v in data.items()
                if v is not None
            }
    return {k: v[0] for k, v in parse_qs(text).items() if v}
