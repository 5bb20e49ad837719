"""The tournament file (TOML), parsed into a typed :class:`TournamentConfig`.

Example::

    name = "engines"
    game = "chess"
    format = "round-robin"      # round-robin | gauntlet | swiss
    cycles = 1                  # round-robin and gauntlet: times each pair meets
    rounds = 5                  # swiss
    hero = "sf-strong"          # gauntlet: the player against the field
    openings = "bundled"        # bundled | none | a PGN or EPD file
    opening_pairs = 2           # openings per pairing, each played twice, colours swapped
    time_control = "60+1"
    max_plies = 200
    concurrency = 2             # games at once (a player may be in several)
    anchor = { player = "random", rating = 0 }

    [[players]]
    name = "sf-strong"
    kind = "stockfish"
    options = { nodes = 20000 }
    speculation = { spec = "engine", k = 2 }

    [[players]]
    name = "rnd"
    spec = "random:seed=3"      # or the whole player as one spec string

    [[players]]
    name = "mybot"
    kind = "external"           # a registered bot that connects by itself
    games_at_once = 2           # games it plays at once (external default 1)

Every player becomes a ``KIND:key=value,...`` spec checked by
:func:`clients.players.parse_player_spec`, so a tournament file accepts
exactly what ``arena play`` accepts; or it is ``external``: a bot registered
with the arena (``arena bot add``) that connects on its own, which only a
tournament run by ``arena serve`` (created with ``POST /api/tournaments``) can
seat.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from arena.clock import TimeControl, TimeControlError
from arena.tournament.formats import Format
from games import GameError, get_game

__all__ = [
    "EXTERNAL",
    "FORMATS",
    "PlayerEntry",
    "TournamentConfig",
    "TournamentConfigError",
    "config_from_dict",
    "load_config",
]

FORMATS = tuple(f.value for f in Format)
EXTERNAL = "external"
"""The spec of a player that is a registered bot connecting by itself."""


class TournamentConfigError(ValueError):
    """A tournament file that cannot be used as written; the message says where and why."""


@dataclass(frozen=True, slots=True)
class PlayerEntry:
    """A player of a tournament: its display (bot) name and its player spec."""

    name: str
    spec: str
    games_at_once: int | None = None
    """Games this player may play at once (``None``: its kind's default, see
    :attr:`TournamentConfig.capacity`)."""

    @property
    def external(self) -> bool:
        """A registered bot that connects by itself (not run by the arena)."""
        return self.spec == EXTERNAL


@dataclass(frozen=True, slots=True)
class TournamentConfig:
    """Everything a tournament needs to be played (and resumed)."""

    name: str
    players: tuple[PlayerEntry, ...]
    game: str = "chess"
    format: str = "round-robin"
    cycles: int = 1
    rounds: int | None = None
    hero: str | None = None
    openings: str = "bundled"
    opening_pairs: int = 1
    time_control: str = "60+1"
    max_plies: int | None = 200
    concurrency: int = 2
    anchor: tuple[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with the tournament (and read back on resume)."""
        data = asdict(self)
        data["players"] = [asdict(p) for p in self.players]
        data["anchor"] = None if self.anchor is None else list(self.anchor)
        return data

    @property
    def player_names(self) -> list[str]:
        return [p.name for p in self.players]

    @property
    def capacity(self) -> dict[str, int | None]:
        """Games each player may play at once (``None``: as many as ``concurrency``).

        A player's own ``games_at_once`` if set; else one for an external bot (it may
        not be written for more) and the default of its kind for a built-in one
        (one for a local model on a one-slot server, no limit for the others:
        an engine player searches each game on an engine process of its own)."""
        from clients.players import parse_player_spec

        out: dict[str, int | None] = {}
        for p in self.players:
            if p.games_at_once is not None:
                out[p.name] = p.games_at_once
            elif p.external:
                out[p.name] = 1
            else:
                out[p.name] = parse_player_spec(p.spec).kind.games_at_once
        return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _player(raw: Any, index: int) -> PlayerEntry:
    where = f"players[{index}]"
    if not isinstance(raw, dict):
        raise TournamentConfigError(f"{where}: expected a table, got {raw!r}")
    unknown = set(raw) - {"name", "kind", "options", "speculation", "spec", "games_at_once"}
    if unknown:
        raise TournamentConfigError(
            f"{where}: unknown keys {sorted(unknown)}; "
            "valid: name, kind, options, speculation, spec, games_at_once"
        )
    games_at_once = raw.get("games_at_once")
    if games_at_once is not None and (
        isinstance(games_at_once, bool) or not isinstance(games_at_once, int) or games_at_once < 1
    ):
        raise TournamentConfigError(f"{where}: games_at_once must be a whole number >= 1")
    if "spec" in raw:
        if "kind" in raw:
            raise TournamentConfigError(f"{where}: give either 'spec' or 'kind', not both")
        text = str(raw["spec"])
    elif "kind" in raw:
        parts = {**dict(raw.get("options") or {}), **dict(raw.get("speculation") or {})}
        options = ",".join(f"{k}={_scalar(v)}" for k, v in parts.items())
        text = f"{raw['kind']}:{options}" if options else str(raw["kind"])
    else:
        raise TournamentConfigError(f"{where}: needs 'kind' (with options) or 'spec'")
    if text == EXTERNAL:
        if not raw.get("name"):
            raise TournamentConfigError(f"{where}: an external player needs the bot's 'name'")
        return PlayerEntry(name=str(raw["name"]), spec=EXTERNAL, games_at_once=games_at_once)
    # imported here: the player kinds pull in LLM clients and engines, which a
    # tournament of external bots (run by `arena serve`) never needs
    from clients.players import parse_player_spec

    try:
        parse_player_spec(text)
    except ValueError as exc:  # PlayerSpecError included
        raise TournamentConfigError(f"{where}: {exc}") from None
    name = str(raw.get("name") or text)
    return PlayerEntry(name=name, spec=text, games_at_once=games_at_once)


