"""Built-in player kinds and the ``KIND[:key=value,...]`` spec that names one.

A spec such as ``stockfish:nodes=20000`` or
``stockfish:nodes=200000,spec=engine,k=2,depth=1`` is parsed into the kind's
typed options (actor options plus the speculation options shared by every
kind); an unknown kind or key, or a value of the wrong type, is a
:class:`PlayerSpecError` that lists what is valid.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clients.actors.engine import EngineActor, EngineOptions
from clients.actors.random_player import RandomActor, RandomOptions
from clients.llm.actor import LLMActor
from clients.llm.config import LLMOptions
from clients.llm.speculator import LLMSpeculator
from clients.local_llm import LocalLLMActor, LocalLLMOptions, LocalLLMServer, LocalLLMSpeculator
from clients.player import SpeculativePlayer
from clients.sdk import GameView
from clients.speculation import SpeculationConfig, Speculator

__all__ = [
    "PLAYER_KINDS",
    "PlayerKind",
    "PlayerSpec",
    "PlayerSpecError",
    "SpeculationOptions",
    "parse_player_spec",
]

SPECULATORS = ("none", "engine", "history", "ensemble", "llm")


class PlayerSpecError(ValueError):
    """A player spec that does not name a valid kind and options."""


@dataclass(frozen=True, slots=True)
class SpeculationOptions:
    """Speculation options, valid for every player kind: the speculator and its
    settings here, the policy (``k``, ``depth``, ``own_k``, ``max_branches``,
    ``max_extra_tokens``, ``threshold``, ``adaptive``) as a
    :class:`~clients.speculation.SpeculationConfig`, whose keys a spec names
    directly."""

    spec: str = "none"
    """Speculator: none, engine (Stockfish MultiPV), history (this opponent's past
    moves, engine fallback), ensemble (history and engine merged), or llm (a
    model asked for the likely moves)."""
    policy: SpeculationConfig = field(default_factory=lambda: SpeculationConfig(adaptive=True))
    spec_nodes: int | None = None
    """Node limit of the engine speculator."""
    spec_depth: int | None = None
    """Depth limit of the engine speculator (default 6)."""
    spec_model: str | None = None
    """Model of the LLM speculator (default: the LLM actor's model)."""
    spec_base_url: str | None = None
    """Endpoint of the LLM speculator (default: the LLM actor's endpoint)."""

    def config(self) -> SpeculationConfig:
        """The policy, switched off (k=0) when there is no speculator."""
        return self.policy if self.spec != "none" else dataclasses.replace(self.policy, k=0)

    @property
    def branch_slots(self) -> int:
        """Engine processes branches may need at once."""
        if self.spec == "none":
            return 0
        return min(self.policy.max_branches, self.policy.k * max(1, self.policy.depth))


@dataclass(frozen=True)
class PlayerKind:
    """A kind of built-in player: its actor's options type and how to build the actor."""

    name: str
    description: str
    options_type: type[Any]
    actor: Callable[[Any, int, int], Any]
    """Build the actor from its options, the number of extra parallel calls
    (branches, and other games played at once), and the games played at once."""
    default_speculation: tuple[tuple[str, str], ...] = ()
    """Speculation options this kind uses unless the spec says otherwise."""
    games_at_once: int | None = None
    """Games one player of this kind can play at once (``None``: no limit of its
    own; each game gets its own engine process or parallel calls)."""


PLAYER_KINDS: dict[str, PlayerKind] = {
    kind.name: kind
    for kind in (
        PlayerKind(
            "random",
            "uniformly random legal moves (any game)",
            RandomOptions,
            lambda options, _slots, _games: RandomActor(options),
        ),
        PlayerKind(
            "stockfish",
            "the Stockfish chess engine over UCI",
            EngineOptions,
            lambda options, slots, games: EngineActor(options, pool_size=1 + slots, games=games),
        ),
        PlayerKind(
            "local-llm",
            "Gemma 3 270M on its own local llama.cpp server (no key, no network)",
            LocalLLMOptions,
            lambda options, _slots, _games: LocalLLMActor(options),
            # The model as its own speculator is about as slow as a move (S close to
            # L: one-step cannot pay), and on a busy machine its calls compete with
            # the opponent's: the adaptive policy (every kind's default) backs off.
            default_speculation=(("spec", "llm"), ("k", "1")),
            games_at_once=1,  # one llama.cpp server with one slot
        ),
        PlayerKind(
            "llm",
            "an LLM over any OpenAI-compatible endpoint (model=..., base_url=...)",
            LLMOptions,
            lambda options, _slots, _games: LLMActor(options),
        ),
    )
}


@dataclass(frozen=True)
class PlayerSpec:
    """A parsed player spec."""

    text: str
    kind: PlayerKind
    options: Any
    speculation: SpeculationOptions = field(default_factory=SpeculationOptions)

    def build(self, parallel_games: int = 1) -> SpeculativePlayer:
        """A new player of this kind with these options.

        ``parallel_games``: games it may play at once (sizes its engine pool)."""
        spec = self.speculation
        slots = (1 + spec.branch_slots) * max(1, parallel_games) - 1
        actor = self.kind.actor(self.options, slots, max(1, parallel_games))
        if isinstance(actor, LocalLLMActor):
            actor.speculating = spec.spec != "none"
        shared: list[Any] = []
        factory: Callable[[GameView], Speculator | None] | None = None
        if spec.spec != "none":
            factory = _speculator_factory(spec, shared, self.options, actor, parallel_games)
        return SpeculativePlayer(
            actor, speculator=factory, config=spec.config(), name=self.text, resources=shared
        )


def _llm_speculator_options(spec: SpeculationOptions, actor_options: Any) -> LLMOptions:
    base = actor_options if isinstance(actor_options, LLMOptions) else None
    model = spec.spec_model or (base.model if base else None)
    if model is None:
        raise PlayerSpecError("spec=llm needs spec_model=... (or an llm player to borrow from)")
    url = spec.spec_base_url or (base.base_url if base else None)
    if base is not None:
        return dataclasses.replace(base, model=model, base_url=url)
    return LLMOptions(model=model, base_url=url)


def _speculator_factory(
    spec: SpeculationOptions,
    shared: list[Any],
    actor_options: Any,
    actor: Any,
    parallel_games: int = 1,
) -> Callable[[GameView], Speculator | None]:
    """Speculators for each game; the engine and LLM speculators are shared by all games."""
    from clients.speculators.engine import EngineSpeculator

    if spec.spec == "llm" and isinstance(actor, LocalLLMActor) and spec.spec_model is None:
        own = actor.options.spec_server == "own"
        # Its own server, else the actor's idle server (closed with it) or main one.
        server = LocalLLMServer(actor.options) if own else actor.idle_server or actor.server
        local = LocalLLMSpeculator(server, actor.options, own=own)
        shared.append(local)
        return lambda _view: local
    if spec.spec == "llm":
        llm = LLMSpeculator(_llm_speculator_options(spec, actor_options))
        shared.append(llm)
        return lambda _view: llm
    engine = EngineSpeculator(
        nodes=spec.spec_nodes, depth=spec.spec_depth, processes=max(1, parallel_games)
    )
    shared.append(engine)

    def factory(view: GameView) -> Speculator | None:
        if spec.spec == "engine":
            return engine if view.game.info.name == "chess" else None
        from clients.speculators.ensemble import EnsembleSpeculator
        from clients.speculators.history import HistorySpeculator

        fallback = engine if view.game.info.name == "chess" else None
        history = HistorySpeculator(http_base_url(view.server_url), view.opponent, fallback)
        shared.append(history)
        if spec.spec == "history" or fallback is None:
            return history
        return EnsembleSpeculator([(history, 1.0), (engine, 1.0)])

    return factory


def http_base_url(ws_url: str) -> str:
    """The arena's HTTP base URL from the websocket URL a bot connected to."""
    url = ws_url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    return url.removesuffix("/ws")


def _convert(kind: str, key: str, raw: str, annotation: Any) -> Any:
    allowed = [a for a in typing.get_args(annotation) if a is not type(None)]
    target = allowed[0] if isinstance(annotation, types.UnionType) and allowed else annotation
    try:
        if target is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if target in (int, float, str):
            return target(raw)
    except ValueError:
        pass
    else:
        raise PlayerSpecError(f"option {key!r} of {kind!r} has unsupported type {annotation}")
    raise PlayerSpecError(
        f"option {key}={raw!r} of player {kind!r} must be {getattr(target, '__name__', target)}"
    )


def parse_player_spec(text: str) -> PlayerSpec:
    """Parse ``KIND[:key=value,...]`` into a :class:`PlayerSpec`."""
    kind_name, _, rest = text.strip().partition(":")
    kind = PLAYER_KINDS.get(kind_name)
    if kind is None:
        valid = ", ".join(f"{k} ({v.description})" for k, v in PLAYER_KINDS.items())
        raise PlayerSpecError(f"unknown player kind {kind_name!r}; valid kinds: {valid}")
    hints = typing.get_type_hints(kind.options_type)
    spec_hints = typing.get_type_hints(SpeculationOptions) | typing.get_type_hints(
        SpeculationConfig
    )
    fields = {f.name for f in dataclasses.fields(kind.options_type)}
    spec_fields = {f.name for f in dataclasses.fields(SpeculationOptions)} - {"policy"}
    policy_fields = {f.name for f in dataclasses.fields(SpeculationConfig)}
    values: dict[str, Any] = {}
    spec_values: dict[str, Any] = {}
    policy_values: dict[str, Any] = {}
    items = [f"{key}={raw}" for key, raw in kind.default_speculation]
    items += filter(None, (part.strip() for part in rest.split(",")))
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep:
            raise PlayerSpecError(f"option {item!r} of {kind_name!r} must be written key=value")
        if key in fields:
            values[key] = _convert(kind_name, key, raw.strip(), hints[key])
        elif key in spec_fields:
            spec_values[key] = _convert(kind_name, key, raw.strip(), spec_hints[key])
        elif key in policy_fields:
            policy_values[key] = _convert(kind_name, key, raw.strip(), spec_hints[key])
        else:
            raise PlayerSpecError(
                f"unknown option {key!r} for player kind {kind_name!r}; "
                f"valid options: {', '.join(sorted(fields)) or 'none'}; "
                f"speculation options: {', '.join(sorted(spec_fields | policy_fields))}"
            )
    missing = [
        f.name
        for f in dataclasses.fields(kind.options_type)
        if f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise PlayerSpecError(
            f"player kind {kind_name!r} needs {', '.join(k + '=...' for k in missing)}"
        )
    # Adaptive by default for every kind: speculation that does not pay backs off.
    policy = SpeculationConfig(**{"adaptive": True, **policy_values})
    speculation = SpeculationOptions(**spec_values, policy=policy)
    if speculation.spec not in SPECULATORS:
        raise PlayerSpecError(
            f"unknown speculator spec={speculation.spec!r}; valid: {', '.join(SPECULATORS)}"
        )
    if speculation.spec == "llm" and kind.name != "local-llm":
        _llm_speculator_options(speculation, kind.options_type(**values))
    policy = speculation.policy
    if policy.k < 0 or policy.depth < 1 or policy.max_branches < 0 or policy.own_k < 0:
        raise PlayerSpecError("k must be >= 0, depth >= 1, max_branches >= 0 and own_k >= 0")
    return PlayerSpec(
        text=text.strip(),
        kind=kind,
        options=kind.options_type(**values),
        speculation=speculation,
    )
