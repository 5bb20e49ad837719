"""Time the local model's moves: two local-llm players play each other from the
bench's openings; prints each player's median and p90 move (server-measured
response), and the peak memory (VmHWM) of each player's llama.cpp server.

    .venv/bin/python scripts/local_llm_moves.py [--games 3] [--plies 30] [SPEC]

SPEC defaults to ``local-llm`` (speculation on, as a user gets it); the first
move of each player (its server starting) is reported apart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
from pathlib import Path

from arena.bench.speculation import OPENINGS
from arena.play import play_game
from arena.store import Store
from clients.players import parse_player_spec

__all__: list[str] = []


def _servers() -> dict[int, int]:
    """Peak RSS in kB of each running clients.local_server process, by pid."""
    peaks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"clients.local_server" not in cmdline:
                continue
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:") and int(line.split()[1]) > 0:
                peaks[int(entry.name)] = int(line.split()[1])
    return peaks


async def _watch(peaks: dict[int, int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for pid, kb in _servers().items():
            peaks[pid] = max(peaks.get(pid, 0), kb)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec", nargs="?", default="local-llm")
    parser.add_argument("--games", type=int, default=3)
    parser.add_argument("--plies", type=int, default=30)
    args = parser.parse_args()
    peaks: dict[int, int] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(peaks, stop))
    firsts: list[float] = []
    rest: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "moves.db")
        for i in range(args.games):
            name, opening = OPENINGS[i % len(OPENINGS)]
            specs = (parse_player_spec(args.spec), parse_player_spec(args.spec))
            result = await play_game(
                db, specs, time_control="none", max_plies=args.plies, opening=opening
            )
            store = await Store.open(db)
            try:
                moves = [m for m in await store.get_moves(result.game_id) if m.ply >= len(opening)]
            finally:
                await store.close()
            times = [float(m.response_ms or 0) for m in moves]
            firsts += times[:2]
            rest += times[2:]
            print(f"game {i + 1} ({name}): {len(moves)} plies, {result.reason}", flush=True)
    stop.set()
    await watcher
    rest.sort()
    p90 = rest[min(len(rest) - 1, int(0.9 * len(rest)))]
    print(
        f"{args.spec}: {len(rest)} moves, median {statistics.median(rest):.0f} ms, "
        f"p90 {p90:.0f} ms, mean {statistics.fmean(rest):.0f} ms; "
        f"first moves (servers starting) {', '.join(f'{t:.0f}' for t in firsts)} ms"
    )
    print("server peak RSS per player:", ", ".join(f"{kb / 1024:.0f} MB" for kb in peaks.values()))
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
