"""Ratings of players from game results, with bootstrap intervals.

Pure: results in, a :class:`RatingTable` out; no I/O, no clock, no asyncio, so
the CLI, the web pages and benchmarks all rate a tournament the same way.

Model: Bradley-Terry with draws (Davidson 1970), fitted on all games at once.
Player ``i`` has a strength ``r_i`` (natural-log scale); the first mover
("white", seat 0) gets a bonus ``h``; ``nu`` sets how common draws are. With
``a = exp(r_white + h)`` and ``b = exp(r_black)``::

    P(white wins) = a / D,  P(draw) = nu * sqrt(a * b) / D,  P(black wins) = b / D,
    D = a + b + nu * sqrt(a * b)

Each ``r_i`` and ``h`` gets a weak Gaussian prior, mean 0 and sd ``ln 10``
nats (400 Elo: one sd is 10-to-1 odds), so a player who won or lost every game
still gets a finite rating and ``h`` stays finite when one seat always wins;
with a few dozen games per player the data outweigh it. ``log nu`` is kept in
``[ln 1e-6, ln 1e3]`` instead, so a tournament without draws fits
``nu ~ 1e-6`` rather than running off to zero. Ratings are reported on the
Elo scale (``elo = r * 400 / ln 10``), centred on a mean of 1500 or shifted so
that an anchor player has a given rating. The 95% intervals are percentiles
of a bootstrap over games, or over groups of games (e.g. both colours of a
paired opening), refitting every resample.

Why scipy: the fit is a smooth convex minimisation in ``n + 2`` parameters;
``scipy.optimize.minimize`` is a maintained, well-tested home for bounded
quasi-Newton solvers, so this module only writes the objective and its
gradient. It uses TNC (truncated Newton, plain C) rather than L-BFGS-B: since
scipy 1.15 L-BFGS-B calls BLAS/LAPACK, and with OpenBLAS's default threads on
a busy machine (engines and bots share it) the 200-resample bootstrap took
0.6-11 s instead of about 0.2 s (scipy issue #22438); TNC stays near 0.3 s.
scipy.optimize is imported with this module, before a server serves: imported
at the first fit, in a worker thread, its second of work held the GIL while the
event loop relayed moves (the crash test's bots played a quarter fewer moves).
Why not ``choix``: it fits Bradley-Terry from (winner, loser) pairs, with no
draw outcome and no first-move term, so draws and the first-move advantage
could not be estimated in the same fit as the strengths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize  # at import, not when fitting: see below

__all__ = ["ELO_PER_NAT", "PRIOR_SD_ELO", "GameResult", "Rating", "RatingTable", "rate"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

ELO_PER_NAT = 400.0 / math.log(10.0)
"""Elo points per natural-log unit of strength (``elo = r * ELO_PER_NAT``)."""
PRIOR_SD_ELO = 400.0
"""Sd of the Gaussian prior on each strength and on the first-move advantage, in Elo."""
_PRIOR_PRECISION = (ELO_PER_NAT / PRIOR_SD_ELO) ** 2
_LOG_NU_BOUNDS = (math.log(1e-6), math.log(1e3))
_MEAN_ELO = 1500.0
_SCORES = {1.0: 0, 0.5: 1, 0.0: 2}
"""Score -> outcome code: 0 white won, 1 draw, 2 black won."""
# The full fit runs once: stop only when f stops changing (ratings to ~1e-5 Elo).
_FULL_FIT = {"xtol": 0.0, "gtol": 0.0, "ftol": 0.0, "maxfun": 5000}
# Resamples start from the full fit and only feed percentiles: TNC's default
# stop moves ratings by far less than an Elo point and saves time.
_RESAMPLE_FIT = {"maxfun": 5000}


@dataclass(frozen=True, slots=True)
class GameResult:
    """The result of one finished game, as the rating model sees it."""

    white: str
    """Name of the player in seat 0, who moved first."""
    black: str
    """Name of the player in seat 1."""
    score: float
    """White's score: 1.0 white won, 0.5 draw, 0.0 black won."""
    group: str | None = None
    """Bootstrap unit: games with the same group are resampled together; ``None`` = alone."""


@dataclass(frozen=True, slots=True)
class Rating:
    """One player's rating, its 95% interval and record."""

    name: str
    elo: float
    low: float
    """2.5th bootstrap percentile (equal to ``elo`` when there was no resample to take it from)."""
    high: float
    """97.5th bootstrap percentile (likewise)."""
    games: int
    wins: int
    draws: int
    losses: int
    score: float
    """Points: one per win, a half per draw."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (Elo to 0.1)."""
        return {
            "name": self.name,
            "elo": round(self.elo, 1),
            "low": round(self.low, 1),
            "high": round(self.high, 1),
            "games": self.games,
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "score": self.score,
        }


