"""api-sim: a SIMULATED remote LLM API, OpenAI-compatible, for ``arena bench``.

This is a labelled simulation of the remote models of the paper's chess
experiment (arXiv 2510.04371), not a model: it answers
``POST /v1/chat/completions`` after a delay drawn from the paper's latency
figures (scaled down), with a deterministic policy, and reports token usage
like the paper's calls. The speculation engine, the LLM actor and speculator
(the real ``openai`` client code) and the arena under test are the real code.

- **Policy** (model ``sim-actor``): the move is a pure function of the position
  (the prompt's ``State:`` line) and its legal moves (the JSON schema's
  ``enum``, or the prompt's ``Legal moves:`` line), so speculation on and off
  play the same game.
- **Speculator** (model ``sim-speculator``): the actor's move is at rank 1 with
  probability 31.3%, rank 2 with 10.0% and rank 3 with 13.4%, so the top-1/2/3
  hit rates follow the paper's table (31.3%, 41.3%, 54.7%); the draw is seeded
  by the position, so it is the same in every run.
- **Latency**: actor lognormal with the paper's mean 221.7 s and standard
  deviation 162 s (its median is then 179 s; the paper's was 209.7 s);
  speculator lognormal with the paper's mean 17.5 s and median 9.8 s. Both are
  multiplied by ``scale`` and drawn from a seed of the position and model, so
  the same position waits the same time with speculation on and off.
- **Tokens**: an actor call costs 1,500 prompt + 10,500 completion tokens (the
  paper's ~12k), a speculator call 1,500 + 500 (~2k). Replies stream in 20
  chunks spread over the delay, each carrying the cumulative usage so far (as
  vLLM's continuous usage stats do), so a call cancelled part-way is charged
  the prompt and the share of completion tokens produced by then, as a
  streaming API would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import random
import re
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from arena.serve import serve_asgi

__all__ = ["ApiSim", "SimStats", "api_sim", "api_sim_process", "lognormal_params"]

ACTOR_MODEL = "sim-actor"
SPECULATOR_MODEL = "sim-speculator"
RANK_SHARES = (0.313, 0.100, 0.134)
"""Probability that the actor's move is at rank 1, 2, 3 of the speculator's answer."""
CHUNKS = 20
TOKENS = {ACTOR_MODEL: (1500, 10500), SPECULATOR_MODEL: (1500, 500)}

_STATE = re.compile(r"^State: (.+)$", re.MULTILINE)
_LEGAL = re.compile(r"^Legal moves: (.+)$", re.MULTILINE)


def lognormal_params(
    mean: float, *, sd: float | None = None, median: float | None = None
) -> tuple[float, float]:
    """(mu, sigma) of a lognormal with the given mean and either sd or median."""
    if sd is not None:
        sigma2 = math.log(1.0 + (sd / mean) ** 2)
    elif median is not None:
        sigma2 = 2.0 * math.log(mean / median)
    else:
        raise ValueError("give sd or median")
    return math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)


LATENCY = {
    ACTOR_MODEL: lognormal_params(221.7, sd=162.0),
    SPECULATOR_MODEL: lognormal_params(17.5, median=9.8),
}


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")


def actor_move(state: str, legal: list[str]) -> str:
    """The simulated actor's policy: a pure function of the position."""
    ordered = sorted(legal)
    return ordered[_seed("move", state) % len(ordered)]


def speculator_ranking(state: str, legal: list[str], k: int) -> list[str]:
    """The simulated speculator's top-k, with the actor's move placed per RANK_SHARES."""
    truth = actor_move(state, legal)
    rng = random.Random(_seed("rank", state))
    draw = rng.random()
    rank = None
    cumulative = 0.0
    for i, share in enumerate(RANK_SHARES):
        cumulative += share
        if draw < cumulative:
            rank = i
            break
    others = sorted(m for m in legal if m != truth)
    rng.shuffle(others)
    ranking = others[: max(k, 3)]
    if rank is not None:
        ranking.insert(rank, truth)
    return ranking[:k]


def latency_s(model: str, state: str, scale: float) -> float:
    mu, sigma = LATENCY[model]
    rng = random.Random(_seed("latency", model, state))
    return rng.lognormvariate(mu, sigma) * scale


@dataclass
class SimStats:
    """What the simulated API served (for the bench's report)."""

    calls: dict[str, int] = field(default_factory=lambda: {ACTOR_MODEL: 0, SPECULATOR_MODEL: 0})
    cancelled: int = 0
    charged_tokens: int = 0


def _enum_and_k(body: dict[str, Any]) -> tuple[list[str] | None, int]:
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
    props = schema.get("properties", {})
    if "move" in props:
        return list(props["move"].get("enum") or []) or None, 1
    if "moves" in props:
        items = props["moves"].get("items", {})
        enum = items.get("properties", {}).get("move", {}).get("enum")
        return (list(enum) if enum else None), int(props["moves"].get("maxItems", 1))
    return None, 1


