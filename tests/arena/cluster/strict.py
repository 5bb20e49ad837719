"""Strict frame checks for cluster tests: every frame a bot receives, in order, with
nothing skipped (``tests.conftest.recv_type`` skips frames; these do not)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from arena.store import Store
from tests.conftest import recv_json

_ping_ids = itertools.count(1)


async def connect(ws_url: str, token: str, resume: dict[str, int] | None = None) -> Any:
    """A bot connection past ``welcome`` (and, with no ``resume``, past an empty
    ``resumed``: a bot with no game is sent nothing else)."""
    ws = await websockets.connect(ws_url)
    await ws.send(json.dumps({"type": "hello", "token": token, "resume": resume}))
    assert (await recv_json(ws))["type"] == "welcome"
    if resume is None:
        assert await recv_json(ws) == {"type": "resumed", "games": []}
    return ws


async def frames_through(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Every frame up to and including the first of type ``kind``."""
    frames = []
    while True:
        frame = await recv_json(ws)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


async def quiet(ws: ClientConnection) -> None:
    """Nothing else was sent before now: a ``ping`` sent now is answered by the very
    next frame (the server sends a connection's frames in order)."""
    ping_id = f"p{next(_ping_ids)}"
    await ws.send(json.dumps({"type": "ping", "id": ping_id}))
    assert await recv_json(ws) == {"type": "pong", "id": ping_id}


def summary(frames: list[dict[str, Any]]) -> list[tuple[str, int | None]]:
    """``(type, seq or ply)`` of each frame, for comparing whole sequences."""
    return [(f["type"], f.get("seq", f.get("ply"))) for f in frames]


async def move(ws: ClientConnection, game_id: str, ply: int, uci: str) -> None:
    await ws.send(json.dumps({"type": "move", "game_id": game_id, "ply": ply, "move": uci}))


async def seek(ws: ClientConnection, opponent: str) -> None:
    await ws.send(json.dumps({"type": "seek", "game": "chess", "opponent": opponent}))


async def bot_tokens(store: Store, names: Sequence[str] = ("x", "y")) -> dict[str, str]:
    """A bot of each name, and a token for it."""
    tokens = {}
    for name in names:
        bot = await store.add_bot(name)
        tokens[name] = await store.issue_token(bot.id)
    return tokens


@dataclass(frozen=True)
class Pair:
    """Bots ``x`` and ``y`` in a game that has just started."""

    x: ClientConnection
    y: ClientConnection
    game_id: str
    x_start: dict[str, Any]
    """X's ``game_start``."""
    y_frames: list[dict[str, Any]]
    """Every frame Y got after its ``seek_ack``, through its ``game_start``."""


async def pair(x_url: str, y_url: str, tokens: dict[str, str]) -> Pair:
    """Y connects to ``y_url`` and seeks X (its seek is stored); X connects to ``x_url``
    and seeks Y, so X's node matches the stored seek and hosts the game."""
    y = await connect(y_url, tokens["y"])
    await seek(y, "x")
    assert summary(await frames_through(y, "seek_ack")) == [("seek_ack", None)]
    x = await connect(x_url, tokens["x"])
    await seek(x, "y")
    x_start = (await frames_through(x, "game_start"))[-1]
    y_frames = await frames_through(y, "game_start")
    return Pair(x, y, str(x_start["game_id"]), x_start, y_frames)