def config_from_dict(data: dict[str, Any], *, source: str = "tournament") -> TournamentConfig:
    """Validate a parsed tournament file (or a stored config) into a config."""
    known = set(TournamentConfig.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise TournamentConfigError(
            f"{source}: unknown keys {sorted(unknown)}; valid: {', '.join(sorted(known))}"
        )
    raw_players = data.get("players")
    if not isinstance(raw_players, list) or len(raw_players) < 2:
        raise TournamentConfigError(f"{source}: needs at least two [[players]]")
    players = tuple(_player(p, i) for i, p in enumerate(raw_players))
    names = [p.name for p in players]
    if len(set(names)) != len(names):
        raise TournamentConfigError(f"{source}: player names must be distinct, got {names}")
    anchor_raw = data.get("anchor")
    anchor: tuple[str, float] | None = None
    if isinstance(anchor_raw, dict):
        anchor = (str(anchor_raw.get("player")), float(anchor_raw.get("rating", 1500)))
    elif isinstance(anchor_raw, list | tuple) and len(anchor_raw) == 2:
        anchor = (str(anchor_raw[0]), float(anchor_raw[1]))
    elif anchor_raw is not None:
        raise TournamentConfigError(f"{source}: anchor must be {{ player = ..., rating = ... }}")
    if anchor is not None and anchor[0] not in names:
        raise TournamentConfigError(f"{source}: anchor player {anchor[0]!r} is not one of {names}")
    try:
        config = TournamentConfig(
            name=str(data.get("name") or Path(source).stem),
            players=players,
            game=str(data.get("game", "chess")),
            format=str(data.get("format", "round-robin")),
            cycles=int(data.get("cycles", 1)),
            rounds=None if data.get("rounds") is None else int(data["rounds"]),
            hero=None if data.get("hero") is None else str(data["hero"]),
            openings=str(
                data.get("openings", "bundled" if data.get("game", "chess") == "chess" else "none")
            ),
            opening_pairs=int(data.get("opening_pairs", 1)),
            time_control=str(data.get("time_control", "60+1")),
            max_plies=None if data.get("max_plies") is None else int(data["max_plies"]),
            concurrency=int(data.get("concurrency", 2)),
            anchor=anchor,
        )
    except (TypeError, ValueError) as exc:
        raise TournamentConfigError(f"{source}: {exc}") from None
    _check(config, source)
    return config


def _check(config: TournamentConfig, source: str) -> None:
    try:
        get_game(config.game)
        TimeControl.parse(config.time_control)
    except (GameError, TimeControlError) as exc:
        raise TournamentConfigError(f"{source}: {exc}") from None
    if config.format not in FORMATS:
        raise TournamentConfigError(
            f"{source}: unknown format {config.format!r}; valid: {', '.join(FORMATS)}"
        )
    if config.format == "gauntlet" and config.hero not in config.player_names:
        raise TournamentConfigError(
            f"{source}: a gauntlet needs hero = one of {config.player_names}"
        )
    if config.format == "swiss" and (config.rounds is None or config.rounds < 1):
        raise TournamentConfigError(f"{source}: a swiss tournament needs rounds >= 1")
    if config.cycles < 1 or config.concurrency < 1 or config.opening_pairs < 1:
        raise TournamentConfigError(f"{source}: cycles, concurrency, opening_pairs must be >= 1")
    if config.openings != "none" and config.game != "chess":
        raise TournamentConfigError(
            f'{source}: openings are for chess; set openings = "none" for {config.game}'
        )


def load_config(path: str | Path) -> TournamentConfig:
    """Read and validate a tournament file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise TournamentConfigError(f"no tournament file at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TournamentConfigError(f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(data, source=str(path))
