"""A player on the SDK: an actor, optionally a speculator, and a speculation policy.

Every built-in player is one of these, and an external bot can be too: give
it an :class:`~clients.speculation.Actor` (and a speculator) instead of
overriding :meth:`~clients.sdk.Bot.choose_move`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from arena.protocol import GameOver
from clients.sdk import Bot, GameView, MoveDecision
from clients.speculation import (
    Actor,
    Contention,
    Guess,
    Payoff,
    Position,
    Speculation,
    SpeculationConfig,
    Speculator,
)

__all__ = ["SpeculativePlayer", "position_of"]

log = logging.getLogger(__name__)

SpeculatorFactory = Callable[[GameView], Speculator | None]


def position_of(view: GameView) -> Position:
    """The speculation engine's view of a game."""
    return view.position()


class SpeculativePlayer(Bot):
    """Plays with ``actor``; while the opponent thinks, speculates per ``config``."""

    def __init__(
        self,
        actor: Actor,
        *,
        speculator: SpeculatorFactory | None = None,
        config: SpeculationConfig | None = None,
        name: str = "player",
        resources: Sequence[Any] = (),
    ) -> None:
        self.actor = actor
        self.speculator_factory = speculator
        self.config = config or SpeculationConfig(k=0)
        self.name = name
        self._resources = resources
        """Objects with an async ``close()`` to call when the player closes (the
        sequence may grow as per-game speculators are made)."""
        self._games: dict[str, Speculation] = {}
        self.contention = Contention()
        """Shared by all this player's games: it describes the actor's resource."""
        self.payoff = Payoff()
        """Shared by all this player's games: whether its speculation pays."""

    def speculation(self, view: GameView) -> Speculation:
        """The speculation state of ``view``'s game (created on first use)."""
        spec = self._games.get(view.game_id)
        if spec is None:
            speculator = self.speculator_factory(view) if self.speculator_factory else None
            game_id = view.game_id

            async def publish(ply: int, guesses: list[Guess]) -> None:
                if self.client is None:
                    return
                probs = [g.prob for g in guesses]
                await self.client.predict(
                    game_id,
                    ply,
                    [g.move for g in guesses],
                    None if any(p is None for p in probs) else [float(p or 0.0) for p in probs],
                )

            spec = Speculation(
                self.actor,
                speculator,
                self.config,
                publish,
                contention=self.contention,
                payoff=self.payoff,
            )
            self._games[view.game_id] = spec
        return spec

    async def check(self) -> None:
        """Start what the player needs now (an engine with its options, ...), so that
        a player that cannot play fails here, before any game, with the cause.
        Objects without a ``check()`` are started on first use as before."""
        for obj in (self.actor, *self._resources):
            check = getattr(obj, "check", None)
            if callable(check):
                await check()

    def on_opponent_turn(self, view: GameView) -> None:
        self.speculation(view).opponent_to_move(position_of(view))

    async def choose_move(self, view: GameView) -> MoveDecision:
        set_clock = getattr(self.actor, "set_clock", None)
        if callable(set_clock):
            set_clock(view.clocks, view.time_control)
        report = await self.speculation(view).decide(position_of(view))
        return MoveDecision.from_report(report)

    async def on_game_over(self, view: GameView, over: GameOver) -> None:
        spec = self._games.pop(view.game_id, None)
        if spec is not None:
            await spec.close()

    async def close(self) -> None:
        for spec in list(self._games.values()):
            await spec.close()
        self._games.clear()
        closers = [self.actor, *self._resources]
        for obj in closers:
            close = getattr(obj, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    await close()
