"""LLM faults over a real server: an endpoint that hangs, floods or answers garbage costs
only its own player, while another game on the same server goes on at full speed."""

from __future__ import annotations

import asyncio

from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.serve import RunningServer
from clients.players import parse_player_spec
from clients.sdk import BotClient
from tests.conftest import new_bot
from tests.fake_openai import Garbage, Hang, Huge, Step, fake_openai


def player(spec: str, server: RunningServer, token: str) -> BotClient:
    return BotClient(parse_player_spec(spec).build(), server.ws_url, token, max_games=1)


async def test_faulty_endpoints_cost_only_their_players(server: RunningServer) -> None:
    """Three LLM players on a hanging, a garbage and a flooding (1 MB) endpoint lose their
    own games; their opponents' clocks are not charged, and a game between two other
    bots on the same server finishes while the hanging call is still waiting."""
    faults: dict[str, list[Step]] = {
        "hang": [Hang()] * 3,
        "garbage": [Garbage()] * 9,
        "flood": [Huge(1_000_000)] * 9,
    }
    async with (
        fake_openai(faults["hang"]) as hang,
        fake_openai(faults["garbage"]) as garbage,
        fake_openai(faults["flood"]) as flood,
    ):
        endpoints = {"hang": hang, "garbage": garbage, "flood": flood}
        games: dict[str, str] = {}
        clients: list[BotClient] = []
        tight = MatchConfig(time_control=TimeControl.parse("3+0"))
        for name, fake in endpoints.items():
            (llm, t_llm), (rnd, t_rnd) = (
                await new_bot(server, name),
                await new_bot(server, f"{name}-opp"),
            )
            games[name] = await server.host.create_game("chess", (llm, rnd), tight)
            spec = f"llm:model=fake,base_url={fake.base_url},retries=2,stream=true"
            clients.append(player(spec, server, t_llm))
            clients.append(player("random:seed=5", server, t_rnd))
        (a, ta), (b, tb) = await new_bot(server, "calm-a"), await new_bot(server, "calm-b")
        calm = MatchConfig(time_control=TimeControl.parse("60+0"), max_plies=60)
        games["calm"] = await server.host.create_game("chess", (a, b), calm)
        for seed, token in ((1, ta), (2, tb)):
            clients.append(player(f"random:seed={seed}", server, token))
        async with asyncio.timeout(20):
            await asyncio.gather(*(c.run() for c in clients))
        rows = {name: await server.store.get_game(game_id) for name, game_id in games.items()}
        calm_moves = await server.store.get_moves(games["calm"])
        assert hang.closed_early >= 1  # the hanging request was dropped, not left running
    for client in clients:
        await client.bot.close()

    calm_row = rows["calm"]
    assert calm_row is not None and (calm_row.reason, calm_row.ply) == ("max_plies", 60)
    assert max(m.response_ms for m in calm_moves) < 500
    hang_row = rows["hang"]
    assert hang_row is not None and hang_row.finished_at is not None
    assert calm_row.finished_at is not None and calm_row.finished_at < hang_row.finished_at
    for name in faults:
        row = rows[name]
        assert row is not None and row.status == "finished"
        assert row.winner == 1 and row.reason in ("resign", "timeout"), (name, row.reason)
        opponent_left = row.clocks[1]
        assert opponent_left is not None and opponent_left > 2_800  # the opponent paid nothing
    assert hang_row.clocks[0] is not None and hang_row.clocks[0] < 1_000  # the hang cost its clock
