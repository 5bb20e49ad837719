"""Percentiles and latency summaries of the benchmarks (arena.bench.stats)."""

from __future__ import annotations

import pytest

from arena.bench.stats import percentile, summarize


def test_percentile_is_nearest_rank() -> None:
    """A percentile is a measured sample: the smallest with at least q of them at or below."""
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 0.50) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile(samples, 0.999) == 100.0
    assert percentile(samples, 1.0) == 100.0
    assert percentile([7.0], 0.5) == 7.0


def test_percentile_refuses_no_samples_and_bad_quantiles() -> None:
    """No samples, or a quantile outside (0, 1], is an error naming the problem."""
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="quantile"):
        percentile([1.0], 0.0)
    with pytest.raises(ValueError, match="quantile"):
        percentile([1.0], 1.5)


def test_summarize_orders_samples_and_handles_none() -> None:
    """A summary sorts its samples; an empty one has no figures rather than zeros."""
    summary = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (summary.samples, summary.p50_ms, summary.max_ms, summary.mean_ms) == (5, 3.0, 5.0, 3.0)
    assert summary.p50_ms <= summary.p99_ms <= summary.p999_ms <= summary.max_ms  # type: ignore[operator]
    empty = summarize([])
    assert empty.samples == 0 and empty.p99_ms is None
    assert empty.to_json()["p999_ms"] is None
