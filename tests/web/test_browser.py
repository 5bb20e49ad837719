"""The pages in a real browser: Debian's Chromium driven by Playwright (sync API).

One browser for the module; each test opens its own page, fails on any
script error, and checks a screenshot of what it saw is not blank.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright
from websockets.sync.client import ClientConnection, connect

from arena.clock import TimeControl
from arena.match import MatchConfig
from tests.conftest import new_bot
from tests.web.conftest import Site

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (desktop size) that records script errors; none may occur."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert errors == [], errors


def api(site: Site, path: str) -> Any:
    return httpx.get(site.url + path, timeout=30).json()


def check_screenshot(page: Page, path: Path) -> None:
    """Save a full-page screenshot and check it shows something (many colours, no one dominant)."""
    page.screenshot(path=str(path), full_page=True)
    image = Image.open(path).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    most = max(count for count, _ in colours)
    assert len(colours) > 50, f"{path.name}: only {len(colours)} colours"
    assert most < 0.97 * image.width * image.height, f"{path.name} is nearly blank"


def test_leaderboard_shows_ratings_and_sorts(site: Site, page: Page, tmp_path: Path) -> None:
    """The leaderboard of a stored tournament shows the API's ratings; headings sort it."""
    board = api(site, f"/api/leaderboard?tournament={site.chess_tournament}")
    page.goto(f"{site.url}/?tournament={site.chess_tournament}")
    expect(page).to_have_title(re.compile("Leaderboard: web-chess"))
    rows = page.locator("table.board tbody tr")
    expect(rows).to_have_count(len(board["players"]))
    for i, player in enumerate(board["players"]):
        row = rows.nth(i)
        expect(row.locator("td").nth(1)).to_have_text(player["name"])
        rating = row.locator("td.rating").inner_text()
        assert rating.split()[0] == f"{player['elo']:.0f}"
        assert f"[{player['low']:.0f}, {player['high']:.0f}]" in rating
        expect(row.locator("svg.interval")).to_have_count(1)
    page.get_by_role("button", name="Player", exact=True).click()
    names = page.locator("table.board tbody tr td:nth-child(2)").all_inner_texts()
    assert names == sorted(names)
    page.get_by_role("button", name="Rating", exact=True).focus()
    page.keyboard.press("Enter")  # keyboard works too: highest rating first
    expect(page.locator("table.board thead th").nth(2)).to_have_attribute("aria-sort", "descending")
    first = page.locator("table.board tbody tr td:nth-child(2)").first
    expect(first).to_have_text(board["players"][0]["name"])
    check_screenshot(page, tmp_path / "leaderboard.png")


def test_replay_steps_and_overlay_follows(site: Site, page: Page, tmp_path: Path) -> None:
    """Stepping forward three moves changes the board and the overlay each time."""
    detail = api(site, f"/api/games/{site.chess_game}")
    page.goto(f"{site.url}/games/{site.chess_game}")
    board = page.locator("#board")
    page.keyboard.press("Home")
    expect(board).to_have_attribute("src", re.compile(r"ply=0$"))
    expect(page.locator("#overlay-body")).to_contain_text("Start position")
    pictures, overlays = [loaded_board(page)], [page.locator("#overlay-body").inner_text()]
    for ply in (1, 2, 3):
        page.keyboard.press("ArrowRight")
        expect(board).to_have_attribute("src", re.compile(rf"ply={ply}$"))
        m = detail["moves"][ply - 1]
        heading = f"Move {ply}: {m['display']} by {detail['players'][m['seat']]}"
        expect(page.locator("#overlay-body h3")).to_have_text(heading)
        expect(page.locator("#moves button.current")).to_have_text(m["display"])
        pictures.append(loaded_board(page))
        overlays.append(page.locator("#overlay-body").inner_text())
    assert len(set(pictures)) == 4 and len(set(overlays)) == 4
    page.locator("#btn-prev").click()
    expect(board).to_have_attribute("src", re.compile(r"ply=2$"))

    # a move its opponent predicted: the overlay lists the predictions and marks the hit
    accounts = detail["speculation"]["moves"]
    hit = next(i for i in range(1, len(accounts)) if accounts[i]["hit_rank"])
    page.locator(f"#moves button[data-ply='{hit}']").click()
    overlay = page.locator("#overlay-body")
    expect(overlay).to_contain_text(f"Hit at rank {accounts[hit]['hit_rank']}")
    expect(overlay.locator(".predicted-by li.hit")).to_contain_text(
        detail["moves"][hit - 1]["move"]
    )
    for label in ("Actor", "Response", "Saved", "Tokens"):
        expect(overlay.locator("dt", has_text=label).first).to_be_visible()
    expect(page.locator("#clock-0 .time")).not_to_have_text("-")

    pgn = page.get_by_role("link", name="Download PGN")
    assert pgn.get_attribute("href") == f"/api/games/{site.chess_game}/pgn"
    assert "[White " in page.request.get(f"{site.url}/api/games/{site.chess_game}/pgn").text()
    check_screenshot(page, tmp_path / "replay.png")