def _parse(body: dict[str, Any]) -> tuple[str, list[str], int, bool]:
    """(state, legal moves, k, structured) from a chat completion request."""
    text = "\n".join(
        str(m.get("content", "")) for m in body.get("messages", []) if isinstance(m, dict)
    )
    state_match = _STATE.findall(text)
    if not state_match:
        raise ValueError("the prompt has no 'State: ...' line")
    enum, k = _enum_and_k(body)
    structured = enum is not None
    if enum is None:
        legal_match = _LEGAL.findall(text)
        if not legal_match:
            raise ValueError("no legal moves in the schema or the prompt")
        enum = [m.strip() for m in legal_match[-1].split(",") if m.strip()]
        k = 3
    return state_match[-1].strip(), enum, k, structured


class ApiSim:
    """The simulated API's request handling (see the module docstring)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.stats = SimStats()

    def answer(self, model: str, state: str, legal: list[str], k: int, structured: bool) -> str:
        if model == ACTOR_MODEL:
            move = actor_move(state, legal)
            return json.dumps({"move": move}) if structured else f"Move: {move}"
        ranking = speculator_ranking(state, legal, k)
        probs = [round(0.6 / (i + 1), 3) for i in range(len(ranking))]
        payload = {"moves": [{"move": m, "prob": p} for m, p in zip(ranking, probs, strict=True)]}
        return json.dumps(payload)

    async def completions(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ClientDisconnect:  # a cancelled call, gone before its body arrived
            return Response(status_code=499)
        model = body.get("model")
        if model not in TOKENS:
            return JSONResponse(
                {
                    "error": {
                        "message": f"unknown model {model!r}; use {ACTOR_MODEL} or "
                        f"{SPECULATOR_MODEL}"
                    }
                },
                status_code=404,
            )
        try:
            state, legal, k, structured = _parse(body)
        except ValueError as exc:
            return JSONResponse({"error": {"message": str(exc)}}, status_code=400)
        self.stats.calls[model] += 1
        content = self.answer(model, state, legal, k, structured)
        delay = latency_s(model, state, self.scale)
        prompt_tokens, completion_tokens = TOKENS[model]
        created = int(time.time())
        if not body.get("stream"):
            await asyncio.sleep(delay)  # the simulated model's thinking time
            self.stats.charged_tokens += prompt_tokens + completion_tokens
            return JSONResponse(
                {
                    "id": f"sim-{created}",
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": _usage(prompt_tokens, completion_tokens),
                }
            )
        return StreamingResponse(
            self._stream(model, content, delay, prompt_tokens, completion_tokens, created),
            media_type="text/event-stream",
        )

    async def _stream(
        self, model: str, content: str, delay: float, prompt: int, completion: int, created: int
    ) -> AsyncIterator[str]:
        size = len(content)
        pieces = [content[size * i // CHUNKS : size * (i + 1) // CHUNKS] for i in range(CHUNKS)]
        charged = prompt
        finished = False
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            for i, piece in enumerate(pieces):
                # The simulated model producing tokens. Each chunk is due at a fixed
                # share of the drawn delay from the start, so that event-loop lateness
                # does not add up over the chunks: the call lasts the drawn delay.
                await asyncio.sleep(max(0.0, start + delay * (i + 1) / CHUNKS - loop.time()))
                produced = completion * (i + 1) // CHUNKS
                charged = prompt + produced
                chunk = {
                    "id": f"sim-{created}",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                    "usage": _usage(prompt, produced),
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            final = {
                "id": f"sim-{created}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": _usage(prompt, completion),
            }
            yield f"data: {json.dumps(final)}\n\n"
            yield "data: [DONE]\n\n"
            finished = True
        finally:
            self.stats.charged_tokens += charged
            if not finished:
                self.stats.cancelled += 1


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


@contextlib.asynccontextmanager
async def api_sim(scale: float = 0.005) -> AsyncIterator[tuple[str, ApiSim]]:
    """Serve the simulated API in this event loop on a free loopback port; yields
    (base_url, sim). For tests that read the sim's statistics."""
    sim = ApiSim(scale)
    app = Starlette(routes=[Route("/v1/chat/completions", sim.completions, methods=["POST"])])
    async with serve_asgi(app, "127.0.0.1", 0) as port:
        yield f"http://127.0.0.1:{port}/v1", sim


@contextlib.asynccontextmanager
async def api_sim_process(scale: float = 0.005) -> AsyncIterator[str]:
    """Serve the simulated API from its own process on a free loopback port; yields
    its base URL. A remote API does not share the players' event loop or CPU
    time, so the benchmark runs its simulation of one apart from the players:
    in the same loop, the simulation's streaming took a third of the CPU of a
    pipelined run and delayed the players' own work."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arena.bench.apisim",
        "--scale",
        repr(scale),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = (await process.stdout.readline()).decode().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"the api-sim process did not start (it printed {line!r})")
        yield line
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def _serve_forever(scale: float) -> None:
    async with api_sim(scale) as (url, _sim):
        print(url, flush=True)
        await asyncio.Event().wait()  # until the parent terminates this process


def main() -> None:
    """``python -m arena.bench.apisim``: serve the simulation until terminated,
    after printing its base URL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=0.005, help="latency scale")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.scale))


if __name__ == "__main__":
    main()
