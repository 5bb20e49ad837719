"""The pure parts of the pages: the timeline's arithmetic, the charts, the planned count."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from arena.store import GameRow, MoveRow
from web.charts import Series, interval_bar, line_chart
from web.timeline import MAX_BRANCH_ROWS, build_timeline
from web.views import planned_total

T0 = 1_700_000_000_000.0


def game_row() -> GameRow:
    return GameRow(
        id="g1",
        game="chess",
        seat_bot_ids=(1, 2),
        players=("alice", "bob"),
        status="finished",
        result="1/2-1/2",
        winner=None,
        reason="max_plies",
        time_control="none",
        max_plies=3,
        max_retries=3,
        initial_state="",
        state="",
        ply=3,
        clocks=(None, None),
        created_at=int(T0),
        started_at=int(T0),
        finished_at=int(T0) + 1000,
        tournament_id=None,
    )


def move(ply: int, turn: float, received: float, meta: dict[str, Any] | None) -> MoveRow:
    return MoveRow(
        ply=ply,
        seat=ply % 2,
        move=f"m{ply}",
        display=f"M{ply}",
        state_after="",
        turn_started_at=T0 + turn,
        received_at=T0 + received,
        committed_at=T0 + received + 1,
        response_ms=round(received - turn),
        clocks=(None, None),
        meta=meta,
    )


def branch(start: float, end: float, outcome: str, rank: int = 1) -> dict[str, Any]:
    return {"line": ["x"], "rank": rank, "started_ms": start, "ended_ms": end, "outcome": outcome}


def test_segments_are_placed_on_the_server_clock() -> None:
    """Turns, waits, actor calls and branches land where the stored times put them."""
    moves = [
        move(0, 0, 100, {"actor_ms": 90.0, "wait_ms": 95.0}),
        # bob predicted M0: his branch ran from -80 to -20 ms before he learnt it; a hit
        move(
            1,
            102,
            112,
            {
                "actor_ms": 60.0,
                "wait_ms": 8.0,
                "speculation": "hit",
                "branches": [branch(-52, 8, "kept"), branch(-50, 2, "cancelled", 2)],
            },
        ),
        move(2, 114, 164, {"actor_ms": 45.0}),  # no wait_ms: the actor ends on receipt
    ]
    data = build_timeline(game_row(), moves)
    by = {(s["kind"], s["ply"], s.get("outcome")): s for s in data["segments"]}
    assert data["origin"] == T0 and [lane["name"] for lane in data["lanes"]] == ["alice", "bob"]
    assert (by["turn", 1, None]["start"], by["turn", 1, None]["end"]) == (102, 112)
    assert by["turn", 1, None]["lane"] == 1 and by["wait", 1, None]["lane"] == 0
    assert (by["actor", 0, None]["start"], by["actor", 0, None]["end"]) == (5, 95)
    # client time is anchored at the start of the turn (the opponent's move relayed)
    assert (by["actor", 1, None]["start"], by["actor", 1, None]["end"]) == (50, 110)
    assert (by["branch", 1, "kept"]["start"], by["branch", 1, "kept"]["end"]) == (50, 110)
    assert (by["actor", 2, None]["start"], by["actor", 2, None]["end"]) == (119, 164)
    # overlapping branches get their own rows
    assert {by["branch", 1, "kept"]["row"], by["branch", 1, "cancelled"]["row"]} == {1, 2}
    assert data["lanes"][1]["branch_rows"] == 2 and data["lanes"][0]["branch_rows"] == 0
    assert data["start"] == 0 and data["end"] == 164
    assert data["moves"][1]["actor"] == [50, 110] and data["moves"][1]["speculation"] == "hit"


def test_branches_reuse_free_rows_up_to_a_cap() -> None:
    """A branch that starts after another ended reuses its row; rows stop at the cap."""
    sequential = [branch(i * 10.0, i * 10.0 + 5, "discarded") for i in range(5)]
    data = build_timeline(game_row(), [move(0, 0, 100, {"branches": sequential})])
    assert {s["row"] for s in data["segments"] if s["kind"] == "branch"} == {1}
    overlapping = [branch(0.0, 50.0, "cancelled", 1) for _ in range(MAX_BRANCH_ROWS + 3)]
    data = build_timeline(game_row(), [move(0, 0, 100, {"branches": overlapping})])
    rows = [s["row"] for s in data["segments"] if s["kind"] == "branch"]
    assert max(rows) == MAX_BRANCH_ROWS and len(rows) == MAX_BRANCH_ROWS + 3


def test_malformed_reports_are_skipped() -> None:
    """Stored meta that is not a well-formed report draws nothing instead of failing."""
    meta = {
        "actor_ms": "slow",
        "branches": [
            {"line": "e4", "rank": 1, "started_ms": 0, "ended_ms": 1, "outcome": "kept"},
            {"line": ["e4"], "rank": True, "started_ms": 0, "ended_ms": 1, "outcome": "kept"},
            {"line": ["e4"], "rank": 1, "started_ms": 0, "ended_ms": 1, "outcome": "won"},
            "junk",
            branch(3, 1, "kept"),  # ends before it starts: drawn as a point
        ],
    }
    data = build_timeline(game_row(), [move(0, 0, 10, meta)])
    kinds = [s["kind"] for s in data["segments"]]
    assert kinds == ["turn", "wait", "branch"]
    assert data["segments"][2]["start"] == data["segments"][2]["end"] == 3


def test_empty_game() -> None:
    """A game with no moves has lanes and no segments."""
    data = build_timeline(game_row(), [])
    assert data["segments"] == [] and len(data["lanes"]) == 2 and data["origin"] == T0


def test_interval_bar_positions() -> None:
    """The interval bar puts the estimate and the interval on the shared scale."""
    svg = ElementTree.fromstring(interval_bar(100, 150, 200, 0, 400, label="x"))
    rect = svg.find("rect")
    dot = svg.find("circle")
    assert rect is not None and dot is not None
    assert (
        float(rect.get("x", ""))
        < float(dot.get("cx", ""))
        < float(rect.get("x", "")) + float(rect.get("width", ""))
    )


def test_line_chart_gaps_and_empty() -> None:
    """A missing value breaks the line; no data at all gives a sentence, not an empty chart."""
    chart = line_chart(
        [Series("a", [(1, 10.0), (2, None), (3, 30.0)])], title="t", y_label="y", x_label="x"
    )
    path = ElementTree.fromstring(chart).find("path")
    assert path is not None and path.get("d", "").count("M") == 2
    assert "no data" in line_chart([Series("a", [(1, None)])], title="t", y_label="y", x_label="x")


def test_planned_total() -> None:
    """The planned number of games follows the runner's count; a broken config gives None."""
    players = [{"name": n, "spec": "random"} for n in ("a", "b", "c")]
    base = {"name": "t", "game": "chess", "players": players}
    assert planned_total(base | {"openings": "bundled", "opening_pairs": 2}) == 3 * 2 * 2
    assert planned_total(base | {"openings": "none", "cycles": 2}) == 6
    assert planned_total(base | {"format": "swiss", "rounds": 3, "openings": "none"}) == 3
    assert planned_total(base | {"openings": "/nowhere/book.pgn"}) is None
    assert planned_total({"name": "t"}) is None
