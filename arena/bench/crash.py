"""``arena bench crash``: kill -9 a real ``arena serve`` again and again while bots play.

The harness starts ``python -m arena.cli serve`` on a free loopback port over a
fresh SQLite file, registers four bots, creates a round-robin tournament for
them over the admin API, and runs the bots as SDK clients in this process
(reconnecting with ``hello.resume``). Then, ``kills`` times: it lets the server
run for a random while, kills it with SIGKILL, checks the database
(``PRAGMA integrity_check``; every ``move_ack`` any bot received is stored
with the same move), restarts the server and measures how long it takes to
answer again (``/api/health``), and checks that the restarted server resumed
every unfinished game. At the end it waits for every game a kill cut off to
finish, and reports.

A game *resumed* is one a kill cut off that later finished with a real result
(a win or a draw, not ``abandoned``, ``aborted`` or ``interrupted``) under the
same id: it went on from its stored moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from arena.protocol import MoveAck, ServerMessage
from arena.store import Store

__all__ = ["CrashReport", "KillRecord", "ServerProcess", "free_port", "run_crash_bench"]

BOTS = ("crash-a", "crash-b", "crash-c", "crash-d")
RATED = ("1-0", "0-1", "1/2-1/2")


@dataclass(frozen=True)
class KillRecord:
    """One kill and restart."""

    up_s: float
    """How long the server ran before the kill."""
    acked: int
    """Moves acknowledged to the bots so far (all kills together)."""
    lost: int
    """Acknowledged moves missing from the store after this kill."""
    unfinished: int
    """Games unfinished in the store at the kill."""
    integrity: str
    """``PRAGMA integrity_check`` after the kill."""
    accept_s: float
    """From starting the new server process to its first answer."""
    recovered: int
    """Games the new server process resumed (its ``/api/health``)."""


@dataclass
class CrashReport:
    """What ``run_crash_bench`` measured."""

    kills: list[KillRecord] = field(default_factory=list)
    moves_acked: int = 0
    acked_lost: int = 0
    """Acknowledged moves not in the store at the end (must be 0)."""
    games_cut: int = 0
    """Distinct games that were unfinished at one kill or more."""
    games_resumed: int = 0
    """Of those, games that finished with a real result under the same id."""
    unresumed: dict[str, str] = field(default_factory=dict)
    """Cut games that did not (game id -> status/result/reason)."""
    games_finished: int = 0
    tournament_games_after_last_kill: int = 0
    """Tournament games finished after the last restart (the tournament went on)."""
    integrity_ok: bool = True
    server_errors: list[str] = field(default_factory=list)
    """ERROR lines or tracebacks in the server's log."""
    wall_s: float = 0.0

    @property
    def accept_p50_s(self) -> float:
        return statistics.median(k.accept_s for k in self.kills) if self.kills else 0.0

    @property
    def accept_max_s(self) -> float:
        return max((k.accept_s for k in self.kills), default=0.0)

    @property
    def recovered_all(self) -> bool:
        """Every restart resumed exactly the games left unfinished by the kill."""
        return all(k.recovered == k.unfinished for k in self.kills)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            accept_p50_s=self.accept_p50_s,
            accept_max_s=self.accept_max_s,
            recovered_all=self.recovered_all,
        )
        return data


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _check_db(db: str, acked: set[tuple[str, int, str]]) -> tuple[str, int, int]:
    """``(integrity, acked moves missing, unfinished games)`` of the database file."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        integrity = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
        stored = set(conn.execute("SELECT game_id, ply, move FROM moves"))
        unfinished = conn.execute("SELECT COUNT(*) FROM games WHERE status != 'finished'")
        return integrity, len(acked - stored), int(unfinished.fetchone()[0])
    finally:
        conn.close()


def _unfinished_ids(db: str) -> set[str]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM games WHERE status != 'finished'")}
    finally:
        conn.close()


class ServerProcess:
    """``arena serve`` as a child process; restarted on the same port and file."""

    def __init__(self, db: str, port: int, log_dir: Path, *extra_args: str) -> None:
        self.db = db
        self.port = port
        self.log_dir = log_dir
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        with open(self.log_dir / f"serve-{self.starts}.log", "wb") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "arena.cli",
                    "serve",
                    "--db",
                    self.db,
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                    *self.extra_args,
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    async def start(self, timeout_s: float = 30.0) -> tuple[float, dict[str, Any]]:
        """Start a server process; ``(seconds until it answered, its health)``."""
        started = time.perf_counter()
        self.proc = self._spawn()
        async with httpx.AsyncClient(base_url=self.url, timeout=1.0) as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"arena serve exited with {self.proc.returncode}")
                if time.perf_counter() - started > timeout_s:
                    raise RuntimeError(f"arena serve did not answer within {timeout_s} s")
                with contextlib.suppress(httpx.TransportError):
                    answer = await http.get("/api/health")
                    if answer.status_code == 200:
                        health: dict[str, Any] = answer.json()
                        return time.perf_counter() - started, health
                await asyncio.sleep(0.005)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rss_kb(self) -> int:
        """The server process's resident memory (Linux ``/proc``)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc status")

    def errors(self) -> list[str]:
        lines: list[str] = []
        for path in sorted(self.log_dir.glob("serve-*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if " ERROR " in line or line.startswith(("Traceback", "ERROR:")):
                    lines.append(f"{path.name}: {line}")
        return lines


async def _setup(db: str) -> tuple[str, list[str]]:
    """An admin token and one token per bot, written before the first start."""
    store = await Store.open(db)
    try:
        admin = await store.add_bot("crash-admin", kind="admin")
        admin_token = await store.issue_token(admin.id, scope="admin")
        tokens = []
        for name in BOTS:
            bot = await store.add_bot(name)
            tokens.append(await store.issue_token(bot.id))
        return admin_token, tokens
    finally:
        await store.close()


async def run_crash_bench(
    kills: int = 20,
    *,
    up_s: tuple[float, float] = (0.1, 0.8),
    cycles: int = 100,
    max_plies: int = 40,
    seed: int = 0,
    finish_timeout_s: float = 60.0,
    workdir: str | None = None,
) -> CrashReport:
    """Kill the server ``kills`` times at random moments (``up_s`` after it answered).

    The tournament (``cycles`` round-robins of four bots) is long enough to
    outlast the kills (the server commits thousands of moves a second), so
    that games still start and finish after the last restart."""
    from clients.players import parse_player_spec
    from clients.sdk import BotClient
    from clients.speculation import wait_stopped

    rng = random.Random(seed)
    report = CrashReport()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="arena-crash-", dir=workdir) as tmp:
        db = str(Path(tmp) / "arena.db")
        admin_token, tokens = await _setup(db)
        server = ServerProcess(db, free_port(), Path(tmp))
        acked: set[tuple[str, int, str]] = set()

        def record(msg: ServerMessage) -> None:
            if isinstance(msg, MoveAck):
                acked.add((msg.game_id, msg.ply, msg.move))

        clients = [
            BotClient(
                parse_player_spec(f"random:seed={i}").build(),
                f"ws://127.0.0.1:{server.port}/ws",
                token,
                backoff_s=(0.02, 0.25),
                client_name="arena-bench-crash",
                on_message=record,
            )
            for i, token in enumerate(tokens)
        ]
        tasks: list[asyncio.Task[None]] = []
        try:
            await server.start()
            async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
                answer = await http.post(
                    "/api/tournaments",
                    headers={"Authorization": f"Bearer {admin_token}"},
                    json={
                        "name": "crash",
                        "game": "chess",
                        "format": "round-robin",
                        "openings": "none",
                        "cycles": cycles,
                        "time_control": "60+0",
                        "max_plies": max_plies,
                        "concurrency": 2,
                        "players": [{"name": n, "kind": "external"} for n in BOTS],
                    },
                )
                answer.raise_for_status()
                tournament_id = answer.json()["id"]
            tasks = [asyncio.create_task(c.run()) for c in clients]
            cut: set[str] = set()
            for _ in range(kills):
                up = rng.uniform(*up_s)
                await asyncio.sleep(up)
                server.kill()
                integrity, lost, unfinished = await asyncio.to_thread(_check_db, db, set(acked))
                cut |= await asyncio.to_thread(_unfinished_ids, db)
                accept_s, health = await server.start()
                report.kills.append(
                    KillRecord(
                        up_s=up,
                        acked=len(acked),
                        lost=lost,
                        unfinished=unfinished,
                        integrity=integrity,
                        accept_s=accept_s,
                        recovered=int(health["recovered_games"]),
                    )
                )
            finished_before = await _finished_games(db, tournament_id)
            deadline = time.perf_counter() + finish_timeout_s
            while time.perf_counter() < deadline:
                # Every cut game finished, and the tournament went on past the last
                # kill (a game finished since): else the count below could be read
                # before the next game ends, and say the tournament stopped.
                resumed = not cut & await asyncio.to_thread(_unfinished_ids, db)
                if resumed and await _finished_games(db, tournament_id) > finished_before:
                    break
                await asyncio.sleep(0.05)
            report.tournament_games_after_last_kill = (
                await _finished_games(db, tournament_id) - finished_before
            )
        finally:
            for task in tasks:
                task.cancel()
            await wait_stopped(tasks)
            server.stop()
        integrity, lost, _ = await asyncio.to_thread(_check_db, db, set(acked))
        report.moves_acked = len(acked)
        report.acked_lost = lost
        report.integrity_ok = integrity == "ok" and all(k.integrity == "ok" for k in report.kills)
        report.games_cut = len(cut)
        outcomes = await asyncio.to_thread(_outcomes, db)
        for game_id in sorted(cut):
            status, result, reason = outcomes[game_id]
            if status == "finished" and result in RATED:
                report.games_resumed += 1
            else:
                report.unresumed[game_id] = f"{status} {result} {reason}"
        report.games_finished = sum(1 for s, r, _ in outcomes.values() if s == "finished")
        report.server_errors = server.errors()
    report.wall_s = time.perf_counter() - began
    return report


async def _finished_games(db: str, tournament_id: str) -> int:
    def count() -> int:
        conn = sqlite3.connect(db, timeout=30)
        try:
            row = conn.execute(
                "SELECT COUNT(*) FROM games WHERE tournament_id = ? AND status = 'finished'",
                (tournament_id,),
            ).fetchone()
            return int(row[0])
        finally:
            conn.close()

    return await asyncio.to_thread(count)


def _outcomes(db: str) -> dict[str, tuple[str, str | None, str | None]]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return {
            r[0]: (r[1], r[2], r[3])
            for r in conn.execute("SELECT id, status, result, reason FROM games")
        }
    finally:
        conn.close()