def loaded_board(page: Page) -> bytes:
    """The board picture once its image has loaded."""
    page.wait_for_function(
        "() => { const b = document.getElementById('board'); return b.complete"
        " && b.naturalWidth > 0 && b.currentSrc.endsWith(b.getAttribute('src')); }"
    )
    return page.locator("#board").screenshot()


def test_timeline_has_one_lane_per_player(site: Site, page: Page, tmp_path: Path) -> None:
    """The timeline draws two lanes, a turn per move and every reported branch."""
    detail = api(site, f"/api/games/{site.chess_game}")
    page.goto(f"{site.url}/games/{site.chess_game}")
    timeline = page.locator("#timeline svg")
    expect(timeline.locator(".lane-name")).to_have_text(detail["players"])
    expect(timeline.locator(".seg.turn")).to_have_count(detail["plies"])
    reported: dict[str, int] = {"kept": 0, "cancelled": 0, "discarded": 0}
    for m in detail["moves"]:
        for b in m["meta"].get("branches", []):
            reported[b["outcome"]] += 1
    assert sum(reported.values()) > 0
    for outcome, count in reported.items():
        expect(timeline.locator(f".seg.branch.{outcome}")).to_have_count(count)
    expect(page.locator("#timeline-summary tbody tr")).to_have_count(2)
    # clicking a turn selects that move
    timeline.locator(".seg.turn[data-ply='4']").dispatch_event("click")
    expect(page.locator("#board")).to_have_attribute("src", re.compile(r"ply=5$"))
    width = float(timeline.get_attribute("width") or 0)
    page.get_by_role("button", name="Zoom in").click()
    assert float(page.locator("#timeline svg").get_attribute("width") or 0) > 1.5 * width
    check_screenshot(page, tmp_path / "timeline.png")


def hello(ws: ClientConnection, token: str) -> None:
    ws.send(json.dumps({"type": "hello", "token": token, "protocol": 1}))
    assert json.loads(ws.recv(timeout=10))["type"] == "welcome"


