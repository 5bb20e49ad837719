"""Tournaments: the file, running, resuming, standings, and the leaderboard's figures."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from arena.cli import main
from arena.clock import TimeControl
from arena.leaderboard import build_leaderboard
from arena.match import Match, MatchConfig
from arena.serve import running_server
from arena.store import Store
from arena.tournament.config import TournamentConfigError, config_from_dict, load_config
from arena.tournament.formats import round_robin
from arena.tournament.runner import TournamentRunner
from games import get_game

PLAYERS = [
    {"name": "r1", "spec": "random:seed=1"},
    {"name": "r2", "spec": "random:seed=2"},
    {"name": "r3", "spec": "random:seed=3"},
]


def config(**extra: Any) -> Any:
    data = {
        "name": "t",
        "game": "connect4",
        "openings": "none",
        "time_control": "none",
        "max_plies": 42,
        "concurrency": 2,
        "cycles": 2,
        "players": PLAYERS,
    }
    data.update(extra)
    return config_from_dict(data)


def test_file_is_parsed_and_checked(tmp_path: Path) -> None:
    """A TOML file with kind/options/speculation tables becomes player specs."""
    path = tmp_path / "t.toml"
    path.write_text(
        'name = "x"\nformat = "gauntlet"\nhero = "sf"\n'
        '[[players]]\nname = "sf"\nkind = "stockfish"\n'
        'options = { nodes = 1000 }\nspeculation = { spec = "engine", k = 2 }\n'
        '[[players]]\nspec = "random:seed=4"\n'
    )
    cfg = load_config(path)
    assert [p.spec for p in cfg.players] == [
        "stockfish:nodes=1000,spec=engine,k=2",
        "random:seed=4",
    ]
    assert cfg.player_names == ["sf", "random:seed=4"] and cfg.openings == "bundled"


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"format": "knockout"}, "valid: round-robin, gauntlet, swiss"),
        ({"colour": "red"}, "unknown keys .'colour'."),
        ({"players": [{"name": "a", "spec": "alphago"}, PLAYERS[0]]}, "unknown player kind"),
        ({"format": "swiss"}, "rounds >= 1"),
        ({"anchor": {"player": "nobody", "rating": 0}}, "anchor player 'nobody'"),
        ({"openings": "bundled"}, "openings are for chess"),
        ({"players": [PLAYERS[0], PLAYERS[0]]}, "distinct"),
    ],
)
def test_bad_files(extra: dict[str, Any], fragment: str) -> None:
    """A bad tournament file is refused with a message saying what is wrong."""
    with pytest.raises(TournamentConfigError, match=fragment):
        config(**extra)


class Stop(Exception):
    """Raised from the progress callback to cut a tournament off."""


async def test_resume_completes_exactly_the_planned_games(tmp_path: Path) -> None:
    """Cut off part-way, a tournament resumes: every planned game once, the cut one
    continued from its stored moves (not replayed)."""
    db = str(tmp_path / "t.db")
    cfg = config()
    planned = {p.key for p in round_robin(cfg.player_names, cycles=2)}

    def stop_after_two(progress: Any) -> None:
        if progress.done >= 2:
            raise Stop

    with pytest.raises(ExceptionGroup) as info:
        await TournamentRunner(db, cfg, on_progress=stop_after_two).run()
    assert info.group_contains(Stop)

    # A game left in progress with two moves stored, as a crash would leave it.
    store = await Store.open(db)
    try:
        (tournament,) = await store.list_tournaments()
        # A key no game was started for (with concurrency, games were under way too).
        started = {g.pairing_key or "" for g in await store.list_games(limit=None)}
        cut_key = sorted(planned - started)[0]
        bots = {b.name: b for b, _ in await store.list_bots()}
        white, black = cut_key.split("-")[2:4]
        rules = get_game("connect4")
        cut_id = await store.create_game(
            game="connect4",
            seat_bot_ids=(bots[white].id, bots[black].id),
            time_control="none",
            max_plies=42,
            max_retries=3,
            initial_state=rules.encode_state(rules.initial_state()),
            clocks=(None, None),
            tournament_id=tournament.id,
            pairing_key=cut_key,
        )
        await store.start_game(cut_id)
        match = Match.new(rules, MatchConfig(time_control=TimeControl.parse("none"))).start(0.0)
        for ply, move in enumerate(["4", "4"]):
            step = match.play(ply % 2, ply, move, 1.0)
            assert step.record is not None
            await store.commit_move(
                cut_id, step.record, turn_started_at=0.0, received_at=1.0, meta=None
            )
            match = step.match
    finally:
        await store.close()

    resumed = TournamentRunner(db, cfg)
    assert await resumed.run() == tournament.id
    store = await Store.open(db)
    try:
        games = await store.list_games(limit=None, tournament_id=tournament.id)
        cut = await store.get_game(cut_id)
        cut_moves = [m.move for m in await store.get_moves(cut_id)]
        status = (await store.get_tournament(tournament.id)).status  # type: ignore[union-attr]
    finally:
        await store.close()
    rated = [g.pairing_key or "" for g in games if g.result in ("1-0", "0-1", "1/2-1/2")]
    assert sorted(rated) == sorted(planned)  # each planned game exactly once
    assert cut is not None and cut.status == "finished" and cut.result in ("1-0", "0-1", "1/2-1/2")
    assert cut_moves[:2] == ["4", "4"] and len(cut_moves) > 2 and cut.ply == len(cut_moves)
    assert status == "finished"


async def test_leaderboard_speculation_equals_sums_over_moves(tmp_path: Path) -> None:
    """The leaderboard's speculation columns equal sums computed directly from stored moves."""
    db = str(tmp_path / "s.db")
    cfg = config_from_dict(
        {
            "name": "spec",
            "game": "chess",
            "openings": "bundled",
            "time_control": "none",
            "max_plies": 16,
            "concurrency": 1,
            "players": [
                {
                    "name": "a",
                    "spec": "stockfish:nodes=40000,spec=engine,k=2,spec_depth=2,adaptive=false",
                },
                {
                    "name": "b",
                    "spec": "stockfish:nodes=40000,spec=engine,k=1,spec_depth=2,adaptive=false",
                },
            ],
        }
    )
    tournament_id = await TournamentRunner(db, cfg).run()
    store = await Store.open(db)
    try:
        board = await build_leaderboard(store, tournament_id=tournament_id, bootstrap=20)
        expected: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"predicted": 0, "top1": 0, "topk": 0, "saved": 0.0, "actor": 0.0, "resp": []}
        )
        for g in await store.list_games(limit=None, tournament_id=tournament_id):
            moves = {m.ply: m for m in await store.get_moves(g.id)}
            preds = await store.get_predictions(g.id)
            for m in moves.values():
                row = expected[g.players[m.seat]]
                row["resp"].append(m.response_ms)
                if m.meta and m.meta.get("actor_ms") is not None:
                    if m.meta.get("speculation") in ("hit", "miss"):  # speculation's saving
                        row["saved"] += m.meta["actor_ms"] - m.response_ms
                    row["actor"] += m.meta["actor_ms"]
                prev = moves.get(m.ply - 1)
                if prev is None:
                    continue
                early = [
                    p for p in preds
                    if p.seat == m.seat and p.ply == prev.ply and p.received_at < prev.received_at
                ]  # fmt: skip
                if early:
                    last = max(early, key=lambda p: p.received_at)
                    row["predicted"] += 1
                    row["top1"] += last.moves[0] == prev.move
                    row["topk"] += prev.move in last.moves
    finally:
        await store.close()
    assert sum(r["predicted"] for r in expected.values()) > 0
    for r in board.rows:
        e = expected[r.name]
        assert r.predicted == e["predicted"]
        assert r.top1_accuracy == (e["top1"] / e["predicted"] if e["predicted"] else None)
        assert r.topk_accuracy == (e["topk"] / e["predicted"] if e["predicted"] else None)
        assert r.saved_s == pytest.approx(e["saved"] / 1000)
        assert r.saved_share == pytest.approx(e["saved"] / e["actor"])
        assert r.median_response_ms == statistics.median(e["resp"])
        assert r.low <= r.elo <= r.high


