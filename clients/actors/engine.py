"""A UCI engine actor (Stockfish by default) on python-chess's async engine API.

Why not the ``stockfish`` PyPI binding: it is synchronous and blocks on its
subprocess pipe; python-chess's :mod:`chess.engine` does the same job without
blocking the event loop and speaks to any UCI engine.

Each actor owns a small pool of engine processes, so speculative branches can
search in parallel with each other. A cancelled search is stopped for real:
python-chess sends ``stop``, and the engine goes back to the pool only after it
has answered (``isready``/``readyok``), so no search outlives its task.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import chess
import chess.engine

from arena.clock import TimeControl
from clients.speculation import Action, Meter, Position

__all__ = [
    "EngineActor",
    "EngineNotFoundError",
    "EngineOptions",
    "EnginePool",
    "find_stockfish",
]

DEBIAN_GAMES_DIRS = ("/usr/games", "/usr/local/games")


class EngineNotFoundError(FileNotFoundError):
    """No engine binary where we looked."""


def find_stockfish(explicit: str | None = None) -> str:
    """The Stockfish binary: ``explicit``, else ``$STOCKFISH_PATH``, PATH, Debian's games dir."""
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    if env := os.environ.get("STOCKFISH_PATH"):
        candidates.append(env)
    if found := shutil.which("stockfish"):
        candidates.append(found)
    candidates += [str(Path(d) / "stockfish") for d in DEBIAN_GAMES_DIRS]
    for path in candidates:
        if Path(path).is_file() and os.access(path, os.X_OK):
            return path
    raise EngineNotFoundError(
        "Stockfish not found (looked at: "
        + ", ".join(candidates)
        + "); install Debian's 'stockfish' package or set STOCKFISH_PATH"
    )


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Options of the ``stockfish`` player. Without a limit, it plays on the clock."""

    nodes: int | None = None
    """Search this many nodes per move (deterministic with threads=1)."""
    search_depth: int | None = None
    """Search to this depth (``depth`` is the speculation depth of every player)."""
    movetime: int | None = None
    """Search this many milliseconds per move."""
    skill: int | None = None
    """Stockfish's ``Skill Level``, 0 (weakest) to 20."""
    threads: int = 1
    hash: int = 16
    """Hash table size in MB."""
    path: str | None = None
    """Engine binary; default: STOCKFISH_PATH, PATH, or Debian's /usr/games."""

    @property
    def deterministic(self) -> bool:
        """True when each move depends only on the position (fixed nodes or depth)."""
        fixed = self.nodes is not None or self.search_depth is not None
        return fixed and self.movetime is None

    def uci_config(self) -> dict[str, chess.engine.ConfigValue]:
        config: dict[str, chess.engine.ConfigValue] = {"Threads": self.threads, "Hash": self.hash}
        if self.skill is not None:
            config["Skill Level"] = self.skill
        return config


async def _until_idle(engine: chess.engine.UciProtocol) -> None:
    """Wait until a cancelled search has really stopped.

    python-chess sends ``stop`` when a search is cancelled, but a search
    cancelled while its ``ucinewgame``/``isready`` preamble runs is only sent
    ``go`` afterwards. So send ``stop`` again (harmless when idle) until the
    engine answers ``isready`` promptly: ``readyok`` comes after ``bestmove``.
    """
    for _ in range(50):
        engine.send_line("stop")
        try:
            async with asyncio.timeout(0.2):
                await engine.ping()
            return
        except TimeoutError:
            continue
        except chess.engine.EngineError:
            return