def recv_type(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        msg: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if msg["type"] == kind:
            return msg


def test_live_game_receives_moves(site: Site, page: Page, tmp_path: Path) -> None:
    """An open game page shows moves as they are played, their timeline and the raw reply."""
    white, white_token = site.run(new_bot(site.srv, "live-white"))
    black, black_token = site.run(new_bot(site.srv, "live-black"))
    config = MatchConfig(time_control=TimeControl.parse("60+1"))
    game_id = site.run(site.srv.host.create_game("chess", (white, black), config))
    with (
        connect(site.srv.ws_url, open_timeout=10) as ws_white,
        connect(site.srv.ws_url, open_timeout=10) as ws_black,
    ):
        hello(ws_white, white_token)
        hello(ws_black, black_token)
        recv_type(ws_white, "game_start")
        recv_type(ws_black, "game_start")
        page.goto(f"{site.url}/games/{game_id}")
        status = page.locator("#live-status")
        expect(status).to_contain_text("live-white to move")
        expect(page.locator("#clock-0")).to_have_class(re.compile("running"))

        # black predicts e4 (its ping's pong proves the prediction was stored first)
        predict = {"type": "predict", "game_id": game_id, "ply": 0, "moves": ["e2e4", "d2d4"]}
        ws_black.send(json.dumps(predict))
        ws_black.send(json.dumps({"type": "ping", "id": "p"}))
        recv_type(ws_black, "pong")
        comment = "I open with the king's pawn."
        meta = {"actor_ms": 40.0, "wait_ms": 41.0, "comment": comment}
        move = {"type": "move", "game_id": game_id, "ply": 0, "move": "e2e4", "meta": meta}
        ws_white.send(json.dumps(move))
        recv_type(ws_white, "move_ack")
        expect(page.locator("#moves button")).to_have_text(["e4"])
        expect(page.locator("#overlay-body h3")).to_have_text("Move 1: e4 by live-white")
        expect(status).to_contain_text("live-black to move")
        page.locator(".raw-reply summary").click()
        expect(page.locator(".raw-reply pre")).to_have_text(comment)

        reply = {"actor_ms": 30.0, "wait_ms": 1.0, "speculation": "hit"}
        ws_black.send(
            json.dumps(
                {"type": "move", "game_id": game_id, "ply": 1, "move": "e7e5", "meta": reply}
            )
        )
        recv_type(ws_black, "move_ack")
        expect(page.locator("#moves button")).to_have_text(["e4", "e5"])
        expect(page.locator("#timeline svg .seg.turn")).to_have_count(2)
        expect(page.locator("#timeline svg .lane-name")).to_have_text(["live-white", "live-black"])
        page.keyboard.press("ArrowLeft")  # back to e4: black's prediction scored a hit
        expect(page.locator("#overlay-body")).to_contain_text("Hit at rank 1")
        check_screenshot(page, tmp_path / "live.png")

        ws_white.send(json.dumps({"type": "resign", "game_id": game_id}))
        expect(status).to_contain_text("Game over: 0-1 (resign)")
        expect(page.locator("#result")).to_have_text("0-1 (resign)")


@pytest.mark.parametrize("width", [390])
def test_pages_fit_a_narrow_screen(
    site: Site, browser: Browser, tmp_path: Path, width: int
) -> None:
    """Every page fits a phone's width without sideways scrolling, and is not blank."""
    context = browser.new_context(viewport={"width": width, "height": 844})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        for name, path in {
            "leaderboard": "/",
            "tournaments": "/tournaments",
            "tournament": f"/tournaments/{site.chess_tournament}",
            "games": "/games",
            "chess-replay": f"/games/{site.chess_game}",
            "connect4-replay": f"/games/{site.c4_game}",
            "player": "/players/sf-pipelined",
        }.items():
            page.goto(site.url + path)
            page.wait_for_load_state("networkidle")
            assert page.title(), name
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, f"{name} is {overflow}px wide on a {width}px screen"
            check_screenshot(page, tmp_path / f"{name}-{width}.png")
            if "replay" in name:
                assert page.evaluate("document.getElementById('board').naturalWidth") > 0
    finally:
        context.close()
    assert errors == []


def test_player_and_tournament_pages(site: Site, page: Page, tmp_path: Path) -> None:
    """A player's page charts its rating and accuracy; a tournament's shows its crosstable."""
    page.goto(f"{site.url}/players/sf-pipelined")
    expect(page.locator("h1")).to_have_text("sf-pipelined")
    games = api(site, "/api/games?bot=sf-pipelined&limit=1000")["games"]
    # Accuracy is charted for the games where some prediction of this player
    # counted (arrived before the opponent's move): on a loaded machine, the
    # instant random player can answer first in every game.
    predicted = any(
        player["name"] == "sf-pipelined" and player["predicted"] > 0
        for g in games
        for player in api(site, f"/api/games/{g['id']}")["speculation"]["players"]
    )
    expect(page.locator("svg.chart")).to_have_count(3 if predicted else 2)
    if not predicted:
        expect(page.locator("p.empty")).to_contain_text("accuracy")
    expect(page.locator("table.results tbody tr")).to_have_count(len(games))
    check_screenshot(page, tmp_path / "player.png")

    page.goto(f"{site.url}/tournaments/{site.chess_tournament}")
    cross = page.locator("table.crosstable")
    expect(cross.locator("tbody tr")).to_have_count(3)
    expect(page.locator("progress#progress")).to_have_attribute("max", "6")
    page.locator("table.games a[href^='/games/']").first.click()
    expect(page.locator("#board")).to_be_visible()
    check_screenshot(page, tmp_path / "tournament-game.png")


def test_screenshot_check_rejects_a_blank_page(browser: Browser, tmp_path: Path) -> None:
    """The non-blank check itself fails on an empty page (so it can catch a broken one)."""
    page = browser.new_page()
    try:
        page.set_content("<html><body></body></html>")
        with pytest.raises(AssertionError):
            check_screenshot(page, tmp_path / "blank.png")
    finally:
        page.close()
