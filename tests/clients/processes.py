"""Run `arena` commands as separate processes (as an outside bot author would)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARENA = Path(sys.executable).parent / "arena"


async def run_arena(*args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> str:
    """Run ``arena ARGS`` from the project root; returns its output, fails on a non-zero exit.

    The process is killed if it outlives ``timeout`` or the test is cancelled."""
    proc = await asyncio.create_subprocess_exec(
        str(ARENA),
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode()
    assert proc.returncode == 0, f"arena {' '.join(args)} exited {proc.returncode}:\n{text}"
    return text
