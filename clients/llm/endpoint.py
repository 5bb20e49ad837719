"""One chat call to an OpenAI-compatible endpoint, with deadlines, retries and metering.

The thin I/O shell shared by :class:`~clients.llm.LLMActor` and
:class:`~clients.llm.LLMSpeculator`:

- every call has a deadline: ``timeout_s``, lowered by the game clock; the
  openai client is built with ``max_retries=0`` so its own defaults (600 s, two
  retries) never apply, and the whole call (streaming included) is bounded by
  :func:`asyncio.timeout`;
- a 429 is retried after its ``Retry-After`` only when that fits in the time
  left; a 5xx or a dropped connection is retried once; anything else is an
  :class:`~clients.llm.errors.EndpointError`;
- ``structured="auto"`` sends ``response_format`` until the endpoint rejects it
  with a 400; the call is then repeated in free text, and if that works the
  endpoint is remembered as one without structured output (a 400 for another
  reason fails both ways and changes nothing);
- streamed tokens are put on the :class:`~clients.speculation.Meter` as they
  arrive, and a cancelled call closes its stream, which drops the HTTP request.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import openai

from clients.llm.config import NO_KEY, LLMOptions
from clients.llm.errors import EndpointError, LLMTimeoutError, ParseError, RateLimitedError
from clients.llm.parse import MAX_REPLY_CHARS
from clients.llm.prompt import JSONObject, Prompt, moves_grammar
from clients.speculation import Meter

__all__ = ["Endpoint", "Reply", "Schema", "make_client", "retry_after_s"]

log = logging.getLogger(__name__)

MAX_RATE_LIMIT_WAITS = 3
"""429s waited out per call at most (each only if its wait fits in the time left)."""

DEFAULT_RETRY_AFTER_S = 1.0
"""Wait after a 429 that does not say how long to wait."""


def make_client(options: LLMOptions) -> openai.AsyncOpenAI:
    """An :class:`openai.AsyncOpenAI` for ``options``: no client retries, ``timeout_s`` cap.

    The key is read from ``options.api_key_env`` now (``sk-no-key`` when unset)
    and lives only inside the client.
    """
    return openai.AsyncOpenAI(
        api_key=os.environ.get(options.api_key_env) or NO_KEY,
        base_url=options.base_url,
        max_retries=0,
        timeout=options.timeout_s,
    )


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    get = headers.get
    if (ms := get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True, slots=True)
class Reply:
    """What one call returned."""

    text: str
    """The reply's content (``""`` when there was none)."""
    structured: bool
    """Whether it was asked for with ``response_format``."""


@dataclass(frozen=True, slots=True)
class Schema:
    """What a structured answer must be: a JSON schema with its name, and the same
    answer as 1 to ``k`` of ``choices`` one per line (the grammar sent instead
    with ``schema_format`` ``grammar`` or ``llguidance``)."""

    name: str
    schema: JSONObject
    choices: tuple[str, ...] = ()
    k: int = 1

    def grammar(self, dialect: str) -> str:
        return moves_grammar(self.choices, self.k, dialect=dialect)

    @property
    def max_tokens(self) -> int:
        """No answer of the grammar is longer than this in tokens (a token holds at
        least one character). When the longest answer takes exactly this many, the
        server stops on its last token instead of decoding it to read the end."""
        return self.k * (max(map(len, self.choices)) + 1) - 1


