"""Tournament formats: who plays whom, in which round, with which colours and opening.

Everything here is pure: player names and results in, :class:`Pairing` values
out. A round-robin or a gauntlet is planned all at once (:func:`round_robin`,
:func:`gauntlet`, :func:`plan`); a Swiss tournament is paired one round at a
time from the results so far (:func:`swiss_round`).

Openings come as a count: ``openings=N`` means every pairing plays ``N``
*opening pairs*, i.e. each of the openings ``0 .. N-1`` twice with colours
swapped, so that neither player profits from a lopsided opening. Given
``book_size`` (the number of openings available), later cycles (or Swiss
rounds) move on to the next ``N`` openings of the book instead of repeating the
first ones. Without openings, colours alternate from one cycle to the next.

Every pairing carries a ``key`` that is unique within its tournament and the
same whenever the same tournament is planned again (the plan is
deterministic), so a runner can resume by skipping the keys it has finished.

Exceptions::

    TournamentError(ValueError)     bad players, counts or results
    └── OpeningError                (in :mod:`arena.tournament.openings`)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

__all__ = [
    "BYE_POINTS",
    "Bye",
    "Format",
    "Pairing",
    "SwissRound",
    "SwissState",
    "TournamentError",
    "gauntlet",
    "plan",
    "planned_games",
    "round_robin",
    "swiss_round",
]

BYE_POINTS = 1.0
"""What a Swiss bye scores."""

_WHITE, _BLACK = 0, 1


class TournamentError(ValueError):
    """A tournament that cannot be planned as asked; the message quotes the bad input."""


class Format(StrEnum):
    """The tournament formats, by their names in tournament files."""

    ROUND_ROBIN = "round-robin"
    """Everyone meets everyone, ``cycles`` times."""
    GAUNTLET = "gauntlet"
    """One player (the hero) meets each of the others, ``cycles`` times."""
    SWISS = "swiss"
    """A fixed number of rounds, each paired by score from the results so far."""

    @classmethod
    def parse(cls, value: Format | str) -> Format:
        """The format named ``value``; raises :class:`TournamentError` naming the valid ones."""
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(f.value for f in cls)
            raise TournamentError(f"unknown format {value!r}; valid: {valid}") from None


@dataclass(frozen=True, slots=True)
class Pairing:
    """One planned game."""

    round: int
    """The round it belongs to, from 1; a player plays at most once per round-robin round."""
    white: str
    """The player in seat 0 (moves first)."""
    black: str
    """The player in seat 1."""
    opening_index: int | None
    """Index into the opening book, or ``None`` to start from the initial position."""
    key: str
    """A stable id of this game, unique within the tournament (for resuming)."""


@dataclass(frozen=True, slots=True)
class Bye:
    """A Swiss round without a game for ``player``, who scores :data:`BYE_POINTS`."""

    round: int
    player: str

    @property
    def key(self) -> str:
        """A stable id of this bye, in the same namespace as :attr:`Pairing.key`."""
        return f"r{self.round}-bye-{self.player}"


def _game_key(round_no: int, board: int, white: str, black: str, opening: int | None) -> str:
    # (round, board) alone makes the key unique; the rest makes it readable.
    suffix = "" if opening is None else f"-o{opening}"
    return f"r{round_no}-g{board}-{white}-{black}{suffix}"


def _names(players: Iterable[str], *, minimum: int = 2) -> list[str]:
    names = list(players)
    for name in names:
        if not isinstance(name, str) or not name:
            raise TournamentError(f"player names must be non-empty strings, got {name!r}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TournamentError(f"player names must be distinct; repeated: {duplicates}")
    if len(names) < minimum:
        raise TournamentError(f"need at least {minimum} players, got {names}")
    return names


def _positive(what: str, value: int | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TournamentError(f"{what} must be a whole number >= 1, got {value!r}")


def _check_openings(openings: int | None, book_size: int | None) -> None:
    _positive("openings", openings, optional=True)
    _positive("book_size", book_size, optional=True)
    if book_size is not None and openings is not None and openings > book_size:
        raise TournamentError(f"openings={openings} is more than the book holds ({book_size})")


def _opening(stage: int, k: int, openings: int, book_size: int | None) -> int:
    """The book index of the ``k``-th opening of a cycle (or Swiss round) ``stage``."""
    return k if book_size is None else (stage * openings + k) % book_size


# --------------------------------------------------------------------- planned formats


def _berger_rounds(players: Sequence[str]) -> list[list[tuple[str, str]]]:
    """Single round-robin rounds by the circle method, as ``(white, black)`` pairs.

    One seat stays fixed (a dummy for an odd field, whose games are byes) while
    the others rotate. A rotating player is white in the top row and black in
    the bottom row, which it visits equally often, and the fixed seat
    alternates; so every player's whites and blacks differ by at most one.
    """
    seats: list[str | None] = [*players, None] if len(players) % 2 else list(players)
    fixed, rotating = seats[-1], seats[:-1]
    n = len(seats)
    rounds: list[list[tuple[str, str]]] = []
    for r in range(n - 1):
        ring = rotating[r:] + rotating[:r]
        table = [(fixed, ring[-1]) if r % 2 == 0 else (ring[-1], fixed)]
        table += [(ring[i - 1], ring[n - 2 - i]) for i in range(1, n // 2)]
        rounds.append([(w, b) for w, b in table if w is not None and b is not None])
    return rounds


def _expand(
    schedule: Sequence[Sequence[tuple[str, str]]],
    cycles: int,
    openings: int | None,
    book_size: int | None,
) -> list[Pairing]:
    """Repeat ``schedule`` for each cycle, as single games or as opening pairs."""
    out: list[Pairing] = []
    round_no = 0
    for cycle in range(cycles):
        for games in schedule:
            if openings is None:
                round_no += 1
                for board, (w, b) in enumerate(games, 1):
                    w, b = (b, w) if cycle % 2 else (w, b)
                    out.append(
                        Pairing(round_no, w, b, None, _game_key(round_no, board, w, b, None))
                    )
                continue
            for k in range(openings):
                index = _opening(cycle, k, openings, book_size)
                for swap in (False, True):
                    round_no += 1
                    for board, (w, b) in enumerate(games, 1):
                        w, b = (b, w) if swap else (w, b)
                        key = _game_key(round_no, board, w, b, index)
                        out.append(Pairing(round_no, w, b, index, key))
    return out


def round_robin(
    players: Sequence[str],
    *,
    cycles: int = 1,
    openings: int | None = None,
    book_size: int | None = None,
) -> list[Pairing]:
    """Every pair of ``players`` meets ``cycles`` times (per opening pair, when given).

    Rounds come from the circle method, so nobody plays twice in a round. With
    ``openings=N`` each meeting is ``N`` opening pairs, each opening in two
    consecutive rounds with colours swapped; without, a pair's colours
    alternate between cycles, and each player's whites and blacks over the
    whole schedule differ by at most one.
    """
    names = _names(players)
    _positive("cycles", cycles)
    _check_openings(openings, book_size)
    return _expand(_berger_rounds(names), cycles, openings, book_size)


def gauntlet(
    hero: str,
    field: Sequence[str],
    *,
    cycles: int = 1,
    openings: int | None = None,
    book_size: int | None = None,
) -> list[Pairing]:
    """``hero`` meets each player of ``field`` ``cycles`` times, one game per round.

    Colours are balanced as in :func:`round_robin`: by opening pairs when
    ``openings`` is given, else alternating per opponent and per cycle.
    """
    names = _names([hero, *field])
    _positive("cycles", cycles)
    _check_openings(openings, book_size)
    schedule = [
        [(hero, rival) if j % 2 == 0 else (rival, hero)] for j, rival in enumerate(names[1:])
    ]
    return _expand(schedule, cycles, openings, book_size)


def plan(
    format: Format | str,
    players: Sequence[str],
    *,
    cycles: int = 1,
    openings: int | None = None,
    book_size: int | None = None,
    hero: str | None = None,
) -> list[Pairing]:
    """All games of a round-robin or gauntlet (hero: ``hero``, else the first player).

    Swiss tournaments depend on results, so they are paired by :func:`swiss_round`.
    """
    fmt = Format.parse(format)
    if fmt is Format.ROUND_ROBIN:
        return round_robin(players, cycles=cycles, openings=openings, book_size=book_size)
    if fmt is Format.GAUNTLET:
        names = _names(players)
        star = names[0] if hero is None else hero
        if star not in names:
            raise TournamentError(f"the hero {star!r} is not one of the players {names}")
        rest = [n for n in names if n != star]
        return gauntlet(star, rest, cycles=cycles, openings=openings, book_size=book_size)
    raise TournamentError("a swiss tournament is paired round by round: use swiss_round()")


def planned_games(
    format: Format | str,
    players: Sequence[str],
    *,
    cycles: int = 1,
    openings: int | None = None,
    rounds: int | None = None,
) -> int:
    """How many games the tournament will have, for progress bars.

    A gauntlet's hero is one of ``players``. Swiss needs ``rounds``; its count
    is ``rounds * floor(n / 2)`` pairings (byes are not games).
    """
    fmt = Format.parse(format)
    n = len(_names(players))
    _positive("cycles", cycles)
    _positive("openings", openings, optional=True)
    per_pairing = 1 if openings is None else 2 * openings
    if fmt is Format.ROUND_ROBIN:
        return n * (n - 1) // 2 * cycles * per_pairing
    if fmt is Format.GAUNTLET:
        return (n - 1) * cycles * per_pairing
    _positive("rounds", rounds)
    assert rounds is not None
    return rounds * (n // 2) * per_pairing


# --------------------------------------------------------------------------- Swiss


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
    mate = _maximum_matching(adjacent)
    return (len(players) - sum(1 for m in mate if m >= 0)) // 2


def _maximum_matching(adjacent: list[list[int]]) -> list[int]:
    """A maximum matching of a general graph (Edmonds' blossom algorithm).

    ``adjacent[v]`` lists the neighbours of ``v``; the result maps each vertex
    to its mate, or ``-1``. O(V³), plenty for tournament fields.
    """
    n = len(adjacent)
    mate = [-1] * n
    for v in range(n):  # a greedy start saves most of the searches
        if mate[v] < 0:
            for u in adjacent[v]:
                if mate[u] < 0:
                    mate[v], mate[u] = u, v
                    break
    for root in range(n):
        if mate[root] < 0:
            _augment(root, adjacent, mate)
    return mate


def _augment(root: int, adjacent: list[list[int]], mate: list[int]) -> None:
    """Grow an alternating tree from the free vertex ``root``; flip the path if one is found."""
    n = len(adjacent)
    parent = [-1] * n
    base = list(range(n))
    in_tree = [False] * n
    in_tree[root] = True
    queue = deque([root])

    def common_base(a: int, b: int) -> int:
        seen = [False] * n
        while True:
            a = base[a]
            seen[a] = True
            if mate[a] < 0:
                break
            a = parent[mate[a]]
        while True:
            b = base[b]
            if seen[b]:
                return b
            b = parent[mate[b]]

    def mark(v: int, stop: int, child: int, blossom: list[bool]) -> None:
        while base[v] != stop:
            blossom[base[v]] = blossom[base[mate[v]]] = True
            parent[v] = child
            child = mate[v]
            v = parent[mate[v]]

    while queue:
        v = queue.popleft()
        for u in adjacent[v]:
            if base[v] == base[u] or mate[v] == u:
                continue
            if u == root or (mate[u] >= 0 and parent[mate[u]] >= 0):
                stop = common_base(v, u)
                blossom = [False] * n
                mark(v, stop, u, blossom)
                mark(u, stop, v, blossom)
                for i in range(n):
                    if blossom[base[i]]:
                        base[i] = stop
                        if not in_tree[i]:
                            in_tree[i] = True
                            queue.append(i)
            elif parent[u] < 0:
                parent[u] = v
                if mate[u] < 0:
                    while u >= 0:  # flip the augmenting path back to the root
                        v = parent[u]
                        after = mate[v]
                        mate[u], mate[v] = v, u
                        u = after
                    return
                in_tree[mate[u]] = True
                queue.append(mate[u])
