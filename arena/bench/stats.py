"""Pure statistics for the benchmarks: percentiles and latency summaries.

Percentiles use the nearest-rank definition (the smallest sample with at
least ``q`` of the samples at or below it), so every figure reported is a
latency that was actually measured, never an interpolation between two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["LatencySummary", "percentile", "summarize"]


def percentile(sorted_samples: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-quantile (``0 < q <= 1``) of samples sorted ascending.

    Raises ``ValueError`` on no samples or a ``q`` outside ``(0, 1]``.
    """
    if not sorted_samples:
        raise ValueError("no samples: a percentile needs at least one")
    if not 0.0 < q <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {q!r}")
    rank = math.ceil(q * len(sorted_samples))
    return float(sorted_samples[max(1, rank) - 1])


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latencies in milliseconds: how many, and where their distribution lies."""

    samples: int
    p50_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    mean_ms: float | None

    def to_json(self) -> dict[str, Any]:
        """The summary as a JSON object (``null`` figures when there were no samples)."""
        return asdict(self)


def summarize(samples_ms: Sequence[float]) -> LatencySummary:
    """p50, p99, p99.9, max and mean of ``samples_ms`` (all ``None`` when empty)."""
    if not samples_ms:
        return LatencySummary(0, None, None, None, None, None)
    ordered = sorted(samples_ms)
    return LatencySummary(
        samples=len(ordered),
        p50_ms=percentile(ordered, 0.50),
        p99_ms=percentile(ordered, 0.99),
        p999_ms=percentile(ordered, 0.999),
        max_ms=ordered[-1],
        mean_ms=sum(ordered) / len(ordered),
    )
