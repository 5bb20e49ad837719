"""What a player spec may name when it comes over the admin API, and how specs are shown.

A built-in player runs in the server's process with the server's rights: an
engine ``path`` is a program the server starts, and ``api_key_env`` names an
environment variable whose value is sent as a bearer token to ``base_url``.
From the command line (the machine's own user) any spec is fine. From the
admin API (``POST /api/tournaments``), which a remote holder of an admin token
calls, a spec may only name:

- engines from an allow-list set when the server starts
  (``arena serve --engine NAME=PATH``; Debian's engines under ``/usr/games``
  are listed by default): ``path=NAME`` or ``path=PATH`` of a listed engine;
  without ``path`` the usual Stockfish look-up applies;
- API keys from an allow-list of variable names (``arena serve --api-key-env
  NAME``, none by default); ``api_key_env=`` (empty) means no key, which any
  local endpoint accepts;
- engine ``threads`` up to the machine's cores and ``hash`` up to
  :data:`MAX_API_HASH_MB`.

Public pages and API answers show a spec without its ``path``, ``base_url``,
``spec_base_url`` and ``api_key_env`` (:func:`public_spec`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEBIAN_ENGINES",
    "MAX_API_HASH_MB",
    "PRIVATE_OPTIONS",
    "SpecPolicy",
    "public_config",
    "public_spec",
]

DEBIAN_ENGINES = ("stockfish", "toga2", "fruit", "glaurung", "ethereal")
"""UCI engines looked for under Debian's games directories at start-up."""
MAX_API_HASH_MB = 1024
"""Largest engine hash table a spec over the API may ask for."""
PRIVATE_OPTIONS = frozenset({"path", "base_url", "spec_base_url", "api_key_env"})
"""Options never shown publicly (they describe the server's machine and secrets)."""


def _debian_engines() -> dict[str, str]:
    from clients.actors.engine import DEBIAN_GAMES_DIRS

    found: dict[str, str] = {}
    for name in DEBIAN_ENGINES:
        for directory in DEBIAN_GAMES_DIRS:
            path = Path(directory) / name
            if path.is_file() and os.access(path, os.X_OK):
                found.setdefault(name, str(path))
    return found


@dataclass(frozen=True)
class SpecPolicy:
    """The allow-lists that specs from the admin API are checked against."""

    engines: Mapping[str, str] = field(default_factory=dict)
    """Engine name -> path of the executable."""
    api_key_envs: frozenset[str] = frozenset()
    """Environment variables whose value may be sent as an API key."""

    @classmethod
    def configured(
        cls, engines: Iterable[str] = (), api_key_envs: Iterable[str] = ()
    ) -> SpecPolicy:
        """Debian's engines found on this machine, plus ``NAME=PATH`` entries (which
        win over a Debian engine of the same name), and the key variables given.

        Raises ``ValueError`` for an entry that is not ``NAME=PATH`` of an executable.
        """
        table = _debian_engines()
        for entry in engines:
            name, sep, path = entry.partition("=")
            if not sep or not name.strip() or not path.strip():
                raise ValueError(f"--engine takes NAME=PATH, got {entry!r}")
            if not (Path(path).is_file() and os.access(path, os.X_OK)):
                raise ValueError(f"--engine {name}: {path!r} is not an executable file")
            table[name.strip()] = path.strip()
        return cls(engines=table, api_key_envs=frozenset(api_key_envs))

    def check(self, text: str) -> str:
        """The spec ``text`` as it may run when sent over the admin API (an engine
        named by the allow-list replaced by its path), or ``PlayerSpecError``."""
        from clients.players import PlayerSpecError, parse_player_spec

        spec = parse_player_spec(text)
        options: Any = spec.options
        replace: dict[str, str] = {}
        path = getattr(options, "path", None)
        if path is not None:
            if path in self.engines:
                replace["path"] = self.engines[path]
            elif path not in self.engines.values():
                listed = ", ".join(f"{n} ({p})" for n, p in sorted(self.engines.items()))
                raise PlayerSpecError(
                    f"engine path {path[:200]!r} is not allowed over the API; name one of the "
                    f"server's engines: {listed or 'none'} (arena serve --engine NAME=PATH)"
                )
        key_env = getattr(options, "api_key_env", None)
        if key_env and key_env not in self.api_key_envs:
            allowed = ", ".join(sorted(self.api_key_envs)) or "none"
            raise PlayerSpecError(
                f"api_key_env={key_env[:100]!r} is not allowed over the API; allowed: {allowed} "
                "(arena serve --api-key-env NAME); api_key_env= (empty) sends no key"
            )
        threads = getattr(options, "threads", 1)
        cores = os.cpu_count() or 1
        if isinstance(threads, int) and not 1 <= threads <= cores:
            raise PlayerSpecError(f"threads={threads} over the API must be 1-{cores}")
        hash_mb = getattr(options, "hash", 16)
        if isinstance(hash_mb, int) and not 1 <= hash_mb <= MAX_API_HASH_MB:
            raise PlayerSpecError(f"hash={hash_mb} over the API must be 1-{MAX_API_HASH_MB} MB")
        if not replace:
            return spec.text
        kind, _, rest = spec.text.partition(":")
        items = [item for item in rest.split(",") if item.strip()]
        items = [
            f"{key.strip()}={replace[key.strip()]}" if key.strip() in replace else item
            for item in items
            for key in [item.partition("=")[0]]
        ]
        return f"{kind}:{','.join(items)}"


def public_spec(text: str | None) -> str | None:
    """``text`` without the options in :data:`PRIVATE_OPTIONS` (for public pages)."""
    if not text:
        return text
    kind, sep, rest = text.partition(":")
    if not sep:
        return text
    items = [
        item.strip()
        for item in rest.split(",")
        if item.strip() and item.partition("=")[0].strip() not in PRIVATE_OPTIONS
    ]
    return f"{kind}:{','.join(items)}" if items else kind


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    """A stored tournament configuration with every player's spec made public."""
    players = [
        {**p, "spec": public_spec(p.get("spec"))} if isinstance(p, dict) else p
        for p in config.get("players", [])
    ]
    return {**config, "players": players}
