"""What each page shows, gathered from the store (the templates only lay it out).

Every figure comes from the same code as the JSON API and the CLI:
:func:`arena.leaderboard.build_leaderboard`, :func:`arena.records.game_detail`,
:func:`arena.accounting.account_game`, :func:`arena.ratings.rate`.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

from arena.boards import Boards
from arena.leaderboard import (
    Leaderboard,
    crosstable,
    game_results,
    tournament_anchor,
)
from arena.ratings import rate
from arena.records import game_detail, game_summary
from arena.store import GameRow, Store, TournamentRow
from arena.tournament.config import TournamentConfigError, config_from_dict
from arena.tournament.formats import TournamentError, planned_games
from arena.tournament.openings import OpeningError, bundled_openings, load_openings
from games import GameError, available_games, get_game, result_score
from web.charts import Series, interval_bar, line_chart
from web.timeline import build_timeline

__all__ = [
    "game_view",
    "games_view",
    "leaderboard_view",
    "player_view",
    "tournament_view",
    "tournaments_view",
]

RATING_CHECKPOINTS = 40
"""At most this many refits for a player's rating over time."""
PLAYER_GAMES = 300
"""A player's page scores at most this many of its latest games."""


async def leaderboard_view(
    boards: Boards, game: str | None, tournament: str | None
) -> dict[str, Any]:
    """The leaderboard (optionally of one game and/or tournament) and the filter choices."""
    store = boards.store
    board = await boards.leaderboard(tournament_id=tournament, game=game)
    tournaments = await store.list_tournaments()
    recent = await store.list_games(limit=10, tournament_id=tournament, game=game)
    return {
        "recent": [game_summary(g) for g in recent],
        "board": board,
        "bars": _bars(board),
        "game": game or "",
        "tournament": tournament or "",
        "games": _games(),
        "tournaments": tournaments,
        "tournament_row": next((t for t in tournaments if t.id == tournament), None),
    }


@functools.cache
def _games() -> list[str]:
    # Entry points are read once: looking them up took 6 ms per page.
    return available_games()


def _bars(board: Leaderboard) -> dict[str, Any]:
    """Each player's interval bar, all on one scale."""
    if not board.rows:
        return {}
    lo = min(r.low for r in board.rows)
    hi = max(r.high for r in board.rows)
    pad = max(10.0, (hi - lo) * 0.05)
    return {
        r.name: interval_bar(
            r.low,
            r.elo,
            r.high,
            lo - pad,
            hi + pad,
            label=f"{r.name}: {r.elo:.0f}, 95% interval {r.low:.0f} to {r.high:.0f}",
        )
        for r in board.rows
    }


@dataclass(frozen=True, slots=True)
class TournamentLine:
    row: TournamentRow
    finished: int
    planned: int | None
    players: list[str]


async def tournaments_view(store: Store) -> dict[str, Any]:
    """Every tournament with its progress."""
    lines = []
    for t in await store.list_tournaments():
        games = await store.list_games(limit=None, tournament_id=t.id)
        lines.append(_line(t, games))
    return {"tournaments": lines}


def _line(t: TournamentRow, games: list[GameRow]) -> TournamentLine:
    finished = sum(
        1 for g in games if g.status == "finished" and result_score(g.result) is not None
    )
    players = [str(p.get("name", "?")) for p in t.config.get("players", [])]
    return TournamentLine(t, finished, planned_total(t.config), players)


def planned_total(config: dict[str, Any]) -> int | None:
    """How many games a stored tournament plans (as its runner counts them); ``None``
    when the stored configuration no longer loads (e.g. its openings file is gone)."""
    try:
        cfg = config_from_dict(config, source="stored tournament")
        count: int | None = None
        if cfg.openings != "none":
            book = bundled_openings() if cfg.openings == "bundled" else load_openings(cfg.openings)
            count = min(cfg.opening_pairs, len(book)) if book else None
        return planned_games(
            cfg.format, cfg.player_names, cycles=cfg.cycles, openings=count, rounds=cfg.rounds
        )
    except (TournamentConfigError, TournamentError, OpeningError, OSError):
        return None


async def tournament_view(boards: Boards, tournament_id: str) -> dict[str, Any] | None:
    """One tournament: progress, leaderboard, crosstable and games; ``None`` if unknown."""
    store = boards.store
    row = await store.get_tournament(tournament_id)
    if row is None:
        return None
    games = await store.list_games(limit=None, tournament_id=tournament_id)
    board = await boards.leaderboard(tournament_id=tournament_id)
    table = crosstable(games)
    names = [r.name for r in board.rows] or _line(row, games).players
    cells = {a: {b: (sum(table[a][b]), len(table[a][b])) for b in table.get(a, {})} for a in names}
    ordered = sorted(games, key=lambda g: (g.round or 0, g.pairing_key or "", g.created_at))
    return {
        "t": row,
        "line": _line(row, games),
        "board": board,
        "bars": _bars(board),
        "names": names,
        "cells": cells,
        "games": [game_summary(g) | {"round": g.round, "opening": g.opening} for g in ordered],
        "live": [g.id for g in games if g.status == "active"],
    }


async def games_view(store: Store, status: str | None) -> dict[str, Any]:
    """Recent games (optionally only those with ``status``)."""
    rows = await store.list_games(limit=200, status=status or None)
    return {"games": [game_summary(r) for r in rows], "status": status or ""}


