"""``arena bench load`` at small scale against a real ``arena serve`` (arena.bench.load)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from arena.bench.load import LoadOptions, run_load_bench, scripted_lines
from games.chess import ChessGame


def _stored(db: Path, window_ms: tuple[float, float]) -> tuple[int, int]:
    conn = sqlite3.connect(db)
    try:
        total = conn.execute("SELECT COUNT(*) FROM moves").fetchone()[0]
        inside = conn.execute(
            "SELECT COUNT(*) FROM moves WHERE committed_at >= ? AND committed_at < ?", window_ms
        ).fetchone()[0]
        return int(total), int(inside)
    finally:
        conn.close()


def test_scripted_lines_are_legal_and_never_end_the_game() -> None:
    """Every scripted line is legal move by move and leaves the game unfinished."""
    game = ChessGame()
    lines = scripted_lines(4, 60, seed=3)
    assert len(lines) == 4 and all(len(line) == 60 for line in lines)
    assert len({tuple(line) for line in lines}) == 4
    for line in lines:
        state = game.initial_state()
        for move in line:
            assert move in game.legal_moves(state)
            state = game.apply(state, move)
            assert game.outcome(state) is None


async def test_saturation_run_matches_the_database(tmp_path: Path) -> None:
    """20 games answering at once (re-seeking after max_plies) plus spectators: zero
    errors, every acknowledged move is stored and nothing else, and the window's count
    of committed moves is the database's."""
    db = tmp_path / "load.db"
    options = LoadOptions(
        games=20, spectators=6, rate=0, duration_s=2.0, warmup_s=0.5, max_plies=30
    )
    report = await run_load_bench(options, db=str(db))
    assert report.mode == "saturation" and report.offered_moves_per_s is None
    assert report.errors == 0, report.error_texts + report.server_errors
    assert report.moves_unacked == 0
    total, inside = _stored(db, report.window_wall_ms)
    assert report.moves_acked == report.moves_sent == report.moves_stored == total
    assert report.moves_committed == inside > 0
    assert report.moves_per_s == pytest.approx(inside / report.window_s)
    assert report.games_finished > 0  # pairs finished games at max_plies and sought new ones
    assert report.games_started >= 20
    assert 0 < report.games_held_max <= 20
    relay = report.relay
    assert relay.samples > 0 and relay.p50_ms is not None
    assert relay.p50_ms <= relay.p99_ms <= relay.p999_ms <= relay.max_ms  # type: ignore[operator]
    assert report.spectator_frames > 0 and report.spectator.samples > 0
    assert report.server_peak_rss_mb > 0
    data = report.to_json()
    for key in ("games_held_min", "moves_per_s", "relay", "errors", "server_peak_rss_mb"):
        assert key in data
    assert set(data["relay"]) >= {"p50_ms", "p99_ms", "p999_ms"}


async def test_rate_mode_offers_no_more_than_the_rate(tmp_path: Path) -> None:
    """At an offered rate, a game's moves are spaced a random 0.5-1.5 intervals apart:
    the committed moves stay near the offered load (its mean plus one move per game,
    four standard deviations here), with zero errors."""
    db = tmp_path / "load.db"
    options = LoadOptions(games=10, spectators=0, rate=40, duration_s=2.0, warmup_s=0.5)
    report = await run_load_bench(options, db=str(db))
    assert report.mode == "rate" and report.offered_moves_per_s == 40
    assert report.errors == 0, report.error_texts + report.server_errors
    total, inside = _stored(db, report.window_wall_ms)
    assert report.moves_acked == report.moves_stored == total
    assert report.moves_committed == inside > 0
    assert report.moves_committed <= 40 * report.window_s + options.games
    assert report.games_held_min == 10  # no game ends before 200 plies at this pace


@pytest.mark.parametrize("split", [False, True])
async def test_two_servers_on_postgresql(pg_url: str, split: bool) -> None:
    """Two ``arena serve`` processes on one PostgreSQL database hold the games together:
    each hosts half of them (or, split, every game has one bot on each server and its
    moves are relayed between the processes), with zero errors and every acknowledged
    move stored; the report gives each server's CPU and memory."""
    options = LoadOptions(
        games=10, spectators=4, rate=40, duration_s=2.0, warmup_s=0.5, servers=2, split=split
    )
    report = await run_load_bench(options, db=pg_url)
    assert (report.servers, report.split) == (2, split)
    assert report.errors == 0, report.error_texts + report.server_errors
    assert report.moves_unacked == 0
    assert report.moves_acked == report.moves_sent == report.moves_stored > 0
    assert report.moves_committed > 0
    assert report.games_held_min == 10  # summed over both servers' hosted games
    assert report.relay.samples > 0 and report.spectator.samples > 0
    assert len(report.per_server_cpu_share) == len(report.per_server_peak_rss_mb) == 2
    assert all(share > 0 for share in report.per_server_cpu_share)
    assert report.machine_cpu_share >= report.server_cpu_share * 0.5


async def test_a_used_database_or_sqlite_for_two_servers_is_refused(
    tmp_path: Path, pg_url: str
) -> None:
    """Two servers need PostgreSQL, and a database that already holds bots is refused:
    the counts of stored moves would not be this run's."""
    with pytest.raises(ValueError, match="needs a PostgreSQL database"):
        await run_load_bench(LoadOptions(games=2, servers=2), db=str(tmp_path / "x.db"))
    quick = LoadOptions(games=2, spectators=0, rate=8, duration_s=0.5, warmup_s=0.1)
    await run_load_bench(quick, db=pg_url)
    with pytest.raises(ValueError, match="already holds 4 bots"):
        await run_load_bench(quick, db=pg_url)


async def test_lichess_api_bots_under_load(tmp_path: Path) -> None:
    """Half the games have a lichess-API bot (challenging its websocket partner, playing
    over HTTP and NDJSON): zero errors, every acknowledged move stored, games replayed
    after max_plies, and the lichess games' relay latency reported apart."""
    db = tmp_path / "load.db"
    options = LoadOptions(
        games=8, spectators=2, rate=0, duration_s=2.0, warmup_s=0.5, max_plies=20, lichess=4
    )
    report = await run_load_bench(options, db=str(db))
    assert report.errors == 0, report.error_texts + report.server_errors
    assert report.moves_unacked == 0
    total, _ = _stored(db, report.window_wall_ms)
    assert report.moves_acked == report.moves_sent == report.moves_stored == total
    assert report.games_finished > 8  # every pair, lichess ones too, played on
    assert report.lichess_pairs == 4 and report.lichess_relay is not None
    assert report.lichess_relay.samples > 0 and report.relay.samples > 0
    assert report.to_json()["lichess_relay"]["p99_ms"] is not None
    with pytest.raises(ValueError, match="--lichess"):
        LoadOptions(games=2, lichess=3).check()
