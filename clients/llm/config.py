"""Options of the LLM actor and speculator, as one typed, frozen value."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["NO_KEY", "LLMOptions"]

NO_KEY = "sk-no-key"
"""The API key sent when the key's environment variable is unset (local servers ignore it)."""

_STRUCTURED = ("auto", "on", "off")


@dataclass(frozen=True, slots=True)
class LLMOptions:
    """How to reach a model behind an OpenAI-compatible endpoint, and how to ask it.

    The API key is never held here: only the name of the environment variable
    it is read from when the client is created (so options can be logged).
    """

    model: str
    """Model name as the endpoint knows it (``gpt-5``, ``gemma-3-270m``, ...)."""
    base_url: str | None = None
    """Endpoint, e.g. ``http://127.0.0.1:8080/v1``; ``None`` for api.openai.com."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the key; unset means the placeholder :data:`NO_KEY`."""
    temperature: float = 0.0
    """Sampling temperature; 0 (with a seed) keeps a deterministic server deterministic."""
    seed: int | None = 0
    """Sampling seed, sent when not ``None``."""
    reasoning_effort: str | None = None
    """``low``, ``medium``, ``high``, ... for reasoning models; not sent when ``None``."""
    max_tokens: int | None = 256
    """Cap on completion tokens per call; not sent when ``None``."""
    structured: str = "auto"
    """``on``: constrain answers with a JSON schema whose move is an enum of the
    legal moves; ``off``: free text; ``auto``: structured until the endpoint
    rejects ``response_format`` (HTTP 400), then free text for good."""
    schema_format: str = "json_schema"
    """How answers are constrained: ``json_schema`` (OpenAI's ``response_format``:
    a JSON object whose move is an enum of the legal moves; strict endpoints
    write it without whitespace) or ``grammar`` (llama.cpp's server: a
    ``grammar`` whose alternatives are the legal moves, so the answer is the
    bare move, a few tokens, and the prompt asks for just that) or
    ``llguidance`` (the same grammar in LLGuidance's Lark syntax, for llama.cpp
    servers built with it, such as the embedded one: much faster to apply)."""
    show_legal: bool = True
    """List the legal moves in the prompt."""
    show_board: bool = True
    """Include the game's text picture of the position."""
    show_state: bool = True
    """Include the encoded state (FEN for chess). The moves so far are always there,
    and from the start (or the opening's position, always shown) they say the same."""
    retries: int = 2
    """Rethinks (with feedback) after an illegal or unreadable answer."""
    timeout_s: float = 60.0
    """Cap on one call, in seconds; the game clock may lower it."""
    stream: bool = True
    """Stream replies, so tokens are metered as they arrive and a cancel stops the server."""
    parallel: bool | None = None
    """Whether the endpoint serves calls side by side without slowing each one down
    (a remote API, a batching server): then speculative branches cost tokens but
    not the actor's time, and pipelined speculation may look through our own
    pending move. ``False``: calls compete for one server (a llama.cpp server on
    this machine), which the adaptive policy watches. ``None``: ``False`` for an
    endpoint on this machine (loopback), ``True`` otherwise."""

    @property
    def resource(self) -> str | None:
        """The endpoint as a resource actor calls and branches compete for, or
        ``None`` when it serves them side by side (see :attr:`parallel`)."""
        parallel = self.parallel
        if parallel is None:
            parallel = not _on_this_machine(self.base_url)
        return None if parallel else (self.base_url or "api.openai.com")

    def __post_init__(self) -> None:
        if self.structured not in _STRUCTURED:
            raise ValueError(
                f"structured={self.structured!r}; expected one of {', '.join(_STRUCTURED)}"
            )
        if self.schema_format not in ("json_schema", "grammar", "llguidance"):
            raise ValueError(
                f"schema_format={self.schema_format!r}; expected json_schema, grammar or llguidance"
            )
        if self.retries < 0:
            raise ValueError(f"retries={self.retries}; expected 0 or more")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s={self.timeout_s}; expected a positive number of seconds")
        if not self.model:
            raise ValueError("model is empty; give the model name the endpoint serves")


def _on_this_machine(base_url: str | None) -> bool:
    """Whether ``base_url`` points at this machine (loopback), e.g. a local llama.cpp server."""
    if base_url is None:
        return False
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
