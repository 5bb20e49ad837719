"""``arena bench speculation`` end to end, at a small scale: the command plays the
pairings off and on over a real server and prints figures that follow from each other."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from arena.cli import main


def test_the_pipelined_api_sim_bench_prints_its_settings_and_consistent_figures() -> None:
    """One api-sim pairing (latencies scaled to about 0.1 s), pipelined: the JSON names
    the settings used, both modes played the same plies and the same moves, and the
    derived figures are those of the measured ones."""
    result = CliRunner().invoke(
        main,
        [
            "bench", "speculation", "--workload", "api-sim", "--games", "1", "--plies", "6",
            "--k", "3", "--depth", "3", "--max-branches", "5", "--threshold", "0.05",
            "--scale", "0.0005", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout[result.stdout.index("{") :])
    settings = {key: figures[key] for key in ("k", "depth", "own_k", "max_branches", "threshold")}
    assert settings == {"k": 3, "depth": 3, "own_k": 1, "max_branches": 5, "threshold": 0.05}
    assert figures["plies_off"] == figures["plies_on"] == 6
    assert figures["identical_moves"] is True
    assert 0 < figures["predicted_moves"] <= 6
    assert figures["ratio"] == pytest.approx(figures["wall_on_s"] / figures["wall_off_s"], abs=1e-3)
    assert figures["saved_share"] == pytest.approx(1 - figures["ratio"], abs=1e-3)
    assert figures["token_overhead"] > 1  # the speculator's calls cost tokens
