"""Tournaments: formats (who plays whom), opening books, and the runner that plays them.

The planning half is pure and re-exported here: :mod:`.formats` pairs players
(round-robin, gauntlet, Swiss) into :class:`Pairing` values, and
:mod:`.openings` reads opening books. The runner and the command line, which
do the I/O, live in their own modules and are imported from there.

Exceptions::

    TournamentError(ValueError)     a tournament that cannot be planned as asked
    └── OpeningError                an opening book that cannot be used
"""

from __future__ import annotations

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
from arena.tournament.openings import (
    OPENING_GAMES,
    Opening,
    OpeningError,
    bundled_openings,
    load_openings,
    opening_start,
    parse_openings,
)
from arena.tournament.swiss import SwissRound, SwissState, swiss_round

__all__ = [
    "BYE_POINTS",
    "OPENING_GAMES",
    "Bye",
    "Format",
    "Opening",
    "OpeningError",
    "Pairing",
    "SwissRound",
    "SwissState",
    "TournamentError",
    "bundled_openings",
    "gauntlet",
    "load_openings",
    "opening_start",
    "parse_openings",
    "plan",
    "planned_games",
    "round_robin",
    "swiss_round",
]
