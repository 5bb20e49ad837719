"""Tests of arena.ratings: Davidson fit, bootstrap intervals, anchors and invariances."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.ratings import (
    ELO_PER_NAT,
    GameResult,
    RatingTable,
    _encode,
    _resample_weights,
    rate,
)


def _simulate(
    elos: Mapping[str, float],
    *,
    rounds: int,
    seed: int,
    white_elo: float = 0.0,
    nu: float = 0.5,
    paired: bool = False,
) -> list[GameResult]:
    """Double round-robins drawn from the Davidson model with the given true ratings."""
    rng = np.random.default_rng(seed)
    names = list(elos)
    h = white_elo / ELO_PER_NAT
    results: list[GameResult] = []
    for k in range(rounds):
        for i, x in enumerate(names):
            for y in names[i + 1 :]:
                group = f"{k}:{x}:{y}" if paired else None
                for white, black in ((x, y), (y, x)):
                    a = math.exp(elos[white] / ELO_PER_NAT + h)
                    b = math.exp(elos[black] / ELO_PER_NAT)
                    d = nu * math.sqrt(a * b)
                    u = rng.random() * (a + b + d)
                    score = 1.0 if u < a else 0.5 if u < a + d else 0.0
                    results.append(GameResult(white, black, score, group))
    return results


def _elos(table: RatingTable) -> dict[str, float]:
    return {p.name: p.elo for p in table.players}


TRUE = {"a": -500.0, "b": -300.0, "c": -100.0, "d": 100.0, "e": 300.0, "f": 500.0}
CLOSE = {name: elo / 2.5 for name, elo in TRUE.items()}
"""Ratings 80 Elo apart: closer games say more about the first-move advantage."""


def test_recovers_order_of_known_strengths() -> None:
    """Players simulated 200 Elo apart come out in the true order, near their true ratings."""
    table = rate(_simulate(TRUE, rounds=10, seed=1), bootstrap=0)
    assert [p.name for p in table.players] == ["f", "e", "d", "c", "b", "a"]
    for p in table.players:
        assert p.elo == pytest.approx(1500.0 + TRUE[p.name], abs=100.0)
    assert sum(p.elo for p in table.players) / 6 == pytest.approx(1500.0)


def test_intervals_cover_true_ratings_at_about_the_stated_rate() -> None:
    """Over 30 simulated tournaments the 95% intervals hold the true rating 80-100% of the time."""
    truth = {"a": -150.0, "b": -50.0, "c": 0.0, "d": 50.0, "e": 150.0}
    covered = total = 0
    for seed in range(30):
        table = rate(_simulate(truth, rounds=4, seed=100 + seed), bootstrap=40, seed=seed)
        for p in table.players:
            assert p.low <= p.elo <= p.high
            covered += p.low <= 1500.0 + truth[p.name] <= p.high
            total += 1
    assert 0.8 <= covered / total <= 1.0


def test_player_with_all_wins_gets_finite_rating_above_the_rest() -> None:
    """An unbeaten player is rated finitely, above everyone else, with a finite interval."""
    results = _simulate({"x": 0.0, "y": 50.0, "z": -50.0}, rounds=5, seed=3)
    for k in range(6):
        results.append(GameResult("w", "xyz"[k % 3], 1.0))
        results.append(GameResult("xyz"[k % 3], "w", 0.0))
    table = rate(results, bootstrap=50)
    top = table.players[0]
    assert top.name == "w"
    assert (top.wins, top.draws, top.losses, top.score) == (12, 0, 0, 12.0)
    assert math.isfinite(top.elo)
    assert top.elo > table.players[1].elo
    assert math.isfinite(top.high)


def test_white_advantage_detected_when_present() -> None:
    """Games simulated with a 200-Elo first-move bonus yield an estimate near 200."""
    table = rate(_simulate(CLOSE, rounds=20, seed=4, white_elo=200.0), bootstrap=0)
    assert table.white_advantage_elo == pytest.approx(200.0, abs=60.0)


def test_white_advantage_near_zero_when_absent() -> None:
    """Games simulated without a first-move bonus yield an estimate near 0 and the true nu."""
    table = rate(_simulate(CLOSE, rounds=20, seed=5, nu=0.5), bootstrap=0)
    assert table.white_advantage_elo == pytest.approx(0.0, abs=60.0)
    assert table.draw_nu == pytest.approx(0.5, rel=0.2)


def test_anchor_fixes_rating_and_shifts_everything_consistently() -> None:
    """The anchor gets exactly its rating, the others shift by one constant; moving it moves all."""
    results = _simulate(TRUE, rounds=3, seed=6)
    free = _elos(rate(results, bootstrap=0))
    low = rate(results, anchor=("c", 1500.0), bootstrap=40, seed=2)
    high = rate(results, anchor=("c", 1700.0), bootstrap=40, seed=2)
    anchored = {p.name: p for p in low.players}
    assert anchored["c"].elo == 1500.0
    assert anchored["c"].low == anchored["c"].high == 1500.0
    shift = 1500.0 - free["c"]
    for name, p in anchored.items():
        assert p.elo == pytest.approx(free[name] + shift)
    for p, q in zip(low.players, high.players, strict=True):
        assert p.name == q.name
        assert (q.elo - p.elo, q.low - p.low, q.high - p.high) == pytest.approx((200, 200, 200))


def test_unknown_anchor_names_the_valid_players() -> None:
    """An anchor naming nobody in the results is a ValueError listing who is there."""
    results = [GameResult("alice", "bob", 1.0)]
    with pytest.raises(ValueError, match=r"'carol'.*alice, bob"):
        rate(results, anchor=("carol", 1500.0))


def test_rejects_bad_score_and_self_play() -> None:
    """A score other than 1/0.5/0 and a game against oneself are refused, quoting the game."""
    with pytest.raises(ValueError, match=r"score must be .* got 0\.7"):
        rate([GameResult("a", "b", 0.7)])
    with pytest.raises(ValueError, match="cannot play itself"):
        rate([GameResult("a", "a", 1.0)])


def test_no_games_gives_empty_table() -> None:
    """No results rate nobody."""
    table = rate([])
    assert table.players == []
    assert table.to_json() == {"players": [], "white_advantage_elo": 0.0, "draw_nu": 0.0}


def test_record_and_json() -> None:
    """Each player's games, wins, draws, losses and points are counted; to_json carries them."""
    results = [
        GameResult("a", "b", 1.0),
        GameResult("b", "a", 0.5),
        GameResult("a", "c", 0.0),
        GameResult("c", "b", 0.5),
    ]
    table = rate(results, bootstrap=0)
    by_name = {p.name: p for p in table.players}
    assert (by_name["a"].games, by_name["a"].wins, by_name["a"].draws, by_name["a"].losses) == (
        3,
        1,
        1,
        1,
    )
    assert by_name["a"].score == 1.5
    assert by_name["b"].score == 1.0
    assert by_name["c"].score == 1.5
    assert by_name["a"].low == by_name["a"].high == by_name["a"].elo
    data = table.to_json()
    assert [p["name"] for p in data["players"]] == [p.name for p in table.players]
    assert data["players"][0].keys() == {
        "name",
        "elo",
        "low",
        "high",
        "games",
        "wins",
        "draws",
        "losses",
        "score",
    }


