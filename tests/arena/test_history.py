"""Opponent history: position keys on stored moves, /api/history, HistorySpeculator."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.positions import position_key
from arena.serve import RunningServer
from arena.store import BotRow, Store
from arena.store import schema as t
from arena.store.migrations import MIGRATIONS
from clients.sdk import Bot, BotClient, GameView
from clients.speculation import Guess, Meter, Position
from clients.speculators import HistorySpeculator, ScriptedSpeculator
from games import get_game, replay
from tests.conftest import new_bot

CHESS = get_game("chess")


class LineBot(Bot):
    """Plays ``line[ply]``: both seats share one line of moves."""

    def __init__(self, line: Sequence[str]) -> None:
        self.line = list(line)

    async def choose_move(self, view: GameView) -> str:
        return self.line[view.ply]


async def play_line(
    server: RunningServer, bots: tuple[tuple[BotRow, str], tuple[BotRow, str]], line: list[str]
) -> str:
    """One chess game between two registered bots following ``line`` to its last ply."""
    (a, ta), (b, tb) = bots
    config = MatchConfig(time_control=TimeControl.parse("60+0"), max_plies=len(line))
    game_id = await server.host.create_game("chess", (a, b), config)
    clients = [BotClient(LineBot(line), server.ws_url, tok, max_games=1) for tok in (ta, tb)]
    async with asyncio.timeout(30):
        await asyncio.gather(*(c.run() for c in clients))
    stored = [m.move for m in await server.store.get_moves(game_id)]
    assert stored == line
    return game_id


def chess_position(moves: list[str]) -> Position:
    return Position(CHESS, replay(CHESS, moves), tuple(moves))


def test_chess_position_key_ignores_move_counters() -> None:
    """Knights out and back reach the start position's key despite new move counters."""
    start = chess_position([])
    back = chess_position(["g1f3", "g8f6", "f3g1", "f6g8"])
    assert CHESS.encode_state(start.state) != CHESS.encode_state(back.state)
    assert position_key(CHESS, start.state) == position_key(CHESS, back.state)
    assert (
        position_key(CHESS, start.state) == "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq -"
    )


def test_position_key_defaults_to_encoding() -> None:
    """A game without position_key (Connect Four) is keyed by its state encoding."""
    c4 = get_game("connect4")
    state = replay(c4, ["4", "3"])
    assert position_key(c4, state) == c4.encode_state(state)


async def test_history_speculator_predicts_stored_moves(server: RunningServer) -> None:
    """Stored games are keyed by position; the speculator predicts what the bot played there."""
    bots = (await new_bot(server, "alice"), await new_bot(server, "bob"))
    await play_line(server, bots, ["e2e4", "e7e5", "g1f3", "b8c6"])
    await play_line(server, bots, ["e2e4", "e7e5", "f1c4", "g8f6"])
    await play_line(server, bots, ["e2e4", "c7c5", "g1f3", "d7d6"])

    after_e4 = chess_position(["e2e4"])
    key = position_key(CHESS, after_e4.state)
    assert await server.store.history("chess", "bob", key) == [("e7e5", 2), ("c7c5", 1)]
    assert await server.store.history("chess", "alice", key) == []  # alice never moved there
    assert await server.store.history("connect4", "bob", key) == []

    fallback = ScriptedSpeculator({1: ["e7e5", "d7d5", "g8f6"]})
    bob = HistorySpeculator(server.url, "bob", fallback)
    try:
        guesses = await bob.predict(after_e4, 3, Meter())
        assert [g.move for g in guesses] == ["e7e5", "c7c5", "d7d5"]
        assert [g.prob for g in guesses] == [pytest.approx(2 / 3), pytest.approx(1 / 3), 0.0]
        top = await bob.predict(after_e4, 1, Meter())
        assert [g.move for g in top] == ["e7e5"] and top[0].prob == pytest.approx(2 / 3)
        # an unseen position: the fallback's answer as it is
        unseen = chess_position(["d2d4"])
        assert await bob.predict(unseen, 2, Meter()) == [Guess("e7e5"), Guess("d7d5")]
    finally:
        await bob.close()

    # alice's own history at the start position, reached with other move counters too
    alice = HistorySpeculator(server.url, "alice", None)
    try:
        back = chess_position(["g1f3", "g8f6", "f3g1", "f6g8"])
        assert await alice.predict(back, 2, Meter()) == [Guess("e2e4", 1.0)]
    finally:
        await alice.close()


