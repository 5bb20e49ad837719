"""The examples/ bots, each run as a separate process (`arena bot run`), play a full
game against a built-in player over the real server."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from arena.accounting import account_game
from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.serve import RunningServer
from clients.players import parse_player_spec
from clients.sdk import Bot, BotClient, GameView
from tests.clients.processes import ROOT, run_arena
from tests.conftest import new_bot


@pytest.mark.parametrize(
    "target",
    [
        "examples/minimal_bot.py:RandomMover",
        "examples/sync_bot.py:CheckOrCapture",
        "examples/speculating_bot.py:MaterialSpeculator",
    ],
)
async def test_example_plays_a_full_game(
    server: RunningServer, target: str, tmp_path: Path
) -> None:
    """The example, an outside process with its token in a file, plays a game to its
    end against a built-in random player; the result and the moves are stored."""
    (a, token), (b, builtin_token) = await new_bot(server, "example"), await new_bot(server, "rnd")
    config = MatchConfig(time_control=TimeControl.parse("60+0"), max_plies=40)
    game_id = await server.host.create_game("chess", (a, b), config)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    opponent = BotClient(
        parse_player_spec("random:seed=4").build(), server.ws_url, builtin_token, max_games=1
    )
    out, _ = await asyncio.gather(
        run_arena(
            "bot", "run", target, "--url", server.ws_url, "--token-file", str(token_file),
            "--games", "1",
        ),
        opponent.run(),
    )  # fmt: skip
    row = await server.store.get_game(game_id)
    assert row is not None and row.status == "finished"
    assert row.result in ("1-0", "0-1", "1/2-1/2") and row.reason
    assert f"game {game_id}: {row.result} ({row.reason}) after {row.ply} plies" in out
    assert len(await server.store.get_moves(game_id)) == row.ply > 0
    if "speculating" in target:
        # It publishes predictions; how many reach the server before an instant
        # opponent's move depends on timing (see the next test for a thinking one).
        assert any(p.seat == 0 for p in await server.store.get_predictions(game_id))


class ThinkingOpponent(Bot):
    """A labelled simulation of an opponent that thinks: it waits a fixed 200 ms
    per move, then plays a random legal move (seeded)."""

    THINK_S = 0.2

    def __init__(self) -> None:
        super().__init__()
        self.rng = random.Random(7)

    async def choose_move(self, view: GameView) -> str:
        await asyncio.sleep(self.THINK_S)
        return self.rng.choice(view.legal_moves())


async def test_speculating_example_predicts_every_reply_of_a_thinking_opponent(
    server: RunningServer, tmp_path: Path
) -> None:
    """Against an opponent that takes 200 ms per move, the speculating example's
    prediction for the opponent's reply reaches the server before that reply on
    (nearly) every opponent move, and the server scores them."""
    (a, token), (b, other_token) = await new_bot(server, "example"), await new_bot(server, "slow")
    config = MatchConfig(time_control=TimeControl.parse("60+0"), max_plies=24)
    game_id = await server.host.create_game("chess", (a, b), config)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    opponent = BotClient(ThinkingOpponent(), server.ws_url, other_token, max_games=1)
    await asyncio.gather(
        run_arena(
            "bot", "run", "examples/speculating_bot.py:MaterialSpeculator",
            "--url", server.ws_url, "--token-file", str(token_file), "--games", "1",
        ),
        opponent.run(),
    )  # fmt: skip
    moves = await server.store.get_moves(game_id)
    account = account_game(moves, await server.store.get_predictions(game_id))
    # Each of the example's moves after the first carries its prediction of the
    # opponent's move before it (counted only if it arrived before that move).
    mine = [m for m in account.moves if m.seat == 0 and m.ply > 0]
    assert len(mine) >= 10
    missing = [m.ply for m in mine if not m.predicted]
    # The example predicts in a few milliseconds; 200 ms leaves room for a slow CI.
    assert len(missing) <= 1, missing


def test_examples_are_short() -> None:
    """The minimal example stays about 20 lines, docstring included."""
    lines = (ROOT / "examples" / "minimal_bot.py").read_text().splitlines()
    assert len(lines) <= 22
