"""``arena bench load``: many websocket games against real ``arena serve`` processes.

The harness registers ``2 * games`` bots in a fresh database (a SQLite file by
default), starts ``python -m arena.cli serve`` on a free loopback port as a
child process (``servers`` of them on one PostgreSQL database, which then
host games together), connects every bot (:mod:`arena.bench.loadbots`),
lets each pair seek the other, and adds ``spectators`` spectator connections
spread over the games. With several servers, pair ``i`` connects to server
``i mod servers`` (as behind a proxy that keeps a game's players together),
or with ``split`` its second bot to the next server, so that every move is
relayed between processes through the database.
After a warm-up it measures for ``duration_s`` seconds, then stops sending,
waits for every move in flight to be acknowledged, and reports:

- games held: games in progress on the server (``/api/health``), the lowest
  and highest of the samples taken every second of the window;
- moves committed per second: moves stored with a commit time inside the
  window, counted in the database, over the window's length;
- relay latency (move sent by one bot to ``state`` received by its opponent),
  p50 / p99 / p99.9, and the mover's ``move_ack`` and spectators' latencies;
  with ``lichess`` pairs (a websocket bot and a lichess-API bot,
  :mod:`arena.bench.lichessbots`), their relay latency apart, both ways;
- errors: ``error`` frames, connections closed by the server, games that
  ended any other way than at ``max_plies``, ERROR lines in the server log;
- the servers' peak resident memory (``VmHWM``) and CPU use, the generator's
  CPU use, the whole machine's busy CPU (``/proc/stat``: with PostgreSQL it
  includes the database) and its load average, since all of them share the
  machine.

Two modes, named in the report: with ``rate`` moves/s offered over all games
(each game moves every ``games / rate`` seconds), latency is measured at that
offered load; with ``rate == 0`` every bot answers at once (saturation), and
moves/s is the most the server commits, while latency is mostly queueing.

Bounded in count and time: at most :data:`MAX_GAMES` games and
:data:`MAX_SPECTATORS` spectators, set-up, warm-up, window and drain each
have a deadline, and everything listens on and connects to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from sqlalchemy import func, insert, select

from arena.bench.crash import ServerProcess, free_port
from arena.bench.lichessbots import LichessLoadBot
from arena.bench.loadbots import LoadBot, Pair, Recorder, Spectator
from arena.bench.pages import PageReaders, seed_finished_games
from arena.bench.stats import LatencySummary, summarize
from arena.serve import collector_paused
from arena.store import Store, hash_token, now_ms
from arena.store import schema as t
from arena.store.db import database_url, new_token, redact_url
from clients.speculation import wait_stopped
from games.chess import ChessGame

__all__ = [
    "MAX_GAMES",
    "MAX_SERVERS",
    "MAX_SPECTATORS",
    "LoadOptions",
    "LoadReport",
    "run_load_bench",
    "scripted_lines",
]

MAX_GAMES = 5000
"""Most games one run may ask for (two connections each)."""
MAX_SPECTATORS = 4000
"""Most spectators one run may ask for (the server's default cap is 5000)."""
HANDSHAKES_IN_FLIGHT = 32
"""Connections opened at once (the server refuses more than 64 waiting for hello)."""
LINES = 16
"""Distinct scripted lines the games play."""
MAX_SERVERS = 8
"""Most ``arena serve`` processes one run may start."""


@dataclass(frozen=True)
class LoadOptions:
    """What one run of the load bench does."""

    games: int = 1000
    """Games played at once (pairs of bots; each pair plays one game after another)."""
    spectators: int = 100
    """Spectator connections, spread over the games."""
    rate: float | None = None
    """Moves per second offered over all games; ``None``: 2 per game (a move every
    0.5 s in each game); ``0``: every bot answers at once (saturation)."""
    duration_s: float = 30.0
    """Length of the measuring window."""
    warmup_s: float = 5.0
    """Play before the window opens, once every game has started."""
    max_plies: int = 200
    """Plies per game; a pair that finishes one game seeks the next."""
    time_control: str = "300+5"
    setup_timeout_s: float = 180.0
    """Deadline for connecting every client and starting every game."""
    drain_timeout_s: float = 30.0
    """Deadline for the moves in flight at the end to be acknowledged."""
    seed: int = 0
    servers: int = 1
    """``arena serve`` processes; more than one needs a PostgreSQL database."""
    split: bool = False
    """Put the two bots of a game on different servers (with ``servers > 1``)."""
    stored_games: int = 0
    """Finished games stored before the server starts (:mod:`arena.bench.pages`)."""
    page_readers: int = 0
    """Clients reloading ``/``, ``/api/leaderboard`` and a player page during the window."""
    lichess: int = 0
    """Pairs (of ``games``) whose second bot plays over the lichess Bot API (HTTP and
    NDJSON, :mod:`arena.bench.lichessbots`) instead of the websocket protocol."""

    @property
    def offered_rate(self) -> float:
        """Moves per second offered (0 in saturation mode)."""
        return 2.0 * self.games if self.rate is None else self.rate

    @property
    def mode(self) -> Literal["rate", "saturation"]:
        return "saturation" if self.offered_rate == 0 else "rate"

    def check(self) -> None:
        """Raise ``ValueError`` naming the first option out of bounds."""
        if not 1 <= self.games <= MAX_GAMES:
            raise ValueError(f"--games must be 1..{MAX_GAMES}, got {self.games}")
        if not 0 <= self.spectators <= MAX_SPECTATORS:
            raise ValueError(f"--spectators must be 0..{MAX_SPECTATORS}, got {self.spectators}")
        if self.offered_rate < 0:
            raise ValueError(f"--rate must be 0 (saturation) or positive, got {self.rate}")
        if not 0 < self.duration_s <= 3600 or not 0 <= self.warmup_s <= 600:
            raise ValueError("--duration must be in (0, 3600] s and --warmup in [0, 600] s")
        if not 2 <= self.max_plies <= 1000:
            raise ValueError(f"--max-plies must be 2..1000, got {self.max_plies}")
        if not 1 <= self.servers <= MAX_SERVERS:
            raise ValueError(f"--servers must be 1..{MAX_SERVERS}, got {self.servers}")
        if self.split and self.servers < 2:
            raise ValueError("--split needs --servers 2 or more")
        if not 0 <= self.stored_games <= 100_000 or not 0 <= self.page_readers <= 64:
            raise ValueError("--stored-games must be 0..100000 and --page-readers 0..64")
        if not 0 <= self.lichess <= self.games:
            raise ValueError(f"--lichess must be 0..--games ({self.games}), got {self.lichess}")


_SUMMARIES = (
    "relay",
    "ack",
    "spectator",
    "pages",
    "lichess_relay",
    "lichess_relay_in",
    "lichess_relay_out",
)


@dataclass
class LoadReport:
    """What one run measured."""

    mode: str
    """``rate`` (latency at an offered load) or ``saturation`` (every bot answers at once)."""
    offered_moves_per_s: float | None
    games: int
    spectators: int
    window_s: float
    window_wall_ms: tuple[float, float]
    """The window on the wall clock (ms since the epoch), as stored commit times are."""
    games_held_min: int
    """Fewest games in progress on the server in any sample of the window."""
    games_held_max: int
    moves_committed: int
    """Moves stored with a commit time inside the window (counted in the database)."""
    moves_per_s: float
    relay: LatencySummary
    ack: LatencySummary
    spectator: LatencySummary
    errors: int
    error_texts: list[str]
    moves_sent: int
    moves_acked: int
    """Acknowledgements received over the whole run."""
    moves_stored: int
    """Moves in the database at the end (equal to ``moves_acked`` when nothing is in flight)."""
    moves_unacked: int
    """Moves still unacknowledged when the drain deadline passed (0 normally)."""
    games_started: int
    games_finished: int
    spectator_frames: int
    server_peak_rss_mb: float
    """Peak resident memory of the servers, summed."""
    server_cpu_share: float
    """Server CPU seconds per second of the window (1.0 = one core busy), all servers."""
    generator_cpu_share: float
    """The same for this load-generator process."""
    machine_cpu_share: float
    """Busy CPU of the whole machine over the window, in cores (all processes,
    the database server included)."""
    servers: int
    split: bool
    per_server_cpu_share: list[float]
    per_server_peak_rss_mb: list[float]
    load_average: tuple[float, float]
    """1-minute load average before the run and at the end of the window."""
    setup_s: float
    server_errors: list[str] = field(default_factory=list)
    stored_games: int = 0
    page_readers: int = 0
    pages: LatencySummary = field(default_factory=lambda: summarize([]))
    """Latency of the page readers' requests (``/``, ``/api/leaderboard``, a player page)."""
    page_errors: list[str] = field(default_factory=list)
    pages_limited: int = 0
    """Page requests answered 429 (the server's per-address page rate)."""
    lichess_pairs: int = 0
    """Games between a websocket bot and a lichess-API bot (``relay`` excludes them)."""
    lichess_relay: LatencySummary | None = None
    """Relay latency of those games, both ways (``None`` without any)."""
    lichess_relay_in: LatencySummary | None = None
    """Of which: websocket move -> the lichess bot's NDJSON ``gameState``."""
    lichess_relay_out: LatencySummary | None = None
    """And: the lichess bot's POSTed move -> its websocket partner's ``state``."""

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object."""
        data = asdict(self)
        for name in _SUMMARIES:
            summary = getattr(self, name)
            data[name] = None if summary is None else summary.to_json()
        return data


def scripted_lines(count: int, plies: int, seed: int = 0) -> list[list[str]]:
    """``count`` random lines of ``plies`` legal chess moves, none of which ends the game.

    Drawn with python-chess through :class:`games.chess.ChessGame` (the
    arena's own rules, automatic draws included), so every move is legal
    where it is played and no game ends before ``max_plies``.
    """
    game = ChessGame()
    rng = random.Random(seed)
    lines: list[list[str]] = []
    while len(lines) < count:
        state = game.initial_state()
        line: list[str] = []
        while len(line) < plies:
            moves = game.legal_moves(state)
            rng.shuffle(moves)
            for move in moves:
                after = game.apply(state, move)
                if game.outcome(after) is None:
                    state = after
                    line.append(move)
                    break
            else:
                break  # every move ends the game: draw a new line
        if len(line) == plies:
            lines.append(line)
    return lines


async def _register(db: str, games: int) -> list[tuple[str, str]]:
    """Register ``2 * games`` bots with a token each, in one transaction; (name, token).

    The database must be fresh (no bot yet): the counts of stored moves are
    the whole database's.
    """
    store = await Store.open(db)
    try:
        async with store.engine.connect() as conn:
            existing = (await conn.execute(select(func.count()).select_from(t.bots))).scalar()
        if existing:
            raise ValueError(
                f"{redact_url(db)} already holds {existing} bots; "
                "the load bench needs a fresh database"
            )
        created = int(now_ms())
        names = [f"load-{i:05d}" for i in range(2 * games)]
        tokens = [new_token() for _ in names]
        async with store.engine.begin() as conn:
            await conn.execute(
                insert(t.bots),
                [{"name": n, "kind": "external", "created_at": created} for n in names],
            )
            result = await conn.execute(select(t.bots.c.name, t.bots.c.id))
            ids = {str(name): int(bot_id) for name, bot_id in result}
            await conn.execute(
                insert(t.tokens),
                [
                    {
                        "bot_id": ids[n],
                        "token_hash": hash_token(tok),
                        "scope": "bot",
                        "created_at": created,
                    }
                    for n, tok in zip(names, tokens, strict=True)
                ],
            )
        return list(zip(names, tokens, strict=True))
    finally:
        await store.close()


def _fresh_db(tmp: str, db: str | None, servers: int) -> str:
    """The database to use: ``db`` (a SQLite path that must not exist yet, or a
    database URL), or a SQLite file in ``tmp``."""
    if servers > 1 and not (db and database_url(db).startswith("postgresql")):
        raise ValueError(
            f"--servers {servers} needs a PostgreSQL database (--db postgresql://...): "
            "several processes host games together only through one"
        )
    if db is None:
        return str(Path(tmp) / "arena.db")
    if "://" not in db and Path(db).exists():
        raise ValueError(f"{db} exists; the load bench needs a fresh database")
    return db


async def _moves_stored(db: str, window_ms: tuple[float, float]) -> tuple[int, int]:
    """(moves stored in all, moves whose commit time is inside the window)."""
    store = await Store.open(db)
    try:
        count = select(func.count()).select_from(t.moves)
        async with store.engine.connect() as conn:
            total = (await conn.execute(count)).scalar()
            inside = (
                await conn.execute(
                    count.where(
                        t.moves.c.committed_at >= window_ms[0],
                        t.moves.c.committed_at < window_ms[1],
                    )
                )
            ).scalar()
        return int(total or 0), int(inside or 0)
    finally:
        await store.close()


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores, ``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _proc_status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _live_games(http: httpx.AsyncClient) -> int | None:
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
        answer = await http.get("/api/health")
        return int(answer.json()["live_games"])
    return None


async def run_load_bench(
    options: LoadOptions,
    *,
    progress: Callable[[str], None] | None = None,
    workdir: str | None = None,
    db: str | None = None,
    server_args: Sequence[str] = (),
) -> LoadReport:
    """Run the load bench (see the module docstring) and return what it measured.

    The database is a fresh SQLite file in a temporary directory (in
    ``workdir``), or ``db`` when given: a SQLite path that must not exist yet
    (it is kept), or a URL of an empty database (PostgreSQL for several
    servers).
    """
    options.check()
    say = progress or (lambda _line: None)
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    lines = scripted_lines(LINES, options.max_plies, options.seed)
    rng = random.Random(options.seed)
    with tempfile.TemporaryDirectory(prefix="arena-load-", dir=workdir) as tmp:
        db = _fresh_db(tmp, db, options.servers)
        accounts = await _register(db, options.games)
        seeded = 0
        if options.stored_games:
            say(f"storing {options.stored_games} finished games")
            await seed_finished_games(db, options.stored_games, options.seed)
            seeded, _ = await _moves_stored(db, (0.0, 0.0))
        servers = []
        for n in range(options.servers):
            log_dir = Path(tmp) / f"server-{n}"
            log_dir.mkdir()
            servers.append(ServerProcess(db, free_port(), log_dir, *server_args))
        rec = Recorder(games_target=options.games)
        interval = 0.0 if options.mode == "saturation" else options.games / options.offered_rate
        pairs = [
            Pair(i, (accounts[2 * i][0], accounts[2 * i + 1][0]), lines)
            for i in range(options.games)
        ]

        def url_of(pair: int, me: int = 0) -> str:
            server = servers[(pair + (me if options.split else 0)) % len(servers)]
            return f"ws://127.0.0.1:{server.port}"

        lichess = pairs[: options.lichess]  # the second bot of these plays over HTTP
        bots = [
            LoadBot(
                pair,
                me,
                accounts[2 * pair.index + me][1],
                f"{url_of(pair.index, me)}/ws",
                rec,
                interval_s=interval,
                time_control=options.time_control,
                max_plies=options.max_plies,
                rng=rng,
                seeks=pair not in lichess,
            )
            for pair in pairs
            for me in (0, 1)
            if me == 0 or pair not in lichess
        ]
        http_bots: list[httpx.AsyncClient] = []
        lichess_bots: list[LichessLoadBot] = []
        if lichess:
            # One client (connection pool) per bot, as separate lichess bots would be:
            # a pool shared by hundreds of long-lived streams slows every request it makes.
            for pair in lichess:
                port = servers[(pair.index + (1 if options.split else 0)) % len(servers)].port
                http_bots.append(httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60))
            lichess_bots = [
                LichessLoadBot(
                    pair,
                    accounts[2 * pair.index + 1][1],
                    http,
                    rec,
                    interval_s=interval,
                    time_control=options.time_control,
                    max_plies=options.max_plies,
                    rng=rng,
                )
                for pair, http in zip(lichess, http_bots, strict=True)
            ]
        spectators = [
            Spectator(pairs[i % len(pairs)], url_of(i % len(pairs)), rec)
            for i in range(options.spectators)
        ]
        tasks: list[asyncio.Task[None]] = []
        # No collection in the generator during the run (set-up done): its thousands
        # of connections make the same young-generation pauses as the server's,
        # which the latency figures would charge to the server.
        with collector_paused():
            try:
                pids = []
                for server in servers:
                    await server.start()
                    assert server.proc is not None
                    pids.append(server.proc.pid)
                    say(f"arena serve pid {server.proc.pid} on port {server.port}")
                say(f"connecting {len(bots)} bots")
                gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)
                async with asyncio.timeout(options.setup_timeout_s):
                    await asyncio.gather(*(bot.connect(gate) for bot in bots))
                    tasks += [asyncio.create_task(bot.run()) for bot in bots]
                    tasks += [asyncio.create_task(bot.run()) for bot in lichess_bots]
                    await rec.all_started.wait()
                    say(f"{rec.games_started} games started; {len(spectators)} spectators joining")
                    tasks += [asyncio.create_task(s.run(gate)) for s in spectators]
                setup_s = time.perf_counter() - began
                readers = PageReaders(servers[0].url, options.page_readers)
                readers.start()  # from the warm-up on: the window sees readers in their stride
                await asyncio.sleep(options.warmup_s)
                https = [httpx.AsyncClient(base_url=srv.url, timeout=10.0) for srv in servers]
                try:
                    held: list[int] = []
                    cpu0 = [_proc_cpu_s(pid) for pid in pids]
                    own0, busy0 = _own_cpu_s(), _machine_busy_s()
                    t0, wall0 = time.perf_counter(), now_ms()
                    rec.window = readers.window = (t0, t0 + options.duration_s)
                    say(f"measuring for {options.duration_s:g} s ({options.mode})")
                    while time.perf_counter() < rec.window[1]:
                        live = await asyncio.gather(*(_live_games(http) for http in https))
                        if None not in live:
                            held.append(sum(n for n in live if n is not None))
                        await asyncio.sleep(min(1.0, max(0.0, rec.window[1] - time.perf_counter())))
                    t1, wall1 = time.perf_counter(), now_ms()
                    cpu1 = [_proc_cpu_s(pid) for pid in pids]
                    own1, busy1 = _own_cpu_s(), _machine_busy_s()
                finally:
                    await readers.stop()
                    for http in https:
                        await http.aclose()
                load_after = os.getloadavg()[0]
                rec.stop()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(options.drain_timeout_s):
                        await rec.drained.wait()
                say(f"window over; {rec.outstanding} moves unacknowledged after the drain")
                total, inside = await _moves_stored(db, (wall0, wall1))
                peak_mb = [_proc_status_kb(pid, "VmHWM") / 1024.0 for pid in pids]
            finally:
                for bot in bots:
                    await bot.close()
                for lichess_bot in lichess_bots:
                    await lichess_bot.close()
                for spectator in spectators:
                    await spectator.close()
                for task in tasks:
                    task.cancel()
                await wait_stopped(tasks)
                for server in servers:
                    server.stop()
                for client in http_bots:
                    await client.aclose()
        server_errors = [line for server in servers for line in server.errors()]
        window = t1 - t0
        cpu_shares = [(b - a) / window for a, b in zip(cpu0, cpu1, strict=True)]
        return LoadReport(
            mode=options.mode,
            offered_moves_per_s=None if options.mode == "saturation" else options.offered_rate,
            games=options.games,
            spectators=options.spectators,
            window_s=window,
            window_wall_ms=(wall0, wall1),
            games_held_min=min(held, default=0),
            games_held_max=max(held, default=0),
            moves_committed=inside,
            moves_per_s=inside / window,
            relay=summarize(rec.relay_ms),
            ack=summarize(rec.ack_ms),
            spectator=summarize(rec.spectator_ms),
            errors=rec.errors + len(server_errors) + len(readers.errors),
            error_texts=rec.error_texts,
            moves_sent=rec.sent,
            moves_acked=rec.acked,
            moves_stored=total - seeded,
            moves_unacked=rec.outstanding,
            games_started=rec.games_started,
            games_finished=rec.games_finished,
            spectator_frames=rec.spectator_frames,
            server_peak_rss_mb=sum(peak_mb),
            server_cpu_share=sum(cpu_shares),
            generator_cpu_share=(own1 - own0) / window,
            machine_cpu_share=(busy1 - busy0) / window,
            servers=options.servers,
            split=options.split,
            per_server_cpu_share=cpu_shares,
            per_server_peak_rss_mb=peak_mb,
            load_average=(load_before, load_after),
            setup_s=setup_s,
            server_errors=server_errors[:20],
            stored_games=options.stored_games,
            page_readers=options.page_readers,
            pages=summarize(readers.latencies_ms),
            page_errors=readers.errors[:20],
            pages_limited=readers.limited,
            lichess_pairs=len(lichess),
            lichess_relay=summarize(rec.lichess_in_ms + rec.lichess_out_ms) if lichess else None,
            lichess_relay_in=summarize(rec.lichess_in_ms) if lichess else None,
            lichess_relay_out=summarize(rec.lichess_out_ms) if lichess else None,
        )
