"""The api-sim simulated remote API: deterministic policy, the paper's hit rates and latencies."""

from __future__ import annotations

import math

import httpx
import pytest

from arena.bench.apisim import (
    RANK_SHARES,
    actor_move,
    api_sim,
    api_sim_process,
    latency_s,
    lognormal_params,
    speculator_ranking,
)

LEGAL = [f"m{i}" for i in range(30)]


def test_policy_is_a_function_of_the_position() -> None:
    """The simulated actor gives the same legal move for the same position."""
    assert actor_move("s1", LEGAL) == actor_move("s1", list(reversed(LEGAL)))
    assert actor_move("s1", LEGAL) in LEGAL


def test_speculator_hit_rates_follow_the_paper() -> None:
    """Over many positions, top-1/2/3 accuracy is close to 31.3%, 41.3%, 54.7%."""
    states = [f"state-{i}" for i in range(4000)]
    for k, expected in ((1, 0.313), (2, 0.413), (3, 0.547)):
        hits = sum(actor_move(s, LEGAL) in speculator_ranking(s, LEGAL, k) for s in states)
        assert abs(hits / len(states) - expected) < 0.025, (k, hits / len(states))
    assert math.isclose(sum(RANK_SHARES), 0.547)


def test_rankings_are_distinct_legal_moves() -> None:
    """A ranking holds k distinct legal moves."""
    ranking = speculator_ranking("s", LEGAL, 3)
    assert len(ranking) == len(set(ranking)) == 3 and set(ranking) <= set(LEGAL)


def test_lognormal_fits() -> None:
    """The fitted lognormals reproduce the paper's actor mean/sd and speculator mean/median."""
    mu, sigma = lognormal_params(221.7, sd=162.0)
    assert math.isclose(math.exp(mu + sigma**2 / 2), 221.7)
    assert math.isclose(math.exp(mu + sigma**2 / 2) * math.sqrt(math.exp(sigma**2) - 1), 162.0)
    mu, sigma = lognormal_params(17.5, median=9.8)
    assert math.isclose(math.exp(mu), 9.8) and math.isclose(math.exp(mu + sigma**2 / 2), 17.5)
    samples = [latency_s("sim-actor", f"p{i}", 1.0) for i in range(3000)]
    assert abs(sum(samples) / len(samples) - 221.7) < 15
    assert latency_s("sim-actor", "same", 0.01) == latency_s("sim-actor", "same", 0.01)


async def test_server_answers_and_charges_tokens() -> None:
    """The endpoint answers a structured actor call with the policy's move and full usage."""
    async with api_sim(scale=0.0001) as (base_url, sim):
        schema = {
            "type": "object",
            "properties": {"move": {"type": "string", "enum": LEGAL}},
            "required": ["move"],
        }
        body = {
            "model": "sim-actor",
            "messages": [{"role": "user", "content": "State: abc\nplay"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "m", "schema": schema},
            },
        }
        async with httpx.AsyncClient() as http:
            reply = (await http.post(f"{base_url}/chat/completions", json=body)).json()
            bad = await http.post(f"{base_url}/chat/completions", json={**body, "model": "gpt-9"})
    assert reply["choices"][0]["message"]["content"] == f'{{"move": "{actor_move("abc", LEGAL)}"}}'
    assert reply["usage"]["total_tokens"] == 12000
    assert bad.status_code == 404 and "sim-actor" in bad.json()["error"]["message"]
    assert sim.stats.calls["sim-actor"] == 1


async def test_the_simulation_runs_in_its_own_process() -> None:
    """api_sim_process serves the same answers from a child process, stopped on exit."""
    body = {
        "model": "sim-actor",
        "messages": [{"role": "user", "content": "State: abc\nLegal moves: m1, m2, m3\nplay"}],
    }
    async with api_sim_process(scale=0.0001) as base_url, httpx.AsyncClient() as http:
        reply = (await http.post(f"{base_url}/chat/completions", json=body)).json()
    assert (
        reply["choices"][0]["message"]["content"]
        == f"Move: {actor_move('abc', ['m1', 'm2', 'm3'])}"
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):  # the process is gone
            await http.post(f"{base_url}/chat/completions", json=body)
