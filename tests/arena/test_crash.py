"""kill -9 of a real ``arena serve`` at random moments during a tournament, 20 times."""

from __future__ import annotations

import pytest

from arena.bench.crash import run_crash_bench

pytestmark = pytest.mark.slow


async def test_kill_9_loses_no_acknowledged_move_and_resumes_every_game() -> None:
    """20 kills while four bots play: nothing acknowledged is lost, the database stays
    intact, every restart resumes every unfinished game, every cut game finishes with a
    result under its own id, and the tournament goes on."""
    report = await run_crash_bench(kills=20, seed=1)
    assert len(report.kills) == 20
    assert report.moves_acked > 200  # the bots really played between the kills
    assert report.acked_lost == 0 and all(k.lost == 0 for k in report.kills)
    assert report.integrity_ok, [k.integrity for k in report.kills]
    assert report.recovered_all, [(k.unfinished, k.recovered) for k in report.kills]
    assert report.games_cut >= 5
    assert report.games_resumed == report.games_cut, report.unresumed
    assert report.tournament_games_after_last_kill > 0
    assert report.server_errors == []
    print(
        f"crash: {len(report.kills)} kills, {report.moves_acked} moves acknowledged, "
        f"{report.acked_lost} lost, {report.games_resumed}/{report.games_cut} cut games resumed, "
        f"accept p50 {report.accept_p50_s * 1000:.0f} ms max {report.accept_max_s * 1000:.0f} ms, "
        f"{report.wall_s:.1f} s"
    )
