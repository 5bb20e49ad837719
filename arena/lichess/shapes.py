"""The lichess Bot API's JSON shapes, built from the arena's own game view (pure).

Field names, enums and units follow lichess's published specification
(``lichess-org/api``: ``GameFullEvent``, ``GameStateEvent``, ``GameEventInfo``,
``GameStatusName``): clocks in milliseconds, moves as one space-separated UCI
string, colours ``white``/``black``. Nothing here does I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import chess

from arena.clock import TimeControl

__all__ = [
    "NO_CLOCK_MS",
    "STATUS_IDS",
    "GameView",
    "account",
    "chat_line",
    "event_game",
    "game_full",
    "game_state",
    "lichess_status",
    "ndjson",
    "speed_of",
    "user_id",
    "user_status",
]

NO_CLOCK_MS = 2_147_483_647
"""What lichess sends as a clock for games without one (correspondence): int32 max."""

STATUS_IDS = {
    "created": 10,
    "started": 20,
    "aborted": 25,
    "mate": 30,
    "resign": 31,
    "stalemate": 32,
    "timeout": 33,
    "draw": 34,
    "outoftime": 35,
    "cheat": 36,
    "noStart": 37,
    "unknownFinish": 38,
    "variantEnd": 60,
}
"""lichess's ``GameStatusName`` values and their numeric ids."""

_REASONS = {
    "checkmate": "mate",
    "stalemate": "stalemate",
    "resign": "resign",
    "timeout": "outoftime",
    "abandoned": "timeout",  # lichess: "the opponent left the game"
    "aborted": "aborted",
    "engine_error": "aborted",
    "interrupted": "unknownFinish",
    "illegal_move": "cheat",
    "insufficient_material": "draw",
    "seventyfive_moves": "draw",
    "fivefold_repetition": "draw",
    "fifty_moves": "draw",
    "threefold_repetition": "draw",
    "max_plies": "draw",
}

_VARIANT = {"key": "standard", "name": "Standard", "short": "Std"}
_COLORS = ("white", "black")


def lichess_status(finished: bool, reason: str | None, winner: int | None) -> str:
    """The ``GameStatusName`` of an arena game: ``started`` until it ends, then its
    reason mapped onto lichess's (an unknown reason is a draw without a winner,
    ``unknownFinish`` with one)."""
    if not finished:
        return "started"
    if reason in _REASONS:
        return _REASONS[reason]
    return "unknownFinish" if winner is not None else "draw"


def speed_of(control: TimeControl) -> str:
    """lichess's speed category for a time control (estimated duration
    ``initial + 40 * increment``; per-move controls count 40 moves)."""
    if control.unlimited:
        return "correspondence"
    estimate_s = (
        (control.base_ms + 40 * control.increment_ms) / 1000
        if control.base_ms is not None
        else 40 * (control.per_move_ms or 0) / 1000
    )
    for limit, name in ((29, "ultraBullet"), (179, "bullet"), (479, "blitz"), (1499, "rapid")):
        if estimate_s < limit:
            return name
    return "classical"


def user_id(name: str) -> str:
    """A lichess user id: the name in lower case."""
    return name.lower()


@dataclass
class GameView:
    """What a lichess client may know of one chess game, kept current from the
    host's events (``game_start``, ``state``, ``game_over``)."""

    id: str
    seat: int
    """The lichess bot's seat: 0 white, 1 black."""
    players: tuple[str, str]
    initial_fen: str
    time_control: TimeControl
    moves: list[str] = field(default_factory=list)
    clocks: tuple[int | None, int | None] = (None, None)
    finished: bool = False
    winner: int | None = None
    reason: str | None = None
    created_at: int = 0
    tournament_id: str | None = None
    paused: bool = False
    """Waiting for both players after a restart (or, from the store, not started yet)."""

    @property
    def status(self) -> str:
        return lichess_status(self.finished, self.reason, self.winner)

    def fen(self) -> str:
        """The current position's FEN."""
        board = chess.Board(self.initial_fen)
        for move in self.moves:
            board.push_uci(move)
        return board.fen()

    def my_turn(self) -> bool:
        return not self.finished and self.mover_of(len(self.moves)) == self.seat

    def mover_of(self, ply: int) -> int:
        """The seat that plays move number ``ply`` (0-based)."""
        return (ply + self._black_first()) % 2

    def _black_first(self) -> int:
        return 1 if self.initial_fen.split()[1] == "b" else 0

    def clock_ms(self, seat: int) -> int:
        value = self.clocks[seat]
        return NO_CLOCK_MS if value is None else int(value)