class EnginePool:
    """Up to ``size`` engine processes, started on demand, lent one at a time."""

    def __init__(
        self, path: str, size: int, config: dict[str, chess.engine.ConfigValue] | None = None
    ) -> None:
        self.path = path
        self.size = size
        self.config = config or {}
        self._idle: asyncio.Queue[chess.engine.UciProtocol] = asyncio.Queue()
        self._engines: list[tuple[asyncio.SubprocessTransport, chess.engine.UciProtocol]] = []
        self._starting = asyncio.Lock()
        self.busy = 0
        """Engines lent out right now (0 means no search is running)."""

    async def _take(self) -> chess.engine.UciProtocol:
        if self._idle.empty():
            async with self._starting:
                if self._idle.empty() and len(self._engines) < self.size:
                    transport, engine = await chess.engine.popen_uci(self.path)
                    await engine.configure(self.config)
                    self._engines.append((transport, engine))
                    return engine
        return await self._idle.get()

    @contextlib.asynccontextmanager
    async def engine(self) -> AsyncIterator[chess.engine.UciProtocol]:
        """Borrow an idle engine; it returns to the pool only once it is idle again."""
        engine = await self._take()
        self.busy += 1
        healthy = True
        try:
            yield engine
        except asyncio.CancelledError:
            await asyncio.shield(_until_idle(engine))
            raise
        except chess.engine.EngineError:
            healthy = False  # a dead or confused engine is replaced, not lent again
            raise
        finally:
            self.busy -= 1
            if healthy:
                self._idle.put_nowait(engine)
            else:
                self._discard(engine)

    def _discard(self, engine: chess.engine.UciProtocol) -> None:
        for entry in [e for e in self._engines if e[1] is engine]:
            self._engines.remove(entry)
            entry[0].close()

    async def close(self) -> None:
        engines, self._engines = self._engines, []
        for transport, engine in engines:
            with contextlib.suppress(chess.engine.EngineError, asyncio.TimeoutError):
                async with asyncio.timeout(5):
                    await engine.quit()
            transport.close()


def clock_limit(clocks: tuple[int | None, int | None], tc: str) -> chess.engine.Limit:
    """Let the engine manage the arena clock (with a safety margin for transport)."""
    control = TimeControl.parse(tc)
    if control.unlimited:
        return chess.engine.Limit(time=1.0)
    if control.per_move_ms is not None:
        return chess.engine.Limit(time=max(0.01, control.per_move_ms / 1000.0 * 0.8))
    white, black = (None if ms is None else max(0.01, (ms - 50) / 1000.0) for ms in clocks)
    inc = control.increment_ms / 1000.0
    return chess.engine.Limit(white_clock=white, black_clock=black, white_inc=inc, black_inc=inc)


class EngineActor:
    """Plays chess with a UCI engine: the actor of the ``stockfish`` player."""

    resource: str | None = "cpu"

    def __init__(self, options: EngineOptions | None = None, pool_size: int = 1) -> None:
        self.options = options or EngineOptions()
        self.path = find_stockfish(self.options.path)
        self.pool = EnginePool(self.path, pool_size, self.options.uci_config())
        self.clock: tuple[tuple[int | None, int | None], str] = ((None, None), "none")
        """The arena clocks and time control, used when no fixed limit is set."""

    def set_clock(self, clocks: tuple[int | None, int | None], time_control: str) -> None:
        """The clocks before the next real move (the player calls this each turn).

        One actor may serve several games at once; the clock is the one of the
        game whose move comes next, which is what a time-managed search needs."""
        self.clock = (clocks, time_control)

    def limit(self, position: Position) -> chess.engine.Limit:
        o = self.options
        if o.nodes is not None or o.search_depth is not None or o.movetime is not None:
            return chess.engine.Limit(
                nodes=o.nodes,
                depth=o.search_depth,
                time=None if o.movetime is None else o.movetime / 1000.0,
            )
        return clock_limit(*self.clock)

    async def act(self, position: Position, meter: Meter) -> Action:
        if position.game.info.name != "chess":
            raise ValueError(f"the stockfish player plays chess, not {position.game.info.name!r}")
        board: chess.Board = position.state.board
        async with self.pool.engine() as engine:
            # A fresh "game" per search clears the hash, so a move depends only on
            # the position: the same game replays move for move (lossless).
            result = await engine.play(board, self.limit(position), game=object())
        if result.move is None:
            raise RuntimeError(f"engine returned no move for {board.fen()}")
        return Action(result.move.uci())

    async def close(self) -> None:
        await self.pool.close()
