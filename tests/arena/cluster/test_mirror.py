"""A bot that reconnects to a node that does not host its game, while that node's relay
is behind the store, gets each event of the game exactly once and in order."""

from __future__ import annotations

from typing import Any

import pytest

from arena.serve import running_server
from tests.arena.cluster.strict import (
    bot_tokens,
    connect,
    frames_through,
    move,
    pair,
    quiet,
    summary,
)


async def test_a_bot_reconnecting_to_a_relaying_node_gets_each_event_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Y on B and X on A play a game A hosts. B's relay misses the news of Y's third
    move; X then moves to B resuming at seq 2: X gets state 3 once then ``resumed``,
    Y gets its move_ack and state 3 once, and the rest of the game arrives once."""
    async with running_server(pg_url) as a, running_server(pg_url) as b:
        tokens = await bot_tokens(a.store)
        game = await pair(a.ws_url, b.ws_url, tokens)  # A matches Y's seek: A hosts the game
        x, y, game_id = game.x, game.y, game.game_id
        assert summary(game.y_frames) == [("game_start", 0)]
        await move(y, game_id, 0, "f2f3")
        assert summary(await frames_through(y, "state")) == [("move_ack", 0), ("state", 1)]
        assert summary(await frames_through(x, "state")) == [("state", 1)]
        await move(x, game_id, 1, "e7e5")
        assert summary(await frames_through(x, "state")) == [("move_ack", 1), ("state", 2)]
        assert summary(await frames_through(y, "state")) == [("state", 2)]

        held: list[dict[str, Any]] = []  # B's relay falls behind: its news is held
        relay = b.cluster._on_event  # type: ignore[union-attr]
        monkeypatch.setattr(b.cluster, "_on_event", held.append)
        await move(y, game_id, 2, "g2g4")  # forwarded by B, stored by A
        assert summary(await frames_through(x, "state")) == [("state", 3)]
        await x.close()
        x = await connect(b.ws_url, tokens["x"], resume={game_id: 2})
        assert summary(await frames_through(x, "resumed")) == [("state", 3), ("resumed", None)]
        await quiet(x)
        assert summary(await frames_through(y, "state")) == [("move_ack", 2), ("state", 3)]
        await quiet(y)

        monkeypatch.setattr(b.cluster, "_on_event", relay)
        for news in held:  # late news is harmless: everything was relayed already
            relay(news)
        await move(x, game_id, 3, "d8h4")
        assert summary(await frames_through(x, "game_over")) == [
            ("move_ack", 3),
            ("state", 4),
            ("game_over", 5),
        ]
        assert summary(await frames_through(y, "game_over")) == [("state", 4), ("game_over", 5)]
        await quiet(x)
        await quiet(y)
        await x.close()
        await y.close()