async def test_history_speculator_falls_back_when_server_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without a server the failure is logged and the fallback answers."""
    fallback = ScriptedSpeculator({0: ["d2d4"]})
    speculator = HistorySpeculator("http://127.0.0.1:9", "bob", fallback, timeout_s=1.0)
    try:
        assert await speculator.predict(chess_position([]), 2, Meter()) == [Guess("d2d4")]
    finally:
        await speculator.close()
    assert "history look-up" in caplog.text


@pytest.mark.parametrize(
    ("query", "missing"),
    [
        ({}, "game, bot, key"),
        ({"game": "chess", "bot": "bob"}, "key"),
        ({"game": "chess", "key": "x", "bot": ""}, "bot"),
    ],
)
async def test_history_api_requires_params(
    server: RunningServer, query: dict[str, str], missing: str
) -> None:
    """/api/history without game, bot or key is a 400 naming what is missing."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/api/history", params=query)
    assert response.status_code == 400
    assert response.json() == {"error": f"missing query parameter(s): {missing}"}


async def test_history_api_answers_empty_for_unknown(server: RunningServer) -> None:
    """An unknown bot or position gets an empty list of moves, echoing the query."""
    query = {"game": "chess", "bot": "nobody", "key": "8/8/8/8/8/8/8/8 w - -"}
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/api/history", params=query)
    assert response.status_code == 200
    assert response.json() == {**query, "moves": []}


# ---------------------------------------------------------------------- migration 2

V1_MOVES = """
CREATE TABLE moves (
    game_id VARCHAR(32) NOT NULL REFERENCES games (id),
    ply INTEGER NOT NULL,
    seat INTEGER NOT NULL,
    move VARCHAR(32) NOT NULL,
    display VARCHAR(32) NOT NULL,
    state_after TEXT NOT NULL,
    turn_started_at FLOAT NOT NULL,
    received_at FLOAT NOT NULL,
    committed_at FLOAT NOT NULL,
    response_ms INTEGER NOT NULL,
    clock0_ms BIGINT,
    clock1_ms BIGINT,
    meta JSON,
    PRIMARY KEY (game_id, ply)
)
"""


def make_v1_database(path: Path) -> None:
    """A database as schema version 1 left it, with one stored move."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            others = [table for table in t.metadata.sorted_tables if table.name != "moves"]
            t.metadata.create_all(conn, tables=others)
            conn.execute(text(V1_MOVES))
            conn.execute(text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
            conn.execute(text("INSERT INTO schema_version (version) VALUES (1)"))
            conn.execute(text("INSERT INTO bots VALUES (1, 'a', 'external', NULL, 0)"))
            conn.execute(text("INSERT INTO bots VALUES (2, 'b', 'external', NULL, 0)"))
            conn.execute(
                text(
                    "INSERT INTO games (id, game, seat0_bot_id, seat1_bot_id, status, time_control,"
                    " max_retries, initial_state, state, ply, created_at)"
                    " VALUES ('g1', 'chess', 1, 2, 'active', '-', 0, 'fen', 'fen', 1, 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO moves VALUES ('g1', 0, 0, 'e2e4', 'e4', 'fen', 0, 0, 0, 5,"
                    " NULL, NULL, NULL)"
                )
            )
    finally:
        engine.dispose()


def schema_facts(path: Path) -> tuple[int, list[str], list[str], list[tuple[str, str | None]]]:
    """(version, moves columns, moves indexes, stored (move, position_key) rows)."""
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        columns = [row[1] for row in conn.execute("PRAGMA table_info(moves)")]
        indexes = [row[1] for row in conn.execute("PRAGMA index_list(moves)")]
        key = "position_key" if "position_key" in columns else "NULL"
        rows = conn.execute(f"SELECT move, {key} FROM moves").fetchall()
    finally:
        conn.close()
    return int(version), columns, indexes, [(str(m), k) for m, k in rows]


async def test_migration_2_upgrades_v1_database(tmp_path: Path) -> None:
    """A v1 database gets moves.position_key (NULL for old moves) and its index, and the
    later migrations."""
    path = tmp_path / "v1.db"
    make_v1_database(path)
    assert "position_key" not in schema_facts(path)[1]
    for _ in range(2):  # opening again changes nothing
        store = await Store.open(str(path))
        await store.close()
        version, columns, indexes, rows = schema_facts(path)
        assert version == len(MIGRATIONS) >= 2
        assert "position_key" in columns
        assert "ix_moves_position_key" in indexes
        assert rows == [("e2e4", None)]


async def test_fresh_database_is_current(tmp_path: Path) -> None:
    """A new database reaches the latest version with the position key column and index."""
    path = tmp_path / "new.db"
    store = await Store.open(str(path))
    await store.close()
    version, columns, indexes, _ = schema_facts(path)
    assert (
        version == len(MIGRATIONS)
        and "position_key" in columns
        and "ix_moves_position_key" in indexes
    )
