"""Stored games as plain JSON-ready records and PGN: shared by the API and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arena.accounting import account_game
from arena.store import GameRow, Store
from games import get_game
from games.chess import to_pgn

__all__ = ["NotChessError", "game_detail", "game_pgn", "game_summary"]


class NotChessError(ValueError):
    """PGN export was asked for a game that is not chess."""


def _iso(ms: float | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def game_summary(row: GameRow) -> dict[str, Any]:
    """One line of a game listing."""
    return {
        "id": row.id,
        "game": row.game,
        "players": list(row.players),
        "status": row.status,
        "result": row.result,
        "winner": row.winner,
        "reason": row.reason,
        "plies": row.ply,
        "time_control": row.time_control,
        "max_plies": row.max_plies,
        "clocks_ms": list(row.clocks),
        "created_at": _iso(row.created_at),
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "tournament_id": row.tournament_id,
    }


async def game_detail(store: Store, game_id: str) -> dict[str, Any] | None:
    """A game with every move (timestamps, timings, clocks, client figures) and prediction.

    ``speculation`` scores the predictions and savings (:mod:`arena.accounting`):
    ``{"moves": [...], "players": [...]}``, one entry per move and per seat.
    """
    row = await store.get_game(game_id)
    if row is None:
        return None
    moves = await store.get_moves(game_id)
    predictions = await store.get_predictions(game_id)
    detail = game_summary(row)
    detail["initial_state"] = row.initial_state
    detail["state"] = row.state
    detail["seat_names"] = list(get_game(row.game).info.seats)
    detail["moves"] = [
        {
            "ply": m.ply,
            "seat": m.seat,
            "move": m.move,
            "display": m.display,
            "state_after": m.state_after,
            "turn_started_at": _iso(m.turn_started_at),
            "received_at": _iso(m.received_at),
            "committed_at": _iso(m.committed_at),
            "response_ms": m.response_ms,
            "commit_ms": round(m.committed_at - m.received_at, 3),
            "clocks_ms": list(m.clocks),
            "meta": m.meta or {},
        }
        for m in moves
    ]
    detail["predictions"] = [
        {
            "ply": p.ply,
            "seat": p.seat,
            "moves": p.moves,
            "probs": p.probs,
            "received_at": _iso(p.received_at),
        }
        for p in predictions
    ]
    detail["speculation"] = account_game(moves, predictions).to_json(row.players)
    return detail


async def game_pgn(store: Store, game_id: str) -> str | None:
    """The game as PGN (chess only); ``None`` when there is no such game."""
    row = await store.get_game(game_id)
    if row is None:
        return None
    if row.game != "chess":
        raise NotChessError(f"game {game_id!r} is {row.game!r}; PGN export is for chess only")
    moves = [m.move for m in await store.get_moves(game_id)]
    started = row.started_at or row.created_at
    headers = {
        "Event": "Speculative Arena" + (f" {row.tournament_id}" if row.tournament_id else ""),
        "Site": f"arena game {row.id}",
        "Date": datetime.fromtimestamp(started / 1000, UTC).strftime("%Y.%m.%d"),
        "Round": "-",
        "White": row.players[0],
        "Black": row.players[1],
        "TimeControl": _pgn_time_control(row.time_control),
        "Termination": row.reason or "unterminated",
        "GameId": row.id,
    }
    start_fen = get_game("chess").encode_state(get_game("chess").initial_state())
    initial = None if row.initial_state == start_fen else row.initial_state
    return to_pgn(moves, headers=headers, initial_fen=initial, result=row.result or "*")


def _pgn_time_control(tc: str) -> str:
    """The PGN TimeControl tag: ``60+1`` as is, ``5/move`` as ``1/5``, no clock as ``-``."""
    if tc == "none":
        return "-"
    if tc.endswith("/move"):
        return "1/" + tc.removesuffix("/move")  # one move per period of N seconds
    return tc
