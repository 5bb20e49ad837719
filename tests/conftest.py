"""Shared fixtures: a real arena server on a free loopback port over a real SQLite file;
a real PostgreSQL server (started once per session) for the tests that need one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from arena.limits import Limits
from arena.serve import RunningServer, running_server
from arena.store import BotRow
from tests.postgres import PostgresServer, running_postgres, skip_reason


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "arena.db")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session; the test is skipped (with the reason) without
    Debian's postgresql binaries."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with running_postgres() as server:
        yield server


@pytest.fixture
async def pg_url(postgres: PostgresServer) -> str:
    """A fresh PostgreSQL database (its URL)."""
    return await postgres.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "arena.db")
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return await postgres.create_database()


@pytest.fixture
async def server(db_path: str) -> AsyncIterator[RunningServer]:
    """An arena on 127.0.0.1:<free port> with small limits, so they can be hit in tests."""
    limits = Limits(max_message_bytes=16 * 1024, hello_timeout_s=5)
    async with running_server(db_path, limits=limits) as srv:
        yield srv


async def new_bot(server: RunningServer, name: str) -> tuple[BotRow, str]:
    """Register a bot and return it with a fresh token."""
    bot = await server.store.add_bot(name)
    return bot, await server.store.issue_token(bot.id)


async def recv_json(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    """The next frame as a dict (fails the test after ``timeout`` seconds)."""
    async with asyncio.timeout(timeout):
        text = await ws.recv()
    data: dict[str, Any] = json.loads(text)
    return data


async def recv_type(ws: ClientConnection, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """Skip frames until one of type ``kind`` arrives."""
    while True:
        msg = await recv_json(ws, timeout)
        if msg["type"] == kind:
            return msg


async def connect_bot(server: RunningServer, token: str, **options: Any) -> ClientConnection:
    """A raw websocket connection that has said hello and got welcome (``options`` go
    to ``websockets.connect``)."""
    ws = await websockets.connect(server.ws_url, **options)
    await ws.send(json.dumps({"type": "hello", "token": token, "protocol": 1}))
    welcome = await recv_json(ws)
    assert welcome["type"] == "welcome", welcome
    return ws
