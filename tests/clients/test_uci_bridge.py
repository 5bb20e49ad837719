"""The UCI bridge: any UCI engine as a bot, its pondering scored as speculation.

Real engines: Stockfish and Toga II (Debian's `stockfish` and `toga2`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import chess
import chess.engine
import httpx
import pytest
from click.testing import CliRunner

from arena.cli import main
from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.serve import RunningServer
from clients.actors.engine import EngineNotFoundError
from clients.sdk import Bot, BotClient, GameView
from clients.uci_bridge import (
    UciBot,
    UciBotOptions,
    UciBridgeError,
    find_engine,
    parse_engine_options,
)
from tests.clients.processes import run_arena
from tests.conftest import new_bot


async def speculation_of(server: RunningServer, game_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        detail: dict[str, Any] = (await http.get(f"/api/games/{game_id}")).json()
    return detail


def assert_ponder_scored(moves: list[dict[str, Any]], seat: int) -> None:
    """The moves of ``seat`` after its first carry the engine's prediction (all but one
    at most: an engine may name no expected reply), and the engine's own verdict (hit:
    ponderhit) agrees with the server's scoring."""
    mine = [m for m in moves if m["seat"] == seat]
    assert mine[0]["speculation"] == "off"  # nothing pondered before the first move
    predicted = [m for m in mine[1:] if m["predictions"] is not None]
    assert len(predicted) >= len(mine) - 2
    for m in mine[1:]:
        if m["predictions"] is None:
            assert m["speculation"] == "off", m
            continue
        assert len(m["predictions"]) == 1, m
        assert (m["speculation"] == "hit") == (m["hit_rank"] == 1), m
        assert m["speculation"] in ("hit", "miss"), m


async def test_stockfish_against_toga_over_the_cli(server: RunningServer) -> None:
    """`arena bot uci` runs Stockfish and Toga II as two processes that seek each other:
    they play a game to its end, and with pondering on each engine's expected reply is
    stored as its prediction and scored by the server."""
    (_, sf_token), (_, toga_token) = (
        await new_bot(server, "stockfish"),
        await new_bot(server, "toga"),
    )
    common = ["--url", server.ws_url, "--seek", "chess", "--tc", "20+0.1", "--max-plies", "12"]
    common += ["--games", "1", "--movetime", "30"]
    sf_out, toga_out = await asyncio.gather(
        run_arena(
            "bot", "uci", "--engine", "stockfish", "--option", "Threads=1",
            "--option", "Hash=16", *common, env={"ARENA_TOKEN": sf_token},
        ),
        run_arena(
            "bot", "uci", "--engine", "toga2", "--option", "Hash=16", *common,
            env={"ARENA_TOKEN": toga_token},
        ),
    )  # fmt: skip
    assert "bot Stockfish" in sf_out and "bot Toga II" in toga_out
    games = await server.store.list_games(limit=5)
    assert len(games) == 1
    game = games[0]
    assert game.status == "finished" and game.result in ("1-0", "0-1", "1/2-1/2")
    assert f"game {game.id}: {game.result}" in sf_out and f"game {game.id}:" in toga_out
    assert set(game.players) == {"stockfish", "toga"}
    detail = await speculation_of(server, game.id)
    moves = detail["speculation"]["moves"]
    assert len(moves) == game.ply >= 8
    for seat in (0, 1):
        assert_ponder_scored(moves, seat)


class Oracle(Bot):
    """An opponent that reads the engine's stored prediction and plays it at ``hits``
    plies; at the others it plays Stockfish's best move other than the predicted one
    (a sound move, so the game is not cut short by a blunder)."""

    def __init__(self, server: RunningServer, hits: set[int]) -> None:
        self.server, self.hits = server, hits
        self.played: dict[int, str] = {}
        self.analyst: chess.engine.UciProtocol | None = None
        self.transport: asyncio.SubprocessTransport | None = None

    async def choose_move(self, view: GameView) -> str:
        rows = await self.server.store.get_predictions(view.game_id)
        predicted = [p.moves[0] for p in rows if p.ply == view.ply and p.seat != view.seat]
        if predicted and view.ply in self.hits:
            move = predicted[-1]
        else:
            if self.analyst is None:
                popen = chess.engine.popen_uci(find_engine("stockfish"))
                self.transport, self.analyst = await popen
            board = chess.Board(view.game.encode_state(view.state))
            infos = await self.analyst.analyse(board, chess.engine.Limit(depth=6), multipv=3)
            ranked = [info["pv"][0].uci() for info in infos if "pv" in info]
            move = next(m for m in [*ranked, *view.legal_moves()] if m not in predicted)
        self.played[view.ply] = move
        return move

    async def close(self) -> None:
        if self.analyst is not None:
            await self.analyst.quit()
        if self.transport is not None:
            self.transport.close()


