"""The frames sent for every move (``state``, ``move_ack``), encoded without pydantic.

Every move makes one ``state`` frame, relayed to both players and the
spectators, and one ``move_ack``. Building them through the pydantic models
validated and re-encoded the game's whole move list each time; here each
move's JSON is encoded once (:class:`MovesJson` grows by one move) and the
frame is put together from already encoded parts. The bytes are those of
:func:`arena.protocol.dump` of the same :class:`~arena.protocol.StateEvent`
or :class:`~arena.protocol.MoveAck` (the tests compare them), so the
protocol (``docs/protocol.md``) does not change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

__all__ = ["MovesJson", "json_string", "move_ack_json", "state_json"]

json_string = json.JSONEncoder(ensure_ascii=False).encode
"""A string as a JSON string literal, as pydantic writes it (UTF-8, not ``\\u`` escapes)."""


def _json_int(value: int | None) -> str:
    return "null" if value is None else str(int(value))


class MovesJson:
    """A game's moves so far as a JSON array, grown one move at a time."""

    __slots__ = ("_items",)

    def __init__(self, moves: Iterable[str] = ()) -> None:
        self._items = ",".join(json_string(m) for m in moves)

    def append(self, move: str) -> None:
        """Add the next move."""
        encoded = json_string(move)
        self._items = f"{self._items},{encoded}" if self._items else encoded

    @property
    def text(self) -> str:
        """The JSON array of the moves."""
        return f"[{self._items}]"


def state_json(
    *,
    game_id: str,
    ply: int,
    last_move: str,
    display: str,
    moves: str,
    state: str,
    to_move: int | None,
    remaining_ms: tuple[int | None, int | None],
    time_control: str,
) -> str:
    """A ``state`` frame after ``ply`` moves (``seq`` = ``ply``); ``moves`` is
    :attr:`MovesJson.text` of those moves."""
    return (
        f'{{"type":"state","game_id":{json_string(game_id)},"seq":{ply},"ply":{ply},'
        f'"last_move":{json_string(last_move)},"display":{json_string(display)},'
        f'"moves":{moves},"state":{json_string(state)},"to_move":{_json_int(to_move)},'
        f'"clocks":{{"remaining_ms":[{_json_int(remaining_ms[0])},{_json_int(remaining_ms[1])}],'
        f'"time_control":{json_string(time_control)}}}}}'
    )


def move_ack_json(game_id: str, ply: int, move: str, response_ms: int) -> str:
    """A ``move_ack`` frame."""
    return (
        f'{{"type":"move_ack","game_id":{json_string(game_id)},"ply":{ply},'
        f'"move":{json_string(move)},"response_ms":{response_ms}}}'
    )
