"""``arena tournament ...``, ``arena leaderboard`` and ``arena demo``."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from arena.leaderboard import Leaderboard, build_leaderboard, crosstable
from arena.speculation_report import SpeculationReport, speculation_report
from arena.store import Store
from arena.tournament.config import TournamentConfig, TournamentConfigError, load_config
from arena.tournament.runner import Progress as RunProgress
from arena.tournament.runner import (
    Standing,
    TournamentFinishedError,
    TournamentRunner,
    standings,
)

__all__ = ["demo", "leaderboard", "run_with_progress", "tournament"]

console = Console(width=None if sys.stdout.isatty() else 160)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def standings_table(rows: list[Standing], title: str = "standings") -> Table:
    table = Table(title=title)
    for column in ("#", "player", "points", "games", "W", "D", "L"):
        table.add_column(column, justify="right" if column != "player" else "left")
    for i, s in enumerate(rows, start=1):
        table.add_row(
            str(i), s.name, f"{s.points:g}", str(s.games), str(s.wins), str(s.draws), str(s.losses)
        )
    return table


def leaderboard_table(board: Leaderboard, title: str = "leaderboard") -> Table:
    table = Table(title=title)
    columns = (
        "#", "player", "rating (95% CI)", "games", "W/D/L", "score", "predicted", "top-1",
        "top-k", "saved", "saved share", "tokens x", "median resp",
    )  # fmt: skip
    for column in columns:
        # A player's whole name (often its spec) folds rather than being cut short:
        # two specs that differ only at the end must not look the same.
        if column == "player":
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, justify="right")
    for r in board.rows:
        table.add_row(
            str(r.rank),
            r.name,
            f"{r.elo:.0f} [{r.low:.0f}, {r.high:.0f}]",
            str(r.games),
            f"{r.wins}/{r.draws}/{r.losses}",
            f"{r.score:g}",
            str(r.predicted),
            _pct(r.top1_accuracy),
            _pct(r.topk_accuracy),
            "-" if r.saved_share is None else f"{r.saved_s:.1f}s",
            _pct(r.saved_share),
            "-" if r.token_overhead is None else f"{r.token_overhead:.2f}",
            "-" if r.median_response_ms is None else f"{r.median_response_ms:.0f} ms",
        )
    return table


def progress_line(progress: RunProgress) -> str | None:
    """One line for a finished game, as printed when the output is not a terminal."""
    g = progress.last
    if g is None:
        return None
    leader = progress.standings[0] if progress.standings else None
    lead = "" if leader is None else f"; leader {leader.name} {leader.points:g}"
    return (
        f"[{progress.done}/{progress.total}] {g.id}: {g.players[0]} - {g.players[1]} "
        f"{g.result or '*'} ({g.reason or g.status}, {g.ply} plies){lead}"
    )


def speculation_table(report: SpeculationReport, title: str = "speculation") -> Table:
    """Per player: what speculation saved, from the run's own stored moves."""
    table = Table(title=title)
    columns = (
        "player", "speculated", "predicted", "top-1", "top-k", "saved", "actor time",
        "saved share", "backed off",
    )  # fmt: skip
    for column in columns:
        if column == "player":
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, justify="right")
    for p in report.players:
        off = p.speculated == 0
        table.add_row(
            p.name,
            f"{p.speculated}/{p.moves}",
            "-" if off else str(p.predicted),
            _pct(p.top1_accuracy),
            _pct(p.topk_accuracy),
            "-" if off else f"{p.saved_s:+.1f}s",
            f"{p.actor_s:.1f}s",
            "-" if p.saved_share is None else f"{p.saved_share * 100:+.1f}%",
            # the reason's label ("late", "costly", "contention"); games show has it all
            f"{p.backed_off}" + (f" ({p.last_backoff.split(':')[0]})" if p.last_backoff else ""),
        )
    return table


def speculation_sentence(report: SpeculationReport, llm_names: list[str]) -> str:
    """One honest line: what the players that speculate saved, in all and the LLMs'."""
    speculating = report.speculating
    if not speculating:
        return "speculation: no player speculated in this run"
    share = report.share()
    text = (
        f"speculation: the {len(speculating)} players that speculated saved "
        f"{report.saved_s:.1f} s of their {report.actor_s:.1f} s of actor time"
        + ("" if share is None else f" ({share * 100:+.1f}%)")
    )
    llm = [p for p in speculating if p.name in llm_names]
    llm_share = report.share(llm_names) if llm else None
    if llm and llm_share is not None:
        saved = sum(p.saved_s for p in llm)
        text += f"; the LLM players {saved:.1f} s ({llm_share * 100:+.1f}% of theirs)"
    return text


