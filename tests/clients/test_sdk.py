"""The bot SDK for outside authors: speculation through `predict`, seeks, the sync
wrapper, loading bots by name, and resuming after a dropped connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.protocol import Seek
from arena.serve import RunningServer
from clients.players import parse_player_spec
from clients.runner import BotLoadError, load_bot, read_token
from clients.sdk import Bot, BotClient, GameView, SeekError, SpeculationConfig
from clients.sync import BotThread, SyncBot, run
from tests.conftest import new_bot


def policy(view: GameView, seed: int) -> str:
    """A deterministic move: a function of the seed and the moves so far."""
    return random.Random(f"{seed}:{' '.join(view.moves)}").choice(sorted(view.legal_moves()))


class Seeded(Bot):
    """A random bot whose move depends only on the position (so speculation is lossless)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.asked: list[tuple[int, bool]] = []

    async def choose_move(self, view: GameView) -> str:
        self.asked.append((view.ply, view.speculative))
        return policy(view, self.seed)


class Oracle(Seeded):
    """Predicts the opponent exactly (it knows the opponent's seed), except at ``wrong`` plies."""

    def __init__(self, seed: int, opponent_seed: int, wrong: Sequence[int] = ()) -> None:
        super().__init__(seed)
        self.opponent_seed = opponent_seed
        self.wrong = set(wrong)

    async def predict(self, view: GameView) -> list[str]:
        right = policy(view, self.opponent_seed)
        if view.ply in self.wrong:
            return [next(m for m in view.legal_moves() if m != right)]
        return [right]


class Patient(Seeded):
    """Moves only once the opponent's prediction for this ply is stored (when one is
    expected), so the test does not depend on which bot is faster."""

    def __init__(self, seed: int, server: RunningServer, expect: set[int]) -> None:
        super().__init__(seed)
        self.server, self.expect = server, expect

    async def choose_move(self, view: GameView) -> str:
        if view.ply in self.expect:
            for _ in range(2000):  # up to 10 s
                rows = await self.server.store.get_predictions(view.game_id)
                if any(p.ply == view.ply for p in rows):
                    break
                await asyncio.sleep(0.005)
        return await super().choose_move(view)


async def play(
    server: RunningServer, bots: tuple[Bot, Bot], names: tuple[str, str], max_plies: int = 16
) -> str:
    (a, ta), (b, tb) = await new_bot(server, names[0]), await new_bot(server, names[1])
    config = MatchConfig(time_control=TimeControl.parse("none"), max_plies=max_plies)
    game_id = await server.host.create_game("chess", (a, b), config)
    clients = [
        BotClient(bot, server.ws_url, token, max_games=1)
        for bot, token in zip(bots, (ta, tb), strict=True)
    ]
    async with asyncio.timeout(30):
        await asyncio.gather(*(c.run() for c in clients))
    return game_id


