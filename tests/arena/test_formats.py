"""Tournament formats: round-robin, gauntlet and Swiss pairings."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.tournament.formats import (
    BYE_POINTS,
    Bye,
    Format,
    Pairing,
    TournamentError,
    gauntlet,
    plan,
    planned_games,
    round_robin,
)
from arena.tournament.swiss import SwissState, swiss_round

FAST = settings(max_examples=40, deadline=None)

sizes = st.integers(min_value=2, max_value=9)
cycle_counts = st.integers(min_value=1, max_value=3)
opening_counts = st.none() | st.integers(min_value=1, max_value=3)


def names(n: int) -> list[str]:
    return [f"p{i}" for i in range(n)]


def check_rounds(games: Sequence[Pairing]) -> None:
    """Nobody plays twice in a round, rounds run 1, 2, ... and keys are unique."""
    by_round: dict[int, list[str]] = {}
    for g in games:
        by_round.setdefault(g.round, []).extend((g.white, g.black))
        assert g.white != g.black
    for seats in by_round.values():
        assert len(seats) == len(set(seats))
    assert sorted(by_round) == list(range(1, len(by_round) + 1))
    assert len({g.key for g in games}) == len(games)


def colour_gap(games: Sequence[Pairing], player: str) -> int:
    whites = sum(g.white == player for g in games)
    blacks = sum(g.black == player for g in games)
    return whites - blacks


# ------------------------------------------------------------------ round-robin


@FAST
@given(sizes, cycle_counts, opening_counts)
def test_round_robin_every_pair_meets_as_often_as_asked(
    n: int, cycles: int, openings: int | None
) -> None:
    """Each unordered pair meets cycles x (2 per opening pair, or 1) times; rounds are clean."""
    games = round_robin(names(n), cycles=cycles, openings=openings)
    meetings = Counter(frozenset((g.white, g.black)) for g in games)
    per_pair = cycles * (1 if openings is None else 2 * openings)
    assert len(meetings) == n * (n - 1) // 2
    assert set(meetings.values()) == {per_pair}
    assert len(games) == planned_games("round-robin", names(n), cycles=cycles, openings=openings)
    check_rounds(games)


@FAST
@given(sizes, cycle_counts, st.integers(min_value=1, max_value=3))
def test_round_robin_opening_pairs_swap_colours(n: int, cycles: int, openings: int) -> None:
    """With openings, each pair plays each opening once with each colour, per cycle."""
    games = round_robin(names(n), cycles=cycles, openings=openings)
    seen = Counter((g.white, g.black, g.opening_index) for g in games)
    for (white, black, index), count in seen.items():
        assert index is not None and 0 <= index < openings
        assert seen[(black, white, index)] == count == cycles
    for player in names(n):
        assert colour_gap(games, player) == 0


@FAST
@given(sizes, cycle_counts)
def test_round_robin_colours_balanced_without_openings(n: int, cycles: int) -> None:
    """Without openings, every player's and every pair's whites and blacks differ by <= 1."""
    games = round_robin(names(n), cycles=cycles)
    assert all(g.opening_index is None for g in games)
    for player in names(n):
        assert abs(colour_gap(games, player)) <= (cycles % 2)
    pairs = Counter((g.white, g.black) for g in games)
    for (white, black), count in pairs.items():
        assert abs(count - pairs[(black, white)]) <= 1
    rounds_per_cycle = n - 1 if n % 2 == 0 else n
    assert max(g.round for g in games) == rounds_per_cycle * cycles


def test_round_robin_book_rotation() -> None:
    """Given the book size, later cycles move on to the next openings of the book."""
    games = round_robin(names(4), cycles=3, openings=2, book_size=5)
    assert {g.opening_index for g in games if g.round <= 12} == {0, 1}
    assert {g.opening_index for g in games} == {0, 1, 2, 3, 4}
    assert {g.opening_index for g in games if g.round > 24} == {4, 0}


def test_plan_is_deterministic() -> None:
    """Planning the same tournament twice gives the same games and keys (for resuming)."""
    first = plan("round-robin", names(5), cycles=2, openings=2)
    assert first == plan(Format.ROUND_ROBIN, names(5), cycles=2, openings=2)
    assert first[0].key == "r1-g1-p0-p3-o0"


# ---------------------------------------------------------------------- gauntlet


@FAST
@given(st.integers(min_value=1, max_value=8), cycle_counts, opening_counts)
def test_gauntlet_hero_meets_everyone(field_size: int, cycles: int, openings: int | None) -> None:
    """The hero plays each opponent the asked number of times, colours balanced."""
    field = names(field_size)
    games = gauntlet("hero", field, cycles=cycles, openings=openings)
    per_opponent = cycles * (1 if openings is None else 2 * openings)
    assert all("hero" in (g.white, g.black) for g in games)
    assert Counter(g.black if g.white == "hero" else g.white for g in games) == dict.fromkeys(
        field, per_opponent
    )
    for rival in field:
        mine = [g for g in games if rival in (g.white, g.black)]
        assert abs(colour_gap(mine, "hero")) <= (0 if openings else 1)
    assert abs(colour_gap(games, "hero")) <= 1
    everyone = ["hero", *field]
    assert len(games) == planned_games("gauntlet", everyone, cycles=cycles, openings=openings)
    assert games == plan("gauntlet", everyone, cycles=cycles, openings=openings)
    check_rounds(games)


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: round_robin(["a", "a", "b"]), "distinct"),
        (lambda: round_robin(["a"]), "at least 2"),
        (lambda: round_robin(["a", ""]), "non-empty"),
        (lambda: round_robin(["a", "b"], cycles=0), "cycles"),
        (lambda: round_robin(["a", "b"], openings=3, book_size=2), "more than the book"),
        (lambda: gauntlet("a", ["a", "b"]), "distinct"),
        (lambda: plan("knockout", ["a", "b"]), "round-robin, gauntlet, swiss"),
        (lambda: plan("swiss", ["a", "b"]), "swiss_round"),
        (lambda: plan("gauntlet", ["a", "b"], hero="c"), "'c'"),
        (lambda: planned_games("swiss", ["a", "b"]), "rounds"),
        (lambda: swiss_round(["a", "b"], [("a", "z", 1.0)], 2), "'z'"),
        (lambda: swiss_round(["a", "b"], [("a", "b", 2.0)], 2), "between 0 and 1"),
        (lambda: swiss_round(["a", "b"], [], 0), "round_no"),
    ],
)
def test_bad_input_is_a_tournament_error(call: Callable[[], object], message: str) -> None:
    """Bad players, counts, formats or results raise TournamentError quoting the problem."""
    with pytest.raises(TournamentError, match=message):
        call()


def test_planned_games_counts() -> None:
    """Totals for progress bars: Swiss is rounds x floor(n/2) x games per pairing."""
    assert planned_games("swiss", names(7), rounds=5) == 15
    assert planned_games("swiss", names(8), rounds=3, openings=2) == 48
    assert planned_games("round-robin", names(4), cycles=2) == 12
    assert planned_games("gauntlet", names(5), openings=1) == 8


# ------------------------------------------------------------------------- Swiss


def test_swiss_first_round_folds_the_seeding() -> None:
    """Round 1 pairs the top half against the bottom half, colours alternating by board."""
    pairings, byes = swiss_round(names(8), [], 1)
    assert [(p.white, p.black) for p in pairings] == [
        ("p0", "p4"),
        ("p5", "p1"),
        ("p2", "p6"),
        ("p7", "p3"),
    ]
    assert byes == []


def test_swiss_bye_goes_to_the_lowest_ranked() -> None:
    """With an odd field, the lowest-ranked player without a bye sits out and scores a point."""
    _, byes = swiss_round(names(5), [], 1)
    assert byes == [Bye(1, "p4")]
    assert byes[0].key == "r1-bye-p4"
    results = [("p0", "p1", 1.0), ("p2", "p3", 0.5)]
    state = SwissState.from_results(names(5), results, byes)
    assert state.scores["p4"] == BYE_POINTS
    _, second = swiss_round(names(5), results, 2, byes=byes)
    assert second == [Bye(2, "p1")]


def test_swiss_opening_pairs() -> None:
    """With openings, each pairing is N opening pairs: both colours, same opening."""
    pairings, _ = swiss_round(names(4), [], 3, openings=2, book_size=10)
    assert len(pairings) == 8
    assert {p.opening_index for p in pairings} == {4, 5}
    seen = {(p.white, p.black, p.opening_index) for p in pairings}
    assert all((b, w, i) in seen for w, b, i in seen)
    assert len({p.key for p in pairings}) == 8


def perfect_matchings(players: Sequence[str]) -> Iterator[list[frozenset[str]]]:
    """Every way to split ``players`` (an even count) into pairs."""
    if not players:
        yield []
        return
    first, rest = players[0], list(players[1:])
    for i, other in enumerate(rest):
        for tail in perfect_matchings(rest[:i] + rest[i + 1 :]):
            yield [frozenset((first, other)), *tail]


def conflict(state: SwissState, pair: frozenset[str]) -> bool:
    a, b = sorted(pair)
    ba, bb = state.balance[a], state.balance[b]
    return (ba >= 2 and bb >= 2) or (ba <= -2 and bb <= -2)


def opponent_score(state: SwissState, player: str, matching: Sequence[frozenset[str]]) -> float:
    """The score of ``player``'s opponent in ``matching``."""
    (other,) = next(pair for pair in matching if player in pair) - {player}
    return state.scores[other]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=2, max_value=9),
    st.integers(min_value=1, max_value=10),
    st.none() | st.just(1),
    st.randoms(use_true_random=False),
)
def test_swiss_rounds_against_brute_force(
    n: int, rounds: int, openings: int | None, rng: random.Random
) -> None:
    """Simulated Swiss: fewest repeats, best score group for the leader, fair byes and colours.

    Each round is compared with every possible pairing of the players left
    after the bye: no repeat unless every pairing has one; no colour clash
    while a pairing free of repeats and clashes exists; the leader meets the
    best score the best pairings allow; colours stay within +-2 unless a
    round had no clean pairing; at most one bye each while rounds < n.
    """
    players = names(n)
    results: list[tuple[str, str, float]] = []
    byes: list[Bye] = []
    for round_no in range(1, rounds + 1):
        state = SwissState.from_results(players, results, byes)
        pairings, new_byes = swiss_round(players, results, round_no, openings=openings, byes=byes)
        assert len(pairings) == (n // 2) * (1 if openings is None else 2)
        assert {p.round for p in pairings} <= {round_no}
        assert len(new_byes) == n % 2
        rest = [p for p in state.ranking() if p not in {b.player for b in new_byes}]
        for bye in new_byes:
            assert state.byes[bye.player] == min(state.byes.values())
        chosen = {frozenset((p.white, p.black)) for p in pairings}
        assert sorted(q for pair in chosen for q in pair) == sorted(rest)

        options = list(perfect_matchings(rest))
        repeats = {id(m): sum(pair in state.met for pair in m) for m in options}
        fewest = min(repeats.values())
        assert sum(pair in state.met for pair in chosen) == fewest
        clean = [
            m for m in options if repeats[id(m)] == 0 and not any(conflict(state, p) for p in m)
        ]
        if clean:
            assert not any(conflict(state, pair) for pair in chosen)
        best = clean or [m for m in options if repeats[id(m)] == fewest]
        leader = rest[0]
        got = opponent_score(state, leader, list(chosen))
        assert got == max(opponent_score(state, leader, m) for m in best)

        byes.extend(new_byes)
        for p in pairings:
            results.append((p.white, p.black, rng.choice([0.0, 0.5, 1.0])))
        after = SwissState.from_results(players, results, byes)
        worse = [p for p in players if 2 < abs(after.balance[p]) > abs(state.balance[p])]
        if worse:
            assert not clean
        if openings is not None:
            assert set(after.balance.values()) == {0}
    if rounds < n:
        assert all(count <= 1 for count in Counter(b.player for b in byes).values())
