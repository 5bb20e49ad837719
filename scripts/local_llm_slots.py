"""What a speculative call in a second slot costs the actor's call, on one local
llama.cpp server (the arrangement question of issue 23).

For each position of a few bench openings, the actor's request (the local
player's own prompt, grammar and settings) runs (a) alone on a 1-slot server,
(b) alone on a 2-slot server, (c) on the 2-slot server while a branch-like
request (another position of the same game, generating) runs in the other slot.
Also (d) with the branch queued first on the 1-slot server, and (e, f) with the
branch cancelled (its request closed) just before the actor's call, as the
speculation engine does on a miss. Prints the actor call's median time in each
case and whether its answer and top log-probabilities were identical to (a).

    .venv/bin/python scripts/local_llm_slots.py
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import Any

import httpx

from arena.bench.speculation import OPENINGS
from clients.llm.prompt import actor_prompt, legal_sorted, moves_grammar
from clients.local_llm import MODEL_NAME, LocalLLMOptions, LocalLLMServer
from clients.speculation import Position
from games import get_game, replay

__all__: list[str] = []


def body(moves: tuple[str, ...], *, tokens: int | None = None) -> dict[str, Any]:
    chess = get_game("chess")
    pos = Position(chess, replay(chess, list(moves)), moves)
    legal = legal_sorted(pos)
    prompt = actor_prompt(
        pos, structured=True, show_legal=False, show_board=False, show_state=False, bare=True
    )
    return {
        "model": MODEL_NAME,
        "messages": [{"role": m.role, "content": m.content} for m in prompt],
        "temperature": 0,
        "grammar": moves_grammar(legal, dialect="llguidance"),
        "cache_prompt": True,
        "max_tokens": tokens or max(map(len, legal)),
        "n_probs": 3,
    }


def lines() -> list[tuple[str, ...]]:
    """Positions along the openings, each extended by a few plies of the first legal move."""
    chess = get_game("chess")
    found = []
    for _name, opening in OPENINGS[:4]:
        moves = list(opening)
        for _ in range(6):
            found.append(tuple(moves))
            moves.append(sorted(chess.legal_moves(replay(chess, moves)))[0])
    return found


async def stream(http: httpx.AsyncClient, request: dict[str, Any]) -> None:
    """A branch's call as the local player makes it: streamed, so closing it stops
    the server's work on it at the next token."""
    async with http.stream("POST", "/chat/completions", json={**request, "stream": True}) as r:
        async for _chunk in r.aiter_bytes():
            pass


async def run(slots: int, busy: bool, cancel: bool = False) -> tuple[list[float], list[Any]]:
    server = LocalLLMServer(LocalLLMOptions(slots=slots))
    url = await server.url()
    times: list[float] = []
    answers: list[Any] = []
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            for moves in lines():
                branch = None
                if busy:  # a branch on the position after the opponent's guessed reply
                    chess = get_game("chess")
                    before = sorted(chess.legal_moves(replay(chess, list(moves[:-1]))))
                    other = (*moves[:-1], before[-1] if before[-1] != moves[-1] else before[0])
                    branch = asyncio.create_task(stream(http, body(other, tokens=4)))
                    await asyncio.sleep(0.15)  # the branch has its slot first
                    if cancel:  # a miss: the engine closes the branch's request first
                        branch.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await branch
                        branch = None
                started = time.perf_counter()
                reply = (await http.post("/chat/completions", json=body(moves))).json()
                times.append((time.perf_counter() - started) * 1000)
                choice = reply["choices"][0]
                answers.append((choice["message"]["content"], choice["logprobs"]))
                if branch is not None:
                    with contextlib.suppress(httpx.HTTPError):
                        await branch
    finally:
        await server.close()
    return times, answers


async def main() -> None:
    alone1, ref = await run(1, busy=False)
    alone2, same2 = await run(2, busy=False)
    busy2, shared = await run(2, busy=True)
    busy1, queued = await run(1, busy=True)
    cut1, cancelled1 = await run(1, busy=True, cancel=True)
    cut2, cancelled2 = await run(2, busy=True, cancel=True)
    for name, times, answers in (
        ("1 slot, alone", alone1, ref),
        ("2 slots, alone", alone2, same2),
        ("2 slots, a branch in the other slot", busy2, shared),
        ("1 slot, the branch queued before it", busy1, queued),
        ("1 slot, the branch cancelled as the actor's call starts", cut1, cancelled1),
        ("2 slots, the branch cancelled as the actor's call starts", cut2, cancelled2),
    ):
        moves_same = sum(a[0] == b[0] for a, b in zip(answers, ref, strict=True))
        bits_same = sum(a == b for a, b in zip(answers, ref, strict=True))
        print(
            f"{name}: actor call median {statistics.median(times):.0f} ms, "
            f"mean {statistics.fmean(times):.0f} ms over {len(times)} positions; "
            f"same move {moves_same}/{len(ref)}, same log-probabilities {bits_same}/{len(ref)}"
        )


if __name__ == "__main__":
    asyncio.run(main())
