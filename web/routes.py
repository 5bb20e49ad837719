"""Page routes. For now: the index, a plain list of recent games with links to
their JSON record and PGN (the full leaderboard, replay and live pages come
later, server-rendered, with no build step)."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from arena.store import Store

__all__ = ["routes"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Speculative Arena: recent games</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1rem; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: .25rem .6rem; border-bottom: 1px solid #ddd; text-align: left; }}
</style></head>
<body><h1>Recent games</h1>
<table><thead><tr><th scope="col">Game</th><th scope="col">Kind</th><th scope="col">Players</th>
<th scope="col">Result</th><th scope="col">Reason</th><th scope="col">Plies</th>
<th scope="col">Status</th></tr></thead>
<tbody>{rows}</tbody></table>
<p>JSON: <a href="/api/games">/api/games</a></p>
</body></html>
"""


def routes(store: Store) -> list[BaseRoute]:
    """The page routes over ``store``."""

    async def index(request: Request) -> Response:
        rows = []
        for g in await store.list_games(limit=100):
            pgn = f' · <a href="/api/games/{g.id}/pgn">PGN</a>' if g.game == "chess" else ""
            rows.append(
                f'<tr><td><a href="/api/games/{g.id}">{g.id}</a>{pgn}</td>'
                f"<td>{escape(g.game)}</td>"
                f"<td>{escape(g.players[0])} vs {escape(g.players[1])}</td>"
                f"<td>{escape(g.result or '')}</td><td>{escape(g.reason or '')}</td>"
                f"<td>{g.ply}</td><td>{escape(g.status)}</td></tr>"
            )
        return HTMLResponse(_PAGE.format(rows="\n".join(rows)))

    return [Route("/", index)]
