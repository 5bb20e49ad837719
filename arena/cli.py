"""The ``arena`` command line (click; rich for tables)."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from arena import __version__
from arena.clock import TimeControl, TimeControlError
from arena.protocol import GameOver, StateEvent, json_schema
from arena.records import NotChessError, game_pgn, game_summary
from arena.store import BotExistsError, Store, StoreError

T = TypeVar("T")

DEFAULT_DB = os.environ.get("ARENA_DB", "arena.db")
console = Console()
db_option = click.option(
    "--db",
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite file or database URL (env ARENA_DB).",
)


def _run(coro: Awaitable[T]) -> T:
    """Run ``coro``; a database that cannot be opened is a clean error naming its URL."""

    async def wrapper() -> T:
        return await coro

    try:
        return asyncio.run(wrapper())
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


_LAZY_COMMANDS = {
    "bench": "arena.bench.cli:bench",
    "tournament": "arena.tournament.cli:tournament",
    "leaderboard": "arena.tournament.cli:leaderboard",
    "demo": "arena.tournament.cli:demo",
}
"""Commands imported only when used: their modules pull in every player kind,
which would slow down the start of ``arena serve`` (and its restart after a crash)."""


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup)
@click.version_option(__version__, prog_name="arena")
def main() -> None:
    """Speculative Arena: a tournament server for agents, engines and bots."""


# ---------------------------------------------------------------------- serve


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port (0: any free).")
@db_option
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--allow-origin",
    "allowed_origins",
    multiple=True,
    metavar="ORIGIN",
    help="A browser origin (scheme://host[:port], or *) allowed to open websockets "
    "besides the server's own; repeatable.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Messages per second per connection (default 200; bursts of twice that).",
)
@click.option(
    "--engine",
    "engines",
    multiple=True,
    metavar="NAME=PATH",
    help="A UCI engine that tournaments created over the admin API may run (as "
    "path=NAME); repeatable. Debian's engines in /usr/games are listed by default.",
)
@click.option(
    "--api-key-env",
    "api_key_envs",
    multiple=True,
    metavar="NAME",
    help="An environment variable whose value LLM players created over the admin API "
    "may send as their API key; repeatable (none by default).",
)
def serve(
    host: str,
    port: int,
    db: str,
    log_level: str,
    allowed_origins: tuple[str, ...],
    rate_limit: float | None,
    engines: tuple[str, ...],
    api_key_envs: tuple[str, ...],
) -> None:
    """Run the arena server (websockets, JSON API, pages) until Ctrl-C.

    At start-up it resumes every unfinished game in the database (after a
    crash, say) and every tournament it was running. With a PostgreSQL URL
    (``--db postgresql+asyncpg://USER:PASSWORD@HOST/DB``) several servers share
    the database: each hosts its own games, relays the others', and takes over
    only the games of servers that are gone (docs/scaling.md).
    """
    from arena.limits import Limits
    from arena.serve import collector_for_serving, configure_logging, running_server
    from arena.specpolicy import SpecPolicy

    try:
        policy = SpecPolicy.configured(engines, api_key_envs)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--engine") from None
    configure_logging(log_level)
    limits = (
        Limits() if rate_limit is None else Limits(rate_per_s=rate_limit, burst=int(2 * rate_limit))
    )

    async def go() -> None:
        async with running_server(
            db,
            host_name=host,
            port=port,
            log_level=log_level,
            limits=limits,
            recover=True,
            run_tournaments=True,
            allowed_origins=allowed_origins,
            spec_policy=policy,
        ) as server:
            resumed = len(server.host.recovered)
            async with collector_for_serving():  # after start-up: what exists now is frozen
                console.print(
                    f"arena serving [bold]{server.url}[/] "
                    f"(bots: {server.ws_url}, db: {db}); "
                    + (f"{resumed} unfinished game(s) resumed; " if resumed else "")
                    + "Ctrl-C stops"
                )
                lost = asyncio.Event() if server.cluster is None else server.cluster.lost
                await lost.wait()  # its lock is gone: others may take its games
            raise click.ClickException("the database session was lost; stopping (restart me)")

    try:
        _run(go())
    except KeyboardInterrupt:
        console.print("stopped")


# ---------------------------------------------------------------------- bots


@main.group()
def bot() -> None:
    """Register bots, list them, issue and revoke their tokens."""


@bot.command("add")
@click.argument("name")
@db_option
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the token to this file (mode 600) instead of printing it.",
)
@click.option(
    "--exist-ok",
    is_flag=True,
    help="If NAME is registered already, give it a token instead of failing "
    "(with --token-file: keep the file's token if it is still valid for NAME).",
)
def bot_add(name: str, db: str, token_file: Path | None, exist_ok: bool) -> None:
    """Register bot NAME and print its token (shown once, stored hashed)."""
    from arena.names import check_name

    try:
        check_name(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None

    kept = ""
    if exist_ok and token_file is not None and token_file.is_file():
        kept = token_file.read_text().strip()

    async def go() -> tuple[str, bool]:
        store = await Store.open(db)
        try:
            row = (
                await store.ensure_bot(name, "external") if exist_ok else await store.add_bot(name)
            )
            owner = await store.bot_by_token(kept) if kept else None
            if owner is not None and owner.id == row.id:
                return kept, False
            return await store.issue_token(row.id), True
        finally:
            await store.close()

    try:
        token, issued = _run(go())
    except BotExistsError as exc:
        raise click.ClickException(f"{exc} (--exist-ok gives it a new token)") from None
    if token_file is None:
        click.echo(f"bot {name!r} registered; its token (shown once, keep it secret):")
        click.echo(token)
        return
    if issued:
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.touch(mode=0o600)
        token_file.chmod(0o600)
        token_file.write_text(token + "\n")
    click.echo(
        f"bot {name!r} registered; token {'written to' if issued else 'kept in'} {token_file}"
    )


@bot.command("token")
@click.argument("name")
@db_option
def bot_token(name: str, db: str) -> None:
    """Issue a new token for bot NAME (shown once; its other tokens stay valid)."""

    async def go() -> str | None:
        store = await Store.open(db)
        try:
            row = await store.bot_by_name(name)
            if row is None or row.kind == "admin":
                return None
            return await store.issue_token(row.id)
        finally:
            await store.close()

    token = _run(go())
    if token is None:
        raise click.ClickException(f"no bot named {name!r} in {db}")
    click.echo(f"new token for bot {name!r} (shown once, keep it secret):")
    click.echo(token)


@bot.command("revoke")
@click.argument("name")
@db_option
def bot_revoke(name: str, db: str) -> None:
    """Revoke every token of NAME (a bot or an admin). A running server closes
    its open connections within a second; `arena bot token` issues a new one."""

    async def go() -> int | None:
        store = await Store.open(db)
        try:
            row = await store.bot_by_name(name)
            return None if row is None else len(await store.revoke_bot_tokens(row.id))
        finally:
            await store.close()

    count = _run(go())
    if count is None:
        raise click.ClickException(f"no bot or admin named {name!r} in {db}")
    click.echo(f"revoked {count} token(s) of {name!r}")


@main.group()
def admin() -> None:
    """Administrators: tokens for the admin API."""


@admin.command("token")
@click.argument("name", default="admin")
@db_option
def admin_token(name: str, db: str) -> None:
    """Issue an admin token for NAME (created as an admin if new), shown once.

    The admin API (POST /api/bots, /api/bots/NAME/tokens, /api/bots/NAME/revoke,
    /api/tournaments) takes it as 'Authorization: Bearer TOKEN'.
    """

    async def go() -> str:
        store = await Store.open(db)
        try:
            row = await store.bot_by_name(name)
            if row is None:
                row = await store.add_bot(name, kind="admin")
            elif row.kind != "admin":
                raise click.ClickException(f"{name!r} is a bot, not an admin; choose another name")
            return await store.issue_token(row.id, scope="admin")
        finally:
            await store.close()

    token = _run(go())
    click.echo(f"admin token for {name!r} (shown once, keep it secret):")
    click.echo(token)


@bot.command("list")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def bot_list(db: str, as_json: bool) -> None:
    """List registered bots."""

    async def go() -> list[Any]:
        store = await Store.open(db)
        try:
            return await store.list_bots()
        finally:
            await store.close()

    rows = _run(go())
    if as_json:
        click.echo(
            json.dumps(
                [{"name": b.name, "kind": b.kind, "spec": b.spec, "games": n} for b, n in rows]
            )
        )
        return
    table = Table("name", "kind", "spec", "games")
    for b, n in rows:
        table.add_row(b.name, b.kind, b.spec or "", str(n))
    console.print(table)


def _bot_connection(f: Any) -> Any:
    """The options every bot-running command takes: where to connect, which token,
    which games to play."""
    options = [
        click.option(
            "--url",
            default="ws://127.0.0.1:8000/ws",
            show_default=True,
            envvar="ARENA_URL",
            help="The arena's bot websocket (env ARENA_URL).",
        ),
        click.option(
            "--token", default=None, envvar="ARENA_TOKEN", help="The bot's token (env ARENA_TOKEN)."
        ),
        click.option(
            "--token-file",
            default=None,
            envvar="ARENA_TOKEN_FILE",
            help="Read the token from this file instead (env ARENA_TOKEN_FILE).",
        ),
        click.option(
            "--games", type=int, default=None, help="Stop after this many games (default: run on)."
        ),
        click.option(
            "--seek",
            "seek_game",
            default=None,
            metavar="GAME",
            help="Ask for games of GAME whenever the bot has none (default: wait to be paired).",
        ),
        click.option(
            "--tc", default="60+1", show_default=True, help="Time control asked for with --seek."
        ),
        click.option(
            "--max-plies", type=int, default=None, help="Move limit asked for with --seek."
        ),
        click.option("--opponent", default=None, help="With --seek: only play this bot."),
        click.option("--log-level", default="warning", show_default=True),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _run_bot(
    make: Any,
    *,
    url: str,
    token: str | None,
    token_file: str | None,
    games: int | None,
    seek_game: str | None,
    tc: str,
    max_plies: int | None,
    opponent: str | None,
    log_level: str,
) -> None:
    """Build the bot (``make`` is an async function returning it), connect, play, and
    print each game's result."""
    from arena.protocol import Seek
    from arena.serve import configure_logging
    from clients.runner import play, read_token
    from clients.sdk import AuthenticationError, SeekError
    from games import GameError, get_game

    configure_logging(log_level)
    try:
        secret = read_token(token, token_file)
        seek = None
        if seek_game is not None:
            get_game(seek_game)
            TimeControl.parse(tc)
            seek = Seek(game=seek_game, time_control=tc, opponent=opponent, max_plies=max_plies)
    except (ValueError, GameError, TimeControlError) as exc:
        raise click.BadParameter(str(exc)) from None

    def show(over: GameOver) -> None:
        click.echo(f"game {over.game_id}: {over.result} ({over.reason}) after {over.ply} plies")

    async def go() -> None:
        bot = await make()
        click.echo(
            f"bot {bot.name} connecting to {url}" + (f", seeking {seek_game}" if seek else "")
        )
        await play(bot, url, secret, max_games=games, seek=seek, on_result=show)

    try:
        _run(go())
    except (AuthenticationError, SeekError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("stopped")


@bot.command("run")
@click.argument("target", required=False)
@click.option(
    "--player",
    default=None,
    metavar="SPEC",
    help="Run a built-in player instead of TARGET, e.g. llm:model=gpt-4o-mini (see `arena play`).",
)
@_bot_connection
def bot_run(target: str | None, player: str | None, **connection: Any) -> None:
    """Run a bot against an arena: TARGET is FILE.py:NAME or MODULE:NAME, a subclass
    of clients.sdk.Bot or clients.sync.SyncBot (e.g. examples/minimal_bot.py:FirstLegal).

    The bot plays the games the arena gives it (tournaments, challenges), or asks
    for games itself with --seek. It reconnects after a dropped connection and
    resumes its games.
    """
    from clients.players import PlayerSpecError, parse_player_spec
    from clients.runner import BotLoadError, load_bot
    from clients.sdk import Bot

    if (target is None) == (player is None):
        raise click.UsageError("give either TARGET (FILE.py:NAME or MODULE:NAME) or --player SPEC")
    built: Bot
    try:
        if player is not None:
            spec = parse_player_spec(player)
            built = spec.build()
        else:
            built = load_bot(target or "")
    except (BotLoadError, PlayerSpecError) as exc:
        raise click.BadParameter(str(exc)) from None

    async def make() -> Any:
        return built

    _run_bot(make, **connection)


@bot.command("uci")
@click.option(
    "--engine", required=True, help="The UCI engine: a path, or a name on PATH or in /usr/games."
)
@click.option(
    "--option",
    "engine_options",
    multiple=True,
    metavar="NAME=VALUE",
    help="An engine option (repeatable), e.g. --option Hash=64 --option 'Skill Level=5'.",
)
@click.option(
    "--ponder/--no-ponder",
    default=True,
    show_default=True,
    help="Ponder on the expected reply; the expected reply is sent as the prediction.",
)
@click.option("--nodes", type=int, default=None, help="Fixed nodes per move (default: the clock).")
@click.option("--depth", type=int, default=None, help="Fixed depth per move.")
@click.option("--movetime", type=int, default=None, help="Fixed milliseconds per move.")
@_bot_connection
def bot_uci(
    engine: str,
    engine_options: tuple[str, ...],
    ponder: bool,
    nodes: int | None,
    depth: int | None,
    movetime: int | None,
    **connection: Any,
) -> None:
    """Run any UCI chess engine as a bot; its pondering is its speculation.

    The engine manages its time from the arena clock unless --nodes, --depth or
    --movetime is given. With pondering on, the engine's expected reply is sent
    as the bot's prediction, `go ponder` on it is the speculative branch,
    `ponderhit` a hit and `stop` a miss, so `arena games show` reports the
    engine's prediction accuracy and time saved.
    """
    from clients.actors.engine import EngineNotFoundError
    from clients.uci_bridge import UciBot, UciBotOptions, UciBridgeError, parse_engine_options

    try:
        options = UciBotOptions(
            engine=engine,
            options=parse_engine_options(engine_options),
            ponder=ponder,
            nodes=nodes,
            depth=depth,
            movetime=movetime,
        )
        uci = UciBot(options)
    except (UciBridgeError, EngineNotFoundError) as exc:
        raise click.BadParameter(str(exc)) from None

    async def make() -> Any:
        try:
            await uci.check()
        except UciBridgeError as exc:
            raise click.BadParameter(str(exc)) from None
        return uci

    _run_bot(make, **connection)


# ---------------------------------------------------------------------- play


@main.command()
@click.argument("white")
@click.argument("black")
@click.option(
    "--game", default="chess", show_default=True, help="Game to play (see `arena games-available`)."
)
@click.option(
    "--tc",
    default="60+1",
    show_default=True,
    help="Time control: BASE+INC seconds, N/move, or none.",
)
@click.option(
    "--max-plies", type=int, default=None, help="Adjudicate a draw after this many moves."
)
@click.option(
    "--max-retries",
    type=int,
    default=3,
    show_default=True,
    help="Illegal moves allowed per turn before forfeit.",
)
@db_option
@click.option("--quiet", is_flag=True, help="Print only the result.")
def play(
    white: str,
    black: str,
    game: str,
    tc: str,
    max_plies: int | None,
    max_retries: int,
    db: str,
    quiet: bool,
) -> None:
    """Play one game between two built-in players, e.g. `stockfish:nodes=20000 random`.

    A player is KIND[:key=value,...]; kinds: random (seed), stockfish (nodes,
    search_depth, movetime, skill, threads, hash, path).
    """
    from arena.play import play_game
    from clients.actors.engine import EngineNotFoundError
    from clients.players import PlayerSpecError, parse_player_spec
    from games import GameError

    try:
        specs = (parse_player_spec(white), parse_player_spec(black))
        TimeControl.parse(tc)
    except (PlayerSpecError, TimeControlError) as exc:
        raise click.BadParameter(str(exc)) from None

    def show(event: StateEvent | GameOver) -> None:
        if quiet or not isinstance(event, StateEvent):
            return
        clocks = " ".join(
            "-" if c is None else f"{c / 1000:.1f}s" for c in event.clocks.remaining_ms
        )
        click.echo(f"{event.ply:4d}. {event.display:<8} {event.last_move:<6} clocks {clocks}")

    try:
        result = _run(
            play_game(
                db,
                specs,
                game=game,
                time_control=tc,
                max_plies=max_plies,
                max_retries=max_retries,
                on_event=show,
            )
        )
    except (GameError, EngineNotFoundError, PlayerSpecError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{result.players[0]} vs {result.players[1]}: {result.result} ({result.reason}) "
        f"after {result.plies} plies; game {result.game_id} stored in {db}"
    )


# ---------------------------------------------------------------------- games


@main.group("games", invoke_without_command=True)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--limit", default=50, show_default=True, type=int)
@click.pass_context
def games_cmd(ctx: click.Context, db: str, as_json: bool, limit: int) -> None:
    """List stored games, newest first; `arena games show ID` shows one."""
    if ctx.invoked_subcommand is not None:
        return

    async def go() -> list[Any]:
        store = await Store.open(db)
        try:
            return await store.list_games(limit=limit)
        finally:
            await store.close()

    rows = _run(go())
    if as_json:
        click.echo(json.dumps([game_summary(r) for r in rows], indent=1))
        return
    table = Table("id", "game", "players", "result", "reason", "plies", "status")
    for r in rows:
        table.add_row(
            r.id,
            r.game,
            f"{r.players[0]} vs {r.players[1]}",
            r.result or "",
            r.reason or "",
            str(r.ply),
            r.status,
        )
    console.print(table)


@games_cmd.command("show")
@click.argument("game_id")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the game's JSON record instead.")
def games_show(game_id: str, db: str, as_json: bool) -> None:
    """Show one game: every move with its predictions and timings, and speculation totals.

    Predictions and response times are measured by the server; actor time and
    tokens are as reported by the bots (saved = actor ms - response ms).
    """
    from arena.records import game_detail

    async def go() -> dict[str, Any] | None:
        store = await Store.open(db)
        try:
            return await game_detail(store, game_id)
        finally:
            await store.close()

    detail = _run(go())
    if detail is None:
        raise click.ClickException(f"no game {game_id!r} in {db}")
    if as_json:
        click.echo(json.dumps(detail, indent=1))
        return
    _print_game(detail)


def _fmt(value: float | int | None, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _print_game(detail: dict[str, Any]) -> None:
    """The `games show` tables, from a :func:`arena.records.game_detail` record."""
    from rich.text import Text

    # piped output gets a width that fits the tables rather than rich's 80 columns
    out = console if console.is_terminal else Console(width=160)
    players, seats = detail["players"], detail["seat_names"]
    out.print(
        f"game [bold]{detail['id']}[/] ({detail['game']}): "
        f"{seats[0]} {players[0]} vs {seats[1]} {players[1]}"
    )
    out.print(
        f"result {detail['result'] or '-'} ({detail['reason'] or detail['status']}), "
        f"{detail['plies']} plies, time control {detail['time_control']}"
    )
    spec = detail["speculation"]
    moves = Table(
        "ply", "seat", "move", "predictions", "hit", "actor ms", "response ms", "saved ms",
        "tokens", "spec tokens", "wasted",
        title="moves (* marks the hit; late predictions do not count)",
    )  # fmt: skip
    for m in spec["moves"]:
        preds = Text()
        if m["predictions"] is None:
            preds.append("-")
        for i, p in enumerate(m["predictions"] or []):
            if i:
                preds.append(" ")
            hit = m["hit_rank"] == i + 1
            preds.append(p + ("*" if hit else ""), style="bold green" if hit else "")
        if m["late_predictions"]:
            preds.append(f" (+{m['late_predictions']} late)", style="dim")
        moves.add_row(
            str(m["ply"]),
            seats[m["seat"]],
            Text(m["display"]),
            preds,
            _fmt(m["hit_rank"]),
            _fmt(m["actor_ms"], ".0f"),
            str(m["response_ms"]),
            _fmt(m["saved_ms"], ".0f"),
            str(m["actor_tokens"]),
            str(m["spec_tokens"]),
            str(m["wasted_tokens"]),
        )
    out.print(moves)
    reason: dict[int, str | None] = {}
    for m in spec["moves"]:  # each change of a player's back-off, once
        if m.get("backoff") != reason.get(m["seat"]):
            reason[m["seat"]] = m.get("backoff")
            state = f"backs off: {m['backoff']}" if m.get("backoff") else "speculates again"
            out.print(f"ply {m['ply']}: {seats[m['seat']]} {state}")
    totals = Table(
        "player", "moves", "top-1", "top-k", "saved s", "saved share",
        "tokens", "spec tokens", "wasted", "token overhead", title="speculation totals",
    )  # fmt: skip
    for p in spec["players"]:
        totals.add_row(
            f"{seats[p['seat']]} {p.get('name', '')}".strip(),
            str(p["moves"]),
            f"{p['top1_hits']}/{p['predicted']} {_fmt(p['top1_accuracy'], '.1%')}",
            f"{p['topk_hits']}/{p['predicted']} {_fmt(p['topk_accuracy'], '.1%')}",
            f"{p['saved_ms'] / 1000:.2f}",
            _fmt(p["saved_share"], ".1%"),
            str(p["actor_tokens"]),
            str(p["spec_tokens"]),
            str(p["wasted_tokens"]),
            _fmt(p["token_overhead"], ".2f") + ("x" if p["token_overhead"] is not None else ""),
        )
    out.print(totals)


@main.command("games-available")
def games_available() -> None:
    """List the games this arena can host (built-in and plug-ins)."""
    from games import available_games, get_game

    for name in available_games():
        info = get_game(name).info
        click.echo(
            f"{name}: {info.title}; seats {info.seats[0]}/{info.seats[1]}; {info.move_notation}"
        )


# ---------------------------------------------------------------------- export


@main.group()
def export() -> None:
    """Export stored games."""


@export.command("pgn")
@click.argument("game_id")
@db_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def export_pgn(game_id: str, db: str, output: Path | None) -> None:
    """Print (or write) a chess game as PGN."""

    async def go() -> str | None:
        store = await Store.open(db)
        try:
            return await game_pgn(store, game_id)
        finally:
            await store.close()

    try:
        pgn = _run(go())
    except NotChessError as exc:
        raise click.ClickException(str(exc)) from None
    if pgn is None:
        raise click.ClickException(f"no game {game_id!r} in {db}")
    if output is None:
        click.echo(pgn)
    else:
        output.write_text(pgn + "\n")


# ---------------------------------------------------------------------- protocol


@main.group()
def protocol() -> None:
    """Protocol reference."""


@protocol.command("schema")
def protocol_schema() -> None:
    """Print the JSON schema of protocol v1 (every message, both directions)."""
    json.dump(json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
