"""Any UCI chess engine as an arena bot; the engine's pondering is its speculation.

``arena bot uci --engine PATH`` runs a :class:`UciBot`: one engine process
per game, driven through python-chess's async :mod:`chess.engine` (it speaks
to any UCI engine without blocking the event loop). Without a fixed limit the
engine manages its own time from the arena clock (``wtime``/``btime``/``winc``
/``binc``, or a per-move budget).

Pondering maps onto speculation term for term:

- after its move the engine names the reply it expects (``bestmove X ponder
  Y``); ``Y`` is sent to the arena as the bot's prediction (``predict``)
  *before* the move itself, so the server always counts it;
- ``go ponder`` on the position after ``Y`` is the branch (python-chess's
  ``play(..., ponder=True)`` starts it as soon as the move is chosen);
- if the opponent plays ``Y`` it is a **hit**: ``ponderhit``, and the search
  goes on from where it is; otherwise a **miss**: ``stop``, and a fresh search
  on the real position.

So the arena's accuracy and time-saved figures cover engines too: the server
scores the prediction (``hit_rank``) and measures ``response_ms``; the move's
``meta`` reports ``speculation`` (hit, miss, off), ``actor_ms`` and the ponder
search as a branch for the replay's timeline. ``actor_ms`` is the time the
engine searched the real position: on a hit, from ``go ponder`` to
``bestmove`` (with ``movetime`` it is capped there, the time the engine would
have taken anyway); on a miss, the fresh search after ``stop`` (the wait for
``stop`` shows in ``response_ms``, so a miss's saving is negative). With a
``nodes`` or ``depth`` limit a pondering engine keeps searching (or idles)
until ``ponderhit``, as the UCI rules ask, so its saving on a hit includes
time it would not have spent: prefer the clock or ``movetime`` when the
figures matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import chess
import chess.engine

from arena.protocol import BranchReport, GameOver, MoveMeta
from clients.actors.engine import DEBIAN_GAMES_DIRS, EngineNotFoundError, clock_limit
from clients.sdk import Bot, GameView, MoveDecision

__all__ = [
    "UciBot",
    "UciBotOptions",
    "UciBridgeError",
    "find_engine",
    "parse_engine_options",
]

log = logging.getLogger(__name__)

MANAGED_OPTIONS = {name.lower() for name in chess.engine.MANAGED_OPTIONS}
"""Options python-chess sets itself for each search (Ponder, MultiPV, ...)."""


class UciBridgeError(ValueError):
    """A bad engine or engine option; the message lists what would be valid."""


def find_engine(name_or_path: str) -> str:
    """The engine binary: a path, or a name looked up on PATH and in Debian's games dirs
    (where Debian installs ``stockfish``, ``toga2``, ``glaurung``, ...)."""
    candidates = [name_or_path]
    if os.sep not in name_or_path:
        if found := shutil.which(name_or_path):
            candidates.append(found)
        candidates += [str(Path(d) / name_or_path) for d in DEBIAN_GAMES_DIRS]
    for path in candidates:
        if Path(path).is_file() and os.access(path, os.X_OK):
            return path
    raise EngineNotFoundError(
        f"no UCI engine {name_or_path!r} (looked at: {', '.join(candidates)}); "
        "give the path of an executable"
    )


def parse_engine_options(items: Sequence[str]) -> dict[str, str]:
    """``["Hash=64", "Skill Level=5"]`` -> ``{"Hash": "64", "Skill Level": "5"}``."""
    parsed: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UciBridgeError(f"engine option {item!r} must be written Name=Value")
        parsed[name.strip()] = value.strip()
    return parsed


def _coerce(
    engine: chess.engine.UciProtocol, raw: Mapping[str, str]
) -> dict[str, chess.engine.ConfigValue]:
    """Engine options typed by the engine's own declarations (``check``: true/false, ...)."""
    declared = {name.lower(): option for name, option in engine.options.items()}
    config: dict[str, chess.engine.ConfigValue] = {}
    for name, value in raw.items():
        if name.lower() in MANAGED_OPTIONS:
            raise UciBridgeError(
                f"engine option {name!r} is set by the bridge for each search "
                "(use --ponder/--no-ponder for pondering)"
            )
        option = declared.get(name.lower())
        if option is None:
            valid = ", ".join(sorted(o.name for o in engine.options.values() if not o.is_managed()))
            raise UciBridgeError(f"the engine has no option {name!r}; its options: {valid}")
        typed: chess.engine.ConfigValue = value
        if option.type == "check":
            if value.lower() not in ("true", "false"):
                raise UciBridgeError(f"engine option {name!r} is true or false, not {value!r}")
            typed = value.lower() == "true"
        elif option.type == "spin":
            try:
                typed = int(value)
            except ValueError:
                raise UciBridgeError(f"engine option {name!r} is a number, not {value!r}") from None
        try:
            option.parse(typed)
        except chess.engine.EngineError as exc:
            raise UciBridgeError(f"engine option {name!r}: {exc}") from None
        config[option.name] = typed
    return config


