"""A weighted mix of speculators, asked concurrently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from clients.speculation import Guess, Meter, Position, Speculator

__all__ = ["EnsembleSpeculator", "member_distribution"]

log = logging.getLogger(__name__)


def member_distribution(guesses: Sequence[Guess]) -> list[tuple[str, float]]:
    """One member's guesses as ``(move, weight)`` pairs.

    A member's probabilities are used when it gives one for every guess;
    otherwise its ranks are: ``1/(rank+1)``, normalised to sum to 1 over its
    guesses (so two guesses weigh 2/3 and 1/3).
    """
    if all(g.prob is not None for g in guesses):
        return [(g.move, float(g.prob or 0.0)) for g in guesses]
    ranks = [1.0 / (rank + 1) for rank in range(len(guesses))]
    total = sum(ranks)
    return [(g.move, r / total) for g, r in zip(guesses, ranks, strict=True)]


class EnsembleSpeculator:
    """Merges the rankings of weighted member speculators.

    Every member is asked for ``k`` guesses at once, each with its own
    :class:`Meter` (whose tokens are added to the caller's meter when the
    member returns, fails or is cancelled). A move scores the sum over members
    of ``weight * p``, with ``p`` from :func:`member_distribution`; the top
    ``k`` moves are returned with ``score / total score of all moves`` as
    probability, i.e. the weighted mixture of the members' distributions.
    Ties keep the order in which moves were first proposed (by member, then rank).
    A member that raises is logged and left out; the others still count.
    Works for every game.
    """

    def __init__(self, members: Sequence[tuple[Speculator, float]]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        for _, weight in members:
            if not weight >= 0:
                raise ValueError(f"member weights must be >= 0, got {weight!r}")
        self.members: list[tuple[Speculator, float]] = list(members)

    async def _ask(
        self, member: Speculator, position: Position, k: int, meter: Meter
    ) -> list[Guess]:
        own = Meter(speculative=meter.speculative)
        try:
            return await member.predict(position, k, own)
        except Exception:
            log.warning("speculator %r failed; ignoring it", member, exc_info=True)
            return []
        finally:
            meter.prompt_tokens += own.prompt_tokens
            meter.completion_tokens += own.completion_tokens

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        """The top ``k`` moves of the weighted mix of the members' guesses."""
        if k <= 0:
            return []
        answers = await asyncio.gather(
            *(self._ask(member, position, k, meter) for member, _ in self.members)
        )
        legal = set(position.legal_moves())
        scores: dict[str, float] = {}
        for (_, weight), guesses in zip(self.members, answers, strict=True):
            kept = {g.move: g for g in reversed(guesses) if g.move in legal}  # first of repeats
            ordered = [kept[g.move] for g in guesses if kept.get(g.move) is g]
            for move, p in member_distribution(ordered):
                scores[move] = scores.get(move, 0.0) + weight * p
        total = sum(scores.values())
        ranked = sorted(scores.items(), key=lambda item: -item[1])[:k]  # stable: ties by order
        return [Guess(move, score / total if total > 0 else None) for move, score in ranked]