@dataclass(frozen=True, slots=True)
class RatingTable:
    """Ratings of every player, strongest first, with the fitted game-wide terms."""

    players: list[Rating]
    white_advantage_elo: float
    """The first mover's bonus ``h`` in Elo (positive: moving first helps)."""
    draw_nu: float
    """Davidson's ``nu``: equal players draw with probability ``nu / (2 + nu)``."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "players": [p.to_json() for p in self.players],
            "white_advantage_elo": round(self.white_advantage_elo, 1),
            "draw_nu": round(self.draw_nu, 6),
        }


@dataclass(frozen=True, slots=True)
class _Games:
    """Games encoded for the fit: distinct (white, black, outcome) rows and per-game maps."""

    names: list[str]
    white: IntArray
    black: IntArray
    sign: FloatArray
    """Per row: +1 white won, 0 draw, -1 black won."""
    draw: FloatArray
    """Per row: 1.0 for a draw."""
    row_of_game: IntArray
    unit_of_game: IntArray
    n_units: int


def rate(
    results: Sequence[GameResult],
    *,
    anchor: tuple[str, float] | None = None,
    bootstrap: int = 200,
    seed: int = 0,
) -> RatingTable:
    """Rate every player in ``results`` on the Elo scale, with 95% bootstrap intervals.

    ``anchor=(name, elo)`` gives that player exactly ``elo`` and shifts everyone
    else (and every resample) by the same amount; without it the mean rating is
    1500. ``bootstrap`` is the number of resamples (0: no intervals, so
    ``low == high == elo``); ``seed`` makes them reproducible.

    No results give an empty table (with ``white_advantage_elo`` and ``draw_nu``
    0). Raises :class:`ValueError` for a score other than 1, 0.5 or 0, a game of
    a player against itself, or an unknown anchor.
    """
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    if not results:
        return RatingTable(players=[], white_advantage_elo=0.0, draw_nu=0.0)
    games = _encode(results)
    anchor_index: int | None = None
    if anchor is not None:
        if anchor[0] not in games.names:
            raise ValueError(
                f"unknown anchor player {anchor[0]!r}; players are: {', '.join(games.names)}"
            )
        anchor_index = games.names.index(anchor[0])

    n = len(games.names)
    row_weights = np.bincount(games.row_of_game, minlength=len(games.sign)).astype(np.float64)
    theta = _fit(games, row_weights, np.zeros(n + 2), _FULL_FIT)
    elo = _to_elo(theta[:n], np.ones(n, dtype=bool), anchor_index, anchor)
    low, high = _intervals(games, theta, anchor_index, anchor, bootstrap, seed)
    low = np.where(np.isnan(low), elo, low)
    high = np.where(np.isnan(high), elo, high)

    record = _record(results, games.names)
    players = [
        Rating(
            name=name,
            elo=float(elo[i]),
            low=float(low[i]),
            high=float(high[i]),
            games=sum(record[i]),
            wins=record[i][0],
            draws=record[i][1],
            losses=record[i][2],
            score=record[i][0] + 0.5 * record[i][1],
        )
        for i, name in enumerate(games.names)
    ]
    players.sort(key=lambda p: (-p.elo, p.name))
    return RatingTable(
        players=players,
        white_advantage_elo=float(theta[n]) * ELO_PER_NAT,
        draw_nu=math.exp(float(theta[n + 1])),
    )


def _encode(results: Sequence[GameResult]) -> _Games:
    """Map names to indices and collapse identical games into weighted rows (fewer terms)."""
    names = sorted({r.white for r in results} | {r.black for r in results})
    index = {name: i for i, name in enumerate(names)}
    units: dict[str, int] = {}
    keys = np.empty((len(results), 3), dtype=np.intp)
    unit_of_game = np.empty(len(results), dtype=np.intp)
    n_units = 0
    for g, result in enumerate(results):
        code = _SCORES.get(result.score)
        if code is None:
            raise ValueError(f"score must be 1.0, 0.5 or 0.0, got {result.score!r} in {result}")
        if result.white == result.black:
            raise ValueError(f"a player cannot play itself: {result}")
        keys[g] = (index[result.white], index[result.black], code)
        if result.group is None:
            unit_of_game[g] = n_units
            n_units += 1
        else:
            if result.group not in units:
                units[result.group] = n_units
                n_units += 1
            unit_of_game[g] = units[result.group]
    rows, row_of_game = np.unique(keys, axis=0, return_inverse=True)
    outcome = rows[:, 2]
    return _Games(
        names=names,
        white=rows[:, 0].copy(),
        black=rows[:, 1].copy(),
        sign=np.select([outcome == 0, outcome == 2], [1.0, -1.0], 0.0),
        draw=(outcome == 1).astype(np.float64),
        row_of_game=row_of_game.reshape(-1),
        unit_of_game=unit_of_game,
        n_units=n_units,
    )


def _objective(theta: FloatArray, games: _Games, weights: FloatArray) -> tuple[float, FloatArray]:
    """Negative log posterior and its gradient; ``theta = (r_0..r_{n-1}, h, log nu)``.

    Every probability depends on ``u = (r_white + h - r_black) / 2`` and ``nu``:
    ``log P = s*u + draw*log nu - L`` with ``s`` = +1/0/-1 for a white win, draw,
    black win and ``L = log(e^u + e^-u + nu)``, computed without overflow.
    """
    n = len(theta) - 2
    r, h, log_nu = theta[:n], theta[n], theta[n + 1]
    nu = math.exp(log_nu)
    u = 0.5 * (r[games.white] + h - r[games.black])
    a = np.abs(u)
    e1 = np.exp(-a)
    e2 = e1 * e1
    rest = 1.0 + e2 + nu * e1
    big_l = a + np.log(rest)
    log_lik = games.sign * u + games.draw * log_nu - big_l
    # dL/du = P(white) - P(black) = sign(u) * (1 - e^-2|u|) / rest; dL/dlog nu = P(draw).
    d_u = games.sign - np.sign(u) * (1.0 - e2) / rest
    d_log_nu = games.draw - nu * e1 / rest
    wd_u = -0.5 * weights * d_u
    grad = np.empty_like(theta)
    grad[:n] = np.bincount(games.white, wd_u, n) - np.bincount(games.black, wd_u, n)
    grad[:n] += _PRIOR_PRECISION * r
    grad[n] = wd_u.sum() + _PRIOR_PRECISION * h
    grad[n + 1] = -float(weights @ d_log_nu)
    value = -float(weights @ log_lik) + 0.5 * _PRIOR_PRECISION * (float(r @ r) + h * h)
    return value, grad


def _fit(
    games: _Games, weights: FloatArray, start: FloatArray, options: dict[str, Any]
) -> FloatArray:
    """The maximum a posteriori ``theta`` for games weighted by ``weights``."""
    n = len(start) - 2
    bounds = [(None, None)] * (n + 1) + [_LOG_NU_BOUNDS]
    x0 = start.copy()
    x0[n + 1] = min(max(x0[n + 1], _LOG_NU_BOUNDS[0]), _LOG_NU_BOUNDS[1])
    result = minimize(
        _objective,
        x0,
        args=(games, weights),
        jac=True,
        method="TNC",
        bounds=bounds,
        options=options,
    )
    theta: FloatArray = np.asarray(result.x, dtype=np.float64)
    if not np.all(np.isfinite(theta)):  # pragma: no cover - the objective is convex and smooth
        raise ArithmeticError(f"rating fit diverged: {result.message}")
    return theta


def _to_elo(
    r: FloatArray,
    present: npt.NDArray[np.bool_],
    anchor_index: int | None,
    anchor: tuple[str, float] | None,
) -> FloatArray:
    """Strengths to Elo, anchored or centred on the mean of the ``present`` players."""
    elo: FloatArray = r * ELO_PER_NAT
    if anchor_index is not None and anchor is not None:
        shift = anchor[1] - float(elo[anchor_index])
    else:
        shift = _MEAN_ELO - float(elo[present].mean())
    return elo + shift


def _resample_weights(games: _Games, rng: np.random.Generator) -> FloatArray:
    """Per-game weights of one bootstrap resample: units drawn with replacement, groups whole."""
    unit_counts = np.bincount(
        rng.integers(0, games.n_units, games.n_units), minlength=games.n_units
    )
    return unit_counts[games.unit_of_game].astype(np.float64)


def _intervals(
    games: _Games,
    theta: FloatArray,
    anchor_index: int | None,
    anchor: tuple[str, float] | None,
    bootstrap: int,
    seed: int,
) -> tuple[FloatArray, FloatArray]:
    """2.5/97.5 percentiles of each player's Elo over ``bootstrap`` refits (NaN: none).

    A player absent from a resample has no rating in it (that resample is left
    out of their interval); a resample without the anchor player is left out
    for everyone, since it cannot be anchored.
    """
    n = len(games.names)
    rng = np.random.default_rng(seed)
    samples = np.full((bootstrap, n), np.nan)
    for k in range(bootstrap):
        game_weights = _resample_weights(games, rng)
        played = np.bincount(games.row_of_game, game_weights, len(games.sign)).astype(np.float64)
        per_player = np.bincount(games.white, played, n) + np.bincount(games.black, played, n)
        present = per_player > 0
        if anchor_index is not None and not present[anchor_index]:
            continue
        fitted = _fit(games, played, theta, _RESAMPLE_FIT)
        samples[k, present] = _to_elo(fitted[:n], present, anchor_index, anchor)[present]
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    for i in range(n):
        column = samples[:, i][~np.isnan(samples[:, i])]
        if column.size:
            low[i], high[i] = np.percentile(column, [2.5, 97.5])
    return low, high


def _record(results: Sequence[GameResult], names: list[str]) -> list[tuple[int, int, int]]:
    """(wins, draws, losses) of each player, in the order of ``names``."""
    index = {name: i for i, name in enumerate(names)}
    counts = [[0, 0, 0] for _ in names]
    for result in results:
        w, b = index[result.white], index[result.black]
        if result.score == 1.0:
            counts[w][0] += 1
            counts[b][2] += 1
        elif result.score == 0.0:
            counts[w][2] += 1
            counts[b][0] += 1
        else:
            counts[w][1] += 1
            counts[b][1] += 1
    return [(c[0], c[1], c[2]) for c in counts]