async def game_view(store: Store, game_id: str) -> dict[str, Any] | None:
    """A game's record and timeline, as the replay page embeds them; ``None`` if unknown."""
    detail = await game_detail(store, game_id)
    row = await store.get_game(game_id)
    if detail is None or row is None:
        return None
    return {"detail": detail, "timeline": build_timeline(row, await store.get_moves(game_id))}


async def timeline_json(store: Store, game_id: str) -> dict[str, Any] | None:
    """``/api/games/{id}/timeline``."""
    row = await store.get_game(game_id)
    if row is None:
        return None
    return build_timeline(row, await store.get_moves(game_id))


async def player_view(
    boards: Boards, name: str, game: str | None, tournament: str | None
) -> dict[str, Any] | None:
    """A player's rating over time, results and speculation per game; ``None`` if unknown."""
    store = boards.store
    bot = await store.bot_by_name(name)
    if bot is None:
        return None

    async def finished_part() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        # Changes only when a game finishes: computed once per change of the results.
        pool = await store.list_games(
            limit=None, game=game, tournament_id=tournament, status="finished"
        )
        chrono = sorted(
            (g for g in pool if result_score(g.result) is not None),
            key=lambda g: (g.finished_at or g.created_at, g.id),
        )
        anchor = None if tournament is None else await tournament_anchor(store, tournament)
        ratings = await asyncio.to_thread(_rating_history, chrono, name, anchor)
        mine = [g for g in pool if name in g.players][:PLAYER_GAMES]  # newest first
        await boards.accounts(mine)  # in bulk, off the loop: the rows below find them cached
        return ratings, [await _result_row(boards, g, name) for g in mine]

    ratings, done = await boards.derived(("player", name, game, tournament), finished_part)
    live = [
        g
        for status in ("active", "created")
        for g in await store.list_games(
            limit=PLAYER_GAMES, status=status, bot=name, game=game, tournament_id=tournament
        )
    ]
    results = [await _result_row(boards, g, name) for g in live] + done
    results.sort(key=lambda r: (r["game"]["created_at"] or "", r["game"]["id"]), reverse=True)
    results = results[:PLAYER_GAMES]
    board = await boards.leaderboard(tournament_id=tournament, game=game)
    summary = next((r for r in board.rows if r.name == name), None)
    chrono_results = list(reversed(results))
    accuracy = [
        Series(
            "top-1 accuracy",
            [(i, _pct(r["top1"])) for i, r in enumerate(chrono_results, 1)],
            "s0",
        ),
        Series(
            "top-k accuracy",
            [(i, _pct(r["topk"])) for i, r in enumerate(chrono_results, 1)],
            "s1",
        ),
    ]
    saved = [
        Series(
            "time saved",
            [(i, _pct(r["saved_share"])) for i, r in enumerate(chrono_results, 1)],
            "s2",
        )
    ]
    return {
        "bot": bot,
        "summary": summary,
        "game": game or "",
        "tournament": tournament or "",
        "ratings": ratings,
        "rating_chart": line_chart(
            [Series("rating", [(p["games"], p["elo"]) for p in ratings], "s0")],
            title=f"{name}: rating after each of its rated games",
            y_label="rating (Elo)",
            x_label="games played",
        ),
        "accuracy_chart": line_chart(
            accuracy,
            title=f"{name}: prediction accuracy per game, oldest first",
            y_label="accuracy (%)",
            x_label="game",
            y_range=(0.0, 100.0),
        ),
        "saved_chart": line_chart(
            saved,
            title=f"{name}: share of actor time saved per game, oldest first",
            y_label="saved (%)",
            x_label="game",
        ),
        "results": results,
    }


async def _result_row(boards: Boards, g: GameRow, name: str) -> dict[str, Any]:
    """One line of a player's results: the game, the outcome and its speculation figures."""
    seat = g.players.index(name)
    spec = (await boards.account(g)).players[seat]
    score = result_score(g.result)
    points = None if score is None else (score if seat == 0 else 1.0 - score)
    return {
        "game": game_summary(g),
        "seat": seat,
        "seat_name": _seat_name(g.game, seat),
        "opponent": g.players[1 - seat],
        "outcome": {1.0: "win", 0.5: "draw", 0.0: "loss"}.get(points, "-")
        if points is not None
        else "-",
        "predicted": spec.predicted,
        "top1": spec.top1_accuracy,
        "topk": spec.topk_accuracy,
        "saved_ms": spec.saved_ms,
        "saved_share": spec.saved_share,
    }


def _seat_name(game: str, seat: int) -> str:
    try:
        return get_game(game).info.seats[seat]
    except GameError:
        return f"seat {seat}"


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100.0, 1)


def _rating_history(
    chrono: list[GameRow], name: str, anchor: tuple[str, float] | None
) -> list[dict[str, Any]]:
    """The player's rating fitted on the games up to each of its games (at most
    :data:`RATING_CHECKPOINTS` fits, evenly spread, always including the last)."""
    own = [i for i, g in enumerate(chrono) if name in g.players]
    if not own:
        return []
    step = max(1, -(-len(own) // RATING_CHECKPOINTS))
    picks = [own[j] for j in range(step - 1, len(own), step)]
    if picks[-1] != own[-1]:
        picks.append(own[-1])
    history = []
    for index in picks:
        results = game_results(chrono[: index + 1])
        names = {r.white for r in results} | {r.black for r in results}
        table = rate(results, anchor=anchor if anchor and anchor[0] in names else None, bootstrap=0)
        rating = next(p for p in table.players if p.name == name)
        history.append(
            {
                "games": own.index(index) + 1,
                "elo": round(rating.elo, 1),
                "after": chrono[index].id,
            }
        )
    return history
