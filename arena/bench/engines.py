"""``arena bench engines``: an engine match through the arena against a direct-UCI harness.

Engine testers compare a tournament server with tools that run N games at once
with an engine process per player per game (cutechess-cli, fastchess). This
benchmark plays one match twice in one run:

- **reference**: a minimal harness on python-chess alone, with no server: for
  each game two fresh engine processes, the position after the opening, and a
  search per move (a fresh engine "game" each time, as the arena's engine
  player does, so a move depends only on the position); games at once as
  ``concurrency`` says;
- **arena**: the same games as a tournament (two players, the same openings,
  colours swapped, the same limits and concurrency) through the embedded
  server, websockets, the SDK and the SQLite store, speculation off;
- with ``--spec``: the arena again with that speculation on both players.

Deterministic engines (fixed nodes, one thread) play identical games in every
mode; the benchmark checks it and fails loudly when they differ, rather than
print a ratio of two different matches. It prints the wall-clocks and their
ratios, plies, and the arena's *harness overhead* per move of a player that
does not speculate: the server-measured response time minus the actor call
the player reported (p50/p99).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import chess
import chess.engine

from arena.store import Store
from arena.tournament.config import config_from_dict
from arena.tournament.formats import Pairing, plan
from arena.tournament.openings import bundled_openings, opening_position
from arena.tournament.runner import TournamentRunner
from clients.actors.engine import EngineOptions, find_stockfish
from clients.players import PlayerSpec, parse_player_spec
from games import get_game

__all__ = ["EngineBench", "EngineBenchResult", "MovesDifferError", "percentile"]

NAMES = ("white", "black")
"""The two players' names in the plan (the first is White in the first game)."""


