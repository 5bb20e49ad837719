"""One game between two built-in players, over a real embedded server.

``arena play`` starts the arena on a free loopback port, registers the two
players as bots (each with a fresh token, revoked afterwards), and runs them
through the same websocket SDK an external bot uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.protocol import GameOver, StateEvent, parse_server_message
from arena.serve import running_server
from arena.store import BotRow
from clients.players import PlayerSpec
from clients.sdk import BotClient
from games import get_game, replay

__all__ = ["PlayResult", "bot_names", "play_game"]


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

    def send(self, text: str) -> None:
        msg = parse_server_message(text)
        if isinstance(msg, StateEvent | GameOver):
            self.callback(msg)

    def close(self, code: int, reason: str) -> None:
        pass


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
) -> PlayResult:
    """Play one game to its end and return how it ended.

    ``opening`` moves, if any, are played out first: the game starts from the
    position after them.
    """
    rules = get_game(game)  # fail early on an unknown game
    initial = rules.encode_state(replay(rules, opening)) if opening else None
    config = MatchConfig(
        time_control=TimeControl.parse(time_control), max_plies=max_plies, max_retries=max_retries
    )
    players = (specs[0].build(), specs[1].build())
    names = bot_names(specs)
    try:
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
                clients = [
                    BotClient(player, server.ws_url, token, max_games=1, client_name="arena-play")
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