async def test_api_and_cli_show_tournaments(tmp_path: Path) -> None:
    """/api/tournaments, /api/tournaments/{id}, /api/leaderboard and the CLI agree."""
    db = str(tmp_path / "a.db")
    tournament_id = await TournamentRunner(db, config(cycles=1)).run()
    async with running_server(db) as server, httpx.AsyncClient(base_url=server.url) as http:
        listing = (await http.get("/api/tournaments")).json()["tournaments"]
        detail = (await http.get(f"/api/tournaments/{tournament_id}")).json()
        board = (await http.get("/api/leaderboard", params={"tournament": tournament_id})).json()
        missing = await http.get("/api/tournaments/nope")
    assert [t["id"] for t in listing] == [tournament_id] and listing[0]["games_finished"] == 3
    assert len(detail["games"]) == 3 and set(detail["crosstable"]) == {"r1", "r2", "r3"}
    assert {p["name"] for p in board["players"]} == {"r1", "r2", "r3"}
    assert all("topk_accuracy" in p and "low" in p for p in board["players"])
    assert missing.status_code == 404
    runner = CliRunner()
    args = ["tournament", "show", tournament_id, "--db", db, "--crosstable"]
    shown = await asyncio.to_thread(runner.invoke, main, args)
    assert shown.exit_code == 0 and "crosstable" in shown.output
    listed = await asyncio.to_thread(
        runner.invoke, main, ["tournament", "list", "--db", db, "--json"]
    )
    assert listed.exit_code == 0 and tournament_id in listed.output
    lb = await asyncio.to_thread(runner.invoke, main, ["leaderboard", "--db", db, "--json"])
    assert lb.exit_code == 0 and '"players"' in lb.output


