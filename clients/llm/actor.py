"""The LLM actor: asks a model for its move, and makes it think again when the answer is bad."""

from __future__ import annotations

import asyncio
import logging

import openai

from clients.llm.config import LLMOptions
from clients.llm.endpoint import Endpoint, Schema
from clients.llm.errors import IllegalAnswerError, LLMError, ParseError, excerpt
from clients.llm.parse import parse_move
from clients.llm.prompt import (
    Prompt,
    Rethink,
    actor_prompt,
    legal_sorted,
    move_schema,
)
from clients.speculation import Action, Meter, Position

__all__ = ["CLOCK_SAFETY_S", "COMMENT_CHARS", "LLMActor"]

log = logging.getLogger(__name__)

CLOCK_SAFETY_S = 0.5
"""Kept off the clock for sending the move back to the arena."""

COMMENT_CHARS = 8000
"""The reply is kept as the move's comment, cut to this length."""


class LLMActor:
    """An :class:`~clients.speculation.Actor` backed by any OpenAI-compatible chat endpoint.

    The prompt depends on the position only, so a speculative branch sends
    exactly the request a sequential call would. Illegal or unreadable answers
    get up to ``options.retries`` rethinks with feedback; then
    :class:`IllegalAnswerError` is raised and the player cannot move.
    """

    def __init__(self, options: LLMOptions, client: openai.AsyncOpenAI | None = None) -> None:
        self.options = options
        self.resource: str | None = options.resource
        """The endpoint, when calls compete for it (see :attr:`LLMOptions.parallel`)."""
        self.endpoint = Endpoint(options, client)
        self._clocks: tuple[int | None, int | None] = (None, None)

    def set_clock(self, clocks: tuple[int | None, int | None], time_control: str) -> None:
        """Remaining milliseconds of both seats (``None`` without a clock), for later calls.

        Each later :meth:`act` gives itself the mover's remaining time, less
        :data:`CLOCK_SAFETY_S`, for all its calls together (rethinks and waits
        after a 429 included); each call is still capped by ``options.timeout_s``.
        The player sets the clock when its turn comes; a speculative branch
        started earlier uses the clock as it was at the player's previous turn.
        ``time_control`` is accepted for the player's interface; the remaining
        times already say everything needed here.
        """
        self._clocks = clocks

    def budget_s(self, position: Position) -> float | None:
        """Seconds :meth:`act` may spend on ``position``, or ``None`` without a clock."""
        remaining = self._clocks[position.to_move]
        if remaining is None:
            return None
        return remaining / 1000.0 - CLOCK_SAFETY_S

    async def act(self, position: Position, meter: Meter) -> Action:
        """The model's move for ``position``; tokens go on ``meter`` as they stream in."""
        legal = legal_sorted(position)
        if not legal:
            raise LLMError(f"no legal moves in {position.game.encode_state(position.state)!r}")
        budget = self.budget_s(position)
        deadline = None if budget is None else asyncio.get_running_loop().time() + budget
        schema = Schema("move", move_schema(legal), tuple(legal))
        rethinks: list[Rethink] = []

        def build(structured: bool) -> Prompt:
            return actor_prompt(
                position,
                structured=structured,
                show_legal=self.options.show_legal,
                show_board=self.options.show_board,
                show_state=self.options.show_state,
                bare=self.options.schema_format != "json_schema",
                rethinks=rethinks,
            )

        error: ParseError | None = None
        for attempt in range(self.options.retries + 1):
            try:
                reply = await self.endpoint.complete(build, schema, meter, deadline)
                move = parse_move(position.game, position.state, reply.text)
            except ParseError as exc:
                error = exc
                log.info("%s, attempt %d: %s", self.options.model, attempt + 1, exc)
                rethinks.append(Rethink(exc.reply, exc.reason))
                continue
            return Action(move, comment=reply.text[:COMMENT_CHARS])
        assert error is not None
        raise IllegalAnswerError(
            f"{self.options.model} gave no legal move in {self.options.retries + 1} attempts "
            f"at ply {position.ply} ({position.game.encode_state(position.state)}); "
            f"last problem: {error.reason}; last reply: {excerpt(error.reply)!r}"
        )

    async def close(self) -> None:
        """Close the HTTP client, if this actor created it."""
        await self.endpoint.close()
