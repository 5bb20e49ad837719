"""Parsing and schema of protocol v1."""

from __future__ import annotations

import json

import pytest

from arena.errors import ErrorCode, ProtocolError
from arena.protocol import Hello, Move, Predict, json_schema, parse_client_message


def test_parse_hello_and_move() -> None:
    """Valid frames become typed messages."""
    assert parse_client_message('{"type":"hello","token":"t"}') == Hello(token="t")
    move = parse_client_message('{"type":"move","game_id":"g","ply":0,"move":"e2e4"}')
    assert isinstance(move, Move) and move.move == "e2e4"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", ErrorCode.BAD_MESSAGE),
        ("[1, 2]", ErrorCode.BAD_MESSAGE),
        ('{"type": "dance"}', ErrorCode.UNKNOWN_TYPE),
        ("{}", ErrorCode.BAD_MESSAGE),  # a missing field, as the reference says
        ('{"type":"move","game_id":"g","ply":-1,"move":"e2e4"}', ErrorCode.BAD_MESSAGE),
        ('{"type":"move","game_id":"g","ply":0}', ErrorCode.BAD_MESSAGE),
        ('{"type":"hello","token":"t","extra":1}', ErrorCode.BAD_MESSAGE),
    ],
)
def test_bad_frames(frame: str, code: ErrorCode) -> None:
    """Malformed frames raise ProtocolError with the matching code and a reason."""
    with pytest.raises(ProtocolError) as info:
        parse_client_message(frame)
    assert info.value.code is code
    assert info.value.message


def test_predict_limits() -> None:
    """A prediction carries 1..8 ranked moves and optional probabilities."""
    p = parse_client_message(
        '{"type":"predict","game_id":"g","ply":1,"moves":["e7e5","c7c5"],"probs":[0.6,0.3]}'
    )
    assert isinstance(p, Predict) and p.moves == ["e7e5", "c7c5"]
    with pytest.raises(ProtocolError):
        parse_client_message(json.dumps({"type": "predict", "game_id": "g", "ply": 1, "moves": []}))


def test_schema_covers_every_message() -> None:
    """The schema names every message type of both directions and every error code."""
    schema = json_schema()
    text = json.dumps(schema)
    for name in (
        "hello",
        "seek",
        "move",
        "predict",
        "resign",
        "ping",
        "welcome",
        "game_start",
        "state",
        "move_ack",
        "game_over",
        "seek_ack",
        "error",
        "pong",
    ):
        assert f'"{name}"' in text, name
    assert "4024 illegal_move" in schema["description"]
