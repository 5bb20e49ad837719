"""Scoring of predictions and of the time speculation saved, per move and per player.

Pure functions over stored rows (:class:`~arena.store.MoveRow`,
:class:`~arena.store.PredictionRow`): no I/O, no clock, no asyncio, so the API,
the CLI and benchmarks all score a game the same way.

The rule (``DESIGN.md`` section 3, "Accounting"): for the move at ply ``q``
(``q >= 1``) by seat ``s``, the opponent's move is the one at ply ``q - 1``,
received by the server at time ``R``. The predictions that count are those
seat ``s`` sent for ply ``q - 1`` and the server received strictly before
``R``; the last of them (the most recent before ``R``) is *the* prediction,
and ``hit_rank`` is the 1-based position of the real move in it. Predictions
for that ply received at or after ``R`` are counted as ``late`` and never
scored. The move at ply 0 has no prediction.

Who measured what:

- **server-measured** (checked by the arena): when each prediction and each
  move arrived, hence which predictions count, ``hit_rank``, accuracy, and
  ``response_ms`` (from sending the opponent's move to receiving this one);
- **client-reported** (stored as the client sent them in the move's ``meta``):
  ``actor_ms``, ``prompt_tokens``/``completion_tokens`` (``actor_tokens``),
  ``spec_calls``, ``spec_tokens``, ``wasted_tokens`` and ``speculation``.
  Every figure derived from them (``saved_ms``, ``sequential_ms``,
  ``saved_share``, ``token_overhead``) is only as true as the client's report.

``saved_ms = actor_ms - response_ms``: how much sooner the move arrived than
the actor call that produced it would have taken on its own. It is negative
when speculation (or anything else) cost time, and is reported as such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arena.store import MoveRow, PredictionRow

__all__ = ["GameAccount", "MoveAccount", "PlayerAccount", "account_game", "account_player"]

_MS_DIGITS = 1
_RATIO_DIGITS = 4


@dataclass(frozen=True, slots=True)
class MoveAccount:
    """The speculation figures of one move."""

    ply: int
    seat: int
    move: str
    display: str
    predictions: tuple[str, ...] | None
    """The counted prediction (ranked moves) of this move's mover, or ``None``."""
    probs: tuple[float, ...] | None
    """The probabilities sent with that prediction, if any."""
    hit_rank: int | None
    """1-based rank of the opponent's real move in ``predictions``, or ``None``."""
    late_predictions: int
    """Predictions for the opponent's move received too late to count."""
    response_ms: int
    """Server-measured: from sending the opponent's move to receiving this one."""
    actor_ms: float | None
    """Client-reported: how long the actor call that produced this move ran."""
    saved_ms: float | None
    """``actor_ms - response_ms`` (negative kept); ``None`` without ``actor_ms``."""
    actor_tokens: int
    """Client-reported prompt + completion tokens of the actor call."""
    spec_calls: int
    spec_tokens: int
    wasted_tokens: int
    speculation: str | None
    """Client-reported ``"hit"``, ``"miss"`` or ``"off"``."""
    backoff: str | None = None
    """Client-reported: why the mover did not speculate on this move (its adaptive
    policy backed off), or ``None``."""

    @property
    def predicted(self) -> bool:
        """Whether a prediction counted for this move."""
        return self.predictions is not None

    @property
    def speculated(self) -> bool:
        """Whether the mover speculated on this move (a window was open: hit or miss)."""
        return self.speculation in ("hit", "miss")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times rounded to 0.1 ms)."""
        return {
            "ply": self.ply,
            "seat": self.seat,
            "move": self.move,
            "display": self.display,
            "predictions": None if self.predictions is None else list(self.predictions),
            "probs": None if self.probs is None else list(self.probs),
            "hit_rank": self.hit_rank,
            "late_predictions": self.late_predictions,
            "response_ms": self.response_ms,
            "actor_ms": _round(self.actor_ms, _MS_DIGITS),
            "saved_ms": _round(self.saved_ms, _MS_DIGITS),
            "actor_tokens": self.actor_tokens,
            "spec_calls": self.spec_calls,
            "spec_tokens": self.spec_tokens,
            "wasted_tokens": self.wasted_tokens,
            "speculation": self.speculation,
            "backoff": self.backoff,
        }


@dataclass(frozen=True, slots=True)
class PlayerAccount:
    """One seat's totals over a game."""

    seat: int
    moves: int
    predicted: int
    """Moves that had a counted prediction."""
    top1_hits: int
    topk_hits: int
    """Hits at any rank of the prediction sent (k is what the player sent)."""
    late_predictions: int
    saved_ms: float
    """Sum of ``saved_ms`` over the moves the player speculated on (it reported
    ``speculation`` ``hit`` or ``miss``): the time speculation saved, or cost.
    Moves without a window (speculation off, or backed off) are left out: their
    ``actor_ms - response_ms`` is the transport's and the server's share of
    every move, speculation or not, not something speculation did."""
    sequential_ms: float
    """Sum of ``actor_ms``: the time the same actor calls take without speculation."""
    actor_tokens: int
    spec_calls: int
    spec_tokens: int
    wasted_tokens: int
    speculated: int = 0
    """Moves the player speculated on (``hit`` or ``miss``); 0 for a player that
    does not speculate, whose :attr:`saved_share` is then ``None``."""

    @property
    def top1_accuracy(self) -> float | None:
        """``top1_hits / predicted``; ``None`` when nothing was predicted."""
        return None if self.predicted == 0 else self.top1_hits / self.predicted

    @property
    def topk_accuracy(self) -> float | None:
        """``topk_hits / predicted``; ``None`` when nothing was predicted."""
        return None if self.predicted == 0 else self.topk_hits / self.predicted

    @property
    def saved_share(self) -> float | None:
        """``saved_ms / sequential_ms``; ``None`` when no actor time was reported or
        the player never speculated."""
        if self.sequential_ms == 0 or self.speculated == 0:
            return None
        return self.saved_ms / self.sequential_ms

    @property
    def token_overhead(self) -> float | None:
        """Tokens with speculation over tokens without: ``(actor + spec) / actor``."""
        if self.actor_tokens == 0:
            return None
        return (self.actor_tokens + self.spec_tokens) / self.actor_tokens

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times to 0.1 ms, ratios to 4 decimals)."""
        return {
            "seat": self.seat,
            "moves": self.moves,
            "predicted": self.predicted,
            "top1_hits": self.top1_hits,
            "topk_hits": self.topk_hits,
            "top1_accuracy": _round(self.top1_accuracy, _RATIO_DIGITS),
            "topk_accuracy": _round(self.topk_accuracy, _RATIO_DIGITS),
            "late_predictions": self.late_predictions,
            "saved_ms": _round(self.saved_ms, _MS_DIGITS),
            "sequential_ms": _round(self.sequential_ms, _MS_DIGITS),
            "speculated": self.speculated,
            "saved_share": _round(self.saved_share, _RATIO_DIGITS),
            "actor_tokens": self.actor_tokens,
            "spec_calls": self.spec_calls,
            "spec_tokens": self.spec_tokens,
            "wasted_tokens": self.wasted_tokens,
            "token_overhead": _round(self.token_overhead, _RATIO_DIGITS),
        }


@dataclass(frozen=True, slots=True)
class GameAccount:
    """Every move's figures and each seat's totals (``players[seat]``)."""

    moves: tuple[MoveAccount, ...]
    players: tuple[PlayerAccount, PlayerAccount]

    def to_json(self, names: Sequence[str] | None = None) -> dict[str, Any]:
        """``{"moves": [...], "players": [...]}``; ``names`` adds each seat's bot name."""
        players = [p.to_json() for p in self.players]
        if names is not None:
            for entry, name in zip(players, names, strict=True):
                entry["name"] = name
        return {"moves": [m.to_json() for m in self.moves], "players": players}


