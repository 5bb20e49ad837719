"""LLM players over any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, Ollama, ...).

- :class:`LLMActor`: the model chooses the move (rethinking illegal answers);
- :class:`LLMSpeculator`: the model ranks the likely moves of the player to move;
- :class:`LLMOptions`: the model, endpoint and how to ask it.

Prompts (:mod:`clients.llm.prompt`) and reply parsing (:mod:`clients.llm.parse`)
are pure; :mod:`clients.llm.endpoint` is the I/O shell around the openai client.
Errors are described in :mod:`clients.llm.errors`.
"""

from clients.llm.actor import LLMActor
from clients.llm.config import LLMOptions
from clients.llm.errors import (
    EndpointError,
    IllegalAnswerError,
    LLMError,
    LLMTimeoutError,
    ParseError,
    RateLimitedError,
)
from clients.llm.speculator import LLMSpeculator

__all__ = [
    "EndpointError",
    "IllegalAnswerError",
    "LLMActor",
    "LLMError",
    "LLMOptions",
    "LLMSpeculator",
    "LLMTimeoutError",
    "ParseError",
    "RateLimitedError",
]
