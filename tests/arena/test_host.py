"""The host's flag timer: kept across moves while it fires early enough; the flag still falls."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arena.clock import TimeControl
from arena.host import Host, HostedGame
from arena.match import MatchConfig
from arena.protocol import Move
from arena.store import BotRow, Store


class Peer:
    def __init__(self, bot: BotRow) -> None:
        self.bot: BotRow | None = bot
        self.frames: list[str] = []

    def send(self, *texts: str) -> None:
        self.frames.extend(texts)

    def close(self, code: int, reason: str) -> None:
        pass


async def test_flag_timer_kept_across_a_move_and_the_flag_still_falls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A move whose next deadline is later than the armed timer keeps that timer (no timer
    per move); when it fires before the flag falls it arms the next one, which flags."""
    now = [0.0]  # the host's monotonic clock, in ms, moved by the test
    store = await Store.open(str(tmp_path / "arena.db"))
    host = Host(store, monotonic_ms=lambda: now[0])
    try:
        white, black = await store.add_bot("w"), await store.add_bot("b")
        peers = Peer(white), Peer(black)
        for peer in peers:
            await host.connect(peer)
        config = MatchConfig(time_control=TimeControl.parse("0.2+0"))
        game_id = await host.create_game("chess", (white, black), config)
        hosted = host.games[game_id]
        checked = asyncio.Event()
        on_flag = host._on_flag

        async def watched(game: HostedGame) -> None:
            await on_flag(game)
            checked.set()

        monkeypatch.setattr(host, "_on_flag", watched)
        first = hosted.flag_timer
        assert first is not None
        now[0] = 100.0  # white moves after 100 ms: black's flag falls at 300 ms
        await host.handle(peers[0], Move(game_id=game_id, ply=0, move="e2e4"))
        assert hosted.flag_timer is first  # armed for white's 200 ms: earlier, kept
        async with asyncio.timeout(5):
            await checked.wait()  # fired at 200 ms: black still has time
        assert not hosted.match.finished and hosted.flag_timer is not None
        now[0] = 400.0
        async with asyncio.timeout(5):
            await host.wait_finished(game_id)
        assert (hosted.match.reason, hosted.match.winner) == ("timeout", 0)
    finally:
        await host.close()
        await store.close()
