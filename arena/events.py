"""The events of a game's stream, built the same way live and when replayed.

Pure functions over the match's move records: the host builds each ``state``
event from the record of its move when the move is played, and rebuilds the
same bytes from stored moves when a reconnecting client asks for what it
missed (``hello.resume``, ``/ws/watch/{id}?since=``), also after a restart.
``seq`` numbers the stream: the ``state`` after ply n has ``seq`` n (so the
move at ply p has ``seq`` p + 1), ``game_over`` has plies + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from arena.frames import MovesJson, move_ack_json, state_json
from arena.match import Match, MatchStatus, MoveRecord
from arena.protocol import Clocks, GameOver, GameStart, dump
from arena.store import GameRow, MoveRow
from games import Game, get_game, replay

__all__ = [
    "Status",
    "game_over_frame",
    "game_start",
    "missed_events",
    "move_ack_frame",
    "record_of",
    "snapshot_frames",
    "state_frame",
    "status_of",
]

Status = Literal["active", "paused", "finished"]


def status_of(match: Match) -> Status:
    """A match's status as the protocol names it."""
    if match.status is MatchStatus.FINISHED:
        return "finished"
    return "paused" if match.status is MatchStatus.PAUSED else "active"


def record_of(row: MoveRow) -> MoveRecord:
    """A stored move as the match's record of it."""
    return MoveRecord(
        ply=row.ply,
        seat=row.seat,
        move=row.move,
        display=row.display,
        state_after=row.state_after,
        response_ms=row.response_ms,
        clocks_after=row.clocks,
    )


def move_ack_frame(game_id: str, record: MoveRecord) -> str:
    """The ``move_ack`` the mover gets once its move at ``record.ply`` is stored."""
    return move_ack_json(game_id, record.ply, record.move, record.response_ms)


def state_frame(
    game_id: str,
    records: Sequence[MoveRecord],
    ply: int,
    to_move: int | None,
    time_control: str,
    *,
    moves: MovesJson | None = None,
) -> str:
    """The ``state`` event of the move at ``ply`` (``seq`` = ``ply + 1``).

    ``moves``, when given, holds the moves up to and including that one
    already encoded (the host keeps it per game), so the list is not encoded
    again for every move.
    """
    record = records[ply]
    if moves is None:
        moves = MovesJson(r.move for r in records[: ply + 1])
    return state_json(
        game_id=game_id,
        ply=ply + 1,
        last_move=record.move,
        display=record.display,
        moves=moves.text,
        state=record.state_after,
        to_move=to_move,
        remaining_ms=record.clocks_after,
        time_control=time_control,
    )


def game_over_frame(
    game_id: str, ply: int, result: str | None, winner: int | None, reason: str | None
) -> str:
    """A ``game_over`` frame (its ``seq`` follows the last move's)."""
    return dump(
        GameOver(
            game_id=game_id,
            seq=ply + 1,
            result=result or "*",
            winner=winner,
            reason=reason or "",
            ply=ply,
        )
    )


def missed_events(
    game_id: str,
    game: Game[Any],
    records: Sequence[MoveRecord],
    *,
    since: int,
    max_plies: int | None,
    time_control: str,
    over: tuple[str | None, int | None, str | None] | None,
) -> list[str]:
    """The events after ``since``, as they were sent live.

    ``over`` is ``(result, winner, reason)`` when the game has finished. A
    ``state`` event's ``to_move`` is ``null`` only when its move ended the game
    (as :meth:`arena.match.Match.play` decides: an outcome, or ``max_plies``).
    """
    frames = []
    last = len(records) + (1 if over is not None else 0)
    moves = MovesJson(r.move for r in records[:since])
    for seq in range(since + 1, last + 1):
        ply = seq - 1
        if ply < len(records):
            moves.append(records[ply].move)
            state = game.decode_state(records[ply].state_after)
            ended = game.outcome(state) is not None or (
                max_plies is not None and ply + 1 >= max_plies
            )
            to_move = None if ended and ply == len(records) - 1 else game.to_move(state)
            frames.append(state_frame(game_id, records, ply, to_move, time_control, moves=moves))
        else:
            assert over is not None
            frames.append(game_over_frame(game_id, len(records), *over))
    return frames


def game_start(
    game_id: str,
    game: Game[Any],
    seat: int | None,
    players: tuple[str, str],
    initial: Any,
    moves: list[str],
    state: Any,
    clocks: Clocks,
    max_plies: int | None,
    *,
    status: Status,
) -> GameStart:
    """A ``game_start`` snapshot (for a player's seat, or ``seat=None`` for a spectator)."""
    finished = status == "finished"
    return GameStart(
        game_id=game_id,
        game=game.info.name,
        seat=seat,
        seat_names=game.info.seats,
        players=players,
        initial_state=game.encode_state(initial),
        moves=moves,
        state=game.encode_state(state),
        ply=len(moves),
        to_move=None if finished else game.to_move(state),
        clocks=clocks,
        max_plies=max_plies,
        seq=len(moves) + (1 if finished else 0),
        status=status,
    )


def snapshot_frames(
    row: GameRow,
    seat: int | None,
    moves: list[str],
    clocks: tuple[int | None, int | None],
    over: tuple[str | None, int | None, str | None] | None,
) -> list[str]:
    """A ``game_start`` snapshot of a stored game after ``moves`` (and its
    ``game_over`` if ``over``: result, winner, reason), for a game this process
    does not host: a finished one, or one hosted by another process."""
    game: Game[Any] = get_game(row.game)
    initial = game.decode_state(row.initial_state)
    start = game_start(
        row.id,
        game,
        seat,
        row.players,
        initial,
        moves,
        replay(game, moves, initial),
        Clocks(remaining_ms=clocks, time_control=row.time_control),
        row.max_plies,
        status="finished" if over is not None else "active",
    )
    frames = [dump(start)]
    if over is not None:
        frames.append(game_over_frame(row.id, len(moves), *over))
    return frames
