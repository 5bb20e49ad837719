"""Running a bot given by name, as ``arena bot run`` and ``arena bot uci`` do.

:func:`load_bot` turns ``path/to/file.py:ClassName`` or ``package.module:ClassName``
into a bot (a :class:`~clients.sdk.Bot`, or a :class:`~clients.sync.SyncBot`
wrapped for the async client); :func:`play` connects it and plays.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arena.protocol import GameOver, Seek
from clients.sdk import Bot, BotClient
from clients.sync import SyncBot, as_async

__all__ = ["BotLoadError", "load_bot", "play", "read_token"]

log = logging.getLogger(__name__)


class BotLoadError(ValueError):
    """The bot named on the command line cannot be loaded; the message says why."""


def _load_module(where: str) -> Any:
    path = Path(where)
    if where.endswith(".py") or path.is_file():
        if not path.is_file():
            raise BotLoadError(f"no such file: {where!r}")
        name = f"arena_bot_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise BotLoadError(f"cannot load {where!r} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as exc:
        raise BotLoadError(
            f"cannot import module {where!r} ({exc}); give a file path ending in .py "
            "or a module importable from here"
        ) from None


def load_bot(target: str) -> Bot:
    """The bot named by ``FILE.py:NAME`` or ``MODULE:NAME``, ready for a :class:`BotClient`.

    ``NAME`` is a :class:`~clients.sdk.Bot` or :class:`~clients.sync.SyncBot`
    subclass (instantiated without arguments), an instance of one, or a
    function returning one.
    """
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise BotLoadError(
            f"expected FILE.py:NAME or MODULE:NAME (e.g. examples/minimal_bot.py:FirstLegal), "
            f"got {target!r}"
        )
    module = _load_module(where)
    found = getattr(module, name, None)
    if found is None:
        defined = sorted(
            n
            for n, v in vars(module).items()
            if inspect.isclass(v) and issubclass(v, Bot | SyncBot) and v not in (Bot, SyncBot)
        )
        raise BotLoadError(
            f"{where!r} has no {name!r}; bot classes there: {', '.join(defined) or 'none'}"
        )
    made: Any = found
    if inspect.isclass(found) or (callable(found) and not isinstance(found, Bot | SyncBot)):
        try:
            made = found()
        except TypeError as exc:
            raise BotLoadError(
                f"cannot create {target}: {exc} (it must take no arguments)"
            ) from None
    if not isinstance(made, Bot | SyncBot):
        raise BotLoadError(f"{target} gave {made!r}, not a clients.sdk.Bot or clients.sync.SyncBot")
    return as_async(made)


def read_token(token: str | None, token_file: str | None) -> str:
    """The bot's token, given directly or in a file (first line); exactly one of them."""
    if token and token_file:
        raise ValueError("give the token or a token file, not both")
    if token_file:
        try:
            text = Path(token_file).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the token file {token_file!r}: {exc}") from None
        if not text:
            raise ValueError(f"the token file {token_file!r} is empty")
        return text.splitlines()[0].strip()
    if not token:
        raise ValueError("a token is needed: --token, --token-file, or $ARENA_TOKEN")
    return token.strip()


async def play(
    bot: Bot,
    url: str,
    token: str,
    *,
    max_games: int | None = None,
    seek: Seek | None = None,
    on_result: Callable[[GameOver], None] | None = None,
) -> list[GameOver]:
    """Connect ``bot`` and play until ``max_games`` have ended (``None``: until cancelled)."""
    client = BotClient(
        bot,
        url,
        token,
        max_games=max_games,
        seek=seek,
        on_result=on_result,
        client_name=f"arena-bot/{bot.name}"[:100],
    )
    try:
        await client.run()
    finally:
        await bot.close()
    return client.results