async def run_with_progress(db: str, config: TournamentConfig, *, again: bool = False) -> str:
    """Run (or resume) a tournament with a live progress bar and standings on a
    terminal, and a line per finished game otherwise (a log file or a pipe gets
    them as they happen, so a killed run's log says how far it got)."""
    if not console.is_terminal:

        def print_line(progress: RunProgress) -> None:
            line = progress_line(progress)
            if line is not None:
                print(line, flush=True)

        print(f"{config.name}: playing", flush=True)
        return await TournamentRunner(db, config, on_progress=print_line, again=again).run()
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
    )
    task = bar.add_task(config.name, total=None, last="")
    live_standings = standings_table(standings(config.player_names, []))

    def update(progress: RunProgress) -> None:
        nonlocal live_standings
        last = ""
        if progress.last is not None:
            g = progress.last
            last = f"{g.players[0]} - {g.players[1]} {g.result} ({g.reason})"
        bar.update(task, total=progress.total, completed=progress.done, last=last)
        live_standings = standings_table(progress.standings)
        live.update(Group(bar, live_standings))

    with Live(Group(bar, live_standings), console=console, refresh_per_second=4) as live:
        runner = TournamentRunner(db, config, on_progress=update, again=again)
        tournament_id = await runner.run()
    return tournament_id


async def _show_leaderboard(db: str, tournament_id: str | None, game: str | None) -> Leaderboard:
    store = await Store.open(db)
    try:
        return await build_leaderboard(store, tournament_id=tournament_id, game=game)
    finally:
        await store.close()


async def _speculation(db: str, tournament_id: str) -> SpeculationReport:
    store = await Store.open(db)
    try:
        return await speculation_report(store, tournament_id)
    finally:
        await store.close()


@click.group()
def tournament() -> None:
    """Run, list and show tournaments."""


@tournament.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--db", default="arena.db", show_default=True, help="SQLite file or database URL.")
@click.option(
    "--again", is_flag=True, help="If a tournament of this name has finished, start a new one."
)
def tournament_run(file: str, db: str, again: bool) -> None:
    """Run the tournament in FILE (TOML); run it again to resume after an interruption.

    Once it has finished, running it again shows its leaderboard and plays
    nothing; --again starts a new tournament of the same name."""
    try:
        config = load_config(file)
        tournament_id = asyncio.run(run_with_progress(db, config, again=again))
    except TournamentFinishedError as exc:
        click.echo(str(exc), err=True)
        tournament_id = exc.tournament_id
    except TournamentConfigError as exc:
        raise click.ClickException(str(exc)) from None
    board = asyncio.run(_show_leaderboard(db, tournament_id, None))
    console.print(leaderboard_table(board, title=f"{config.name} ({tournament_id})"))
    report = asyncio.run(_speculation(db, tournament_id))
    if report.speculating:
        console.print(speculation_table(report))


@tournament.command("list")
@click.option("--db", default="arena.db", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def tournament_list(db: str, as_json: bool) -> None:
    """List tournaments, newest first."""

    async def go() -> list[dict[str, Any]]:
        store = await Store.open(db)
        try:
            out = []
            for t in await store.list_tournaments():
                games = await store.list_games(limit=None, tournament_id=t.id)
                out.append(
                    {
                        "id": t.id,
                        "name": t.name,
                        "format": t.format,
                        "game": t.game,
                        "status": t.status,
                        "games": len([g for g in games if g.status == "finished"]),
                        "players": len(t.config.get("players", [])),
                    }
                )
            return out
        finally:
            await store.close()

    rows = asyncio.run(go())
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    table = Table("id", "name", "format", "game", "status", "players", "games")
    for r in rows:
        table.add_row(
            *(str(r[k]) for k in ("id", "name", "format", "game", "status", "players", "games"))
        )
    console.print(table)


@tournament.command("show")
@click.argument("tournament_id")
@click.option("--db", default="arena.db", show_default=True)
@click.option("--crosstable", "with_crosstable", is_flag=True, help="Add the crosstable.")
@click.option("--json", "as_json", is_flag=True)
def tournament_show(tournament_id: str, db: str, with_crosstable: bool, as_json: bool) -> None:
    """Standings, leaderboard and (optionally) crosstable of one tournament."""

    async def go() -> tuple[Any, Leaderboard, dict[str, dict[str, list[float]]]]:
        store = await Store.open(db)
        try:
            row = await store.get_tournament(tournament_id)
            if row is None:
                raise click.ClickException(f"no tournament {tournament_id!r} in {db}")
            games = await store.list_games(limit=None, tournament_id=tournament_id)
            board = await build_leaderboard(store, tournament_id=tournament_id)
            return row, board, crosstable(games)
        finally:
            await store.close()

    row, board, cross = asyncio.run(go())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "id": row.id,
                    "name": row.name,
                    "format": row.format,
                    "status": row.status,
                    "leaderboard": board.to_json(),
                    "crosstable": cross,
                },
                indent=1,
            )
        )
        return
    console.print(f"[bold]{row.name}[/] ({row.id}): {row.format}, {row.game}, {row.status}")
    console.print(leaderboard_table(board))
    report = asyncio.run(_speculation(db, tournament_id))
    if report.speculating:
        console.print(speculation_table(report))
    if with_crosstable:
        names = [r.name for r in board.rows]
        table = Table(title="crosstable (row player's points against column player)")
        table.add_column("")
        for name in names:
            table.add_column(name[:12], justify="center")
        for a in names:
            cells = []
            for b in names:
                scores = cross.get(a, {}).get(b)
                cells.append(
                    "x" if a == b else ("-" if not scores else f"{sum(scores):g}/{len(scores)}")
                )
            table.add_row(a, *cells)
        console.print(table)


