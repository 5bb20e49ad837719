"""docs/reliability.md and docs/protocol.md state the limits the code applies, and the
protocol reference lists every error code: the docs and the behaviour agree."""

from __future__ import annotations

import re
from pathlib import Path

from arena.errors import ErrorCode
from arena.host import MAX_PREDICT_AHEAD, MAX_PREDICTS_PER_PLY
from arena.limits import Limits
from arena.match import MAX_PLIES
from arena.protocol import MAX_META_BYTES, MAX_PREDICTIONS, MAX_RESUME_GAMES
from arena.safejson import MAX_DEPTH

DOCS = Path(__file__).resolve().parents[2] / "docs"


def rows(text: str) -> dict[str, str]:
    """The rows of the limits table: first cell -> the rest of the row."""
    section = text.split("## Limits on hostile input", 1)[1].split("\n### ", 1)[0]
    found = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and not set(cells[0]) <= {"-"}:
            found[cells[0]] = " | ".join(cells[1:])
    return found


def test_the_limits_table_states_the_code_defaults() -> None:
    """Each limit's row in docs/reliability.md carries the default the code applies."""
    limits = Limits()
    table = rows((DOCS / "reliability.md").read_text())
    expected = {
        "frame size": [f"{limits.max_message_bytes // 1024} KiB"],
        "JSON nesting (frames and admin bodies)": [f"{MAX_DEPTH} levels"],
        "`move.meta`": [f"{MAX_META_BYTES // 1024} KiB"],
        "`meta` stored per game": [f"{limits.max_game_meta_bytes // 2**20} MiB"],
        "plies per game": [f"{MAX_PLIES:,}"],
        "messages per connection": [
            f"{limits.rate_per_s:g}/s, bursts of {limits.burst}",
            f"{limits.max_strikes} in a row",
        ],
        "time to send `hello`": [
            f"{limits.hello_timeout_s:g} s; {limits.hello_timeout_crowded_s:g} s",
            f"with {limits.max_pending_hello_per_address // 2} waiting",
            f"while {limits.max_pending_hello // 2} wait",
        ],
        "connections waiting for `hello`": [
            f"{limits.max_pending_hello_per_address} per address",
            f"{limits.max_pending_hello} in all",
        ],
        "spectator connections": [
            f"{limits.max_spectators_per_address} per address",
            f"{limits.max_spectators} in all",
        ],
        "idle connection (no frame either way, no game in progress)": [
            f"{limits.idle_timeout_s / 60:g} min"
        ],
        "keepalive": [
            f"ping every {limits.ping_interval_s:g} s, {limits.ping_timeout_s:g} s to answer"
        ],
        "outgoing queue per connection": [f"{limits.send_queue} messages"],
        "`hello.resume`": [f"{MAX_RESUME_GAMES} games"],
        "predictions": [
            f"{MAX_PREDICTS_PER_PLY} per ply and seat, {MAX_PREDICT_AHEAD} plies ahead, "
            f"{MAX_PREDICTIONS} moves each"
        ],
        "admin API request body": [f"{limits.max_message_bytes // 1024} KiB"],
        "HTTP request head": [f"{limits.http_header_timeout_s:g} s"],
        "idle keep-alive HTTP connection": [f"{limits.http_idle_timeout_s:g} s"],
        "shutdown (SIGINT, SIGTERM)": [f"{limits.shutdown_timeout_s:g} s"],
        "page requests (`/`, `/tournaments...`, `/games`, `/players/...`, `/api/leaderboard`, "
        "`/api/tournaments...`)": [
            f"{limits.page_rate_per_s:g}/s per address, bursts of {limits.page_burst}"
        ],
    }
    for label, texts in expected.items():
        assert label in table, f"no row {label!r} in the limits table"
        for text in texts:
            assert text in table[label], f"{label!r}: {text!r} not in {table[label]!r}"


def test_the_protocol_reference_states_the_same_limits() -> None:
    """docs/protocol.md's transport section gives the same caps and timeouts."""
    limits = Limits()
    text = (DOCS / "protocol.md").read_text()
    for fragment in (
        f"At most {limits.max_pending_hello_per_address} connections from one client address",
        f"({limits.max_pending_hello} over the whole server)",
        f"at most {limits.max_spectators_per_address}\n  spectators from one address",
        f"({limits.max_spectators} in all)",
        f"within {limits.hello_timeout_crowded_s:g} s instead of {limits.hello_timeout_s:g} s",
        f"the {limits.max_strikes}th such message in a row",
        f"nesting deeper than {MAX_DEPTH} levels",
        f"`meta` over {MAX_META_BYTES // 1024} KiB",
        f"after {MAX_PLIES:,} moves at the latest",
    ):
        assert fragment in text, fragment


def test_every_error_code_is_in_the_reference() -> None:
    """The error table of docs/protocol.md lists exactly the codes of ErrorCode."""
    text = (DOCS / "protocol.md").read_text()
    listed = {int(c): n for c, n in re.findall(r"^\| (\d{4}) \| `(\w+)`", text, re.MULTILINE)}
    assert listed == {int(code): code.name.lower() for code in ErrorCode}