def account_game(moves: Sequence[MoveRow], predictions: Sequence[PredictionRow]) -> GameAccount:
    """Score a game's stored moves (any order) against its stored predictions."""
    ordered = sorted(moves, key=lambda m: m.ply)
    by_ply = {m.ply: m for m in ordered}
    accounts: list[MoveAccount] = []
    for m in ordered:
        previous = by_ply.get(m.ply - 1)
        counted: list[PredictionRow] = []
        late = 0
        if previous is not None and previous.seat != m.seat:
            for p in predictions:
                if p.seat != m.seat or p.ply != previous.ply:
                    continue
                if p.received_at < previous.received_at:
                    counted.append(p)
                else:
                    late += 1
        chosen = max(counted, key=lambda p: p.received_at) if counted else None
        accounts.append(_move_account(m, previous, chosen, late))
    players = (account_player(0, accounts), account_player(1, accounts))
    return GameAccount(moves=tuple(accounts), players=players)


def account_player(seat: int, moves: Sequence[MoveAccount]) -> PlayerAccount:
    """Totals of ``seat`` over scored moves (moves of the other seat are ignored)."""
    own = [m for m in moves if m.seat == seat]
    timed = [m for m in own if m.actor_ms is not None]
    return PlayerAccount(
        seat=seat,
        moves=len(own),
        predicted=sum(m.predicted for m in own),
        top1_hits=sum(m.hit_rank == 1 for m in own),
        topk_hits=sum(m.hit_rank is not None for m in own),
        late_predictions=sum(m.late_predictions for m in own),
        saved_ms=sum(m.saved_ms or 0.0 for m in timed if m.speculated),
        sequential_ms=sum(m.actor_ms or 0.0 for m in timed),
        speculated=sum(m.speculated for m in own),
        actor_tokens=sum(m.actor_tokens for m in own),
        spec_calls=sum(m.spec_calls for m in own),
        spec_tokens=sum(m.spec_tokens for m in own),
        wasted_tokens=sum(m.wasted_tokens for m in own),
    )


def _move_account(
    m: MoveRow, previous: MoveRow | None, chosen: PredictionRow | None, late: int
) -> MoveAccount:
    meta: Mapping[str, Any] = m.meta or {}
    predicted = None if chosen is None else tuple(chosen.moves)
    hit_rank = None
    if predicted is not None and previous is not None and previous.move in predicted:
        hit_rank = predicted.index(previous.move) + 1
    actor_ms = _number(meta.get("actor_ms"))
    speculation = meta.get("speculation")
    return MoveAccount(
        ply=m.ply,
        seat=m.seat,
        move=m.move,
        display=m.display,
        predictions=predicted,
        probs=None if chosen is None or chosen.probs is None else tuple(chosen.probs),
        hit_rank=hit_rank,
        late_predictions=late,
        response_ms=m.response_ms,
        actor_ms=actor_ms,
        saved_ms=None if actor_ms is None else actor_ms - m.response_ms,
        actor_tokens=_count(meta.get("prompt_tokens")) + _count(meta.get("completion_tokens")),
        spec_calls=_count(meta.get("spec_calls")),
        spec_tokens=_count(meta.get("spec_tokens")),
        wasted_tokens=_count(meta.get("wasted_tokens")),
        speculation=speculation if isinstance(speculation, str) else None,
        backoff=backoff[:200] if isinstance(backoff := meta.get("backoff"), str) else None,
    )


def _number(value: Any) -> float | None:
    """A stored number as float; anything else (absent, malformed) as ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count(value: Any) -> int:
    """A stored count as int, 0 when absent or malformed."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
