"""Built-in player kinds and the ``KIND[:key=value,...]`` spec that names one.

A spec such as ``stockfish:nodes=20000`` or ``random:seed=7`` is parsed into
the kind's typed options dataclass; an unknown kind or key, or a value of the
wrong type, is a :class:`PlayerSpecError` that lists what is valid.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clients.actors.engine import EngineOptions, EnginePlayer
from clients.actors.random_player import RandomOptions, RandomPlayer
from clients.sdk import Bot

__all__ = ["PLAYER_KINDS", "PlayerKind", "PlayerSpec", "PlayerSpecError", "parse_player_spec"]


class PlayerSpecError(ValueError):
    """A player spec that does not name a valid kind and options."""


@dataclass(frozen=True)
class PlayerKind:
    """A kind of built-in player: its options type and how to build one."""

    name: str
    description: str
    options_type: type[Any]
    build: Callable[[Any], Bot]


PLAYER_KINDS: dict[str, PlayerKind] = {
    kind.name: kind
    for kind in (
        PlayerKind(
            "random", "uniformly random legal moves (any game)", RandomOptions, RandomPlayer
        ),
        PlayerKind("stockfish", "the Stockfish chess engine over UCI", EngineOptions, EnginePlayer),
    )
}


@dataclass(frozen=True)
class PlayerSpec:
    """A parsed player spec."""

    text: str
    kind: PlayerKind
    options: Any

    def build(self) -> Bot:
        """A new player of this kind with these options."""
        return self.kind.build(self.options)


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
    fields = {f.name for f in dataclasses.fields(kind.options_type)}
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep:
            raise PlayerSpecError(f"option {item!r} of {kind_name!r} must be written key=value")
        if key not in fields:
            raise PlayerSpecError(
                f"unknown option {key!r} for player kind {kind_name!r}; "
                f"valid options: {', '.join(sorted(fields)) or 'none'}"
            )
        values[key] = _convert(kind_name, key, raw.strip(), hints[key])
    return PlayerSpec(text=text.strip(), kind=kind, options=kind.options_type(**values))
