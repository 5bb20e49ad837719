"""The page and board/timeline routes over HTTP (no browser): status codes, content, errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from xml.etree import ElementTree

import httpx
import pytest

from arena.serve import RunningServer
from tests.web.conftest import Site


@pytest.fixture
def http(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        yield client


def title(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html, re.S)
    assert match, "page has no title"
    return match.group(1).strip()


def test_pages_answer_with_titles(site: Site, http: httpx.Client) -> None:
    """Every page answers 200 with a title naming what it shows."""
    expected = {
        "/": "Leaderboard",
        "/tournaments": "Tournaments",
        f"/tournaments/{site.chess_tournament}": "web-chess",
        "/games": "Games",
        f"/games/{site.chess_game}": "sf-",
        f"/games/{site.c4_game}": "connect4",
        "/players/sf-pipelined": "sf-pipelined",
    }
    for path, fragment in expected.items():
        r = http.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert fragment in title(r.text), (path, title(r.text))


def test_unknown_things_are_404_pages(http: httpx.Client) -> None:
    """An unknown game, tournament or player is a 404 page that says what was missing."""
    for path, what in (
        ("/games/nope", "game 'nope'"),
        ("/tournaments/nope", "tournament 'nope'"),
        ("/players/nobody", "player 'nobody'"),
    ):
        r = http.get(path)
        assert r.status_code == 404
        assert what in r.text.replace("&#39;", "'")


def test_leaderboard_filters(site: Site, http: httpx.Client) -> None:
    """Filtering by game or tournament shows only those players (and their ratings)."""
    c4 = http.get("/", params={"game": "connect4"}).text
    assert "c4-a" in c4 and "sf-pipelined" not in c4
    chess = http.get("/", params={"tournament": site.chess_tournament}).text
    assert "sf-pipelined" in chess and "c4-a" not in chess
    board = http.get("/api/leaderboard", params={"tournament": site.chess_tournament}).json()
    for row in board["players"]:
        assert f"{row['elo']:.0f} <span" in chess  # the same rating as the API


def test_tournament_page_has_progress_crosstable_and_games(site: Site, http: httpx.Client) -> None:
    """A tournament page shows finished/planned games, the crosstable and every game."""
    html = http.get(f"/tournaments/{site.chess_tournament}").text
    detail = http.get(f"/api/tournaments/{site.chess_tournament}").json()
    assert f"{detail['games_finished']} of 6 games finished" in html  # 3 players, 1 pair each
    assert "Crosstable" in html
    for g in detail["games"]:
        assert f'href="/games/{g["id"]}"' in html


def test_board_svg_at_every_ply(site: Site, http: httpx.Client) -> None:
    """The board route draws the position after N moves, for chess and Connect Four."""
    for game_id in (site.chess_game, site.c4_game):
        plies = http.get(f"/api/games/{game_id}").json()["plies"]
        seen = set()
        for ply in (0, 1, plies):
            r = http.get(f"/api/games/{game_id}/svg", params={"ply": ply})
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("image/svg+xml")
            ElementTree.fromstring(r.text)  # well-formed
            seen.add(r.text)
        assert len(seen) == 3  # three different positions
        assert http.get(f"/api/games/{game_id}/svg").text == r.text  # default: the last


def test_board_svg_bad_input(site: Site, http: httpx.Client) -> None:
    """A ply out of range or not a number is a 400 saying what is valid; no game is a 404."""
    plies = http.get(f"/api/games/{site.chess_game}").json()["plies"]
    for bad in ("-1", str(plies + 1), "x"):
        r = http.get(f"/api/games/{site.chess_game}/svg", params={"ply": bad})
        assert r.status_code == 400
        assert f"from 0 to {plies}" in r.json()["error"]
    assert http.get("/api/games/nope/svg").status_code == 404
    assert http.get("/api/games/nope/timeline").status_code == 404


def test_timeline_route(site: Site, http: httpx.Client) -> None:
    """The timeline has two lanes, one turn per move, and the branches the players reported."""
    detail = http.get(f"/api/games/{site.chess_game}").json()
    data = http.get(f"/api/games/{site.chess_game}/timeline").json()
    assert [lane["name"] for lane in data["lanes"]] == detail["players"]
    turns = [s for s in data["segments"] if s["kind"] == "turn"]
    assert [s["ply"] for s in turns] == list(range(detail["plies"]))
    reported = sum(len(m["meta"].get("branches", [])) for m in detail["moves"])
    branches = [s for s in data["segments"] if s["kind"] == "branch"]
    assert reported > 0 and len(branches) == reported


def test_static_files_are_served(http: httpx.Client) -> None:
    """The stylesheet and scripts come from the arena itself."""
    for name in ("style.css", "replay.js", "timeline.js", "sort.js"):
        assert http.get(f"/static/{name}").status_code == 200


async def test_pages_of_an_empty_arena(server: RunningServer) -> None:
    """A new arena's pages answer (nothing to show yet) rather than failing."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for path, text in (
            ("/", "No rated games yet"),
            ("/tournaments", "No tournaments yet"),
            ("/games", "No games"),
            ("/games?status=active", "No games"),
        ):
            r = await client.get(path)
            assert r.status_code == 200 and text in r.text, path
        bot = await server.store.add_bot("lonely")
        r = await client.get(f"/players/{bot.name}")
        assert r.status_code == 200 and "No rated games yet" in r.text
