"""The timeline of a game: one lane per player, what each spent its time on.

Pure: stored rows in, JSON-ready data out (the replay and live pages draw it
in SVG). All times are milliseconds relative to ``origin`` (the moment the
first move's turn started, or the game's start), on the server's clock.

Per move at ply ``q`` by seat ``s`` (the lanes are seats):

- ``turn`` (lane ``s``): from the server sending the position to receiving the
  move: the server-measured response time;
- ``wait`` (the other lane): the same interval, seen by the other player,
  who waits for the opponent;
- ``actor`` (lane ``s``): the actor call that produced the move, ``actor_ms``
  long. It ends when the client decided (``wait_ms`` after it learnt the
  position, when reported; else when the server received the move). A part
  before the turn started ran during the opponent's turn: the time speculation
  saved;
- ``branch`` (lane ``s``, rows below): each speculative branch the client
  reported (``meta.branches``), ``kept``, ``cancelled`` or ``discarded``.

Client-reported times (``actor_ms``, ``wait_ms``, branches) are relative to
the moment the client learnt the real position; they are anchored at the
server time when the turn started: right after the opponent's move was
committed, just before it was relayed (the stored ``committed_at`` is taken
before the transaction, so it is earlier than the relay by the commit's own
duration). They carry the relay delay to the client as an error of that size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arena.store import GameRow, MoveRow

__all__ = ["MAX_BRANCH_ROWS", "OUTCOMES", "Segment", "build_timeline"]

MAX_BRANCH_ROWS = 6
"""Branch rows per lane; branches that would need more share the last row."""
OUTCOMES = ("kept", "cancelled", "discarded")


@dataclass(frozen=True, slots=True)
class Segment:
    """One bar of the timeline."""

    lane: int
    row: int
    """0: turns, waits and actor calls; 1..: branches."""
    kind: str
    """``turn``, ``wait``, ``actor`` or ``branch``."""
    ply: int
    start: float
    end: float
    label: str
    outcome: str | None = None
    """For branches: ``kept``, ``cancelled`` or ``discarded``."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "lane": self.lane,
            "row": self.row,
            "kind": self.kind,
            "ply": self.ply,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "label": self.label,
        }
        if self.outcome is not None:
            data["outcome"] = self.outcome
        return data


def build_timeline(row: GameRow, moves: Sequence[MoveRow]) -> dict[str, Any]:
    """The timeline of a stored game (any game, finished or in progress)."""
    ordered = sorted(moves, key=lambda m: m.ply)
    origin = ordered[0].turn_started_at if ordered else float(row.started_at or row.created_at)
    segments: list[Segment] = []
    branch_rows: list[list[float]] = [[], []]
    """Per lane, the end of the last branch placed in each branch row."""
    summary: list[dict[str, Any]] = []
    for m in ordered:
        meta: Mapping[str, Any] = m.meta or {}
        other = 1 - m.seat
        turn_start = m.turn_started_at - origin
        received = m.received_at - origin
        label = f"ply {m.ply}: {m.display}"
        segments.append(Segment(m.seat, 0, "turn", m.ply, turn_start, received, label))
        segments.append(
            Segment(other, 0, "wait", m.ply, turn_start, received, f"waiting for {m.display}")
        )
        anchor = turn_start  # the opponent's move was committed, then relayed from here
        actor_ms = _number(meta.get("actor_ms"))
        wait_ms = _number(meta.get("wait_ms"))
        actor: tuple[float, float] | None = None
        if actor_ms is not None:
            actor_end = anchor + wait_ms if wait_ms is not None else received
            actor = (actor_end - actor_ms, actor_end)
            segments.append(
                Segment(m.seat, 0, "actor", m.ply, actor[0], actor[1], f"actor call for {label}")
            )
        for branch in sorted(_branches(meta.get("branches")), key=lambda b: b["started_ms"]):
            start, end = anchor + branch["started_ms"], anchor + branch["ended_ms"]
            rank, line = branch["rank"], " ".join(branch["line"])
            segments.append(
                Segment(
                    m.seat,
                    1 + _place(branch_rows[m.seat], start, end),
                    "branch",
                    m.ply,
                    start,
                    end,
                    f"branch on {line} (rank {rank}): {branch['outcome']}",
                    branch["outcome"],
                )
            )
        summary.append(
            {
                "ply": m.ply,
                "seat": m.seat,
                "display": m.display,
                "turn": [round(turn_start, 3), round(received, 3)],
                "actor": None if actor is None else [round(actor[0], 3), round(actor[1], 3)],
                "response_ms": m.response_ms,
                "speculation": meta.get("speculation"),
            }
        )
    starts = [s.start for s in segments] or [0.0]
    ends = [s.end for s in segments] or [0.0]
    return {
        "origin": round(origin, 3),
        "start": round(min(0.0, *starts), 3),
        "end": round(max(0.0, *ends), 3),
        "lanes": [
            {
                "seat": seat,
                "name": row.players[seat],
                "branch_rows": len(branch_rows[seat]),
            }
            for seat in (0, 1)
        ],
        "segments": [s.to_json() for s in segments],
        "moves": summary,
    }


def _place(rows: list[float], start: float, end: float) -> int:
    """The first row free at ``start`` (a new one if none, up to the cap); marks it busy."""
    for index, busy_until in enumerate(rows):
        if busy_until <= start:
            rows[index] = end
            return index
    if len(rows) < MAX_BRANCH_ROWS:
        rows.append(end)
        return len(rows) - 1
    last = len(rows) - 1
    rows[last] = max(rows[last], end)
    return last


def _branches(value: Any) -> list[dict[str, Any]]:
    """The well-formed branch reports in a stored ``meta.branches`` (others are skipped)."""
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if not isinstance(item, Mapping):
            continue
        started, ended = _number(item.get("started_ms")), _number(item.get("ended_ms"))
        line, rank, outcome = item.get("line"), item.get("rank"), item.get("outcome")
        if started is None or ended is None or outcome not in OUTCOMES:
            continue
        if not isinstance(line, list) or not all(isinstance(x, str) for x in line):
            continue
        if isinstance(rank, bool) or not isinstance(rank, int):
            continue
        out.append(
            {
                "line": line,
                "rank": rank,
                "started_ms": started,
                "ended_ms": max(started, ended),
                "outcome": outcome,
            }
        )
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
