"""docs/protocol.md stays true: its examples parse as protocol messages, and its worked
transcript has the shape of one captured afresh from the server."""

from __future__ import annotations

import json
import re
from pathlib import Path

from arena.errors import ProtocolError
from arena.protocol import CLIENT_TYPES, parse_client_message, parse_server_message
from scripts.protocol_transcript import capture

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
LINE = re.compile(r"^(?:(\w+) -> server|server -> (\w+))\s+(\{.*\})$")


def transcript_lines() -> list[tuple[str, bool, dict[str, object]]]:
    """(bot, client-to-server?, message) for each line of the doc's transcript."""
    found = []
    for line in DOC.read_text().splitlines():
        if match := LINE.match(line):
            bot = match.group(1) or match.group(2)
            found.append((bot, match.group(1) is not None, json.loads(match.group(3))))
    return found


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def parse(message: dict[str, object], outgoing: bool) -> object:
    text = json.dumps(message)
    return parse_client_message(text) if outgoing else parse_server_message(text)


def test_every_example_message_parses() -> None:
    """Each JSON example of a message in the reference is a valid message of its direction."""
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), re.DOTALL)
    decoder = json.JSONDecoder()
    checked = 0
    for block in blocks:
        at = 0
        while (at := _skip_space(block, at)) < len(block):
            message, at = decoder.raw_decode(block, at)
            if "type" not in message:
                continue  # not a message (e.g. a scored move from the API)
            try:
                parse(message, message["type"] in CLIENT_TYPES)
            except ProtocolError as exc:
                raise AssertionError(f"{message}: {exc.message}") from None
            checked += 1
    assert checked >= 14


def test_transcript_lines_are_valid_messages() -> None:
    """Every line of the worked transcript is a valid message in its direction."""
    lines = transcript_lines()
    assert len(lines) >= 30
    for _, outgoing, message in lines:
        parse(message, outgoing)


async def test_transcript_matches_a_fresh_capture(tmp_path: Path) -> None:
    """A fresh capture of the scripted game sends and receives the same messages, in the
    same order, as the transcript in the docs (ids, clocks and times aside)."""
    frames, record = await capture(str(tmp_path / "t.db"))
    fresh = [(f.bot, f.outgoing, f.message["type"]) for f in frames]
    documented = [(bot, outgoing, str(m["type"])) for bot, outgoing, m in transcript_lines()]
    assert fresh == documented
    assert record["speculation"]["moves"][-1]["hit_rank"] == 1
    assert (record["result"], record["reason"]) == ("0-1", "checkmate")
