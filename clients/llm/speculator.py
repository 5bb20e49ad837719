"""The LLM speculator: asks a (fast) model for the likeliest moves of the player to move."""

from __future__ import annotations

import logging

import openai

from clients.llm.config import LLMOptions
from clients.llm.endpoint import Endpoint, Schema
from clients.llm.parse import parse_guesses
from clients.llm.prompt import (
    Prompt,
    guesses_schema,
    legal_sorted,
    speculator_prompt,
)
from clients.speculation import Guess, Meter, Position

__all__ = ["LLMSpeculator"]

log = logging.getLogger(__name__)


class LLMSpeculator:
    """A :class:`~clients.speculation.Speculator` backed by an OpenAI-compatible endpoint.

    Structured output constrains the answer to up to ``k`` legal moves with
    probabilities; without it, a JSON or plain ranked list is read. A
    speculator must never break the game: on any failure (timeout, HTTP error,
    unreadable answer) it logs a warning and predicts nothing.
    """

    def __init__(self, options: LLMOptions, client: openai.AsyncOpenAI | None = None) -> None:
        self.options = options
        self.resource: str | None = options.resource
        self.endpoint = Endpoint(options, client)

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        """Up to ``k`` legal moves, most likely first; ``[]`` when the model fails."""
        legal = legal_sorted(position)
        if k <= 0 or not legal:
            return []
        schema = Schema("moves", guesses_schema(legal, k), tuple(legal), k)

        def build(structured: bool) -> Prompt:
            return speculator_prompt(
                position,
                k,
                structured=structured,
                show_legal=self.options.show_legal,
                show_board=self.options.show_board,
                show_state=self.options.show_state,
                bare=self.options.schema_format != "json_schema",
            )

        try:
            reply = await self.endpoint.complete(build, schema, meter)
        except Exception as exc:
            log.warning("LLM speculator %s failed, no prediction: %s", self.options.model, exc)
            return []
        guesses = parse_guesses(position.game, position.state, reply.text)
        if not guesses:
            log.warning(
                "LLM speculator %s gave no legal move, no prediction: %r",
                self.options.model,
                reply.text[:200],
            )
        return guesses[:k]

    async def close(self) -> None:
        """Close the HTTP client, if this speculator created it."""
        await self.endpoint.close()
