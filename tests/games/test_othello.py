"""Othello, the plug-in game: rules, registration by entry point only, play over the server,
and the speculation engine on it."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest

from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.serve import RunningServer
from clients.actors.random_player import RandomActor, RandomOptions
from clients.player import SpeculativePlayer
from clients.sdk import BotClient
from clients.speculation import Action, Meter, Position, SpeculationConfig
from clients.speculators.scripted import ScriptedSpeculator
from games import IllegalMoveError, InvalidStateError, get_game, replay
from games.conformance import perft, run_all
from games.othello import PASS, Othello
from tests.conftest import new_bot

ROOT = Path(__file__).resolve().parents[2]
START = "......../......../......../...wb.../...bw.../......../......../........ b"


def test_registered_only_through_the_entry_point() -> None:
    """The arena finds Othello through `arena.games`, and nothing in arena/ or clients/
    names it: a game is added without touching the server or the players."""
    points = {ep.name: ep.value for ep in entry_points(group="arena.games")}
    assert points["othello"] == "games.othello:Othello"
    assert isinstance(get_game("othello"), Othello)
    for package in ("arena", "clients"):
        for source in (ROOT / package).rglob("*.py"):
            assert "othello" not in source.read_text().lower(), source


def test_conformance() -> None:
    """The shared conformance suite passes (playouts, round trips, illegal moves, renders)."""
    run_all(Othello(), n=30, seed=7)


def test_perft_matches_the_published_counts() -> None:
    """Move-sequence counts from the start are 4, 12, 56, 244, 1396, 8200 (published
    Othello perft figures, passes counted as moves)."""
    game = Othello()
    start = game.initial_state()
    assert [perft(game, start, d) for d in range(1, 7)] == [4, 12, 56, 244, 1396, 8200]


def test_start_position_and_encoding() -> None:
    """The start is the standard cross, black to move with d3, c4, f5, e6."""
    game = Othello()
    start = game.initial_state()
    assert game.encode_state(start) == START
    assert game.decode_state(START) == start
    assert game.legal_moves(start) == ["d3", "c4", "f5", "e6"]
    assert game.normalize_move(start, " D3 ") == "d3"
    after = game.apply(start, "d3")
    assert game.encode_state(after) == (
        "......../......../...b..../...bb.../...bw.../......../......../........ w"
    )


def test_pass_is_the_only_move_when_no_disc_can_be_placed() -> None:
    """A side without a placement must pass; passing is refused while a disc can be placed."""
    game = Othello()
    example = next(e for e in game.terminal_examples() if PASS in e.moves)
    at = example.moves.index(PASS)
    before = replay(game, example.moves[:at])
    assert game.legal_moves(before) == [PASS]
    assert game.display_move(before, "PASS") == PASS
    with pytest.raises(IllegalMoveError, match="must pass"):
        game.apply(before, game.legal_moves(game.apply(before, PASS))[0])
    after = game.apply(before, PASS)
    assert after.discs == before.discs and after.to_move != before.to_move
    with pytest.raises(IllegalMoveError, match="can place a disc"):
        game.apply(game.initial_state(), "pass")


@pytest.mark.parametrize(
    ("encoded", "fragment"),
    [
        (START.replace(" b", " x"), "side to move"),
        (START.replace("...wb...", "...wb..", 1), "row 4 has 7 cells"),
        (START.replace("...wb...", "...wq...", 1), "contains 'q'"),
        (START.replace("...wb...", "....b...", 1), "centre squares"),
    ],
)
def test_bad_states_are_refused(encoded: str, fragment: str) -> None:
    """A malformed state is an InvalidStateError saying what is wrong."""
    with pytest.raises(InvalidStateError, match=fragment):
        Othello().decode_state(encoded)


def test_svg_is_well_formed() -> None:
    """The SVG render parses as XML, with a disc per occupied square and the last move marked."""
    game = Othello()
    state = game.apply(game.initial_state(), "d3")
    svg = ET.fromstring(game.render_svg(state, "d3"))
    circles = svg.findall("{http://www.w3.org/2000/svg}circle")
    discs = [c for c in circles if c.get("r") == str(44 * 2 // 5)]
    assert len(discs) == 5  # 4 + the placed one
    assert any(c.get("fill") == "#e63946" for c in circles)
    assert "white to move" in (svg.findtext("{http://www.w3.org/2000/svg}title") or "")


async def play_random(
    server: RunningServer, black: SpeculativePlayer, script: dict[int, list[str]]
) -> str:
    """One game: ``black`` against a random white (seed 4) that waits for black's scripted
    predictions to be stored before it moves."""
    names = (f"black-{id(black)}", f"white-{id(black)}")
    (a, ta), (b, tb) = await new_bot(server, names[0]), await new_bot(server, names[1])
    game_id = await server.host.create_game(
        "othello", (a, b), MatchConfig(time_control=TimeControl.parse("none"))
    )
    white = SpeculativePlayer(PatientRandom(server, game_id, script))
    clients = [
        BotClient(black, server.ws_url, ta, max_games=1),
        BotClient(white, server.ws_url, tb, max_games=1),
    ]
    async with asyncio.timeout(30):
        await asyncio.gather(*(c.run() for c in clients))
    return game_id


class PatientRandom(RandomActor):
    """White moves only once black's prediction for this ply is stored (when the script
    has one), so the test does not depend on which process is faster."""

    def __init__(self, server: RunningServer, game_id: str, script: dict[int, list[str]]) -> None:
        super().__init__(RandomOptions(seed=4))
        self.server, self.game_id, self.script = server, game_id, script

    async def act(self, position: Position, meter: Meter) -> Action:
        if position.ply in self.script:
            for _ in range(2000):  # up to 10 s
                rows = await self.server.store.get_predictions(self.game_id)
                if any(p.ply == position.ply for p in rows):
                    break
                await asyncio.sleep(0.005)
        return await super().act(position, meter)


async def test_plays_over_the_server_with_speculation(server: RunningServer) -> None:
    """Random players finish an Othello game over the server; replayed with a scripted
    speculator for black, the moves are identical (lossless) and the server scores
    exactly the scripted hits and misses."""
    plain = await play_random(server, SpeculativePlayer(RandomActor(RandomOptions(seed=3))), {})
    row = await server.store.get_game(plain)
    assert row is not None and row.status == "finished"
    assert row.reason in ("more_discs", "equal_discs") and row.result in ("1-0", "0-1", "1/2-1/2")
    reference = [m.move for m in await server.store.get_moves(plain)]
    final = replay(Othello(), reference)
    assert Othello().outcome(final) is not None and row.ply == len(reference) >= 9

    def legal(ply: int) -> list[str]:
        return Othello().legal_moves(replay(Othello(), reference[:ply]))

    white_plies = [p for p in range(1, len(reference) - 1, 2) if reference[p] != PASS]
    hits = white_plies[:4]
    miss = next(p for p in white_plies[4:] if len(legal(p)) > 1)
    script = {p: [reference[p]] for p in hits}
    script[miss] = [next(m for m in legal(miss) if m != reference[miss])]
    black = SpeculativePlayer(
        RandomActor(RandomOptions(seed=3)),
        speculator=lambda view: ScriptedSpeculator(script),
        config=SpeculationConfig(k=1),
    )
    game_id = await play_random(server, black, script)
    assert [m.move for m in await server.store.get_moves(game_id)] == reference
    async with httpx.AsyncClient(base_url=server.url) as http:
        detail = (await http.get(f"/api/games/{game_id}")).json()
    moves = {m["ply"]: m for m in detail["speculation"]["moves"]}
    for ply in hits:
        assert (moves[ply + 1]["hit_rank"], moves[ply + 1]["speculation"]) == (1, "hit")
    assert (moves[miss + 1]["hit_rank"], moves[miss + 1]["speculation"]) == (None, "miss")


async def test_plays_in_a_tournament(tmp_path: Path) -> None:
    """A round robin of Othello players runs to the end and is rated like any game."""
    from arena.leaderboard import build_leaderboard
    from arena.store import Store
    from arena.tournament.config import config_from_dict
    from arena.tournament.runner import TournamentRunner

    db = str(tmp_path / "t.db")
    players = [{"name": f"r{s}", "spec": f"random:seed={s}"} for s in (1, 2, 3)]
    config = config_from_dict(
        {"name": "othello", "game": "othello", "openings": "none", "time_control": "none",
         "concurrency": 2, "players": players}
    )  # fmt: skip
    tournament_id = await TournamentRunner(db, config).run()
    store = await Store.open(db)
    try:
        games = await store.list_games(limit=10)
        board = await build_leaderboard(store, tournament_id=tournament_id)
    finally:
        await store.close()
    assert len(games) == 3 and all(g.game == "othello" and g.status == "finished" for g in games)
    assert {g.reason for g in games} <= {"more_discs", "equal_discs"}
    assert sorted(row.name for row in board.rows) == ["r1", "r2", "r3"] and board.games == 3
