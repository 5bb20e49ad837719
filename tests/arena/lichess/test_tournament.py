"""An arena tournament seats a lichess-API bot like any external bot."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from arena.serve import running_server
from tests.arena.lichess import berserk_bot
from tests.arena.lichess.schema import check_game_full
from tests.conftest import new_bot

CONFIG: dict[str, Any] = {
    "name": "lichess-gauntlet",
    "game": "chess",
    "openings": "none",
    "time_control": "60+0",
    "max_plies": 16,
    "concurrency": 1,
    "cycles": 2,
    "players": [
        {"name": "lb", "kind": "external"},
        {"name": "house", "spec": "random:seed=9"},
    ],
}


async def test_a_tournament_plays_a_lichess_bot_through_its_event_stream(tmp_path: Path) -> None:
    """Created over the admin API, the tournament's games reach the berserk bot as gameStart;
    it plays both colours against a built-in player and is on the leaderboard."""
    async with running_server(str(tmp_path / "t.db"), run_tournaments=True) as srv:
        admin = await srv.store.add_bot("root", kind="admin")
        auth = {"Authorization": f"Bearer {await srv.store.issue_token(admin.id, scope='admin')}"}
        _, token = await new_bot(srv, "lb")
        async with httpx.AsyncClient(base_url=srv.url, headers=auth) as http:
            answer = await http.post("/api/tournaments", json=CONFIG)
            assert answer.status_code == 201, answer.text
            tournament_id = answer.json()["id"]
            async with asyncio.timeout(30):
                played = await asyncio.to_thread(berserk_bot.play_many, srv.url, token, 2)
                assert srv.tournaments is not None
                await srv.tournaments.wait(tournament_id)
            board = (
                await http.get("/api/leaderboard", params={"tournament": tournament_id})
            ).json()
        games = await srv.store.list_games(limit=None, tournament_id=tournament_id)
    assert sorted(g.id for g in games) == sorted(game_id for game_id, _ in played)
    colors = sorted(seen.events[0]["game"]["color"] for _, seen in played)
    assert colors == ["black", "white"]
    for _, seen in played:
        check_game_full(seen.game[0])
        assert seen.game[0]["tournamentId"] == tournament_id
        assert seen.last_state["status"] != "started"
    assert {p["name"] for p in board["players"]} == {"lb", "house"}