def test_next_games_fills_each_players_capacity() -> None:
    """Up to ``concurrency`` games at once; a player is in as many as its capacity
    allows (no limit by default, one for a one-slot player); a lone game starts
    when nothing else can."""
    from arena.tournament.formats import Pairing
    from arena.tournament.runner import next_games

    def p(white: str, black: str) -> Pairing:
        return Pairing(round=1, white=white, black=black, opening_index=None, key=white + black)

    pending = [p("a", "b"), p("b", "a"), p("c", "d"), p("a", "c")]
    # Two engine players may play both colours of their pairing at once.
    assert next_games(pending, [], 2) == [p("a", "b"), p("b", "a")]
    assert next_games(pending, [], 3) == [p("a", "b"), p("b", "a"), p("c", "d")]
    assert next_games(pending[1:], [p("a", "b")], 2) == [p("b", "a")]
    # One game at a time for players of capacity one.
    one = dict.fromkeys("abcd", 1)
    assert next_games(pending, [], 2, one) == [p("a", "b"), p("c", "d")]
    assert next_games(pending[1:], [p("a", "b")], 2, one) == [p("c", "d")]
    assert next_games([p("b", "a")], [p("a", "b")], 2, one) == []
    assert next_games([p("b", "a")], [], 2, one) == [p("b", "a")]
    assert next_games(pending, [p("x", "y"), p("z", "w")], 2) == []
    # Mixed: "a" holds two games, "b" one; the busiest players' games go first.
    assert next_games(pending, [], 4, {"a": 2, "b": 1}) == [p("a", "b"), p("a", "c"), p("c", "d")]
    # Two one-slot players who meet late in the plan meet first: that game holds
    # both of their queues, the unlimited players' games fill in beside it.
    late = [p("a", "x"), p("b", "y"), p("x", "y"), p("a", "b")]
    assert next_games(late, [], 2, {"a": 1, "b": 1}) == [p("a", "b"), p("x", "y")]


async def test_resume_by_id_reads_the_stored_configuration(tmp_path: Path) -> None:
    """A tournament can be resumed by id alone: its stored configuration reads back."""
    db = str(tmp_path / "r.db")
    first = await TournamentRunner(db, config(cycles=1)).run()
    again = TournamentRunner(db, config(name="ignored"), tournament_id=first)
    assert await again.run() == first
    assert again.config == config(cycles=1)


ENGINES = [
    {"name": "strong", "spec": "stockfish:nodes=3000"},
    {"name": "weak", "spec": "stockfish:nodes=1000"},
]


def engine_match(**extra: Any) -> Any:
    data: dict[str, Any] = {
        "name": "match",
        "game": "chess",
        "openings": "bundled",
        "opening_pairs": 2,
        "time_control": "none",
        "max_plies": 24,
        "concurrency": 2,
        "players": ENGINES,
    }
    data.update(extra)
    return config_from_dict(data)


async def test_two_players_play_two_games_at_once(tmp_path: Path) -> None:
    """concurrency = 2 in a two-player match: two games under way at the same time
    (their stored start and finish times overlap), each on engines of its own."""
    db = str(tmp_path / "m.db")
    tournament_id = await TournamentRunner(db, engine_match()).run()
    store = await Store.open(db)
    try:
        games = await store.list_games(limit=None, tournament_id=tournament_id)
    finally:
        await store.close()
    assert len(games) == 4 and all(g.status == "finished" for g in games)
    spans = sorted((g.started_at or 0, g.finished_at or 0) for g in games)
    overlapping = [
        (a, b) for i, a in enumerate(spans) for b in spans[i + 1 :] if b[0] < a[1]
    ]  # fmt: skip
    assert overlapping, spans
    # Never more at once than the concurrency allows.
    for start, _ in spans:
        assert sum(1 for s, f in spans if s <= start < f) <= 2


TOGA = shutil.which("toga2") or ("/usr/games/toga2" if Path("/usr/games/toga2").exists() else None)


