"""Page routes, served by the arena on the same port as the JSON API.

Server-rendered pages (Jinja2) with a little plain JavaScript from
``web/static`` (sorting, the replay's controls and timeline, the live view);
no front-end build step and nothing fetched from elsewhere at run time.

Pages: ``/`` leaderboard · ``/tournaments`` · ``/tournaments/{id}`` ·
``/games`` · ``/games/{id}`` (replay, live while the game is played) ·
``/players/{name}``. Two JSON/SVG routes serve the replay:
``/api/games/{id}/svg?ply=N`` (the board after N moves, drawn by the game's
own renderer) and ``/api/games/{id}/timeline``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from arena.boards import Boards
from arena.safejson import SafeJSONResponse as JSONResponse
from arena.safejson import ascii_int, finite
from arena.specpolicy import public_spec
from arena.store import Store
from games import GameError, get_game, replay
from web import views
from web.pagecache import PageCache

__all__ = ["routes"]

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))


def _pct(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def _dumps(value: Any, **options: Any) -> str:
    # Pages embed their data as JSON: a non-finite number would make it unparsable.
    return json.dumps(finite(value), allow_nan=False, **options)


templates.env.filters["pct"] = _pct
templates.env.filters["ms"] = _ms
templates.env.policies["json.dumps_function"] = _dumps
templates.env.filters["public_spec"] = public_spec


def routes(
    store: Store, boards: Boards | None = None, pages: PageCache | None = None
) -> list[BaseRoute]:
    """The page routes over ``store`` (leaderboards and ratings from ``boards``'s caches;
    the pages read by many rendered at most once a second, ``pages``)."""
    boards = boards or Boards(store)
    pages = pages or PageCache()

    async def page(
        request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        # Rendered in a worker thread: a large page takes milliseconds of CPU, which
        # would otherwise hold up the relay of moves on the event loop for as long.
        template = templates.get_template(name)
        html = await asyncio.to_thread(template.render, {"request": request, **context})
        return HTMLResponse(html, status_code=status)

    def cached(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            return await pages.get(request, lambda: handler(request))

        return answer

    async def not_found(request: Request, what: str) -> Response:
        return await page(request, "not_found.html", {"what": what}, status=404)

    def param(request: Request, key: str) -> str | None:
        return request.query_params.get(key) or None

    async def leaderboard(request: Request) -> Response:
        context = await views.leaderboard_view(
            boards, param(request, "game"), param(request, "tournament")
        )
        return await page(request, "leaderboard.html", context)

    async def tournaments(request: Request) -> Response:
        return await page(request, "tournaments.html", await views.tournaments_view(store))

    async def tournament(request: Request) -> Response:
        tournament_id = request.path_params["tournament_id"]
        context = await views.tournament_view(boards, tournament_id)
        if context is None:
            return await not_found(request, f"tournament {tournament_id!r}")
        return await page(request, "tournament.html", context)

    async def games(request: Request) -> Response:
        return await page(
            request, "games.html", await views.games_view(store, param(request, "status"))
        )

    async def game(request: Request) -> Response:
        game_id = request.path_params["game_id"]
        context = await views.game_view(store, game_id)
        if context is None:
            return await not_found(request, f"game {game_id!r}")
        return await page(request, "game.html", context)

    async def player(request: Request) -> Response:
        name = request.path_params["name"]
        context = await views.player_view(
            boards, name, param(request, "game"), param(request, "tournament")
        )
        if context is None:
            return await not_found(request, f"player {name!r}")
        return await page(request, "player.html", context)

    async def board_svg(request: Request) -> Response:
        """The board after ``ply`` moves (default: all of them), as the game draws it."""
        game_id = request.path_params["game_id"]
        row = await store.get_game(game_id)
        if row is None:
            return JSONResponse({"error": f"no game {game_id!r}"}, status_code=404)
        moves = [m.move for m in await store.get_moves(game_id)]
        raw = request.query_params.get("ply", str(len(moves)))
        ply = ascii_int(raw, low=0, high=len(moves))
        if ply is None:
            return JSONResponse(
                {"error": f"ply must be an integer from 0 to {len(moves)}, got {raw[:20]!r}"},
                status_code=400,
            )
        try:
            rules = get_game(row.game)
            state = replay(rules, moves[:ply], rules.decode_state(row.initial_state))
            svg = rules.render_svg(state, moves[ply - 1] if ply else None)
        except GameError as exc:
            return JSONResponse({"error": f"cannot draw game {game_id!r}: {exc}"}, status_code=500)
        finished = row.status == "finished"
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={"Cache-Control": "max-age=86400" if finished else "no-cache"},
        )

    async def timeline(request: Request) -> Response:
        game_id = request.path_params["game_id"]
        data = await views.timeline_json(store, game_id)
        if data is None:
            return JSONResponse({"error": f"no game {game_id!r}"}, status_code=404)
        return JSONResponse(data)

    return [
        Route("/", cached(leaderboard), name="leaderboard"),
        Route("/tournaments", cached(tournaments), name="tournaments"),
        Route("/tournaments/{tournament_id}", cached(tournament), name="tournament"),
        Route("/games", cached(games), name="games"),
        Route("/games/{game_id}", game, name="game"),
        Route("/players/{name:path}", cached(player), name="player"),
        Route("/api/games/{game_id}/svg", board_svg),
        Route("/api/games/{game_id}/timeline", timeline),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
