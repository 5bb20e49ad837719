"""Challenges between bots over the lichess API (berserk), and to a websocket bot."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from berserk.exceptions import ResponseError

from arena.serve import RunningServer
from tests.arena.lichess import berserk_bot
from tests.arena.lichess.test_api import TIMEOUT_S, sdk_bot
from tests.conftest import new_bot

CHALLENGE_FIELDS: tuple[str, ...] = (
    "id",
    "url",
    "status",
    "challenger",
    "destUser",
    "variant",
    "rated",
)
CHALLENGE_FIELDS += ("speed", "timeControl", "color", "perf")  # ChallengeJson.yaml: required


def check_challenge(challenge: dict[str, Any]) -> None:
    missing = [k for k in CHALLENGE_FIELDS if k not in challenge]
    assert not missing, f"challenge lacks {missing}: {challenge}"
    assert challenge["timeControl"]["type"] == "clock"


async def next_event(events: berserk_bot.Events) -> dict[str, Any]:
    return await asyncio.to_thread(next, events)


async def open_events(
    server: RunningServer, events: berserk_bot.Events, bot_id: int
) -> asyncio.Task[dict[str, Any]]:
    """Open an event stream (berserk sends the request on the first read): the task
    reading its first event, once the server counts the bot as connected."""
    first = asyncio.create_task(next_event(events))
    while bot_id not in server.host.peers:  # noqa: ASYNC110 (another thread opens it)
        await asyncio.sleep(0.01)
    return first


async def test_challenge_decline_cancel_accept(server: RunningServer) -> None:
    """A bot's challenge reaches the other's event stream; declined and canceled ones are
    reported to the other side; an accepted one starts a game both are told of."""
    (a, ta), (b, tb) = await new_bot(server, "Ann"), await new_bot(server, "Ben")
    api_a, api_b = berserk_bot.client(server.url, ta), berserk_bot.client(server.url, tb)
    events_a, events_b = berserk_bot.event_stream(api_a), berserk_bot.event_stream(api_b)

    def challenge(**extra: Any) -> dict[str, Any]:
        answer: dict[str, Any] = api_a.challenges.create(
            "ben", rated=False, clock_limit=60, clock_increment=1, **extra
        )
        return answer

    async with asyncio.timeout(TIMEOUT_S):
        first_a = await open_events(server, events_a, a.id)
        first_b = await open_events(server, events_b, b.id)
        made = await asyncio.to_thread(challenge)
        check_challenge(made)
        assert made["status"] == "created" and made["destUser"]["name"] == "Ben"
        got = await first_b
        assert got["type"] == "challenge" and got["challenge"]["id"] == made["id"]
        check_challenge(got["challenge"])
        await asyncio.to_thread(api_b.bots.decline_challenge, made["id"], "tooFast")
        declined = await first_a
        assert declined["type"] == "challengeDeclined"
        assert declined["challenge"]["declineReasonKey"] == "tooFast"

        made = await asyncio.to_thread(challenge)
        assert (await next_event(events_b))["type"] == "challenge"
        await asyncio.to_thread(api_a.challenges.cancel, made["id"])
        canceled = await next_event(events_b)
        assert canceled["type"] == "challengeCanceled"
        assert canceled["challenge"]["id"] == made["id"]
        with pytest.raises(ResponseError) as gone:
            await asyncio.to_thread(api_b.bots.accept_challenge, made["id"])
        assert gone.value.status_code == 404

        made = await asyncio.to_thread(challenge, color="black")
        assert (await next_event(events_b))["type"] == "challenge"
        await asyncio.to_thread(api_b.bots.accept_challenge, made["id"])
        start_a, start_b = await next_event(events_a), await next_event(events_b)
        assert start_a["type"] == start_b["type"] == "gameStart"
        game_id = start_a["game"]["gameId"]
        assert start_b["game"]["gameId"] == game_id
        assert (start_a["game"]["color"], start_b["game"]["color"]) == ("black", "white")
        # Ben (white) moves twice, then resigns; Ann (black) plays until the game ends
        seen_b, seen_a = berserk_bot.Seen(), berserk_bot.Seen()
        ann = asyncio.create_task(
            asyncio.to_thread(berserk_bot.play_game, api_a, game_id, "black", seen_a)
        )
        await asyncio.to_thread(
            berserk_bot.play_game, api_b, game_id, "white", seen_b, stop_after=2
        )
        await asyncio.to_thread(api_b.bots.resign_game, game_id)
        await ann
        assert seen_a.last_state["status"] == "resign" and seen_a.last_state["winner"] == "black"
        finish = await next_event(events_a)
        assert finish["type"] == "gameFinish" and finish["game"]["winner"] == "black"
    row = await server.store.get_game(game_id)
    assert row is not None and row.players == ("Ben", "Ann")
    assert (row.result, row.reason) == ("0-1", "resign")
    events_a.close()
    events_b.close()


async def test_challenge_to_a_websocket_bot_starts_a_game(server: RunningServer) -> None:
    """A websocket bot cannot answer challenges: one sent to it starts the game at once,
    and the berserk bot plays it against the SDK bot to the end."""
    (_, ta), (_, tb) = await new_bot(server, "lich"), await new_bot(server, "sock")
    runner = asyncio.create_task(sdk_bot(server, tb, seed=4).run())
    api = berserk_bot.client(server.url, ta)
    async with asyncio.timeout(TIMEOUT_S):
        while not server.host.peers:  # noqa: ASYNC110 (the SDK bot connects by itself)
            await asyncio.sleep(0.01)
        await new_bot(server, "sleeper")
        with pytest.raises(ResponseError) as offline:
            await asyncio.to_thread(
                lambda: api.challenges.create("sleeper", rated=True, clock_limit=30)
            )
        assert offline.value.status_code == 400
        online = await asyncio.to_thread(lambda: list(api.bots.get_online_bots()))
        assert [u["username"] for u in online] == ["sock"]
        made: dict[str, Any] = await asyncio.to_thread(
            lambda: api.challenges.create(
                "sock", rated=True, clock_limit=30, clock_increment=0, color="white"
            )
        )
        assert made["status"] == "accepted"
        (game_id, seen), _ = await asyncio.gather(
            asyncio.to_thread(berserk_bot.play_one, server.url, ta, 9), runner
        )
    row = await server.store.get_game(game_id)
    assert row is not None and row.status == "finished" and row.players == ("lich", "sock")
    assert seen.last_state["moves"].split() == [
        m.move for m in await server.store.get_moves(game_id)
    ]


async def test_open_challenge_is_replayed_on_a_new_event_stream(server: RunningServer) -> None:
    """A challenge made while the opponent's event stream was closed for a moment is sent
    again when it opens one (as lichess does), and can then be accepted."""
    (a, ta), (b, tb) = await new_bot(server, "asker"), await new_bot(server, "busy")
    api_a, api_b = berserk_bot.client(server.url, ta), berserk_bot.client(server.url, tb)
    async with asyncio.timeout(TIMEOUT_S):
        events_b = berserk_bot.event_stream(api_b)  # kept: a dropped generator hangs up
        first_b = await open_events(server, events_b, b.id)
        made: dict[str, Any] = await asyncio.to_thread(
            lambda: api_a.challenges.create("busy", rated=False, clock_limit=60)
        )
        assert (await first_b)["type"] == "challenge"
        # a second event stream of the same bot starts with the open challenge
        events_b2 = berserk_bot.event_stream(api_b)
        again = await next_event(events_b2)
        assert again["type"] == "challenge" and again["challenge"]["id"] == made["id"]
        events_a = berserk_bot.event_stream(api_a)
        first_a = await open_events(server, events_a, a.id)
        await asyncio.to_thread(api_b.bots.accept_challenge, made["id"])
        start = await first_a
        assert start["type"] == "gameStart" and start["game"]["opponent"]["username"] == "busy"
        for events in (events_a, events_b, events_b2):
            events.close()
