"""Swiss pairing: one round at a time, from the results so far.

Pure: names and results in, :class:`~arena.tournament.formats.Pairing` values
(and :class:`~arena.tournament.formats.Bye` values) out. Players are ranked by
score; the pairing avoids repeated pairings while a repeat-free pairing
exists (checked with a maximum matching, :mod:`.matching`), then colour
clashes, and pairs within score groups from the top down; colours go to
whoever had fewer whites; the bye goes to the lowest-ranked player without
one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from arena.tournament.formats import (
    BYE_POINTS,
    Bye,
    Pairing,
    TournamentError,
    _check_openings,
    _game_key,
    _names,
    _opening,
    _positive,
)
from arena.tournament.matching import maximum_matching

__all__ = ["SwissRound", "SwissState", "swiss_round"]

_WHITE, _BLACK = 0, 1


@dataclass(frozen=True, slots=True)
class SwissState:
    """What Swiss pairing needs to know about the rounds played so far."""

    players: tuple[str, ...]
    """All players, in seed order (the tiebreak between equal scores)."""
    scores: Mapping[str, float]
    """Points so far, byes included."""
    balance: Mapping[str, int]
    """Games with white minus games with black."""
    last_colour: Mapping[str, int | None]
    """The seat (0 white, 1 black) of each player's latest game, or ``None``."""
    met: frozenset[frozenset[str]]
    """The pairs of players that have already played each other."""
    byes: Mapping[str, int]
    """Byes received so far."""

    @classmethod
    def from_results(
        cls,
        players: Sequence[str],
        results: Iterable[tuple[str, str, float]],
        byes: Iterable[Bye] = (),
    ) -> SwissState:
        """Tally ``(white, black, score_for_white)`` results, in playing order, and byes."""
        names = _names(players)
        scores = dict.fromkeys(names, 0.0)
        balance = dict.fromkeys(names, 0)
        last: dict[str, int | None] = dict.fromkeys(names)
        byes_count = dict.fromkeys(names, 0)
        met: set[frozenset[str]] = set()
        for result in results:
            white, black, score = result
            if white not in scores or black not in scores or white == black:
                raise TournamentError(f"result {result!r} is not between two of {names}")
            if not 0.0 <= score <= 1.0:
                raise TournamentError(f"result {result!r}: the score must be between 0 and 1")
            scores[white] += score
            scores[black] += 1.0 - score
            balance[white] += 1
            balance[black] -= 1
            last[white], last[black] = _WHITE, _BLACK
            met.add(frozenset((white, black)))
        for bye in byes:
            if bye.player not in scores:
                raise TournamentError(f"bye {bye!r} is for none of {names}")
            scores[bye.player] += BYE_POINTS
            byes_count[bye.player] += 1
        return cls(tuple(names), scores, balance, last, frozenset(met), byes_count)

    def ranking(self) -> list[str]:
        """Players by score, best first; equal scores in seed order."""
        seed = {name: i for i, name in enumerate(self.players)}
        return sorted(self.players, key=lambda p: (-self.scores[p], seed[p]))


class SwissRound(NamedTuple):
    """The games of one Swiss round and its bye (at most one)."""

    pairings: list[Pairing]
    byes: list[Bye]


def swiss_round(
    players: Sequence[str],
    results: Iterable[tuple[str, str, float]],
    round_no: int,
    *,
    openings: int | None = None,
    book_size: int | None = None,
    byes: Iterable[Bye] = (),
) -> SwissRound:
    """Pair Swiss round ``round_no`` from the ``(white, black, score_for_white)`` results
    and the ``byes`` of the earlier rounds; ``players`` are in seed order.

    In order of priority:

    1. with an odd field, the bye goes to a player with the fewest byes so far;
    2. as few repeated pairings as possible (none while a repeat-free pairing exists);
    3. no two players who both need the same colour (two whites or two blacks
       ahead) meet, unless (2) leaves no other way;
    4. players meet others of their own score (top half against bottom half
       of the group); the best-ranked player gets the best-scored opponent
       that (1)-(3) allow, then the next, and so on. Among equally good byes,
       the lowest-ranked player gets it.

    Colours: the player with more blacks so far gets white; when equal, the one
    who was black last; else they alternate by board. With ``openings=N`` each
    pairing is ``N`` opening pairs, so colours stay balanced by construction.
    """
    _positive("round_no", round_no)
    _check_openings(openings, book_size)
    state = SwissState.from_results(players, results, byes)
    ranking = state.ranking()
    bye: str | None = None
    if len(ranking) % 2:
        bye = _choose_bye(state, ranking)
        ranking.remove(bye)
    out: list[Pairing] = []
    board = 0
    for table, (top, other) in enumerate(_pair(state, ranking)):
        white, black = _colours(state, top, other, round_no + table)
        if openings is None:
            board += 1
            out.append(
                Pairing(
                    round_no, white, black, None, _game_key(round_no, board, white, black, None)
                )
            )
            continue
        for k in range(openings):
            index = _opening(round_no - 1, k, openings, book_size)
            for w, b in ((white, black), (black, white)):
                board += 1
                out.append(Pairing(round_no, w, b, index, _game_key(round_no, board, w, b, index)))
    return SwissRound(out, [] if bye is None else [Bye(round_no, bye)])