async def detail_of(server: RunningServer, game_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        detail: dict[str, Any] = (await http.get(f"/api/games/{game_id}")).json()
    return detail


async def test_a_bot_that_predicts_speculates(server: RunningServer) -> None:
    """Overriding `predict` is enough to speculate: predictions reach the server, hits and
    misses are scored as expected, choose_move ran on predicted positions, and the game
    is move for move the one played without speculation (lossless)."""
    plain = await play(server, (Seeded(1), Seeded(2)), ("w1", "b1"))
    reference = [m.move for m in await server.store.get_moves(plain)]

    black = Oracle(2, opponent_seed=1, wrong=[4])
    expect = {0, 2, 4, 6}
    white = Patient(1, server, expect)
    game_id = await play(server, (white, black), ("w2", "b2"))
    assert [m.move for m in await server.store.get_moves(game_id)] == reference
    detail = await detail_of(server, game_id)
    moves = {m["ply"]: m for m in detail["speculation"]["moves"]}
    for ply in (1, 3, 7):
        assert (moves[ply]["hit_rank"], moves[ply]["speculation"]) == (1, "hit")
    assert (moves[5]["hit_rank"], moves[5]["speculation"]) == (None, "miss")
    assert any(speculative for _, speculative in black.asked)  # branches ran early
    assert not any(speculative for _, speculative in white.asked)  # white does not predict


async def test_predictions_only_when_no_branches_allowed(server: RunningServer) -> None:
    """With max_branches=0 the bot's predictions are published and scored, but choose_move
    is never called on a predicted position."""
    black = Oracle(2, opponent_seed=1)
    black.speculation_config = SpeculationConfig(k=1, max_branches=0)
    game_id = await play(server, (Patient(1, server, {0, 2}), black), ("w", "b"), max_plies=6)
    detail = await detail_of(server, game_id)
    moves = {m["ply"]: m for m in detail["speculation"]["moves"]}
    assert moves[1]["hit_rank"] == 1 and moves[3]["hit_rank"] == 1
    assert black.asked and not any(speculative for _, speculative in black.asked)


class LatePredictor(Seeded):
    """Before each of its moves, predicts the move its opponent has already played."""

    client: BotClient | None = None

    async def choose_move(self, view: GameView) -> str:
        if view.ply >= 1 and self.client is not None:
            await self.client.predict(view.game_id, view.ply - 1, [view.moves[-1]])
        return await super().choose_move(view)


async def test_a_late_prediction_is_quiet_and_changes_nothing(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A prediction that reaches the server after the move it predicts is refused
    (``bad_prediction`` for a past ply), not scored, and not reported as a problem:
    it is the normal race of speculation, logged at debug level only."""
    (a, ta), (b, tb) = await new_bot(server, "early"), await new_bot(server, "late")
    config = MatchConfig(time_control=TimeControl.parse("none"), max_plies=6)
    game_id = await server.host.create_game("chess", (a, b), config)
    late = LatePredictor(2)
    clients = [BotClient(Seeded(1), server.ws_url, ta, max_games=1)]
    clients.append(BotClient(late, server.ws_url, tb, max_games=1))
    late.client = clients[1]
    with caplog.at_level("DEBUG", logger="clients.sdk"):
        async with asyncio.timeout(30):
            await asyncio.gather(*(c.run() for c in clients))
    late_logs = [r for r in caplog.records if "late prediction" in r.getMessage()]
    assert len(late_logs) == 3  # before black's moves at plies 1, 3 and 5
    assert all(r.levelname == "DEBUG" for r in late_logs)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert await server.store.get_predictions(game_id) == []
    assert len(await server.store.get_moves(game_id)) == 6


async def test_seek_pairs_bots_and_seeks_again(server: RunningServer) -> None:
    """Two bots that seek the same kind of game are paired, play, and seek again until
    each has played its games."""
    (_, ta), (_, tb) = await new_bot(server, "s1"), await new_bot(server, "s2")
    seek = Seek(game="connect4", time_control="none")
    clients = [
        BotClient(Seeded(seed), server.ws_url, token, max_games=2, seek=seek)
        for seed, token in ((1, ta), (2, tb))
    ]
    async with asyncio.timeout(30):
        await asyncio.gather(*(c.run() for c in clients))
    ids = [r.game_id for r in clients[0].results]
    assert len(set(ids)) == 2 and ids == [r.game_id for r in clients[1].results]
    for game_id in ids:
        row = await server.store.get_game(game_id)
        assert row is not None and row.status == "finished" and row.game == "connect4"


async def test_a_refused_seek_is_an_error(server: RunningServer) -> None:
    """A seek the server refuses (an unknown opponent) stops the client with the reason."""
    _, token = await new_bot(server, "lonely")
    client = BotClient(Seeded(1), server.ws_url, token, seek=Seek(opponent="nobody"))
    with pytest.raises(SeekError, match="no bot named 'nobody'"):
        async with asyncio.timeout(10):
            await client.run()


class SyncSeeded(SyncBot):
    """The seeded policy as a synchronous bot."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.games: list[str] = []

    def choose_move(self, view: GameView) -> str:
        return policy(view, self.seed)

    def on_game_over(self, view: GameView, over: object) -> None:
        self.games.append(view.game_id)


async def test_sync_run_and_bot_thread_play_games(server: RunningServer) -> None:
    """`clients.sync.run` blocks while a sync bot plays a game to its end; `BotThread`
    plays one in the background; both against a built-in player."""
    random_player = parse_player_spec("random:seed=3").build()
    for blocking in (True, False):
        (a, ta), (b, tb) = (
            await new_bot(server, f"sync-{blocking}"),
            await new_bot(server, f"builtin-{blocking}"),
        )
        config = MatchConfig(time_control=TimeControl.parse("30+0"))
        game_id = await server.host.create_game("connect4", (a, b), config)
        bot = SyncSeeded(5)
        opponent = BotClient(random_player, server.ws_url, tb, max_games=1)
        if blocking:
            results, _ = await asyncio.gather(
                asyncio.to_thread(run, bot, server.ws_url, ta, max_games=1), opponent.run()
            )
        else:
            thread = BotThread(bot, server.ws_url, ta, max_games=1).start()
            await opponent.run()
            assert await asyncio.to_thread(thread.wait, 10)
            results, error = thread.results, thread.error
            assert error is None
        assert [r.game_id for r in results] == [game_id] == bot.games
        row = await server.store.get_game(game_id)
        assert row is not None and row.status == "finished" and row.result in ("1-0", "0-1")


# ---------------------------------------------------------------------- dropped connections


class Proxy:
    """A TCP proxy on loopback whose connections can be cut without a close handshake
    (as when a network path dies), to test the client's side of a drop."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.accepted = 0

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.links.append((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def cut(self) -> None:
        """Abort every open connection (RST, no websocket close frame)."""
        for down, up in self.links:
            down.transport.abort()
            up.transport.abort()
        self.links.clear()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{port}/ws"
        finally:
            self.cut()
            server.close()
            await server.wait_closed()


async def test_dropped_connection_is_resumed_and_the_game_completes(
    server: RunningServer,
) -> None:
    """A speculating bot whose network connection dies mid-game reconnects with backoff,
    gets the game's snapshot, and finishes the game (not lost on time)."""
    (a, ta), (b, tb) = await new_bot(server, "steady"), await new_bot(server, "dropped")
    config = MatchConfig(time_control=TimeControl.parse("30+0"), max_plies=60)
    game_id = await server.host.create_game("chess", (a, b), config)
    proxy = Proxy(server.port)
    async with proxy.serving() as url:
        dropped = BotClient(Oracle(2, opponent_seed=1), url, tb, max_games=1)
        dropped.backoff_s = (0.05, 0.2)
        steady = BotClient(Seeded(1), server.ws_url, ta, max_games=1)
        tasks = [asyncio.create_task(c.run()) for c in (steady, dropped)]
        async with asyncio.timeout(30):
            for _ in range(10_000):
                row = await server.store.get_game(game_id)
                if row is not None and row.ply >= 10:
                    break
                await asyncio.sleep(0.002)
            proxy.cut()
            cut_at = row.ply if row else 0
            await asyncio.gather(*tasks)
    final = await server.store.get_game(game_id)
    assert final is not None and final.status == "finished"
    assert (final.reason, final.ply) == ("max_plies", 60) and cut_at < 60
    assert dropped.connections == 2 and proxy.accepted == 2
    assert [r.game_id for r in dropped.results] == [game_id]


# ---------------------------------------------------------------------- loading bots by name


def test_load_bot_by_file_and_module(tmp_path: Path) -> None:
    """A bot is named FILE.py:NAME or MODULE:NAME; a SyncBot is wrapped for the async client."""
    script = tmp_path / "mine.py"
    script.write_text(
        "from clients.sync import SyncBot\n"
        "class Mine(SyncBot):\n"
        "    name = 'mine'\n"
        "    def choose_move(self, view):\n"
        "        return view.legal_moves()[0]\n"
    )
    bot = load_bot(f"{script}:Mine")
    assert isinstance(bot, Bot) and bot.name == "mine" and not bot.speculates
    spec = load_bot("examples.speculating_bot:MaterialSpeculator")
    assert spec.speculates and spec.name == "material-speculator"


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("examples/minimal_bot.py", "expected FILE.py:NAME"),
        ("nowhere.py:Bot", "no such file"),
        ("no_such_module_xyz:Bot", "cannot import module"),
        ("examples/minimal_bot.py:Nope", "bot classes there: RandomMover"),
        ("examples.minimal_bot:random", "not a clients.sdk.Bot"),
        ("clients.sdk:GameView", "must take no arguments"),
    ],
)
def test_load_bot_errors_say_what_is_wrong(target: str, fragment: str) -> None:
    """A bot that cannot be loaded is a clear error, not a traceback."""
    with pytest.raises(BotLoadError, match=fragment):
        load_bot(target)


def test_read_token(tmp_path: Path) -> None:
    """The token comes from --token or the first line of --token-file, never both."""
    path = tmp_path / "t"
    path.write_text("arena_abc\n")
    assert read_token(None, str(path)) == "arena_abc" == read_token("arena_abc ", None)
    for token, file in (("x", str(path)), (None, None), (None, str(tmp_path / "none"))):
        with pytest.raises(ValueError, match="token"):
            read_token(token, file)


async def test_bot_thread_stops_on_request(server: RunningServer) -> None:
    """A BotThread waiting for a game (its seek unanswered) stops cleanly when asked."""
    _, token = await new_bot(server, "waiter")
    thread = BotThread(SyncSeeded(1), server.ws_url, token, seek=Seek(game="othello"))
    thread.start()
    for _ in range(500):  # until it is connected and seeking (up to 5 s)
        if server.host.peers:
            break
        await asyncio.sleep(0.01)
    assert server.host.peers
    await asyncio.to_thread(thread.stop, 10)
    assert await asyncio.to_thread(thread.wait, 0) and thread.error is None
    assert thread.results == []
