"""``arena bench speculation``: the same pairings with speculation off, then on.

Every game is played over a real embedded server with real players; the
figures come from what the server stored (its own timestamps and response
times, the clients' reported actor and speculator times, and the predictions
it scored). Nothing here is simulated except what a workload says it
simulates.

The theoretical bounds (DESIGN.md section 3), with hit rate p (top-k),
speculator latency S and actor latency L:

- one-step: at most ``p / (1 + p) * (1 - S / L)`` of the sequential time;
- pipelined: about ``p * (1 - S / L)``.

The *ideal scheduler* saving is computed from the logged per-call times: on
each hit, a branch started S after the opponent's turn began (S: the logged
speculator call on that position, the mean where none was logged) and ran
for the actor's own time would have answered ``max(0, S + L_move -
T_opponent)`` after the opponent's move; on a miss it saves nothing. The measured saving
divided by that is the scheduling efficiency.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from arena.accounting import account_game
from arena.bench.apisim import api_sim_process
from arena.play import play_game
from arena.store import Store
from clients.players import parse_player_spec
from clients.speculation import Action, Guess, Meter, Position, Speculation, SpeculationConfig
from games import get_game

__all__ = ["OPENINGS", "SpeculationBench", "WorkloadResult", "engine_overhead_ms", "run_bench"]

PIPELINE_THRESHOLD = 0.1
"""Pipelined runs start a branch only for positions at least this likely (the
product of the guesses' probabilities on the way): deep guesses multiply out
fast, and without a floor every free slot would go to long shots."""

OPENINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Ruy Lopez", ("e2e4", "e7e5", "g1f3", "b8c6", "f1b5", "a7a6")),
    ("Sicilian Najdorf", ("e2e4", "c7c5", "g1f3", "d7d6", "d2d4", "c5d4", "f3d4", "g8f6")),
    ("Queen's Gambit Declined", ("d2d4", "d7d5", "c2c4", "e7e6", "b1c3", "g8f6")),
    ("French Defence", ("e2e4", "e7e6", "d2d4", "d7d5", "b1c3", "g8f6")),
    ("Caro-Kann", ("e2e4", "c7c6", "d2d4", "d7d5", "b1c3", "d5e4", "c3e4")),
    ("King's Indian", ("d2d4", "g8f6", "c2c4", "g7g6", "b1c3", "f8g7", "e2e4", "d7d6")),
    ("English", ("c2c4", "e7e5", "b1c3", "g8f6", "g2g3", "d7d5")),
    ("Italian", ("e2e4", "e7e5", "g1f3", "b8c6", "f1c4", "f8c5")),
)
"""Short, standard openings: each pairing starts from a different one."""


@dataclass(frozen=True)
class Workload:
    """What plays: a player spec with speculation off, and the speculation options."""

    name: str
    actor: str
    """Player spec without speculation, e.g. ``stockfish:nodes=200000``."""
    speculation: str
    """Speculation options to append, e.g. ``spec=engine,spec_depth=6``."""
    game: str = "chess"
    simulated: bool = False
    """True when the remote model is a labelled simulation (api-sim)."""
    deterministic: bool = True
    """Its actors play the same move in the same position, so speculation on and
    off must give identical games (a remote endpoint may not promise that)."""


@dataclass
class GameRun:
    mode: str
    opening: str
    game_id: str
    moves: list[str]
    wall_ms: float
    accounts: list[Any] = field(default_factory=list)
    speculator_ms: list[float] = field(default_factory=list)
    window_ms: dict[int, float] = field(default_factory=dict)
    """Per ply: how long the speculator call took that predicted the opponent's
    move before it (logged by the mover as ``speculator_ms``)."""


@dataclass
class WorkloadResult:
    """The figures printed for one workload."""

    workload: str
    simulated: bool
    games: int
    k: int
    depth: int
    own_k: int
    max_branches: int
    threshold: float
    plies_off: int
    plies_on: int
    wall_off_s: float
    wall_on_s: float
    ratio: float
    saved_share: float
    """1 - ratio: wall-clock saved by speculation."""
    top1_accuracy: float | None
    topk_accuracy: float | None
    predicted_moves: int
    saved_s: float
    """Sum of (actor_ms - response_ms) over the moves played with speculation on."""
    token_overhead: float | None
    actor_ms_mean: float | None
    speculator_ms_mean: float | None
    bound: float | None
    bound_share: float | None
    """Measured saving as a share of the theoretical bound."""
    ideal_saved_s: float
    scheduling_efficiency: float | None
    identical_moves: bool
    engine_overhead_ms: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _wall_ms(moves: Sequence[Any]) -> float:
    if not moves:
        return 0.0
    return float(moves[-1].committed_at - moves[0].turn_started_at)


async def _record(store: Store, game_id: str, mode: str, opening: str) -> GameRun:
    moves = await store.get_moves(game_id)
    predictions = await store.get_predictions(game_id)
    account = account_game(moves, predictions)
    run = GameRun(
        mode=mode,
        opening=opening,
        game_id=game_id,
        moves=[m.move for m in moves],
        wall_ms=_wall_ms(moves),
        accounts=list(account.moves),
    )
    run.window_ms = {
        m.ply: float(m.meta["speculator_ms"])
        for m in moves
        if m.meta and m.meta.get("speculator_ms")
    }
    run.speculator_ms = list(run.window_ms.values())
    return run


def _ideal_saving_ms(
    accounts: Sequence[Any],
    speculator_ms: float,
    k: int,
    window_ms: Mapping[int, float] | None = None,
) -> float:
    """What an ideal one-step scheduler saves with the same calls, hits and latencies.

    A hit's branch starts one speculator call after the opponent's turn began:
    the logged call for that position (``window_ms``, by the ply of the move it
    served), or the mean ``speculator_ms`` where none was logged.
    """
    window_ms = window_ms or {}
    total = 0.0
    by_ply = {a.ply: a for a in accounts}
    for a in accounts:
        opponent = by_ply.get(a.ply - 1)
        if a.hit_rank is None or a.hit_rank > k or a.actor_ms is None or opponent is None:
            continue
        window = window_ms.get(a.ply, speculator_ms)
        ideal_response = max(0.0, window + a.actor_ms - opponent.response_ms)
        total += a.actor_ms - ideal_response
    return total


def _ideal_pipelined_saving_ms(
    accounts: Sequence[Any],
    speculator_ms: float,
    k: int,
    own_k: int,
    window_ms: Mapping[int, float] | None = None,
) -> float:
    """What an ideal pipelined scheduler saves with the same calls, hits and latencies.

    Each move is ready at the earliest of: the actor on the real position (from
    the opponent's move); a one-step branch (from the end of the call that
    produced our previous move, which may be before the opponent's turn began,
    plus one speculator call) if the opponent's move was in the top k; an
    own-window branch (from the start of the call that produced our previous
    move plus two speculator calls) if, besides, our previous move was in the
    top ``own_k``. Branches are unlimited in number: no schedule of these calls
    saves more.
    That last hit is read from the opponent's prediction of our move: in the
    benchmark both players run the same speculator, so they rank alike.
    The speculator call on the position the opponent moved from is the logged
    one (``window_ms``, by the ply of the move it served; the mean
    ``speculator_ms`` where none was logged); the call that guessed our own
    move is not logged per move and counts the mean.
    """
    window_ms = window_ms or {}
    ordered = sorted(accounts, key=lambda a: a.ply)
    if any(a.actor_ms is None for a in ordered):
        return 0.0
    sent: list[float] = []  # when each move was played, in the ideal schedule
    began: list[float] = []  # when the call that produced it started
    for i, a in enumerate(ordered):
        previous = sent[i - 1] if i >= 1 else 0.0
        options = [(previous + a.actor_ms, previous)]
        if i >= 1 and a.hit_rank is not None and a.hit_rank <= k:
            known = began[i - 2] + float(ordered[i - 2].actor_ms) if i >= 2 else 0.0
            window = window_ms.get(a.ply, speculator_ms)
            start = known + window
            options.append((start + a.actor_ms, start))
            prior = ordered[i - 1]
            if i >= 2 and prior.hit_rank is not None and prior.hit_rank <= own_k:
                start = began[i - 2] + speculator_ms + window
                options.append((start + a.actor_ms, start))
        finish, start = min(options)
        sent.append(max(previous, finish))
        began.append(start)
    sequential = sum(float(a.actor_ms) for a in ordered)
    return sequential - (sent[-1] if sent else 0.0)


def summarise(
    workload: Workload,
    runs: Sequence[GameRun],
    *,
    k: int,
    depth: int,
    overhead_ms: float,
    own_k: int = 1,
    max_branches: int | None = None,
    threshold: float = 0.0,
) -> WorkloadResult:
    off = [r for r in runs if r.mode == "off"]
    on = [r for r in runs if r.mode == "on"]
    wall_off = sum(r.wall_ms for r in off) / 1000.0
    wall_on = sum(r.wall_ms for r in on) / 1000.0
    accounts = [a for r in on for a in r.accounts]
    predicted = [a for a in accounts if a.predictions]
    top1 = sum(1 for a in predicted if a.hit_rank == 1)
    topk = sum(1 for a in predicted if a.hit_rank is not None and a.hit_rank <= k)
    actor_ms = [a.actor_ms for a in accounts if a.actor_ms is not None]
    spec_ms = [s for r in on for s in r.speculator_ms]
    saved_ms = sum(a.saved_ms for a in accounts if a.saved_ms is not None)
    actor_tokens = sum(a.actor_tokens for a in accounts)
    spec_tokens = sum(a.spec_tokens for a in accounts)
    p = topk / len(predicted) if predicted else None
    mean_l = statistics.fmean(actor_ms) if actor_ms else None
    mean_s = statistics.fmean(spec_ms) if spec_ms else 0.0
    bound = None
    if p is not None and mean_l:
        speed = max(0.0, 1.0 - mean_s / mean_l)
        bound = (p / (1.0 + p) if depth <= 1 else p) * speed
    ratio = wall_on / wall_off if wall_off else float("nan")
    if depth >= 2:
        ideal = sum(
            _ideal_pipelined_saving_ms(r.accounts, mean_s, k, own_k, r.window_ms) for r in on
        )
    else:
        ideal = sum(_ideal_saving_ms(r.accounts, mean_s, k, r.window_ms) for r in on)
    identical = len(off) == len(on) > 0 and all(
        a.opening == b.opening and a.moves == b.moves for a, b in zip(off, on, strict=True)
    )
    return WorkloadResult(
        workload=workload.name,
        simulated=workload.simulated,
        games=len(off),
        k=k,
        depth=depth,
        own_k=own_k,
        max_branches=max_branches or max(1, k * depth),
        threshold=threshold,
        plies_off=sum(len(r.moves) for r in off),
        plies_on=sum(len(r.moves) for r in on),
        wall_off_s=wall_off,
        wall_on_s=wall_on,
        ratio=ratio,
        saved_share=1.0 - ratio,
        top1_accuracy=top1 / len(predicted) if predicted else None,
        topk_accuracy=p,
        predicted_moves=len(predicted),
        saved_s=saved_ms / 1000.0,
        token_overhead=(actor_tokens + spec_tokens) / actor_tokens if actor_tokens else None,
        actor_ms_mean=mean_l,
        speculator_ms_mean=mean_s if spec_ms else None,
        bound=bound,
        bound_share=(1.0 - ratio) / bound if bound else None,
        ideal_saved_s=ideal / 1000.0,
        scheduling_efficiency=saved_ms / ideal if ideal > 0 else None,
        identical_moves=identical,
        engine_overhead_ms=overhead_ms,
    )


@dataclass
class SpeculationBench:
    """One run of ``arena bench speculation``."""

    workload: Workload
    games: int = 2
    plies: int = 40
    k: int = 1
    depth: int = 1
    own_k: int = 1
    max_branches: int | None = None
    """Branches in flight at once per player (default ``k * depth``)."""
    threshold: float | None = None
    """Start a branch only for positions at least this likely (default
    :data:`PIPELINE_THRESHOLD` pipelined, 0 one-step)."""
    player_processes: bool = False
    """Each player in a process of its own (:func:`arena.play.play_in_processes`)."""
    db: str | None = None
    progress: Callable[[str], None] = lambda _line: None

    def spec_text(self, mode: str) -> str:
        joiner = "," if ":" in self.workload.actor else ":"
        if mode == "off":
            return f"{self.workload.actor}{joiner}spec=none"
        return (
            f"{self.workload.actor}{joiner}{self.workload.speculation},"
            f"k={self.k},depth={self.depth},own_k={self.own_k},"
            f"max_branches={self.max_branches_used},threshold={self.threshold_used}"
        )

    @property
    def max_branches_used(self) -> int:
        return self.max_branches or max(1, self.k * self.depth)

    @property
    def threshold_used(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return PIPELINE_THRESHOLD if self.depth >= 2 else 0.0

    async def run(self) -> WorkloadResult:
        with tempfile.TemporaryDirectory(prefix="arena-bench-") as tmp:
            db = self.db or str(Path(tmp) / "bench.db")
            runs: list[GameRun] = []
            for mode in ("off", "on"):
                text = self.spec_text(mode)
                for i in range(self.games):
                    name, opening = OPENINGS[i % len(OPENINGS)]
                    specs = (parse_player_spec(text), parse_player_spec(text))
                    started = time.perf_counter()
                    result = await play_game(
                        db,
                        specs,
                        game=self.workload.game,
                        time_control="none",
                        max_plies=self.plies,  # counted from the opening's position
                        opening=opening if self.workload.game == "chess" else (),
                        in_processes=self.player_processes,
                    )
                    store = await Store.open(db)
                    try:
                        run = await _record(store, result.game_id, mode, name)
                    finally:
                        await store.close()
                    runs.append(run)
                    self.progress(
                        f"{mode:>3} game {i + 1}/{self.games} ({name}): {len(run.moves)} plies, "
                        f"{run.wall_ms / 1000:.2f}s wall ({time.perf_counter() - started:.1f}s "
                        f"with set-up), {result.result} {result.reason}"
                    )
            return summarise(
                self.workload,
                runs,
                k=self.k,
                depth=self.depth,
                own_k=self.own_k,
                max_branches=self.max_branches_used,
                threshold=self.threshold_used,
                overhead_ms=await engine_overhead_ms(),
            )


WORKLOADS = ("stockfish", "api-sim", "local-llm", "openai")


@dataclass(frozen=True)
class WorkloadOptions:
    """Settings of the workloads that need them."""

    scale: float = 0.005
    """api-sim: multiply the paper's latencies by this (0.005: actor mean ~1.1 s)."""
    base_url: str | None = None
    """openai: the endpoint."""
    model: str | None = None
    """openai: the actor model."""
    speculator_model: str | None = None
    """openai: the speculator model (default: the actor model)."""


@contextlib.asynccontextmanager
async def workload(name: str, options: WorkloadOptions) -> AsyncIterator[Workload]:
    """The workload ``name``, with whatever it needs running (api-sim's endpoint)."""
    if name == "stockfish":
        # Engine speculator at depth 9: 69% top-1 against the 150k-node actor
        # (depth 6 gave 54%), at about a tenth of the actor's time.
        yield Workload(
            name="stockfish", actor="stockfish:nodes=150000", speculation="spec=engine,spec_depth=9"
        )
    elif name == "api-sim":
        async with api_sim_process(options.scale) as url:
            yield Workload(
                name="api-sim",
                # The simulated actor's latency tail (lognormal, sd 162 s at scale 1) sets
                # the per-call cap: 20 times the paper's mean, scaled.
                # parallel: a remote API serves calls side by side, though this
                # simulation of one listens on loopback.
                actor=(
                    f"llm:model=sim-actor,base_url={url},parallel=true,max_tokens=16000,"
                    f"timeout_s={max(10.0, 221.7 * 20 * options.scale):g}"
                ),
                speculation="spec=llm,spec_model=sim-speculator",
                simulated=True,
            )
    elif name == "local-llm":
        # Two real local players, each on its own llama.cpp server (1 thread each);
        # the speculator shares its player's server, so the adaptive policy watches it.
        yield Workload(name="local-llm", actor="local-llm", speculation="spec=llm,adaptive=true")
    elif name == "openai":
        if not options.base_url or not options.model:
            raise ValueError("the openai workload needs --base-url and --model")
        spec_model = options.speculator_model or options.model
        yield Workload(
            name="openai",
            actor=f"llm:model={options.model},base_url={options.base_url}",
            speculation=f"spec=llm,spec_model={spec_model}",
            deterministic=False,
        )
    else:
        raise ValueError(f"unknown workload {name!r}; valid: {', '.join(WORKLOADS)}")


async def run_bench(
    name: str,
    *,
    games: int,
    plies: int,
    k: int,
    depth: int,
    own_k: int = 1,
    max_branches: int | None = None,
    threshold: float | None = None,
    player_processes: bool = False,
    options: WorkloadOptions | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> WorkloadResult:
    """Run one workload by name."""
    async with workload(name, options or WorkloadOptions()) as chosen:
        bench = SpeculationBench(
            chosen,
            games=games,
            plies=plies,
            k=k,
            depth=depth,
            own_k=own_k,
            max_branches=max_branches,
            threshold=threshold,
            player_processes=player_processes,
            progress=progress,
        )
        return await bench.run()


# ---------------------------------------------------------------------- engine overhead


class _InstantActor:
    resource: str | None = None

    async def act(self, position: Position, meter: Meter) -> Action:
        return Action(position.legal_moves()[0])


class _PerfectSpeculator:
    """Guesses what _InstantActor will play (first legal move), then a decoy."""

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        legal = position.legal_moves()
        return [Guess(m, 1.0 / (i + 1)) for i, m in enumerate(legal[:k])]


async def engine_overhead_ms(moves: int = 400) -> float:
    """Mean per-move cost of the engine itself: windows, predictions, branch
    start, hit and cancel, with an instant actor and speculator (Connect Four
    self-play), minus the cost of the same moves without speculation."""

    async def play(config: SpeculationConfig) -> float:
        game = get_game("connect4")
        actor = _InstantActor()
        specs = [Speculation(actor, _PerfectSpeculator(), config) for _ in range(2)]
        played = 0
        started = time.perf_counter()
        while played < moves:
            position = Position(game, game.initial_state(), ())
            while not position.over and played < moves:
                mover = specs[position.to_move]
                other = specs[1 - position.to_move]
                other.opponent_to_move(position)
                await asyncio.sleep(0)  # let the windows and branches run
                report = await mover.decide(position)
                position = position.after(report.move)
                played += 1
        for spec in specs:
            await spec.close()
        return (time.perf_counter() - started) * 1000.0 / moves

    without = await play(SpeculationConfig(k=0))
    with_spec = await play(SpeculationConfig(k=2, depth=1))
    return max(0.0, with_spec - without)
