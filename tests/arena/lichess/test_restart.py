"""A server restart in the middle of a lichess bot's game: its streams pick up where it was."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from arena.clock import TimeControl
from arena.limits import Limits
from arena.match import MatchConfig
from arena.serve import running_server
from tests.arena.lichess import berserk_bot
from tests.arena.lichess.schema import check_event, check_game_full
from tests.arena.lichess.test_api import TIMEOUT_S, sdk_bot, stop
from tests.conftest import new_bot

LIMITS = Limits(grace_min_s=30, grace_max_s=30, hello_timeout_s=5)


async def test_restart_mid_game_resumes_the_lichess_streams(tmp_path: Path) -> None:
    """After a restart the event stream announces the recovered game again, its game stream
    begins with every move stored before the crash, and the game is played to its end."""
    db = str(tmp_path / "r.db")
    config = MatchConfig(time_control=TimeControl.parse("60+0"), max_plies=20)
    async with running_server(db, limits=LIMITS) as srv:
        (a, ta), (b, tb) = await new_bot(srv, "lb"), await new_bot(srv, "ws")
        game_id = await srv.host.create_game("chess", (a, b), config)
        port = srv.port
        runner = asyncio.create_task(sdk_bot(srv, tb).run())
        api = berserk_bot.client(srv.url, ta)
        before = berserk_bot.Seen()
        async with asyncio.timeout(TIMEOUT_S):
            events = berserk_bot.event_stream(api)
            assert (await asyncio.to_thread(next, events))["type"] == "gameStart"
            await asyncio.to_thread(
                berserk_bot.play_game, api, game_id, "white", before, stop_after=3
            )
        await stop(runner)
    # the server went down: every stream ended; the lichess bot reconnects to the same URL
    with contextlib.suppress(Exception):
        await asyncio.to_thread(list, events)
    async with running_server(db, port=port, limits=LIMITS, recover=True) as srv:
        assert srv.host.recovered == [game_id]
        stored = [m.move for m in await srv.store.get_moves(game_id)]
        assert stored[0::2] == before.played and len(stored) == 6
        after = berserk_bot.Seen(played=list(before.played))
        async with asyncio.timeout(TIMEOUT_S):
            events = berserk_bot.event_stream(api)
            start = await asyncio.to_thread(next, events)
            check_event(start)
            assert start["type"] == "gameStart" and start["game"]["gameId"] == game_id
            runner = asyncio.create_task(sdk_bot(srv, tb).run())
            await asyncio.to_thread(berserk_bot.play_game, api, game_id, "white", after, seed=5)
            await runner
            events.close()
        reopened = after.game[0]
        check_game_full(reopened)
        assert reopened["state"]["moves"].split() == stored
        final = [m.move for m in await srv.store.get_moves(game_id)]
        assert final[:6] == stored and len(final) == 20
        assert after.last_state["moves"].split() == final
        assert after.last_state["status"] == "draw"  # max_plies
