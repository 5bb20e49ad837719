"""``arena bench priority``: does idle-priority speculation leave real searches alone?

Speculative searches (branches, the engine speculator) run under Linux's
``SCHED_IDLE`` (:mod:`clients.actors.priority`). This benchmark measures what
that promise is worth on this machine: the node rate of a real search (one
Stockfish thread at normal priority, a fixed number of nodes) alone, beside
``busy`` other searches at idle priority, and, for contrast, beside the same
searches at normal priority. The busy searches run ``go infinite`` on every
core the machine has, so the real search competes with them on its own core
too. Modes alternate over ``rounds`` so that drift in the machine's speed
touches all of them alike; each mode's median rate is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from dataclasses import dataclass

import chess
import chess.engine

from clients.actors.engine import find_stockfish
from clients.actors.priority import Priority, set_priority, supported

__all__ = ["MODES", "PriorityResult", "run_priority_bench"]

MODES = ("alone", "beside idle", "beside normal")


@dataclass(frozen=True)
class PriorityResult:
    nodes: int
    busy: int
    rounds: int
    rates: dict[str, list[float]]
    """Nodes per second of the real search, per mode, one per round."""
    supported: bool

    def median(self, mode: str) -> float:
        return statistics.median(self.rates[mode])

    def ratio(self, mode: str) -> float:
        """Median rate in ``mode`` over the median rate alone."""
        return self.median(mode) / self.median("alone")

    def to_json(self) -> dict[str, object]:
        return {
            "nodes": self.nodes,
            "busy": self.busy,
            "rounds": self.rounds,
            "sched_idle": self.supported,
            "median_nps": {m: round(self.median(m)) for m in MODES},
            "ratio_to_alone": {m: round(self.ratio(m), 4) for m in MODES},
            "nps": {m: [round(r) for r in rates] for m, rates in self.rates.items()},
        }


async def _start(
    path: str, priority: Priority
) -> tuple[asyncio.SubprocessTransport, chess.engine.UciProtocol]:
    transport, engine = await chess.engine.popen_uci(path)
    set_priority(transport.get_pid(), priority)
    await engine.configure({"Threads": 1, "Hash": 16})
    return transport, engine


async def _rate(engine: chess.engine.UciProtocol, nodes: int) -> float:
    """Nodes per second of one search of ``nodes`` from the initial position."""
    board = chess.Board()
    started = time.perf_counter()
    info = await engine.analyse(board, chess.engine.Limit(nodes=nodes), game=object())
    elapsed = time.perf_counter() - started
    return float(info.get("nodes", nodes)) / elapsed


async def run_priority_bench(
    nodes: int = 2_000_000, busy: int | None = None, rounds: int = 3
) -> PriorityResult:
    """Measure the real search's node rate alone, beside idle and beside normal searches."""
    path = find_stockfish()
    busy = busy if busy is not None else (os.cpu_count() or 2)
    rates: dict[str, list[float]] = {m: [] for m in MODES}
    real_transport, real = await _start(path, Priority.NORMAL)
    try:
        await _rate(real, nodes // 10)  # warm up
        for _ in range(rounds):
            for mode in MODES:
                others: list[tuple[asyncio.SubprocessTransport, chess.engine.UciProtocol]] = []
                searches: list[chess.engine.SimpleAnalysisResult | chess.engine.AnalysisResult] = []
                try:
                    if mode != "alone":
                        priority = Priority.IDLE if mode == "beside idle" else Priority.NORMAL
                        for _ in range(busy):
                            other = await _start(path, priority)
                            others.append(other)
                            searches.append(await other[1].analysis(chess.Board(), game=object()))
                        await asyncio.sleep(0.2)  # let them get going
                    rates[mode].append(await _rate(real, nodes))
                finally:
                    for search in searches:
                        search.stop()
                    for transport, engine in others:
                        with contextlib.suppress(chess.engine.EngineError, TimeoutError):
                            async with asyncio.timeout(5):
                                await engine.quit()
                        transport.close()
    finally:
        with contextlib.suppress(chess.engine.EngineError, TimeoutError):
            async with asyncio.timeout(5):
                await real.quit()
        real_transport.close()
    return PriorityResult(nodes=nodes, busy=busy, rounds=rounds, rates=rates, supported=supported())