class Endpoint:
    """Chat calls to one model, as :class:`LLMOptions` describe."""

    def __init__(self, options: LLMOptions, client: openai.AsyncOpenAI | None = None) -> None:
        self.options = options
        self._owned = client is None
        # An injected client keeps its own defaults otherwise: never openai's 2 retries.
        self.client = (
            make_client(options)
            if client is None
            else client.with_options(max_retries=0, timeout=options.timeout_s)
        )
        self._structured = options.structured != "off"

    @property
    def structured(self) -> bool:
        """Whether the next call asks for structured output."""
        return self._structured

    async def close(self) -> None:
        """Close the HTTP client, if this endpoint created it."""
        if self._owned:
            await self.client.close()

    def _time_left(self, deadline: float | None) -> float:
        """Seconds the next call may take: ``timeout_s``, or less if the deadline is nearer."""
        if deadline is None:
            return self.options.timeout_s
        return min(self.options.timeout_s, deadline - asyncio.get_running_loop().time())

    async def complete(
        self,
        build: Callable[[bool], Prompt],
        schema: Schema,
        meter: Meter,
        deadline: float | None = None,
    ) -> Reply:
        """The reply to ``build(structured)``, retried on 429/5xx as the time left allows.

        ``deadline`` is a time of the running loop's clock (``None``: only
        ``timeout_s`` per call). Raises :class:`LLMTimeoutError`,
        :class:`RateLimitedError`, :class:`EndpointError`, or :class:`ParseError`
        when the response itself cannot be read.
        """
        server_retries = 1
        rate_waits = 0
        without_format = False  # a 400 came back while asking with response_format
        where = self.options.base_url or "api.openai.com"
        while True:
            structured = self._structured and not without_format
            timeout = self._time_left(deadline)
            if timeout <= 0:
                raise LLMTimeoutError(f"no time left to call {self.options.model} at {where}")
            try:
                text = await self._call(
                    build(structured), schema if structured else None, meter, timeout
                )
                if without_format and self._structured:
                    # Free text worked where response_format did not: remember it.
                    log.warning(
                        "%s at %s rejected response_format; asking in free text from now on",
                        self.options.model,
                        where,
                    )
                    self._structured = False
                return Reply(text, structured)
            except (openai.APITimeoutError, TimeoutError):
                raise LLMTimeoutError(
                    f"{self.options.model} at {where} did not answer within {timeout:.2f} s"
                ) from None
            except openai.BadRequestError as exc:
                if structured and self.options.structured == "auto":
                    without_format = True
                    continue
                raise EndpointError(f"400 from {where}: {exc.message}", 400) from None
            except openai.RateLimitError as exc:
                wait = retry_after_s(exc.response.headers)
                wait = DEFAULT_RETRY_AFTER_S if wait is None else wait
                left = self._time_left(deadline)
                if rate_waits >= MAX_RATE_LIMIT_WAITS or wait >= left:
                    raise RateLimitedError(
                        f"429 from {where}: retry after {wait:g} s, but only {max(0.0, left):.2f} s"
                        f" left (waited {rate_waits} times already)",
                        429,
                    ) from None
                rate_waits += 1
                log.warning("429 from %s; retrying in %g s", where, wait)
                await asyncio.sleep(wait)
            except (openai.InternalServerError, openai.APIConnectionError) as exc:
                status = getattr(exc, "status_code", None)
                if server_retries > 0 and self._time_left(deadline) > 0:
                    server_retries -= 1
                    log.warning("%s from %s; retrying once", status or "connection error", where)
                    continue
                raise EndpointError(
                    f"{status or 'connection error'} from {where}: {exc}", status
                ) from None
            except openai.APIStatusError as exc:
                raise EndpointError(
                    f"{exc.status_code} from {where}: {exc.message}", exc.status_code
                ) from None
            except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:
                raise ParseError(f"the endpoint's response was not valid ({exc})", "") from None

    async def _call(
        self, prompt: Prompt, schema: Schema | None, meter: Meter, timeout: float
    ) -> str:
        """One request, bounded by ``timeout`` as a whole; tokens go on ``meter`` as they come.

        The request goes through the client's generic ``post`` with ``cast_to=object``:
        the same HTTP, retries, errors and stream closing as ``chat.completions.create``,
        but the body is sent as built here and each streamed chunk comes back as the
        decoded JSON, not a pydantic model. Building those models cost about a third
        of the CPU of a streamed call (20 chunks), which a pipelined player with many
        branches in flight spent on every chunk of every branch.
        """
        o = self.options
        body: dict[str, object] = {
            "model": o.model,
            "messages": [{"role": m.role, "content": m.content} for m in prompt],
            "temperature": o.temperature,
        }
        max_tokens = o.max_tokens
        if schema is not None and o.schema_format != "json_schema" and schema.choices:
            # llama.cpp's dialect: the answer is one of the grammar's sentences (the
            # moves alone), from a prompt prefix the server keeps cached.
            body["grammar"] = schema.grammar(
                "gbnf" if o.schema_format == "grammar" else "llguidance"
            )
            body["cache_prompt"] = True
            max_tokens = min(max_tokens or schema.max_tokens, schema.max_tokens)
        elif schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema.name, "strict": True, "schema": schema.schema},
            }
        for key, value in (
            ("seed", o.seed),
            ("max_tokens", max_tokens),
            ("reasoning_effort", o.reasoning_effort),
        ):
            if value is not None:
                body[key] = value
        base = (meter.prompt_tokens, meter.completion_tokens)
        async with asyncio.timeout(timeout):
            if not o.stream:
                completion = await self.client.post(
                    "/chat/completions", cast_to=object, body=body, options={"timeout": timeout}
                )
                data = _mapping(completion)
                _meter_usage(meter, base, data.get("usage"))
                message = _mapping(_first_choice(data).get("message"))
                return _text(message.get("content"))
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
            stream = await self.client.post(
                "/chat/completions",
                cast_to=object,
                body=body,
                options={"timeout": timeout},
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
            parts: list[str] = []
            size = 0
            # Closing the stream (also on cancel) drops the request, so the server stops.
            async with stream:
                async for raw in stream:
                    chunk = _mapping(raw)
                    usage = chunk.get("usage")
                    _meter_usage(meter, base, usage)
                    delta = _mapping(_first_choice(chunk).get("delta"))
                    content = _text(delta.get("content"))
                    if content or delta.get("reasoning_content"):
                        if usage is None:
                            meter.completion_tokens += 1
                        parts.append(content)
                        size += len(content)
                    if size > MAX_REPLY_CHARS:
                        break  # a runaway reply: no need to read the rest
            return "".join(parts)


def _mapping(value: object) -> Mapping[str, object]:
    """``value`` as a JSON object; ``{}`` for null (an absent part)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParseError(f"the endpoint sent {type(value).__name__} where an object was due", "")
    return cast(Mapping[str, object], value)


def _first_choice(data: Mapping[str, object]) -> Mapping[str, object]:
    """The first of ``data["choices"]``; ``{}`` when there is none (a usage-only chunk)."""
    choices = data.get("choices")
    if choices is None or choices == []:
        return {}
    if not isinstance(choices, list):
        raise ParseError(f"the endpoint's choices were {type(choices).__name__}, not a list", "")
    return _mapping(choices[0])


def _text(value: object) -> str:
    """A content field: ``""`` for null."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError(f"the endpoint's content was {type(value).__name__}, not text", "")
    return value


def _meter_usage(meter: Meter, base: tuple[int, int], usage: object) -> None:
    """Usage is cumulative for the call: set it on top of what earlier calls spent
    (nothing when the chunk carries none)."""
    if usage is None:
        return
    counts = _mapping(usage)
    prompt, completion = counts.get("prompt_tokens"), counts.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        raise ParseError(f"the endpoint's usage was not two token counts: {dict(counts)}", "")
    meter.prompt_tokens = base[0] + prompt
    meter.completion_tokens = base[1] + completion
