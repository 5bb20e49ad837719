"""A UCI engine player (Stockfish by default) on python-chess's async engine API.

Why not the ``stockfish`` PyPI binding: it is synchronous and blocks on its
subprocess pipe; python-chess's :mod:`chess.engine` does the same job without
blocking the event loop and speaks to any UCI engine.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chess
import chess.engine

from arena.clock import TimeControl
from clients.sdk import Bot, GameView

__all__ = ["EngineNotFoundError", "EngineOptions", "EnginePlayer", "find_stockfish"]

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
    depth: int | None = None
    """Search to this depth."""
    movetime: int | None = None
    """Search this many milliseconds per move."""
    skill: int | None = None
    """Stockfish's ``Skill Level``, 0 (weakest) to 20."""
    threads: int = 1
    hash: int = 16
    """Hash table size in MB."""
    path: str | None = None
    """Engine binary; default: STOCKFISH_PATH, PATH, or Debian's /usr/games."""

    def limit(self, view: GameView) -> chess.engine.Limit:
        """The search limit for this move."""
        if self.nodes is not None or self.depth is not None or self.movetime is not None:
            return chess.engine.Limit(
                nodes=self.nodes,
                depth=self.depth,
                time=None if self.movetime is None else self.movetime / 1000.0,
            )
        return clock_limit(view)

    @property
    def deterministic(self) -> bool:
        """True when each move depends only on the position (fixed nodes or depth)."""
        return (self.nodes is not None or self.depth is not None) and self.movetime is None


def clock_limit(view: GameView) -> chess.engine.Limit:
    """Let the engine manage the arena clock (with a safety margin for transport)."""
    control = TimeControl.parse(view.time_control)
    if control.unlimited:
        return chess.engine.Limit(time=1.0)
    if control.per_move_ms is not None:
        return chess.engine.Limit(time=max(0.01, control.per_move_ms / 1000.0 * 0.8))
    white, black = (None if ms is None else max(0.01, (ms - 50) / 1000.0) for ms in view.clocks)
    inc = control.increment_ms / 1000.0
    return chess.engine.Limit(white_clock=white, black_clock=black, white_inc=inc, black_inc=inc)


class EnginePlayer(Bot):
    """Plays chess with a UCI engine process of its own (started on first use)."""

    name = "stockfish"

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self.path = find_stockfish(self.options.path)
        self._engine: chess.engine.UciProtocol | None = None
        self._transport: Any = None

    async def engine(self) -> chess.engine.UciProtocol:
        """The engine process, started and configured on first use."""
        if self._engine is None:
            self._transport, engine = await chess.engine.popen_uci(self.path)
            config: dict[str, chess.engine.ConfigValue] = {
                "Threads": self.options.threads,
                "Hash": self.options.hash,
            }
            if self.options.skill is not None:
                config["Skill Level"] = self.options.skill
            await engine.configure(config)
            self._engine = engine
        return self._engine

    async def choose_move(self, view: GameView) -> str:
        if view.game.info.name != "chess":
            raise ValueError(f"the stockfish player plays chess, not {view.game.info.name!r}")
        board: chess.Board = view.state.board
        engine = await self.engine()
        # A fresh "game" per search clears the hash, so a move depends only on the
        # position: the same game replays move for move (needed for lossless tests).
        game_key: object = object() if self.options.deterministic else view.game_id
        result = await engine.play(board, self.options.limit(view), game=game_key)
        if result.move is None:
            raise RuntimeError(f"engine returned no move for {board.fen()}")
        return result.move.uci()

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            try:
                await engine.quit()
            except chess.engine.EngineError:
                pass
            finally:
                if self._transport is not None:
                    self._transport.close()
