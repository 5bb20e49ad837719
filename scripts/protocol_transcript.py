#!/usr/bin/env python3
"""Capture a real protocol transcript: fool's mate between two scripted raw clients.

Starts an arena on a free loopback port over a throw-away SQLite file, connects
two bots with plain websockets (no SDK), and plays 1. f3 e5 2. g4 Qh4# with a
seek, a prediction, and a refused illegal move on the way. Every frame, both
directions, is printed as Markdown (the worked example in docs/protocol.md
comes from this script):

    .venv/bin/python scripts/protocol_transcript.py > /tmp/transcript.md

Tokens are replaced by ``arena_…``; everything else is as the server sent it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from arena.serve import running_server


@dataclass(frozen=True)
class Frame:
    """One websocket frame: who sent it to whom, and its JSON text."""

    bot: str
    outgoing: bool
    """True for client -> server."""
    text: str

    @property
    def message(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.text)
        return data


class Recorder:
    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.tokens: dict[str, str] = {}

    def redact(self, text: str) -> str:
        for token in self.tokens.values():
            text = text.replace(token, "arena_…")
        return text

    async def send(self, bot: str, ws: ClientConnection, message: dict[str, Any]) -> None:
        text = json.dumps(message)
        self.frames.append(Frame(bot, True, self.redact(text)))
        await ws.send(text)

    async def expect(self, bot: str, ws: ClientConnection, kind: str) -> dict[str, Any]:
        async with asyncio.timeout(10):
            text = str(await ws.recv())
        frame = Frame(bot, False, self.redact(text))
        self.frames.append(frame)
        if frame.message["type"] != kind:
            raise AssertionError(f"{bot} expected {kind!r}, got {text}")
        return frame.message


async def capture(db: str) -> tuple[list[Frame], dict[str, Any]]:
    """Play the scripted game; returns the frames and the game's JSON record."""
    rec = Recorder()
    async with running_server(db) as server:
        for name in ("alice", "bob"):
            bot = await server.store.add_bot(name)
            rec.tokens[name] = await server.store.issue_token(bot.id)
        async with (
            websockets.connect(server.ws_url) as alice,
            websockets.connect(server.ws_url) as bob,
        ):
            for name, ws in (("alice", alice), ("bob", bob)):
                hello = {"type": "hello", "token": rec.tokens[name], "protocol": 1}
                await rec.send(name, ws, hello | {"client": f"{name}/1.0"})
                await rec.expect(name, ws, "welcome")
                await rec.expect(name, ws, "resumed")  # caught up: no game in progress
            seek = {"type": "seek", "game": "chess", "time_control": "60+1"}
            await rec.send("alice", alice, seek)
            await rec.expect("alice", alice, "seek_ack")
            await rec.send("bob", bob, seek)
            start = await rec.expect("alice", alice, "game_start")
            await rec.expect("bob", bob, "game_start")
            game_id = start["game_id"]

            async def move(name: str, ws: ClientConnection, other: ClientConnection, ply: int,
                           uci: str, last: bool = False) -> None:  # fmt: skip
                message: dict[str, Any] = {"type": "move", "game_id": game_id, "ply": ply}
                message["move"] = uci
                if last:  # what a bot may report about its move (stored as reported)
                    message["meta"] = {"actor_ms": 0.2, "comment": "scripted fool's mate"}
                await rec.send(name, ws, message)
                await rec.expect(name, ws, "move_ack")
                await rec.expect(name, ws, "state")
                await rec.expect("bob" if name == "alice" else "alice", other, "state")
                if last:
                    await rec.expect(name, ws, "game_over")
                    await rec.expect("bob" if name == "alice" else "alice", other, "game_over")

            await move("alice", alice, bob, 0, "f2f3")
            predict = {"type": "predict", "game_id": game_id, "ply": 2, "moves": ["g2g4", "e2e4"]}
            await rec.send("bob", bob, predict | {"probs": [0.6, 0.3]})
            await move("bob", bob, alice, 1, "e7e5")
            await rec.send(
                "alice", alice, {"type": "move", "game_id": game_id, "ply": 2, "move": "g2g5"}
            )
            await rec.expect("alice", alice, "error")
            await move("alice", alice, bob, 2, "g2g4")
            await move("bob", bob, alice, 3, "d8h4", last=True)
        async with httpx.AsyncClient(base_url=server.url) as http:
            record: dict[str, Any] = (await http.get(f"/api/games/{game_id}")).json()
    return rec.frames, record


def markdown(frames: list[Frame], record: dict[str, Any]) -> str:
    lines = ["```text"]
    for frame in frames:
        arrow = f"{frame.bot} -> server" if frame.outgoing else f"server -> {frame.bot}"
        lines.append(f"{arrow:<16} {frame.text}")
    lines.append("```")
    lines.append("")
    lines.append("Black's last move, as `GET /api/games/{id}` scores it (`speculation.moves`):")
    lines.append("")
    lines.append("```json")
    lines.append(json.dumps(record["speculation"]["moves"][-1], indent=1))
    lines.append("```")
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        frames, record = asyncio.run(capture(str(Path(tmp) / "transcript.db")))
    sys.stdout.write(markdown(frames, record) + "\n")


if __name__ == "__main__":
    main()