def _increment_ms(control: TimeControl) -> int:
    return control.increment_ms if control.base_ms is not None else 0


def _initial_ms(control: TimeControl) -> int | None:
    return control.base_ms if control.base_ms is not None else control.per_move_ms


def game_state(view: GameView) -> dict[str, Any]:
    """A ``gameState`` event."""
    inc = _increment_ms(view.time_control)
    state: dict[str, Any] = {
        "type": "gameState",
        "moves": " ".join(view.moves),
        "wtime": view.clock_ms(0),
        "btime": view.clock_ms(1),
        "winc": inc,
        "binc": inc,
        "status": view.status,
    }
    if view.finished and view.winner is not None:
        state["winner"] = _COLORS[view.winner]
    return state


def _player(name: str) -> dict[str, Any]:
    return {"id": user_id(name), "name": name, "title": "BOT", "rating": 1500, "provisional": True}


def game_full(view: GameView) -> dict[str, Any]:
    """A ``gameFull`` event: the game's description and its current ``gameState``."""
    control = view.time_control
    speed = speed_of(control)
    full: dict[str, Any] = {
        "type": "gameFull",
        "id": view.id,
        "variant": dict(_VARIANT),
        "speed": speed,
        "perf": {"name": speed.capitalize() if speed != "ultraBullet" else "UltraBullet"},
        "rated": True,
        "createdAt": view.created_at,
        "white": _player(view.players[0]),
        "black": _player(view.players[1]),
        "initialFen": "startpos" if view.initial_fen == chess.STARTING_FEN else view.initial_fen,
        "state": game_state(view),
    }
    initial = _initial_ms(control)
    if initial is not None:
        full["clock"] = {"initial": initial, "increment": _increment_ms(control)}
    else:
        full["daysPerTurn"] = 1
    if view.tournament_id is not None:
        full["tournamentId"] = view.tournament_id
    return full


def event_game(view: GameView) -> dict[str, Any]:
    """The ``game`` of a ``gameStart``/``gameFinish`` event (``GameEventInfo``), and of
    ``/api/account/playing``."""
    opponent = view.players[1 - view.seat]
    speed = speed_of(view.time_control)
    status = view.status
    clock = view.clocks[view.seat]
    game: dict[str, Any] = {
        "fullId": view.id,
        "gameId": view.id,
        "id": view.id,
        "fen": view.fen(),
        "color": _COLORS[view.seat],
        "lastMove": view.moves[-1] if view.moves else "",
        "source": "friend",
        "status": {"id": STATUS_IDS[status], "name": status},
        "variant": {"key": _VARIANT["key"], "name": _VARIANT["name"]},
        "speed": speed,
        "perf": speed,
        "rated": True,
        "hasMoved": any(view.mover_of(i) == view.seat for i in range(len(view.moves))),
        "opponent": {"id": user_id(opponent), "username": opponent, "rating": 1500},
        "isMyTurn": view.my_turn(),
        "compat": {"bot": True, "board": True},
    }
    if clock is not None:
        game["secondsLeft"] = clock // 1000
    if view.finished and view.winner is not None:
        game["winner"] = _COLORS[view.winner]
    if view.tournament_id is not None:
        game["tournamentId"] = view.tournament_id
    return game


def chat_line(room: str, username: str, text: str) -> dict[str, Any]:
    """A ``chatLine`` event."""
    return {"type": "chatLine", "room": room, "username": username, "text": text}


def account(name: str, created_at: int, *, playing: int) -> dict[str, Any]:
    """``GET /api/account`` (and the public ``/api/user/{name}``) for an arena bot."""
    return {
        "id": user_id(name),
        "username": name,
        "title": "BOT",
        "createdAt": created_at,
        "seenAt": created_at,
        "perfs": {
            speed: {"games": 0, "rating": 1500, "rd": 350, "prog": 0, "prov": True}
            for speed in ("ultraBullet", "bullet", "blitz", "rapid", "classical")
        },
        "count": {"playing": playing},
        "followable": False,
        "disabled": False,
    }


def user_status(name: str, *, online: bool, playing: bool) -> dict[str, Any]:
    """One entry of ``GET /api/users/status``."""
    status: dict[str, Any] = {"id": user_id(name), "name": name, "title": "BOT"}
    if online:
        status["online"] = True
    if playing:
        status["playing"] = True
    return status


def ndjson(event: dict[str, Any]) -> bytes:
    """One line of an NDJSON stream."""
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"
