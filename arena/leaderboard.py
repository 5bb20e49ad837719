"""The leaderboard: ratings with intervals beside each player's speculation figures.

Built from what the store holds: finished games with a result (aborted and
interrupted games, result ``*``, do not count), rated together by
:func:`arena.ratings.rate`, and every stored move scored by
:func:`arena.accounting.account_game`, summed per bot. Used by
``arena leaderboard``, ``/api/leaderboard`` and the tournament views.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from arena.accounting import GameAccount, MoveAccount, account_game, account_player
from arena.ratings import GameResult, rate
from arena.store import GameRow, Store
from games import result_score

__all__ = [
    "Leaderboard",
    "LeaderboardRow",
    "build_leaderboard",
    "crosstable",
    "game_results",
    "tournament_anchor",
]


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    """One player's line."""

    rank: int
    name: str
    elo: float
    low: float
    high: float
    games: int
    wins: int
    draws: int
    losses: int
    score: float
    predicted: int
    """Opponent moves this player had a counted prediction for."""
    top1_accuracy: float | None
    topk_accuracy: float | None
    saved_s: float
    saved_share: float | None
    token_overhead: float | None
    median_response_ms: float | None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = round(value, 4)
        return data


@dataclass(frozen=True, slots=True)
class Leaderboard:
    rows: list[LeaderboardRow]
    white_advantage_elo: float | None
    games: int

    def to_json(self) -> dict[str, Any]:
        return {
            "games": self.games,
            "white_advantage_elo": None
            if self.white_advantage_elo is None
            else round(self.white_advantage_elo, 1),
            "players": [row.to_json() for row in self.rows],
        }


def game_results(games: list[GameRow]) -> list[GameResult]:
    """Rated results: finished games with a decisive or drawn result.

    The two games of a paired opening (same tournament, same pair, same
    opening) form one bootstrap group."""
    results = []
    for g in games:
        score = result_score(g.result)
        if g.status != "finished" or score is None:
            continue
        group = None
        if g.tournament_id and g.opening:
            pair = "|".join(sorted(g.players))
            group = f"{g.tournament_id}|{pair}|{g.opening}"
        results.append(GameResult(white=g.players[0], black=g.players[1], score=score, group=group))
    return results


async def build_leaderboard(
    store: Store,
    *,
    tournament_id: str | None = None,
    game: str | None = None,
    anchor: tuple[str, float] | None = None,
    bootstrap: int = 200,
    accounts: Callable[[list[GameRow]], Awaitable[list[GameAccount]]] | None = None,
) -> Leaderboard:
    """Ratings and speculation figures over the selected stored games.

    Without an explicit ``anchor``, a tournament's own anchor (from its file)
    applies. ``accounts`` gives games' accounting (by default computed from their
    stored moves; :class:`arena.boards.Boards` passes its cache). The fit, its
    bootstrap and the sums run in a worker thread, so a server answering
    ``/api/leaderboard`` keeps its games moving meanwhile."""
    if anchor is None and tournament_id is not None:
        anchor = await tournament_anchor(store, tournament_id)
    games = await store.list_games(limit=None, tournament_id=tournament_id, game=game)
    results = game_results(games)
    rated = [g for g in games if g.status == "finished" and result_score(g.result) is not None]

    async def stored_accounts(rows: list[GameRow]) -> list[GameAccount]:
        return [
            account_game(await store.get_moves(r.id), await store.get_predictions(r.id))
            for r in rows
        ]

    scored = list(zip(rated, await (accounts or stored_accounts)(rated), strict=True))
    return await asyncio.to_thread(_board, results, scored, anchor, bootstrap)


def _board(
    results: list[GameResult],
    accounts: list[tuple[GameRow, GameAccount]],
    anchor: tuple[str, float] | None,
    bootstrap: int,
) -> Leaderboard:
    table = rate(results, anchor=anchor, bootstrap=bootstrap) if results else None
    own_moves: dict[str, list[MoveAccount]] = defaultdict(list)
    responses: dict[str, list[float]] = defaultdict(list)
    for g, account in accounts:
        for m in account.moves:
            name = g.players[m.seat]
            own_moves[name].append(dataclasses.replace(m, seat=0))
            responses[name].append(float(m.response_ms))
    rows = []
    for rank, rating in enumerate(table.players if table else [], start=1):
        spec = account_player(0, own_moves.get(rating.name, []))
        times = responses.get(rating.name)
        rows.append(
            LeaderboardRow(
                rank=rank,
                name=rating.name,
                elo=rating.elo,
                low=rating.low,
                high=rating.high,
                games=rating.games,
                wins=rating.wins,
                draws=rating.draws,
                losses=rating.losses,
                score=rating.score,
                predicted=spec.predicted,
                top1_accuracy=spec.top1_accuracy,
                topk_accuracy=spec.topk_accuracy,
                saved_s=spec.saved_ms / 1000.0,
                saved_share=spec.saved_share,
                token_overhead=spec.token_overhead,
                median_response_ms=statistics.median(times) if times else None,
            )
        )
    return Leaderboard(
        rows=rows,
        white_advantage_elo=None if table is None else table.white_advantage_elo,
        games=len(results),
    )


async def tournament_anchor(store: Store, tournament_id: str) -> tuple[str, float] | None:
    """The anchor a tournament's file set (a player and its fixed rating), if any."""
    row = await store.get_tournament(tournament_id)
    anchor = None if row is None else row.config.get("anchor")
    return None if not anchor else (str(anchor[0]), float(anchor[1]))


def crosstable(games: list[GameRow]) -> dict[str, dict[str, list[float]]]:
    """``table[a][b]``: a's scores (1, 0.5, 0) in each rated game against b."""
    table: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in game_results(games):
        table[r.white][r.black].append(r.score)
        table[r.black][r.white].append(1.0 - r.score)
    return {a: dict(row) for a, row in table.items()}
