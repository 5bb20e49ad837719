"""A server tournament taken over from a node that died is resumed without touching the
games live nodes host: they are neither hosted twice nor closed, and the runner waits
for them to finish wherever they are played."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import update

from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.serve import running_server
from arena.store import schema as t
from arena.tournament.config import config_from_dict
from arena.tournament.formats import plan
from arena.tournament.service import RUNNER
from tests.arena.cluster.strict import connect, frames_through, move
from tests.arena.cluster.test_queries import register

CONFIG: dict[str, Any] = {
    "name": "spread",
    "game": "chess",
    "openings": "none",
    "time_control": "none",
    "cycles": 1,
    "players": [{"name": "x", "kind": "external"}, {"name": "y", "kind": "external"}],
}


async def test_a_resumed_tournament_waits_for_the_game_a_live_node_hosts(pg_url: str) -> None:
    """Tournament T belongs to dead node A; its game G is hosted by live node B. C starts,
    takes T over and resumes it: G stays B's alone (C does not rebuild it, nobody closes
    it), the bots play G to the end on B, and only then does T finish, with G its only
    game."""
    async with running_server(pg_url) as b:  # adopts nothing
        tokens = {}
        bots = {}
        for name in ("x", "y"):
            bots[name] = await b.store.add_bot(name)
            tokens[name] = await b.store.issue_token(bots[name].id)
        config = config_from_dict(CONFIG, source="test")
        tournament_id = await b.store.create_tournament(
            name=config.name,
            format=config.format,
            game=config.game,
            config=config.to_dict(),
            runner=RUNNER,
        )
        (pairing,) = plan(config.format, config.player_names)
        game_id = await b.host.create_game(
            "chess",
            (bots[pairing.white], bots[pairing.black]),
            MatchConfig(time_control=TimeControl.parse("none")),
            tournament_id=tournament_id,
            round_no=pairing.round,
            pairing_key=pairing.key,
        )
        node_a, conn_a = await register(b.store, "a")  # A ran the tournament, then died
        async with b.store.engine.begin() as conn:
            await conn.execute(
                update(t.tournaments)
                .where(t.tournaments.c.id == tournament_id)
                .values(owner_node=node_a)
            )
        await conn_a.close()
        async with running_server(pg_url, recover=True, run_tournaments=True) as c:
            assert c.tournaments is not None and c.tournaments.running() == [tournament_id]
            white = await connect(b.ws_url, tokens[pairing.white])
            black = await connect(b.ws_url, tokens[pairing.black])
            for ws in (white, black):
                assert (await frames_through(ws, "game_start"))[-1]["game_id"] == game_id
            for ply, uci in enumerate(["f2f3", "e7e5", "g2g4", "d8h4"]):
                running = await b.store.get_tournament(tournament_id)
                assert running is not None and running.status == "running"  # G is not over
                mover = (white, black)[ply % 2]
                await move(mover, game_id, ply, uci)
                await frames_through(mover, "state")
            over = (await frames_through(white, "game_over"))[-1]
            assert (over["result"], over["reason"]) == ("0-1", "checkmate")
            async with asyncio.timeout(20):
                await c.tournaments.wait(tournament_id)
            assert game_id not in c.host.recovered  # never hosted by C
            await white.close()
            await black.close()
        row = await b.store.get_tournament(tournament_id)
        assert row is not None and row.status == "finished"
        games = await b.store.list_games(limit=None, tournament_id=tournament_id)
        assert [(g.id, g.status, g.result, g.reason) for g in games] == [
            (game_id, "finished", "0-1", "checkmate")
        ]