class MovesDifferError(RuntimeError):
    """Two modes played different games: their wall-clocks cannot be compared."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) of ``values``, nearest rank; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class ModeRun:
    """One mode's match: its wall-clock and each game's moves by pairing key."""

    mode: str
    wall_s: float
    games: dict[str, tuple[str, ...]]
    overhead_ms: list[float] = field(default_factory=list)
    """Per move of a player that does not speculate: response - actor (ms)."""
    miss_overhead_ms: list[float] = field(default_factory=list)
    """Per move on which a speculating player missed: response - actor (ms), what a
    miss costs the mover beyond its actor call (the harness's own share included)."""
    miss_wait_ms: list[float] = field(default_factory=list)
    """The same moves seen by the player: its wait (from learning the position to
    deciding) minus the actor call, i.e. the speculation engine's own cost of a miss."""
    predicted: int = 0
    hits: int = 0
    saved_s: float = 0.0
    backoffs: int = 0
    """Moves played while a player's adaptive policy had backed off."""

    @property
    def plies(self) -> int:
        return sum(len(m) for m in self.games.values())


@dataclass(frozen=True)
class EngineBenchResult:
    white: str
    black: str
    games: int
    concurrency: int
    max_plies: int | None
    spec: str | None
    reference: ModeRun
    arena: ModeRun
    arena_spec: ModeRun | None
    identical_moves: bool

    @property
    def ratio(self) -> float:
        """Arena (speculation off) wall-clock over the reference's."""
        return self.arena.wall_s / self.reference.wall_s

    @property
    def spec_ratio(self) -> float | None:
        """Speculation on over off, both through the arena."""
        return None if self.arena_spec is None else self.arena_spec.wall_s / self.arena.wall_s

    @property
    def overhead_p50_ms(self) -> float | None:
        return percentile(self.arena.overhead_ms, 0.5)

    @property
    def overhead_p99_ms(self) -> float | None:
        return percentile(self.arena.overhead_ms, 0.99)

    def to_json(self) -> dict[str, Any]:
        def mode(run: ModeRun | None) -> dict[str, Any] | None:
            if run is None:
                return None
            out = asdict(run)
            del out["games"], out["overhead_ms"], out["miss_overhead_ms"], out["miss_wait_ms"]
            out["plies"] = run.plies
            out["misses"] = len(run.miss_overhead_ms)
            out["miss_overhead_p50_ms"] = percentile(run.miss_overhead_ms, 0.5)
            out["miss_overhead_p99_ms"] = percentile(run.miss_overhead_ms, 0.99)
            out["miss_wait_p50_ms"] = percentile(run.miss_wait_ms, 0.5)
            out["miss_wait_p99_ms"] = percentile(run.miss_wait_ms, 0.99)
            return out

        return {
            "white": self.white,
            "black": self.black,
            "games": self.games,
            "concurrency": self.concurrency,
            "max_plies": self.max_plies,
            "spec": self.spec,
            "reference": mode(self.reference),
            "arena": mode(self.arena),
            "arena_spec": mode(self.arena_spec),
            "ratio": round(self.ratio, 4),
            "spec_ratio": None if self.spec_ratio is None else round(self.spec_ratio, 4),
            "overhead_p50_ms": self.overhead_p50_ms,
            "overhead_p99_ms": self.overhead_p99_ms,
            "identical_moves": self.identical_moves,
        }


def _engine_options(spec: PlayerSpec) -> EngineOptions:
    if spec.kind.name != "stockfish" or not isinstance(spec.options, EngineOptions):
        raise ValueError(f"arena bench engines plays stockfish players, not {spec.text!r}")
    if not spec.options.deterministic or spec.options.threads != 1:
        raise ValueError(
            f"{spec.text!r}: give a fixed limit (nodes=... or search_depth=...) and one "
            "thread, so that both harnesses play the same games"
        )
    return spec.options


@dataclass
class EngineBench:
    """One run of ``arena bench engines``."""

    white: str = "stockfish:nodes=20000"
    black: str = "stockfish:nodes=5000"
    openings: int = 10
    """Opening pairs: each opening twice, colours swapped (``2 * openings`` games)."""
    concurrency: int = 2
    max_plies: int | None = 200
    spec: str | None = None
    """Speculation options added to both players for a third run (e.g. ``spec=engine,k=1``)."""
    progress: Callable[[str], None] = lambda _line: None

    def pairings(self) -> list[Pairing]:
        return plan("round-robin", NAMES, openings=self.openings, book_size=len(bundled_openings()))

    async def run(self) -> EngineBenchResult:
        specs = (parse_player_spec(self.white), parse_player_spec(self.black))
        options = (_engine_options(specs[0]), _engine_options(specs[1]))
        if (
            self.spec is not None
            and parse_player_spec(f"{self.white},{self.spec}").speculation.spec == "none"
        ):
            raise ValueError(f"--spec {self.spec!r} turns no speculator on")
        reference = await self._reference(options)
        self.progress(f"reference: {reference.wall_s:.2f} s, {reference.plies} plies")
        arena = await self._arena("arena", None)
        self.progress(f"arena (speculation off): {arena.wall_s:.2f} s, {arena.plies} plies")
        arena_spec = None
        if self.spec is not None:
            arena_spec = await self._arena("arena-spec", self.spec)
            self.progress(
                f"arena ({self.spec}): {arena_spec.wall_s:.2f} s, {arena_spec.plies} plies"
            )
        runs = [r for r in (reference, arena, arena_spec) if r is not None]
        identical = all(r.games == reference.games for r in runs)
        result = EngineBenchResult(
            white=self.white,
            black=self.black,
            games=len(reference.games),
            concurrency=self.concurrency,
            max_plies=self.max_plies,
            spec=self.spec,
            reference=reference,
            arena=arena,
            arena_spec=arena_spec,
            identical_moves=identical,
        )
        if not identical:
            differing = sorted(
                key for r in runs for key in r.games if r.games[key] != reference.games.get(key)
            )
            raise MovesDifferError(
                f"the modes played different games ({', '.join(differing[:5])} ...): "
                "no ratio is printed for different matches"
            )
        return result

    # ------------------------------------------------------------------ reference

    async def _reference(self, options: tuple[EngineOptions, EngineOptions]) -> ModeRun:
        openings = bundled_openings()
        limit = asyncio.Semaphore(self.concurrency)
        by_name = dict(zip(NAMES, options, strict=True))

        async def one(pairing: Pairing) -> tuple[str, tuple[str, ...]]:
            async with limit:
                assert pairing.opening_index is not None
                initial = opening_position("chess", openings[pairing.opening_index])
                seats = (by_name[pairing.white], by_name[pairing.black])
                return pairing.key, await reference_game(initial, seats, self.max_plies)

        started = time.perf_counter()
        games = dict(await asyncio.gather(*(one(p) for p in self.pairings())))
        return ModeRun("reference", time.perf_counter() - started, games)

    # ------------------------------------------------------------------ arena

    async def _arena(self, mode: str, spec: str | None) -> ModeRun:
        extra = f",{spec}" if spec else ""
        config = config_from_dict(
            {
                "name": f"bench-engines-{mode}",
                "game": "chess",
                "format": "round-robin",
                "openings": "bundled",
                "opening_pairs": self.openings,
                "time_control": "none",
                "max_plies": self.max_plies,
                "concurrency": self.concurrency,
                "players": [
                    {"name": NAMES[0], "spec": self.white + extra},
                    {"name": NAMES[1], "spec": self.black + extra},
                ],
            },
            source="bench",
        )
        with tempfile.TemporaryDirectory(prefix="arena-bench-engines-") as tmp:
            db = str(Path(tmp) / "bench.db")
            started = time.perf_counter()
            tournament_id = await TournamentRunner(db, config).run()
            wall = time.perf_counter() - started
            return await _read_run(mode, wall, db, tournament_id, speculating=spec is not None)


async def reference_game(
    initial: str | None, seats: tuple[EngineOptions, EngineOptions], max_plies: int | None
) -> tuple[str, ...]:
    """One game of the reference harness: an engine process per seat, started for
    this game, one search per move with a fresh engine "game" (as the arena's
    engine player searches), until the game ends or ``max_plies``."""
    game = get_game("chess")
    state = game.decode_state(initial) if initial is not None else game.initial_state()
    limits = [chess.engine.Limit(nodes=o.nodes, depth=o.search_depth) for o in seats]
    engines: list[tuple[asyncio.SubprocessTransport, chess.engine.UciProtocol]] = []
    moves: list[str] = []
    try:
        for options in seats:
            transport, engine = await chess.engine.popen_uci(find_stockfish(options.path))
            await engine.configure(options.uci_config())
            engines.append((transport, engine))
        while game.outcome(state) is None and (max_plies is None or len(moves) < max_plies):
            seat = game.to_move(state)
            result = await engines[seat][1].play(state.board, limits[seat], game=object())
            assert result.move is not None
            move = game.normalize_move(state, result.move.uci())
            moves.append(move)
            state = game.apply(state, move)
    finally:
        for transport, engine in engines:
            with contextlib.suppress(chess.engine.EngineError, TimeoutError):
                async with asyncio.timeout(5):
                    await engine.quit()
            transport.close()
    return tuple(moves)


async def _read_run(
    mode: str, wall: float, db: str, tournament_id: str, *, speculating: bool
) -> ModeRun:
    store = await Store.open(db)
    try:
        games: dict[str, tuple[str, ...]] = {}
        overhead: list[float] = []
        misses: list[float] = []
        miss_waits: list[float] = []
        predicted = hits = backoffs = 0
        saved = 0.0
        from arena.accounting import account_game

        for row in await store.list_games(limit=None, tournament_id=tournament_id):
            assert row.pairing_key is not None
            moves = await store.get_moves(row.id)
            games[row.pairing_key] = tuple(m.move for m in moves)
            for m in moves:
                actor = (m.meta or {}).get("actor_ms")
                if not isinstance(actor, int | float) or m.ply == 0:
                    continue
                if not speculating:
                    overhead.append(m.response_ms - actor)
                elif (m.meta or {}).get("speculation") == "miss":
                    misses.append(m.response_ms - actor)
                    wait = (m.meta or {}).get("wait_ms")
                    if isinstance(wait, int | float):
                        miss_waits.append(wait - actor)
            account = account_game(moves, await store.get_predictions(row.id))
            for move in account.moves:
                predicted += move.predicted
                hits += move.hit_rank is not None
                saved += (move.saved_ms or 0.0) / 1000.0 if move.predicted else 0.0
                backoffs += move.backoff is not None
        return ModeRun(
            mode, wall, games, overhead, misses, miss_waits, predicted, hits, saved, backoffs
        )
    finally:
        await store.close()


def summary_rows(result: EngineBenchResult) -> list[tuple[str, str]]:
    """The figures, as (name, value) rows."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} ms"

    rows = [
        ("games / plies", f"{result.games} / {result.reference.plies}"),
        ("concurrency", str(result.concurrency)),
        ("reference (direct UCI) wall-clock", f"{result.reference.wall_s:.2f} s"),
        ("arena wall-clock (speculation off)", f"{result.arena.wall_s:.2f} s"),
        ("ratio arena / reference", f"{result.ratio:.3f}"),
        ("harness overhead per move p50", ms(result.overhead_p50_ms)),
        ("harness overhead per move p99", ms(result.overhead_p99_ms)),
        ("moves measured for overhead", str(len(result.arena.overhead_ms))),
    ]
    spec = result.arena_spec
    if spec is not None:
        share = spec.hits / spec.predicted if spec.predicted else None
        rows += [
            (f"arena wall-clock ({result.spec})", f"{spec.wall_s:.2f} s"),
            ("ratio speculation on / off", f"{result.spec_ratio:.3f}"),
            ("moves with counted predictions", str(spec.predicted)),
            ("hits (top-k)", str(spec.hits) + ("" if share is None else f" ({share:.0%})")),
            ("saved by predicted moves", f"{spec.saved_s:.2f} s"),
            ("moves played backed off", str(spec.backoffs)),
            ("misses", str(len(spec.miss_overhead_ms))),
            ("response - actor on a miss p50", ms(percentile(spec.miss_overhead_ms, 0.5))),
            ("response - actor on a miss p99", ms(percentile(spec.miss_overhead_ms, 0.99))),
            ("player's wait - actor on a miss p50", ms(percentile(spec.miss_wait_ms, 0.5))),
            ("player's wait - actor on a miss p99", ms(percentile(spec.miss_wait_ms, 0.99))),
        ]
    rows.append(("identical move lists", "yes" if result.identical_moves else "NO"))
    return rows
