"""The admin API: register bots, issue and revoke tokens, create tournaments.

Every endpoint needs an admin token (scope ``admin``) in an
``Authorization: Bearer`` header: none or an unknown or revoked one is 401, a
bot token 403. Bodies are JSON objects of at most ``limits.max_message_bytes``.
A new token appears once, in the answer that issued it, and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from arena.access import Scope
from arena.host import Host
from arena.limits import Limits
from arena.names import BOT_NAME, NAME_RULE
from arena.safejson import JSONInputError, loads
from arena.safejson import SafeJSONResponse as JSONResponse
from arena.store import BotExistsError, BotRow, Store, TokenRow

__all__ = ["BOT_NAME", "AdminApi", "TournamentHost", "json_error"]

log = logging.getLogger(__name__)


class TournamentHost(Protocol):
    """What the server needs from the tournament service (``POST /api/tournaments``)."""

    async def create(self, data: dict[str, Any]) -> str:
        """Validate a tournament configuration, store it and start running it; its id.

        Raises ``ValueError`` with a message for the client when the
        configuration cannot be used.
        """
        ...


class AdminApi:
    """The admin endpoints over a store and its host."""

    def __init__(
        self, store: Store, host: Host, limits: Limits, tournaments: TournamentHost | None
    ) -> None:
        self.store = store
        self.host = host
        self.limits = limits
        self.tournament_host = tournaments

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/tournaments", self.create_tournament, methods=["POST"]),
            Route("/api/bots", self.add_bot, methods=["POST"]),
            Route("/api/bots/{name}/tokens", self.issue_token, methods=["POST"]),
            Route("/api/bots/{name}/revoke", self.revoke_bot, methods=["POST"]),
        ]

    async def _admin(self, request: Request) -> TokenRow | Response:
        """The admin behind the request's bearer token, or the response refusing it."""
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return json_error(
                401,
                "this needs an admin token: send 'Authorization: Bearer TOKEN'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        token = await self.store.principal_by_token(credential.strip())
        if token is None:
            return json_error(
                401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"}
            )
        if token.scope != Scope.ADMIN.value:
            return json_error(
                403, f"a token of scope {token.scope!r} cannot do this; it needs an admin token"
            )
        return token

    async def _admin_call(
        self,
        request: Request,
        action: Callable[[dict[str, Any]], Awaitable[Response]],
        *,
        body: bool = True,
    ) -> Response:
        admin = await self._admin(request)
        if isinstance(admin, Response):
            return admin
        data: dict[str, Any] = {}
        if body:
            parsed = await read_json(request, self.limits.max_message_bytes)
            if isinstance(parsed, Response):
                return parsed
            data = parsed
        log.info("admin %s: %s %s", admin.bot.name, request.method, request.url.path)
        return await action(data)

    async def add_bot(self, request: Request) -> Response:
        """``POST /api/bots {"name": ...}``: register a bot; its token is in the answer, once."""

        async def go(data: dict[str, Any]) -> Response:
            name = data.get("name")
            if set(data) - {"name"} or not isinstance(name, str) or not BOT_NAME.fullmatch(name):
                return json_error(400, f'expected {{"name": NAME}}, NAME of {NAME_RULE}')
            try:
                bot = await self.store.add_bot(name)
            except BotExistsError as exc:
                return json_error(409, str(exc))
            token = await self.store.issue_token(bot.id, Scope.BOT.value)
            return JSONResponse(
                {"name": bot.name, "scope": Scope.BOT.value, "token": token}, status_code=201
            )

        return await self._admin_call(request, go)

    async def issue_token(self, request: Request) -> Response:
        """``POST /api/bots/{name}/tokens``: a new token for a registered bot, shown once."""

        async def go(_data: dict[str, Any]) -> Response:
            bot = await self._bot_named(request.path_params["name"])
            if bot is None:
                return json_error(404, f"no bot named {request.path_params['name'][:64]!r}")
            token = await self.store.issue_token(bot.id, Scope.BOT.value)
            return JSONResponse(
                {"name": bot.name, "scope": Scope.BOT.value, "token": token}, status_code=201
            )

        return await self._admin_call(request, go, body=False)

    async def revoke_bot(self, request: Request) -> Response:
        """``POST /api/bots/{name}/revoke``: revoke every token of a bot; its open
        connection is closed at once."""

        async def go(_data: dict[str, Any]) -> Response:
            bot = await self._bot_named(request.path_params["name"])
            if bot is None:
                return json_error(404, f"no bot named {request.path_params['name'][:64]!r}")
            revoked = await self.store.revoke_bot_tokens(bot.id)
            closed = self.host.revoke(set(revoked))
            return JSONResponse(
                {"name": bot.name, "revoked_tokens": len(revoked), "closed_connections": closed}
            )

        return await self._admin_call(request, go, body=False)

    async def _bot_named(self, name: str) -> BotRow | None:
        bot = await self.store.bot_by_name(name)
        return bot if bot is not None and bot.kind != "admin" else None

    async def create_tournament(self, request: Request) -> Response:
        """``POST /api/tournaments {config}``: create a tournament this server runs."""

        async def go(data: dict[str, Any]) -> Response:
            if self.tournament_host is None:
                return json_error(501, "this server does not run tournaments")
            try:
                tournament_id = await self.tournament_host.create(data)
            except ValueError as exc:
                return json_error(400, str(exc))
            return JSONResponse({"id": tournament_id}, status_code=201)

        return await self._admin_call(request, go)


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error answer of the JSON API: ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def read_json(request: Request, limit: int) -> dict[str, Any] | Response:
    """A request's JSON object body, read up to ``limit`` bytes, or the error response."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return json_error(413, f"request body over {limit} bytes")
    try:
        data = loads(bytes(body) or b"{}")
    except JSONInputError as exc:
        return json_error(400, f"body is not valid JSON: {exc}")
    if not isinstance(data, dict):
        return json_error(400, f"expected a JSON object, got {type(data).__name__}")
    return data
