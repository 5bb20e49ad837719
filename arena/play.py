"""One game between two built-in players, over a real embedded server.

``arena play`` starts the arena on a free loopback port, registers the two
players as bots (each with a fresh token, revoked afterwards), and runs them
through the same websocket SDK an external bot uses: in this process, or each
in a process of its own (``arena bot run --player SPEC``), as outside bots run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.protocol import GameOver, StateEvent, parse_server_message
from arena.serve import running_server
from arena.store import BotRow
from clients.player import SpeculativePlayer
from clients.players import PlayerSpec, PlayerSpecError
from clients.sdk import BotClient
from games import get_game, replay

__all__ = ["PlayResult", "bot_names", "play_game", "play_in_processes"]


@dataclass(frozen=True)
class PlayResult:
    game_id: str
    game: str
    players: tuple[str, str]
    result: str
    reason: str
    plies: int


class _Listener:
    """An in-process spectator that hands each event to a callback."""

    bot: BotRow | None = None

    def __init__(self, callback: Callable[[StateEvent | GameOver], None]) -> None:
        self.callback = callback

    def send(self, *texts: str) -> None:
        for text in texts:
            msg = parse_server_message(text)
            if isinstance(msg, StateEvent | GameOver):
                self.callback(msg)

    def close(self, code: int, reason: str) -> None:
        pass


PLAYER_EXIT_S = 30.0
"""How long a player process may take to leave once its game is over."""
PLAYER_STOP_S = 5.0
"""How long a player process may take to stop after SIGTERM before it is killed."""


async def play_in_processes(
    ws_url: str,
    specs: tuple[PlayerSpec, PlayerSpec],
    tokens: Sequence[str],
    finished: Awaitable[object],
) -> None:
    """Run each player as ``arena bot run --player SPEC --games 1`` in a process of its
    own, connected to ``ws_url`` with its token (passed in the environment, not on the
    command line), until ``finished`` (the game's end) and the processes have left.

    A process that exits before the game is over, exits with an error, or does not
    leave once the game is over raises :class:`RuntimeError` naming the player and
    quoting the end of its log. Processes still running at the end are stopped
    (SIGTERM, so that a player's own servers stop with it; SIGKILL after
    :data:`PLAYER_STOP_S`).
    """
    env = {k: v for k, v in os.environ.items() if k != "ARENA_TOKEN_FILE"}
    procs: list[asyncio.subprocess.Process] = []
    logs: list[asyncio.Task[bytes]] = []
    game_over = asyncio.ensure_future(finished)
    try:
        for spec, token in zip(specs, tokens, strict=True):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "arena.cli",
                "bot",
                "run",
                "--player",
                spec.text,
                "--url",
                ws_url,
                "--games",
                "1",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env={**env, "ARENA_TOKEN": token},
            )
            procs.append(proc)
            logs.append(asyncio.create_task(_read_all(proc)))

        async def failure(i: int, what: str) -> RuntimeError:
            log = b""
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):  # its log ends when it has exited
                    log = await asyncio.shield(logs[i])
            tail = log.decode(errors="replace")[-2000:] or "(nothing on stderr)"
            return RuntimeError(f"player {specs[i].text!r} {what}: {tail}")

        exits = [asyncio.create_task(p.wait()) for p in procs]
        await asyncio.wait({game_over, *exits}, return_when=asyncio.FIRST_COMPLETED)
        if not game_over.done():  # a player left first; the game may end as it leaves
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await asyncio.shield(game_over)
            if not game_over.done():
                i = next(i for i, task in enumerate(exits) if task.done())
                code = procs[i].returncode
                raise await failure(i, f"exited with {code} before its game was over")
        try:
            async with asyncio.timeout(PLAYER_EXIT_S):
                await asyncio.gather(*exits)
        except TimeoutError:
            slow = next(i for i, p in enumerate(procs) if p.returncode is None)
            raise await failure(slow, f"did not leave within {PLAYER_EXIT_S:g} s") from None
        for i, proc in enumerate(procs):
            if proc.returncode != 0:
                raise await failure(i, f"exited with {proc.returncode} after its game")
    finally:
        game_over.cancel()
        await _stop(procs)
        for reader in logs:
            with contextlib.suppress(Exception):
                await reader


async def _stop(procs: Sequence[asyncio.subprocess.Process]) -> None:
    """SIGTERM the processes still running, then SIGKILL those that do not stop."""
    running = [p for p in procs if p.returncode is None]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    for proc in running:
        try:
            async with asyncio.timeout(PLAYER_STOP_S):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def _read_all(proc: asyncio.subprocess.Process) -> bytes:
    assert proc.stderr is not None
    return await proc.stderr.read()


async def check_players(specs: Sequence[PlayerSpec], players: Sequence[SpeculativePlayer]) -> None:
    """Start what each player needs now (an engine with its options, ...): a player
    that cannot play is a :class:`PlayerSpecError` naming it and the cause, before any
    game. Players that will run in processes of their own (``players`` empty) are
    built and checked here, then closed."""
    own = not players
    built: list[SpeculativePlayer] = []
    try:
        for i, spec in enumerate(specs):
            try:
                player = spec.build() if own else players[i]
                built.append(player)
                await player.check()
            except Exception as exc:  # a missing engine binary, a bad option, ...
                raise PlayerSpecError(f"player {spec.text!r} cannot play: {exc}") from None
    finally:
        if own:
            for player in built:
                await player.close()


def bot_names(specs: tuple[PlayerSpec, PlayerSpec]) -> tuple[str, str]:
    """Bot names for two players: their specs, made distinct when equal."""
    first, second = specs[0].text, specs[1].text
    return (first, second) if first != second else (f"{first}#1", f"{second}#2")


async def play_game(
    db: str,
    specs: tuple[PlayerSpec, PlayerSpec],
    *,
    game: str = "chess",
    time_control: str = "60+1",
    max_plies: int | None = None,
    max_retries: int = 3,
    opening: Sequence[str] = (),
    on_event: Callable[[StateEvent | GameOver], None] | None = None,
    in_processes: bool = False,
) -> PlayResult:
    """Play one game to its end and return how it ended.

    ``opening`` moves, if any, are played out first: the game starts from the
    position after them. With ``in_processes`` each player runs in a process of
    its own (:func:`play_in_processes`); otherwise both run in this one.
    """
    rules = get_game(game)  # fail early on an unknown game
    initial = rules.encode_state(replay(rules, opening)) if opening else None
    config = MatchConfig(
        time_control=TimeControl.parse(time_control), max_plies=max_plies, max_retries=max_retries
    )
    players = () if in_processes else (specs[0].build(), specs[1].build())
    names = bot_names(specs)
    try:
        await check_players(specs, players)
        async with running_server(db) as server:
            store = server.store
            bots = (
                await store.ensure_bot(names[0], "builtin", specs[0].text),
                await store.ensure_bot(names[1], "builtin", specs[1].text),
            )
            tokens = [await store.issue_token(bot.id) for bot in bots]
            try:
                game_id = await server.host.create_game(
                    game, bots, config, initial_state=initial, opening=" ".join(opening) or None
                )
                if on_event is not None:
                    await server.host.watch(_Listener(on_event), game_id)
                if in_processes:
                    await play_in_processes(
                        server.ws_url, specs, tokens, server.host.wait_finished(game_id)
                    )
                else:
                    clients = [
                        BotClient(
                            player, server.ws_url, token, max_games=1, client_name="arena-play"
                        )
                        for player, token in zip(players, tokens, strict=True)
                    ]
                    async with asyncio.TaskGroup() as group:
                        for client in clients:
                            group.create_task(client.run())
                        await server.host.wait_finished(game_id)
            finally:
                for token in tokens:
                    await store.revoke_token(token)
            row = await store.get_game(game_id)
            assert row is not None
            return PlayResult(
                game_id=game_id,
                game=game,
                players=row.players,
                result=row.result or "*",
                reason=row.reason or "",
                plies=row.ply,
            )
    finally:
        for player in players:
            await player.close()
