"""Tournaments run by the server: created over the admin API, played by external and
built-in players, resumed when the server restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from arena.serve import running_server
from clients.players import parse_player_spec
from clients.sdk import BotClient
from tests.conftest import new_bot

CONFIG: dict[str, Any] = {
    "name": "hosted",
    "game": "connect4",
    "openings": "none",
    "time_control": "none",
    "max_plies": 42,
    "concurrency": 2,
    "cycles": 2,
    "players": [
        {"name": "ext-1", "kind": "external"},
        {"name": "ext-2", "kind": "external"},
        {"name": "house", "spec": "random:seed=9"},
    ],
}


async def test_a_tournament_created_over_the_api_is_played_and_resumed(tmp_path: Path) -> None:
    """Bad configurations get 400 and a reason; a good one is played by two external bots
    and a built-in one; stopped half-way, it goes on when the server starts again."""
    db = str(tmp_path / "s.db")
    async with running_server(db, recover=True, run_tournaments=True) as srv:
        admin = await srv.store.add_bot("root", kind="admin")
        auth = {"Authorization": f"Bearer {await srv.store.issue_token(admin.id, scope='admin')}"}
        tokens = [(await new_bot(srv, name))[1] for name in ("ext-1", "ext-2")]
        async with httpx.AsyncClient(base_url=srv.url, headers=auth) as http:
            ghost = [{"name": "ghost", "kind": "external"}, *CONFIG["players"][1:]]
            for bad, reason in (
                ({**CONFIG, "format": "knockout"}, "unknown format"),
                ({**CONFIG, "players": ghost}, "not a registered bot"),
                ({**CONFIG, "players": "everyone"}, "at least two"),
            ):
                answer = await http.post("/api/tournaments", json=bad)
                assert answer.status_code == 400 and reason in answer.json()["error"], answer.text
            answer = await http.post("/api/tournaments", json=CONFIG)
            assert answer.status_code == 201
            tournament_id = answer.json()["id"]
            clients = [
                BotClient(parse_player_spec(f"random:seed={i}").build(), srv.ws_url, token)
                for i, token in enumerate(tokens)
            ]
            tasks = [asyncio.create_task(c.run()) for c in clients]
            async with asyncio.timeout(20):
                while len(await srv.store.list_games(limit=None, status="finished")) < 2:  # noqa: ASYNC110 (the server's state)
                    await asyncio.sleep(0.02)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    async with running_server(db, recover=True, run_tournaments=True) as srv:
        assert srv.tournaments is not None and srv.tournaments.running() == [tournament_id]
        clients = [
            BotClient(parse_player_spec(f"random:seed={i}").build(), srv.ws_url, token)
            for i, token in enumerate(tokens)
        ]
        tasks = [asyncio.create_task(c.run()) for c in clients]
        async with asyncio.timeout(30):
            await srv.tournaments.wait(tournament_id)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        row = await srv.store.get_tournament(tournament_id)
        games = await srv.store.list_games(limit=None, tournament_id=tournament_id)
    assert row is not None and row.status == "finished" and row.runner == "server"
    rated = sorted(g.pairing_key or "" for g in games if g.result in ("1-0", "0-1", "1/2-1/2"))
    assert len(rated) == 6 and len(set(rated)) == 6  # 3 players, both colours, each once
