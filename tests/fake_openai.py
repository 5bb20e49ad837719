"""A small OpenAI-compatible chat server for tests: scripted replies on a free loopback port.

Each request to ``POST /v1/chat/completions`` takes the next step of the
script (:class:`Reply`, :class:`RateLimited`, :class:`Fail`, :class:`Hang`,
:class:`EmptyChoices`, :class:`Garbage`, :class:`Huge`), streamed or not as
the request asks. Every request body is recorded, with whether the client
closed the request before the server had finished it (a cancelled call must
drop its connection). With ``reject_response_format`` the server answers any
request carrying ``response_format`` with a 400, as servers without
structured output do, without consuming a step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from arena.serve import serve_asgi

__all__ = [
    "EmptyChoices",
    "Fail",
    "FakeOpenAI",
    "Garbage",
    "Hang",
    "Huge",
    "RateLimited",
    "Recorded",
    "Reply",
    "Step",
    "fake_openai",
]


@dataclass(frozen=True)
class Reply:
    """Answer ``text``; streamed in pieces of ``chunk_chars`` characters (one token each)."""

    text: str
    prompt_tokens: int = 50
    chunk_chars: int = 4
    continuous_usage: bool = False
    """Send the cumulative usage in every chunk (as vLLM's continuous usage stats do)."""
    delay_s: float = 0.0
    """Wait this long between chunks (or before a non-streamed answer)."""


@dataclass(frozen=True)
class RateLimited:
    """429 Too Many Requests, with ``Retry-After`` (seconds) when given."""

    retry_after: float | None = None


@dataclass(frozen=True)
class Fail:
    """An HTTP error with an OpenAI-style error body."""

    status: int = 500
    message: str = "internal error"


@dataclass(frozen=True)
class Hang:
    """Send ``text`` (when streaming), then never finish; only the client can end it."""

    text: str = ""
    chunk_chars: int = 4


@dataclass(frozen=True)
class EmptyChoices:
    """A well-formed answer with no choices at all."""


@dataclass(frozen=True)
class Garbage:
    """A 200 whose body is not JSON (or SSE events whose data is not JSON)."""

    body: str = "<html>Bad Gateway</html>"


@dataclass(frozen=True)
class Huge:
    """A reply of ``size`` characters."""

    size: int = 1_000_000


Step = Reply | RateLimited | Fail | Hang | EmptyChoices | Garbage | Huge


@dataclass
class Recorded:
    """One request as the server saw it."""

    body: dict[str, Any]
    step: Step | None
    finished: bool = False
    """The server sent the whole response."""
    closed_early: bool = False
    """The client dropped the request before the server had finished it."""


@dataclass
class FakeOpenAI:
    """The running fake: its URL and what it has seen."""

    script: list[Step]
    reject_response_format: bool = False
    base_url: str = ""
    records: list[Recorded] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    """Set on shutdown so hanging handlers end."""

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body, in arrival order."""
        return [r.body for r in self.records]

    @property
    def closed_early(self) -> int:
        """How many requests the client closed before the server had finished them."""
        return sum(1 for r in self.records if r.closed_early)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])

    async def _chat(self, request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        if self.reject_response_format and "response_format" in body:
            self.records.append(Recorded(body, None, finished=True))
            return _error(400, "response_format is not supported by this server")
        step = self.script.pop(0) if self.script else Fail(500, "fake: script exhausted")
        record = Recorded(body, step)
        self.records.append(record)
        stream = bool(body.get("stream"))
        model = str(body.get("model", "fake"))
        if isinstance(step, RateLimited):
            headers = {} if step.retry_after is None else {"retry-after": f"{step.retry_after:g}"}
            record.finished = True
            return _error(429, "rate limited", headers)
        if isinstance(step, Fail):
            record.finished = True
            return _error(step.status, step.message)
        if isinstance(step, Garbage):
            record.finished = True
            if stream:
                return Response(f"data: {step.body}\n\n", media_type="text/event-stream")
            return Response(step.body, media_type="application/json")
        if isinstance(step, Hang) and not stream:
            await self._hang(request, record)
            return _error(504, "hung")
        reply = _as_reply(step)
        if not stream:
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            record.finished = True
            return JSONResponse(
                _completion(model, reply, choices=not isinstance(step, EmptyChoices))
            )
        events = self._events(request, record, model, step, reply, body)
        return StreamingResponse(events, media_type="text/event-stream")

    async def _events(
        self,
        request: Request,
        record: Recorded,
        model: str,
        step: Step,
        reply: Reply,
        body: dict[str, Any],
    ) -> AsyncIterator[str]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        pieces = [] if isinstance(step, EmptyChoices) else _pieces(reply.text, reply.chunk_chars)
        try:
            for i, piece in enumerate(pieces, start=1):
                usage = (reply.prompt_tokens, i) if reply.continuous_usage else None
                yield _sse(_chunk(model, piece, usage=usage))
                if reply.delay_s:
                    await asyncio.sleep(reply.delay_s)
            if isinstance(step, Hang):
                await self._hang(request, record)
                return
            if not isinstance(step, EmptyChoices):
                yield _sse(_chunk(model, None, finish="stop"))
            if include_usage:
                yield _sse(_usage_chunk(model, reply.prompt_tokens, len(pieces)))
            yield "data: [DONE]\n\n"
            record.finished = True
        except (asyncio.CancelledError, GeneratorExit):
            record.closed_early = True
            raise

    async def _hang(self, request: Request, record: Recorded) -> None:
        """Wait for shutdown, noticing when the client goes away."""
        while not self.release.is_set():
            if await request.is_disconnected():
                record.closed_early = True
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.02):
                    await self.release.wait()


def _as_reply(step: Step) -> Reply:
    if isinstance(step, Reply):
        return step
    if isinstance(step, Huge):
        return Reply("x" * step.size, chunk_chars=64 * 1024)
    if isinstance(step, Hang):
        return Reply(step.text, chunk_chars=step.chunk_chars)
    return Reply("")


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "fake_error", "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(model: str, reply: Reply, *, choices: bool) -> dict[str, Any]:
    completion_tokens = math.ceil(len(reply.text) / max(1, reply.chunk_chars))
    message = {"role": "assistant", "content": reply.text}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}] if choices else [],
        "usage": _usage(reply.prompt_tokens, completion_tokens),
    }


def _chunk(
    model: str,
    content: str | None,
    *,
    finish: str | None = None,
    usage: tuple[int, int] | None = None,
) -> dict[str, Any]:
    delta = {} if content is None else {"role": "assistant", "content": content}
    chunk: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        chunk["usage"] = _usage(*usage)
    return chunk


def _usage_chunk(model: str, prompt: int, completion: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [],
        "usage": _usage(prompt, completion),
    }


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"


@contextlib.asynccontextmanager
async def fake_openai(
    script: Sequence[Step] = (), *, reject_response_format: bool = False
) -> AsyncIterator[FakeOpenAI]:
    """Serve a :class:`FakeOpenAI` on ``127.0.0.1:<free port>`` until the block ends."""
    fake = FakeOpenAI(list(script), reject_response_format=reject_response_format)
    async with serve_asgi(fake.app(), "127.0.0.1", 0, timeout_graceful_shutdown=2) as port:
        fake.base_url = f"http://127.0.0.1:{port}/v1"
        try:
            yield fake
        finally:
            fake.release.set()  # let hanging requests end before the server stops