_Edge = Callable[[str, str], bool]


def _colour_conflict(state: SwissState, a: str, b: str) -> bool:
    """Both players need the same colour: giving it to one would push the other past ±2."""
    ba, bb = state.balance[a], state.balance[b]
    return (ba >= 2 and bb >= 2) or (ba <= -2 and bb <= -2)


def _edge_kinds(state: SwissState) -> tuple[_Edge, _Edge]:
    def fresh(a: str, b: str) -> bool:
        return frozenset((a, b)) not in state.met

    def ideal(a: str, b: str) -> bool:
        return fresh(a, b) and not _colour_conflict(state, a, b)

    return ideal, fresh


def _choose_bye(state: SwissState, ranking: list[str]) -> str:
    """The bye: fewest byes so far, then the best pairing of the rest, then lowest rank."""
    fewest = min(state.byes[p] for p in ranking)
    ideal, fresh = _edge_kinds(state)
    best: tuple[tuple[int, int], str] | None = None
    for candidate in reversed(ranking):
        if state.byes[candidate] != fewest:
            continue
        rest = [p for p in ranking if p != candidate]
        if not _deficit(rest, ideal):
            return candidate
        quality = (1, _deficit(rest, fresh))
        if best is None or quality < best[0]:
            best = (quality, candidate)
    assert best is not None
    return best[1]


def _pair(state: SwissState, ranking: list[str]) -> list[tuple[str, str]]:
    """Pairs ``(higher ranked, lower ranked)`` covering ``ranking`` (an even count).

    Greedy from the top, with an exact look-ahead: a candidate opponent is
    taken only if the players left can still be paired with the fewest
    "bad" pairs possible, as computed by a maximum matching over the "good"
    pairs. Good means neither a repeat nor a colour conflict when such a
    perfect pairing exists, else not a repeat.
    """
    ideal, fresh = _edge_kinds(state)
    good = ideal if _deficit(ranking, ideal) == 0 else fresh
    remaining = list(ranking)
    budget = _deficit(remaining, good)
    pairs: list[tuple[str, str]] = []
    while remaining:
        top, rest = remaining[0], remaining[1:]
        for other in _candidates(state, top, rest):
            cost = 0 if good(top, other) else 1
            left = [p for p in rest if p != other]
            if cost + _deficit(left, good) == budget:
                pairs.append((top, other))
                remaining, budget = left, budget - cost
                break
        else:  # pragma: no cover - the optimal matching's partner always qualifies
            raise AssertionError(f"no opponent for {top!r} among {rest}")
    return pairs


def _candidates(state: SwissState, top: str, rest: list[str]) -> list[str]:
    """``top``'s opponents in order of preference.

    Own score group first, folded (top half against bottom half: with ``m``
    players in the group, ``top`` prefers the ``m // 2``-th below it), then
    lower groups in ranking order; within a group, no colour conflict first.
    """
    group = [p for p in rest if state.scores[p] == state.scores[top]]
    half = (len(group) + 1) // 2 - 1
    folded = group[half:] + group[:half][::-1]
    order = {p: i for i, p in enumerate(folded + [p for p in rest if p not in group])}
    return sorted(rest, key=lambda p: (-state.scores[p], _colour_conflict(state, top, p), order[p]))


def _colours(state: SwissState, top: str, other: str, parity: int) -> tuple[str, str]:
    """``(white, black)``: fewer whites so far gets white, then whoever was black last."""
    bt, bo = state.balance[top], state.balance[other]
    if bt != bo:
        return (top, other) if bt < bo else (other, top)
    lt, lo = state.last_colour[top], state.last_colour[other]
    if lt != lo:
        return (top, other) if lt == _BLACK or lo == _WHITE else (other, top)
    return (top, other) if parity % 2 == 1 else (other, top)


def _deficit(players: list[str], good: _Edge) -> int:
    """The fewest not-``good`` pairs in any pairing of ``players`` (an even count)."""
    index = range(len(players))
    adjacent = [[j for j in index if j != i and good(players[i], players[j])] for i in index]
    mate = maximum_matching(adjacent)
    return (len(players) - sum(1 for m in mate if m >= 0)) // 2
