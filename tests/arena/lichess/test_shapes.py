"""lichess's shapes built from a game view (pure): statuses, speeds, colours, clocks."""

from __future__ import annotations

import json

import chess
import pytest

from arena.clock import TimeControl
from arena.lichess.shapes import (
    NO_CLOCK_MS,
    STATUS_IDS,
    GameView,
    event_game,
    game_full,
    game_state,
    lichess_status,
    ndjson,
    speed_of,
)
from tests.arena.lichess.schema import (
    GAME_STATUS_NAMES,
    check_event,
    check_game_full,
    check_game_state,
)


def view(**changes: object) -> GameView:
    base = GameView(
        id="g1",
        seat=0,
        players=("Alice", "bob"),
        initial_fen=chess.STARTING_FEN,
        time_control=TimeControl.parse("180+2"),
        moves=["e2e4", "e7e5"],
        clocks=(170_000, 175_500),
        created_at=1_700_000_000_000,
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


@pytest.mark.parametrize(
    ("reason", "winner", "status"),
    [
        ("checkmate", 0, "mate"),
        ("resign", 1, "resign"),
        ("timeout", 1, "outoftime"),
        ("abandoned", 0, "timeout"),
        ("aborted", None, "aborted"),
        ("stalemate", None, "stalemate"),
        ("threefold_repetition", None, "draw"),
        ("max_plies", None, "draw"),
        ("something_new", None, "draw"),
        ("something_new", 1, "unknownFinish"),
    ],
)
def test_arena_reasons_map_onto_lichess_statuses(
    reason: str, winner: int | None, status: str
) -> None:
    """Every arena reason becomes one of lichess's GameStatusName values."""
    assert lichess_status(True, reason, winner) == status
    assert status in GAME_STATUS_NAMES and status in STATUS_IDS


def test_a_game_under_way_is_started() -> None:
    """Until a game ends its status is ``started`` whatever was stored."""
    assert lichess_status(False, None, None) == "started"


@pytest.mark.parametrize(
    ("control", "speed"),
    [
        ("15+0", "ultraBullet"),
        ("60+1", "bullet"),
        ("180+2", "blitz"),
        ("600+5", "rapid"),
        ("1800+20", "classical"),
        ("5/move", "blitz"),
        ("none", "correspondence"),
    ],
)
def test_speed_follows_lichess_estimate(control: str, speed: str) -> None:
    """Speed categories use lichess's estimate, initial + 40 x increment."""
    assert speed_of(TimeControl.parse(control)) == speed


def test_game_full_and_state_match_the_schema() -> None:
    """gameFull carries the players, clock (ms) and a gameState with UCI moves."""
    full = game_full(view())
    check_game_full(full)
    assert full["clock"] == {"initial": 180_000, "increment": 2_000}
    assert full["white"]["id"] == "alice" and full["black"]["name"] == "bob"
    assert full["state"]["moves"] == "e2e4 e7e5"
    assert (full["state"]["wtime"], full["state"]["btime"]) == (170_000, 175_500)
    assert (full["state"]["winc"], full["state"]["binc"]) == (2_000, 2_000)
    assert full["initialFen"] == "startpos"


def test_finished_state_names_the_winner() -> None:
    """A finished game's gameState has its status and the winner's colour."""
    state = game_state(view(finished=True, winner=1, reason="checkmate"))
    check_game_state(state)
    assert (state["status"], state["winner"]) == ("mate", "black")


def test_no_clock_reads_as_lichess_correspondence() -> None:
    """A game without a clock has no ``clock``, ``daysPerTurn`` and int32-max times."""
    full = game_full(view(time_control=TimeControl.parse("none"), clocks=(None, None)))
    assert "clock" not in full and full["daysPerTurn"] == 1
    assert full["state"]["wtime"] == NO_CLOCK_MS and full["speed"] == "correspondence"


def test_event_game_from_a_position_with_black_to_move() -> None:
    """From a FEN with black to move, turns and colours follow the position."""
    fen = "4k3/8/8/8/8/8/4P3/4K3 b - - 0 1"
    black = view(seat=1, initial_fen=fen, moves=[], clocks=(60_000, 59_000))
    game = event_game(black)
    check_event({"type": "gameStart", "game": game})
    assert game["color"] == "black" and game["isMyTurn"] is True and game["hasMoved"] is False
    assert game["secondsLeft"] == 59 and game["fen"] == fen
    assert game_full(black)["initialFen"] == fen
    after = event_game(view(seat=1, initial_fen=fen, moves=["e8d8"]))
    assert after["isMyTurn"] is False and after["hasMoved"] is True


def test_ndjson_is_one_compact_line() -> None:
    """Each event is one JSON object on one line."""
    line = ndjson({"type": "gameState", "moves": "e2e4"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"type": "gameState", "moves": "e2e4"}