def test_resample_keeps_groups_whole() -> None:
    """Every resample weighs both games of a group alike and draws as many units as exist."""
    results = _simulate({"x": 0.0, "y": 0.0, "z": 0.0}, rounds=4, seed=7, paired=True)
    games = _encode(results)
    assert games.n_units == len(results) // 2
    rng = np.random.default_rng(0)
    for _ in range(20):
        weights = _resample_weights(games, rng)
        assert weights.sum() == len(results)
        assert np.array_equal(weights[0::2], weights[1::2])


def test_grouped_bootstrap_respects_paired_openings() -> None:
    """Paired games that always split 1-1 give a near-zero interval only when grouped."""
    results: list[GameResult] = []
    for k in range(20):
        results.append(GameResult("p", "q", 1.0, f"pair{k}"))
        results.append(GameResult("q", "p", 1.0, f"pair{k}"))
    grouped = rate(results, bootstrap=50)
    loose = rate([GameResult(r.white, r.black, r.score) for r in results], bootstrap=50)
    for table, widest in ((grouped, 1.0), (loose, math.inf)):
        for p in table.players:
            assert p.elo == pytest.approx(1500.0)
            assert p.high - p.low <= widest
    assert all(p.high - p.low > 20 for p in loose.players)
    assert grouped.white_advantage_elo > 200


NAMES = ["ann", "bob", "cat", "dan"]
game_strategy = st.tuples(
    st.sampled_from(NAMES), st.sampled_from(NAMES), st.sampled_from([0.0, 0.5, 1.0])
).filter(lambda g: g[0] != g[1])


@settings(max_examples=25, deadline=None)
@given(games=st.lists(game_strategy, min_size=1, max_size=30), data=st.data())
def test_invariant_to_game_order_and_relabelling(
    games: list[tuple[str, str, float]], data: st.DataObject
) -> None:
    """Shuffling the games and renaming the players changes no rating (up to the renaming)."""
    renamed = dict(zip(NAMES, data.draw(st.permutations(["zed", "yan", "xi", "wu"])), strict=True))
    shuffled = data.draw(st.permutations(games))
    base = rate([GameResult(w, b, s) for w, b, s in games], bootstrap=0)
    other = rate([GameResult(renamed[w], renamed[b], s) for w, b, s in shuffled], bootstrap=0)
    other_elos = _elos(other)
    for name, elo in _elos(base).items():
        assert other_elos[renamed[name]] == pytest.approx(elo, abs=1e-3)
    assert other.white_advantage_elo == pytest.approx(base.white_advantage_elo, abs=1e-3)
    assert other.draw_nu == pytest.approx(base.draw_nu, rel=1e-4, abs=1e-9)