@pytest.mark.parametrize(
    ("spec", "cause"),
    [
        ("stockfish:hash=999999999", "Hash"),  # beyond what Stockfish allows
        pytest.param(
            f"stockfish:path={TOGA},skill=5",  # Toga II has no Skill Level
            "Skill Level",
            marks=pytest.mark.skipif(TOGA is None, reason="Debian's toga2 is not installed"),
        ),
    ],
)
async def test_a_player_that_cannot_start_refuses_the_tournament(
    tmp_path: Path, spec: str, cause: str
) -> None:
    """A bad engine option is found before any game, with the player and the cause;
    nothing is stored."""
    db = str(tmp_path / "bad.db")
    bad = engine_match(players=[ENGINES[0], {"name": "broken", "spec": spec}])
    with pytest.raises(TournamentConfigError, match=rf"player 'broken' .* cannot play: .*{cause}"):
        await TournamentRunner(db, bad).run()
    store = await Store.open(db)
    try:
        assert await store.list_games(limit=None) == []
        assert await store.list_tournaments() == []
    finally:
        await store.close()


async def test_running_a_finished_tournament_again_plays_nothing(tmp_path: Path) -> None:
    """The same file again: told it has finished, no new game; --again plays it anew."""
    from arena.tournament.runner import TournamentFinishedError

    db = str(tmp_path / "again.db")
    cfg = config(cycles=1)
    first = await TournamentRunner(db, cfg).run()
    with pytest.raises(TournamentFinishedError) as info:
        await TournamentRunner(db, cfg).run()
    assert info.value.tournament_id == first
    store = await Store.open(db)
    try:
        assert len(await store.list_games(limit=None)) == 3
    finally:
        await store.close()
    second = await TournamentRunner(db, cfg, again=True).run()
    assert second != first
    runner = CliRunner()
    path = tmp_path / "t.toml"
    path.write_text(
        'name = "cli"\ngame = "connect4"\nopenings = "none"\ntime_control = "none"\n'
        "cycles = 2\n"
        '[[players]]\nspec = "random:seed=1"\n[[players]]\nspec = "random:seed=2"\n'
    )
    ran = await asyncio.to_thread(runner.invoke, main, ["tournament", "run", str(path), "--db", db])
    assert ran.exit_code == 0, ran.output
    # Not a terminal: a line per finished game as it finishes.
    assert "[1/2]" in ran.output and "[2/2]" in ran.output
    again = await asyncio.to_thread(
        runner.invoke, main, ["tournament", "run", str(path), "--db", db]
    )
    assert again.exit_code == 0 and "has finished" in again.output
    store = await Store.open(db)
    try:
        assert len(await store.list_games(limit=None)) == 6 + 2
    finally:
        await store.close()


CRASHING_ENGINE = """\
import sys
import chess

board = chess.Board()
for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    if words[0] == "uci":
        print("id name crasher")
        print("uciok", flush=True)
    elif words[0] == "isready":
        print("readyok", flush=True)
    elif words[0] == "position":
        board = chess.Board() if words[1] == "startpos" else chess.Board(" ".join(words[2:8]))
        if "moves" in words:
            for move in words[words.index("moves") + 1 :]:
                board.push_uci(move)
    elif words[0] == "go":
        if board.ply() >= 14:  # dies in the middlegame, every time
            sys.exit(3)
        print("bestmove " + min(m.uci() for m in board.legal_moves), flush=True)
    elif words[0] == "quit":
        break
"""


async def test_a_player_whose_engine_dies_ends_its_games_unrated_and_not_replayed(
    tmp_path: Path,
) -> None:
    """An engine that dies mid-game (after the checks): each of its games ends as
    ``engine_error`` with no result, no rating, and is not played again."""
    script = tmp_path / "crasher.py"
    script.write_text(CRASHING_ENGINE)
    engine = tmp_path / "crasher"
    engine.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    engine.chmod(0o755)
    db = str(tmp_path / "crash.db")
    cfg = engine_match(
        players=[ENGINES[1], {"name": "crasher", "spec": f"stockfish:path={engine},nodes=1"}],
        opening_pairs=1,
        max_plies=40,
    )
    tournament_id = await TournamentRunner(db, cfg).run()
    store = await Store.open(db)
    try:
        games = await store.list_games(limit=None, tournament_id=tournament_id)
        board = await build_leaderboard(store, tournament_id=tournament_id, bootstrap=0)
        status = (await store.get_tournament(tournament_id)).status  # type: ignore[union-attr]
    finally:
        await store.close()
    assert len(games) == 2 and status == "finished"
    assert {(g.result, g.reason) for g in games} == {("*", "engine_error")}
    assert board.games == 0  # nothing rated
