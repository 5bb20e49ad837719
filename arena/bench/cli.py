"""``arena bench ...`` commands."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from arena.bench.speculation import WORKLOADS, WorkloadOptions, WorkloadResult, run_bench
from arena.store.db import StoreError

if TYPE_CHECKING:
    from arena.bench.load import LoadReport

__all__ = ["bench"]

console = Console(stderr=True)


@click.group()
def bench() -> None:
    """Benchmarks that print measured figures."""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def show(result: WorkloadResult) -> None:
    """Print one workload's figures as a table."""
    label = result.workload + (" (simulated remote model)" if result.simulated else "")
    settings = f"k={result.k}, depth={result.depth}"
    if result.depth >= 2:
        settings += f", own_k={result.own_k}"
    settings += f", max_branches={result.max_branches}, threshold={result.threshold:g}"
    table = Table(title=f"speculation bench: {label}, {settings}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("games (per mode)", str(result.games)),
        ("plies off / on", f"{result.plies_off} / {result.plies_on}"),
        ("wall-clock off", f"{result.wall_off_s:.2f} s"),
        ("wall-clock on", f"{result.wall_on_s:.2f} s"),
        ("ratio on/off", f"{result.ratio:.3f}"),
        ("wall-clock saved", _pct(result.saved_share)),
        ("top-1 accuracy", _pct(result.top1_accuracy)),
        (f"top-{result.k} accuracy", _pct(result.topk_accuracy)),
        ("moves with counted predictions", str(result.predicted_moves)),
        ("saved (sum of actor - response)", f"{result.saved_s:.2f} s"),
        ("token overhead", _num(result.token_overhead, "{:.2f}x")),
        ("mean actor latency L", _num(result.actor_ms_mean, "{:.1f} ms")),
        ("mean speculator latency S", _num(result.speculator_ms_mean, "{:.1f} ms")),
        ("theoretical bound", _pct(result.bound)),
        ("measured saving / bound", _pct(result.bound_share)),
        ("ideal-scheduler saving", f"{result.ideal_saved_s:.2f} s"),
        ("scheduling efficiency", _pct(result.scheduling_efficiency)),
        ("engine overhead per move", f"{result.engine_overhead_ms:.3f} ms"),
        ("identical move lists", "yes" if result.identical_moves else "NO"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


@bench.command("speculation")
@click.option(
    "--workload",
    type=click.Choice(WORKLOADS),
    default="stockfish",
    show_default=True,
)
@click.option("--games", default=2, show_default=True, help="Pairings (each played off and on).")
@click.option("--plies", default=40, show_default=True, help="Plies per game after the opening.")
@click.option("--k", default=1, show_default=True, help="Branches per window (top-k).")
@click.option("--depth", default=1, show_default=True, help="1: one-step; 2+: pipelined.")
@click.option(
    "--own-k",
    default=1,
    show_default=True,
    help="Pipelined: guesses of our own pending move to look through (0: none).",
)
@click.option(
    "--max-branches",
    type=int,
    default=None,
    help="Branches in flight at once per player  [default: k x depth].",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Start a branch only for positions at least this likely (the product of the "
    "guesses' probabilities on the way)  [default: 0.1 pipelined, 0 one-step].",
)
@click.option(
    "--player-processes/--one-process",
    default=False,
    show_default=True,
    help="Run each player in a process of its own (`arena bot run`), as outside bots "
    "run, or both in the bench's process beside the server.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--scale", default=0.005, show_default=True, help="api-sim: latency scale.")
@click.option("--base-url", default=None, help="openai: endpoint (key from OPENAI_API_KEY).")
@click.option("--model", default=None, help="openai: actor model.")
@click.option("--speculator-model", default=None, help="openai: speculator model.")
def speculation(
    workload: str,
    games: int,
    plies: int,
    k: int,
    depth: int,
    own_k: int,
    max_branches: int | None,
    threshold: float | None,
    player_processes: bool,
    as_json: bool,
    scale: float,
    base_url: str | None,
    model: str | None,
    speculator_model: str | None,
) -> None:
    """Play the same pairings with speculation off and on; print what it saved.

    Workloads: stockfish (engine actors at fixed nodes, engine speculator);
    api-sim (a labelled simulation of the paper's remote models, real LLM
    client code); openai (any OpenAI-compatible endpoint).
    """

    def progress(line: str) -> None:
        console.print(line, highlight=False)

    options = WorkloadOptions(
        scale=scale, base_url=base_url, model=model, speculator_model=speculator_model
    )
    try:
        result = asyncio.run(
            run_bench(
                workload,
                games=games,
                plies=plies,
                k=k,
                depth=depth,
                own_k=own_k,
                max_branches=max_branches,
                threshold=threshold,
                player_processes=player_processes,
                options=options,
                progress=progress,
            )
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not result.identical_moves and workload != "openai":
        # Deterministic actors must play the same games with speculation on and off:
        # a ratio of two different matches would measure nothing (and has looked
        # like a big win when a speculating player lost a game early).
        raise click.ClickException(
            f"speculation on and off played different games ({result.plies_off} and "
            f"{result.plies_on} plies): lossless speculation is broken; no ratio printed"
        )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=1))
    else:
        show(result)


@bench.command("engines")
@click.option("--white", default="stockfish:nodes=20000", show_default=True, help="First player.")
@click.option("--black", default="stockfish:nodes=5000", show_default=True, help="Second player.")
@click.option(
    "--openings", default=10, show_default=True, help="Opening pairs (games = 2 x openings)."
)
@click.option("--concurrency", default=2, show_default=True, help="Games at once.")
@click.option("--max-plies", default=200, show_default=True, help="Plies per game at most.")
@click.option(
    "--spec",
    default=None,
    help="Also play with this speculation on both players (e.g. spec=engine,k=1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def engines(
    white: str,
    black: str,
    openings: int,
    concurrency: int,
    max_plies: int,
    spec: str | None,
    as_json: bool,
) -> None:
    """Play one engine match through the arena and through a direct-UCI harness.

    Prints both wall-clocks and their ratio, the arena's harness overhead per
    move (response - actor, p50/p99), and with --spec the speculation on/off
    ratio. Fails (exit 1) if the modes did not play identical games.
    """
    from arena.bench.engines import EngineBench, MovesDifferError, summary_rows

    def progress(line: str) -> None:
        console.print(line, highlight=False)

    run = EngineBench(
        white=white,
        black=black,
        openings=openings,
        concurrency=concurrency,
        max_plies=max_plies,
        spec=spec,
        progress=progress,
    )
    from clients.actors.engine import EngineNotFoundError

    try:
        result = asyncio.run(run.run())
    except (MovesDifferError, ValueError, EngineNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=1))
        return
    table = Table(title=f"engine match: {white} vs {black}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in summary_rows(result):
        table.add_row(name, value)
    Console().print(table)


@bench.command("priority")
@click.option("--nodes", default=2_000_000, show_default=True, help="Nodes of the real search.")
@click.option("--busy", default=None, type=int, help="Busy searches beside it (default: cores).")
@click.option("--rounds", default=3, show_default=True, help="Rounds over the three modes.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def priority(nodes: int, busy: int | None, rounds: int, as_json: bool) -> None:
    """A real search's node rate alone, beside idle-priority searches (as speculation
    runs) and beside normal-priority ones, on every core."""
    from arena.bench.priority import MODES, run_priority_bench
    from clients.actors.engine import EngineNotFoundError

    try:
        result = asyncio.run(run_priority_bench(nodes=nodes, busy=busy, rounds=rounds))
    except EngineNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=1))
        return
    mechanism = "SCHED_IDLE" if result.supported else "none on this platform"
    table = Table(
        title=f"real search ({nodes} nodes) beside {result.busy} busy searches; "
        f"idle mechanism: {mechanism}"
    )
    for column in ("mode", "median nodes/s", "ratio to alone", "nodes/s per round"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for mode in MODES:
        table.add_row(
            mode,
            f"{result.median(mode):,.0f}",
            f"{result.ratio(mode):.3f}",
            " ".join(f"{r:,.0f}" for r in result.rates[mode]),
        )
    Console().print(table)


@bench.command("crash")
@click.option("--kills", default=50, show_default=True, help="Times the server is killed.")
@click.option(
    "--up-min", default=0.1, show_default=True, help="Shortest run before a kill (seconds)."
)
@click.option(
    "--up-max", default=0.8, show_default=True, help="Longest run before a kill (seconds)."
)
@click.option("--seed", default=0, show_default=True, help="Seed of the kill moments.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def crash(kills: int, up_min: float, up_max: float, seed: int, as_json: bool) -> None:
    """Kill -9 a real `arena serve` at random moments while four bots play a
    tournament; restart it each time. Prints acknowledged moves lost, games
    resumed, integrity checks and the time to accept connections again."""
    from arena.bench.crash import run_crash_bench

    if not 0 < up_min <= up_max:
        raise click.BadParameter("need 0 < --up-min <= --up-max")
    report = asyncio.run(run_crash_bench(kills, up_s=(up_min, up_max), seed=seed))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1))
        return
    accept = sorted(k.accept_s for k in report.kills)
    table = Table(title=f"crash bench: {len(report.kills)} kill -9 and restarts")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("moves acknowledged", str(report.moves_acked)),
        ("acknowledged moves lost", str(report.acked_lost)),
        ("games cut by a kill", str(report.games_cut)),
        (
            "games resumed (finished with a result, same id)",
            f"{report.games_resumed} ({_pct(report.games_resumed / max(1, report.games_cut))})",
        ),
        ("restarts that resumed every unfinished game", _yes(report.recovered_all)),
        ("integrity_check ok after every kill", _yes(report.integrity_ok)),
        ("time to accept connections p50", f"{report.accept_p50_s * 1000:.0f} ms"),
        ("time to accept connections max", f"{report.accept_max_s * 1000:.0f} ms"),
        ("time to accept connections min", f"{accept[0] * 1000:.0f} ms" if accept else "-"),
        ("games finished after the last restart", str(report.tournament_games_after_last_kill)),
        ("errors in the server logs", str(len(report.server_errors))),
        ("wall-clock", f"{report.wall_s:.1f} s"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
    for game_id, outcome in report.unresumed.items():
        console.print(f"not resumed: {game_id} {outcome}")
    for line in report.server_errors[:20]:
        console.print(line, highlight=False)


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


@bench.command("load")
@click.option("--games", default=1000, show_default=True, help="Games played at once.")
@click.option("--spectators", default=100, show_default=True, help="Spectator connections.")
@click.option(
    "--rate",
    type=float,
    default=None,
    help="Moves/s offered over all games [default: 2 per game, a move every 0.5 s in "
    "each game]; 0: every bot answers at once (saturation: the most the server commits).",
)
@click.option("--duration", default=30.0, show_default=True, help="Measuring window (seconds).")
@click.option("--warmup", default=5.0, show_default=True, help="Play before the window (s).")
@click.option("--max-plies", default=200, show_default=True, help="Plies per game.")
@click.option("--time-control", default="300+5", show_default=True)
@click.option("--seed", default=0, show_default=True, help="Seed of the scripted lines.")
@click.option(
    "--servers",
    default=1,
    show_default=True,
    help="arena serve processes sharing the database (more than 1 needs --db postgresql://...).",
)
@click.option(
    "--split",
    is_flag=True,
    help="Put the two bots of each game on different servers (every move crosses processes).",
)
@click.option(
    "--db",
    default=None,
    help="Database: a SQLite path that does not exist yet (kept), or the URL of an empty "
    "database [default: a SQLite file in a temporary directory].",
)
@click.option(
    "--stored-games",
    default=0,
    show_default=True,
    help="Finished games stored before the server starts (work for the pages).",
)
@click.option(
    "--page-readers",
    default=0,
    show_default=True,
    help="Clients reloading /, /api/leaderboard and a player page during the window.",
)
@click.option(
    "--lichess",
    default=0,
    show_default=True,
    help="Of the games, how many have a bot playing over the lichess Bot API (HTTP/NDJSON) "
    "against a websocket bot; their relay latency is reported apart.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def load(
    games: int,
    spectators: int,
    rate: float | None,
    duration: float,
    warmup: float,
    max_plies: int,
    time_control: str,
    seed: int,
    servers: int,
    split: bool,
    db: str | None,
    stored_games: int,
    page_readers: int,
    lichess: int,
    as_json: bool,
) -> None:
    """Play many games at once between lightweight websocket bots (plus spectators)
    against real `arena serve` processes on loopback; print games held, moves committed
    per second, relay latency (p50/p99/p99.9), errors and the servers' peak memory."""
    from arena.bench.load import LoadOptions, run_load_bench

    options = LoadOptions(
        games=games,
        spectators=spectators,
        rate=rate,
        duration_s=duration,
        warmup_s=warmup,
        max_plies=max_plies,
        time_control=time_control,
        seed=seed,
        servers=servers,
        split=split,
        stored_games=stored_games,
        page_readers=page_readers,
        lichess=lichess,
    )
    try:
        options.check()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None

    def progress(line: str) -> None:
        console.print(line, highlight=False)

    try:
        report = asyncio.run(run_load_bench(options, progress=progress, db=db))
    except (ValueError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1))
        return
    show_load(report)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def show_load(report: LoadReport) -> None:
    """Print one load run's figures as a table."""
    mode = (
        "saturation: every bot answers at once"
        if report.offered_moves_per_s is None
        else f"offered {report.offered_moves_per_s:g} moves/s"
    )
    where = (
        ""
        if report.servers == 1
        else f", {report.servers} servers" + (", each game split over two" if report.split else "")
    )
    table = Table(
        title=f"load bench: {report.games} games, {report.spectators} spectators{where} ({mode})"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("games held (min / max of samples)", f"{report.games_held_min} / {report.games_held_max}"),
        ("moves committed per second", f"{report.moves_per_s:.0f}"),
        ("moves committed in the window", f"{report.moves_committed} in {report.window_s:.1f} s"),
        ("relay latency p50", _ms(report.relay.p50_ms)),
        ("relay latency p99", _ms(report.relay.p99_ms)),
        ("relay latency p99.9", _ms(report.relay.p999_ms)),
        ("relay latency max", _ms(report.relay.max_ms)),
        ("move_ack latency p50 / p99", f"{_ms(report.ack.p50_ms)} / {_ms(report.ack.p99_ms)}"),
        *(
            []
            if report.lichess_relay is None
            else [
                (f"lichess-API games ({report.lichess_pairs}): relay p50 / p99",
                 f"{_ms(report.lichess_relay.p50_ms)} / {_ms(report.lichess_relay.p99_ms)}"),
                ("lichess-API relay p99.9 / max",
                 f"{_ms(report.lichess_relay.p999_ms)} / {_ms(report.lichess_relay.max_ms)}"),
                *(
                    (f"  {label} p50 / p99", f"{_ms(part.p50_ms)} / {_ms(part.p99_ms)}")
                    for label, part in (
                        ("websocket move -> NDJSON gameState", report.lichess_relay_in),
                        ("POSTed move -> websocket state", report.lichess_relay_out),
                    )
                    if part is not None
                ),
            ]
        ),
        ("spectator latency p50 / p99",
         f"{_ms(report.spectator.p50_ms)} / {_ms(report.spectator.p99_ms)}"),
        ("page readers / stored games", f"{report.page_readers} / {report.stored_games}"),
        ("page latency p50 / p99 (readers' requests)",
         f"{_ms(report.pages.p50_ms)} / {_ms(report.pages.p99_ms)} ({report.pages.samples})"),
        ("page requests refused for rate (429)", str(report.pages_limited)),
        ("errors", str(report.errors)),
        ("moves acknowledged / stored", f"{report.moves_acked} / {report.moves_stored}"),
        ("server peak memory (VmHWM, summed)", f"{report.server_peak_rss_mb:.0f} MB"),
        ("server / generator CPU (cores)",
         f"{report.server_cpu_share:.2f} / {report.generator_cpu_share:.2f}"),
        ("CPU per server (cores)", " / ".join(f"{c:.2f}" for c in report.per_server_cpu_share)),
        ("machine busy (cores, database included)", f"{report.machine_cpu_share:.2f}"),
        ("load average before / after", "{:.2f} / {:.2f}".format(*report.load_average)),
        ("set-up", f"{report.setup_s:.1f} s"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
    for line in report.error_texts + report.server_errors + report.page_errors:
        console.print(line, highlight=False)