@click.command()
@click.option("--db", default="arena.db", show_default=True)
@click.option("--tournament", "tournament_id", default=None, help="Only this tournament.")
@click.option("--game", default=None, help="Only this game (chess, connect4, ...).")
@click.option("--json", "as_json", is_flag=True)
def leaderboard(db: str, tournament_id: str | None, game: str | None, as_json: bool) -> None:
    """Ratings with 95% intervals, results, and each player's speculation figures."""
    board = asyncio.run(_show_leaderboard(db, tournament_id, game))
    if as_json:
        click.echo(json.dumps(board.to_json(), indent=1))
    else:
        console.print(leaderboard_table(board))


DEMO_PLAYERS = (
    ("gemma-self-spec", "local-llm:spec=llm,adaptive=true"),
    ("gemma-engine-spec", "local-llm:seed=1,spec=engine,spec_depth=6,adaptive=true"),
    ("stockfish-strong", "stockfish:nodes=20000,spec=engine,spec_depth=6"),
    ("stockfish-weak", "stockfish:nodes=2000,skill=2,spec=engine,spec_depth=4"),
    ("random", "random:seed=1"),
)


def demo_config(max_plies: int, concurrency: int, speculation: bool = True) -> TournamentConfig:
    """The demo: a short round-robin on the embedded default, speculation on (or,
    to compare, off for every player: the same games with deterministic players)."""
    from arena.tournament.config import config_from_dict

    players = [{"name": n, "spec": s if speculation else f"{s},spec=none"} for n, s in DEMO_PLAYERS]
    return config_from_dict(
        {
            "name": f"demo-{max_plies}" + ("" if speculation else "-no-speculation"),
            "game": "chess",
            "format": "round-robin",
            "openings": "bundled",
            "opening_pairs": 1,
            "time_control": "none",
            "max_plies": max_plies,
            "concurrency": concurrency,
            "players": players,
            "anchor": {"player": "random", "rating": 0},
        },
        source="demo",
    )


@click.command()
@click.option("--db", default="arena.db", show_default=True)
@click.option(
    "--max-plies", default=30, show_default=True, help="Plies per game after the opening."
)
@click.option("--concurrency", default=2, show_default=True, help="Games at once.")
@click.option("--no-serve", is_flag=True, help="Exit at the end instead of serving the pages.")
@click.option("--port", default=8000, show_default=True, help="Port of the pages afterwards.")
@click.option(
    "--speculation/--no-speculation",
    default=True,
    show_default=True,
    help="Off: the same tournament with no player speculating, to compare wall-clocks.",
)
def demo(
    db: str, max_plies: int, concurrency: int, no_serve: bool, port: int, speculation: bool
) -> None:
    """The main job: a round-robin among built-in players with speculation on
    (two local Gemma 3 270M players, two Stockfish strengths, random), no key,
    no network; prints the leaderboard and what speculation did, then serves the
    pages until Ctrl-C."""
    config = demo_config(max_plies, concurrency, speculation)
    started = time.perf_counter()
    console.print(
        f"demo: round-robin of {len(config.players)} players, "
        f"{len(config.players) * (len(config.players) - 1)} games, stored in {db}"
    )
    try:
        tournament_id = asyncio.run(run_with_progress(db, config, again=True))
    except TournamentConfigError as exc:
        raise click.ClickException(str(exc)) from None
    elapsed = time.perf_counter() - started
    board = asyncio.run(_show_leaderboard(db, tournament_id, None))
    console.print(leaderboard_table(board, title=f"demo leaderboard ({tournament_id})"))
    report = asyncio.run(_speculation(db, tournament_id))
    if speculation:
        console.print(speculation_table(report, title="what speculation did in this run"))
        llm_names = [n for n, spec in DEMO_PLAYERS if spec.startswith(("local-llm", "llm"))]
        console.print(speculation_sentence(report, llm_names), highlight=False)
    console.print(f"tournament wall-clock: {elapsed:.1f} s", highlight=False)
    if no_serve:
        return
    from arena.serve import running_server

    async def serve() -> None:
        async with running_server(db, port=port) as server:
            console.print(
                f"pages at [bold]{server.url}/[/] (leaderboard, recent games); "
                f"this tournament: {server.url}/tournaments/{tournament_id} (Ctrl-C stops)"
            )
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        console.print("stopped")