async def test_ponderhit_on_a_hit_and_stop_on_a_miss(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """When the opponent plays the predicted move the bridge sends `ponderhit` (a hit);
    otherwise `stop` and a new search (a miss); the server's scoring agrees, and the
    ponder search is reported as a branch, kept or cancelled."""
    caplog.set_level(logging.DEBUG, logger="chess.engine")
    (a, ta), (b, tb) = await new_bot(server, "engine"), await new_bot(server, "oracle")
    config = MatchConfig(time_control=TimeControl.parse("30+0"), max_plies=14)
    game_id = await server.host.create_game("chess", (a, b), config)
    engine = UciBot(UciBotOptions("stockfish", {"Threads": "1", "Hash": "16"}, movetime=30))
    oracle = Oracle(server, hits={3, 5, 9, 13})
    try:
        async with asyncio.timeout(30):
            await asyncio.gather(
                BotClient(engine, server.ws_url, ta, max_games=1).run(),
                BotClient(oracle, server.ws_url, tb, max_games=1).run(),
            )
    finally:
        await engine.close()
        await oracle.close()
    moves = {m["ply"]: m for m in (await speculation_of(server, game_id))["speculation"]["moves"]}
    verdicts = {ply: moves[ply]["speculation"] for ply in range(2, 14, 2)}
    assert verdicts == {2: "miss", 4: "hit", 6: "hit", 8: "miss", 10: "hit", 12: "miss"}
    assert all(moves[p]["hit_rank"] == (1 if v == "hit" else None) for p, v in verdicts.items())
    sent = [r.getMessage() for r in caplog.records if ": << " in r.getMessage()]
    assert sum(line.endswith("<< ponderhit") for line in sent) == 3
    assert sum(line.endswith("<< stop") for line in sent) >= 3
    assert sum(" go ponder " in line for line in sent) >= 6
    stored = {m.ply: m.meta or {} for m in await server.store.get_moves(game_id)}
    for ply, verdict in verdicts.items():
        meta = stored[ply]
        branch = meta["branches"][0]
        assert (branch["line"] == [oracle.played[ply - 1]]) == (verdict == "hit")
        assert branch["outcome"] == ("kept" if verdict == "hit" else "cancelled")
        assert branch["started_ms"] < 0 <= branch["ended_ms"]
        if verdict == "hit":
            assert meta["actor_ms"] <= 30.0  # capped at what the engine would have searched


async def test_without_ponder_no_prediction(server: RunningServer) -> None:
    """With pondering off the engine predicts nothing and its moves say speculation off."""
    (a, ta), (b, tb) = await new_bot(server, "plain"), await new_bot(server, "oracle")
    config = MatchConfig(time_control=TimeControl.parse("30+0"), max_plies=6)
    game_id = await server.host.create_game("chess", (a, b), config)
    engine = UciBot(UciBotOptions("toga2", {"Hash": "16"}, ponder=False, movetime=20))
    oracle = Oracle(server, set())
    try:
        async with asyncio.timeout(30):
            await asyncio.gather(
                BotClient(engine, server.ws_url, ta, max_games=1).run(),
                BotClient(oracle, server.ws_url, tb, max_games=1).run(),
            )
    finally:
        await engine.close()
        await oracle.close()
    assert not [p for p in await server.store.get_predictions(game_id) if p.seat == 0]
    metas = [m.meta or {} for m in await server.store.get_moves(game_id) if m.seat == 0]
    assert len(metas) == 3 and all(m["speculation"] == "off" for m in metas)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["Hashh=16"], "has no option 'Hashh'; its options: .*Hash"),
        (["Ponder=true"], "set by the bridge"),
        (["Hash=lots"], "is a number"),
        (["Hash=999999999"], "Hash"),
        (["UCI_LimitStrength=maybe"], "true or false"),
    ],
)
async def test_bad_engine_options_are_refused(options: list[str], fragment: str) -> None:
    """A bad engine option fails before any game, naming what is valid."""
    bot = UciBot(UciBotOptions("stockfish", parse_engine_options(options)))
    with pytest.raises(UciBridgeError, match=fragment):
        await bot.check()


def test_engine_lookup_and_option_syntax() -> None:
    """Engines are found by name in Debian's games dir; options must be Name=Value."""
    assert find_engine("toga2").endswith("toga2")
    with pytest.raises(EngineNotFoundError, match="no UCI engine 'no-such-engine'"):
        find_engine("no-such-engine")
    assert parse_engine_options(["Skill Level = 5"]) == {"Skill Level": "5"}
    with pytest.raises(UciBridgeError, match="Name=Value"):
        parse_engine_options(["Hash"])


def test_cli_refuses_a_missing_engine_and_a_missing_token() -> None:
    """`arena bot uci` with an unknown engine or without a token is a usage error."""
    runner = CliRunner()
    missing = runner.invoke(main, ["bot", "uci", "--engine", "no-such-engine", "--token", "x"])
    assert missing.exit_code == 2 and "no UCI engine" in missing.output
    tokenless = runner.invoke(
        main, ["bot", "uci", "--engine", "stockfish"], env={"ARENA_TOKEN": ""}
    )
    assert tokenless.exit_code == 2 and "a token is needed" in tokenless.output