@dataclass(frozen=True)
class UciBotOptions:
    """How to run a UCI engine as a bot. Without a limit it plays on the arena clock."""

    engine: str
    """Path (or name on PATH / in Debian's games dirs) of the engine binary."""
    options: Mapping[str, str] = field(default_factory=dict)
    """Engine options by name, as text (``{"Hash": "64"}``); typed by the engine's
    own declarations."""
    ponder: bool = True
    """Ponder on the expected reply (its speculation); off: no prediction either."""
    nodes: int | None = None
    """Search this many nodes per move."""
    depth: int | None = None
    """Search to this depth."""
    movetime: int | None = None
    """Search this many milliseconds per move."""

    def limit(self, view: GameView) -> chess.engine.Limit:
        if self.nodes is not None or self.depth is not None or self.movetime is not None:
            return chess.engine.Limit(
                nodes=self.nodes,
                depth=self.depth,
                time=None if self.movetime is None else self.movetime / 1000.0,
            )
        return clock_limit(view.clocks, view.time_control)


@dataclass(eq=False)
class _Ponder:
    """The engine is pondering: on the real moves so far plus the expected reply."""

    moves: tuple[str, ...]
    started: float
    """``time.perf_counter()`` when ``go ponder`` was sent."""


@dataclass(eq=False)
class _EngineGame:
    """One engine process, for one game."""

    transport: asyncio.SubprocessTransport
    engine: chess.engine.UciProtocol
    token: object = field(default_factory=object)
    """python-chess's ``game`` key: the same object for every search of this game
    (no ``ucinewgame`` between them, so ``ponderhit`` is allowed)."""
    ponder: _Ponder | None = None


async def _open(path: str, options: Mapping[str, str]) -> _EngineGame:
    try:
        transport, engine = await chess.engine.popen_uci(path)
    except (OSError, chess.engine.EngineError) as exc:
        raise UciBridgeError(f"cannot start the UCI engine {path!r}: {exc}") from None
    game = _EngineGame(transport, engine)
    try:
        await engine.configure(_coerce(engine, options))
    except BaseException:
        await _quit(game)
        raise
    return game


async def _quit(game: _EngineGame) -> None:
    with contextlib.suppress(chess.engine.EngineError, TimeoutError, OSError):
        async with asyncio.timeout(5):
            await game.engine.quit()
    game.transport.close()


def _board(view: GameView) -> chess.Board:
    """The game from its first position with every move: the engine gets the whole
    history (repetitions), and python-chess can recognise a ponderhit by it."""
    board = chess.Board(view.game.encode_state(view.initial_state))
    for move in view.moves:
        board.push_uci(move)
    return board


class UciBot(Bot):
    """A UCI engine playing chess in the arena, one engine process per game."""

    resource: str | None = "cpu"

    def __init__(self, options: UciBotOptions) -> None:
        self.options = options
        self.path = find_engine(options.engine)
        self.name = Path(self.path).name
        self._games: dict[str, _EngineGame] = {}

    async def check(self) -> str:
        """Start the engine once with the options (so a bad one fails before any
        game); returns the engine's name."""
        probe = await _open(self.path, self.options.options)
        try:
            name = probe.engine.id.get("name", self.name)
        finally:
            await _quit(probe)
        self.name = name
        return name

    async def on_game_start(self, view: GameView) -> None:
        if view.game.info.name == "chess" and view.game_id not in self._games:
            self._games[view.game_id] = await _open(self.path, self.options.options)

    async def choose_move(self, view: GameView) -> MoveDecision:
        turn = time.perf_counter()
        if view.game.info.name != "chess":
            raise UciBridgeError(f"a UCI engine plays chess, not {view.game.info.name!r}")
        game = self._games.get(view.game_id)
        if game is None:
            game = self._games[view.game_id] = await _open(self.path, self.options.options)
        ponder, game.ponder = game.ponder, None
        hit = ponder is not None and ponder.moves == tuple(view.moves)
        if ponder is not None and not hit:
            await game.engine.ping()  # python-chess stops the ponder search first
        stopped = time.perf_counter()
        result = await game.engine.play(
            _board(view), self.options.limit(view), ponder=self.options.ponder, game=game.token
        )
        ended = time.perf_counter()
        if result.move is None:
            raise RuntimeError(f"the engine returned no move for {_board(view).fen()}")
        move = result.move.uci()
        if ponder is not None and hit:
            actor_ms = (ended - ponder.started) * 1000.0
            if self.options.movetime is not None:
                actor_ms = min(actor_ms, float(self.options.movetime))
        else:
            actor_ms = (ended - stopped) * 1000.0
        if self.options.ponder and result.ponder is not None:
            expected = result.ponder.uci()
            game.ponder = _Ponder((*view.moves, move, expected), time.perf_counter())
            if self.client is not None:  # before the move: the server then always counts it
                await self.client.predict(view.game_id, view.ply + 1, [expected])
        branches = None
        if ponder is not None:
            branches = [
                BranchReport(
                    line=[ponder.moves[-1]],
                    rank=1,
                    started_ms=round((ponder.started - turn) * 1000.0, 3),
                    ended_ms=round(((ended if hit else stopped) - turn) * 1000.0, 3),
                    outcome="kept" if hit else "cancelled",
                )
            ]
        meta = MoveMeta(
            actor_ms=round(actor_ms, 3),
            speculation=("hit" if hit else "miss") if ponder is not None else "off",
            spec_calls=0 if ponder is None else 1,
            wait_ms=round((ended - turn) * 1000.0, 3),
            branches=branches,
        )
        return MoveDecision(move, meta)

    async def on_game_over(self, view: GameView, over: GameOver) -> None:
        game = self._games.pop(view.game_id, None)
        if game is not None:
            await _quit(game)

    async def close(self) -> None:
        games, self._games = list(self._games.values()), {}
        for game in games:
            await _quit(game)
