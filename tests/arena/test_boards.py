"""Leaderboards and ratings are computed when results change, not per request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from arena.bench.pages import PAGE_PATHS, SEEDED_PLAYERS, seed_finished_games
from arena.serve import running_server


async def test_pages_compute_once_per_change_of_results(tmp_path: Path) -> None:
    """Reloading the leaderboard, the API and a player page computes each derived value
    once; a newly finished game (stored by another process) is counted at the next
    request, which computes again once."""
    db = str(tmp_path / "b.db")
    await seed_finished_games(db, 30)
    async with running_server(db) as srv:
        boards = srv.boards
        assert boards is not None
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as http:
            for _ in range(3):
                for path in PAGE_PATHS:
                    assert (await http.get(path)).status_code == 200
            first = boards.computed
            assert first == 2  # the leaderboard and one player's rating history
            board = (await http.get("/api/leaderboard")).json()
            assert board["games"] == 30 and len(board["players"]) == SEEDED_PLAYERS
            await seed_finished_games(db, 1, seed=1)  # as another process would
            board = (await http.get("/api/leaderboard")).json()
            assert board["games"] == 31
            assert boards.computed == first + 1


async def test_pages_read_by_many_are_rendered_once_a_second(tmp_path: Path) -> None:
    """Fifty readers of the leaderboard page at once cost one rendering."""
    db = str(tmp_path / "p.db")
    await seed_finished_games(db, 5)
    async with running_server(db) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        answers = await asyncio.gather(*(http.get("/") for _ in range(50)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert all(a.headers["content-security-policy"] for a in answers)
