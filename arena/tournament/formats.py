"""Tournament formats: who plays whom, in which round, with which colours and opening.

Everything here is pure: player names and results in, :class:`Pairing` values
out. A round-robin or a gauntlet is planned all at once (:func:`round_robin`,
:func:`gauntlet`, :func:`plan`); a Swiss tournament is paired one round at a
time from the results so far (:func:`arena.tournament.swiss.swiss_round`).

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "BYE_POINTS",
    "Bye",
    "Format",
    "Pairing",
    "TournamentError",
    "gauntlet",
    "plan",
    "planned_games",
    "round_robin",
]

BYE_POINTS = 1.0
"""What a Swiss bye scores."""


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
