"""The store behaves the same on a SQLite file and on PostgreSQL (each test runs on both),
and a bad database URL is a clear error naming it with the password redacted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import websockets
from sqlalchemy import update

from arena.match import MatchConfig, MoveRecord
from arena.serve import running_server
from arena.store import BotExistsError, Store, StoreError, database_url, db
from arena.store import schema as t
from arena.store.db import GameNotOwnedError
from tests.conftest import new_bot, recv_json, recv_type


@pytest.fixture
async def store(any_db: str) -> AsyncIterator[Store]:
    opened = await Store.open(any_db)
    try:
        yield opened
    finally:
        await opened.close()


def record(ply: int, move: str, clocks: tuple[int | None, int | None]) -> MoveRecord:
    return MoveRecord(
        ply=ply,
        seat=ply % 2,
        move=move,
        display=move,
        state_after=f"state-{ply}",
        response_ms=12,
        clocks_after=clocks,
    )


async def game(store: Store) -> tuple[str, int, int]:
    a, b = await store.add_bot("a"), await store.add_bot("b")
    game_id = await store.create_game(
        game="chess",
        seat_bot_ids=(a.id, b.id),
        time_control="60+1",
        max_plies=None,
        max_retries=2,
        initial_state="start",
        clocks=(60_000, 60_000),
    )
    return game_id, a.id, b.id


async def test_bots_and_tokens(store: Store) -> None:
    """Bots are unique by name; tokens resolve to their bot until revoked."""
    bot = await store.add_bot("alice", kind="external")
    with pytest.raises(BotExistsError, match="alice"):
        await store.add_bot("alice")
    assert await store.ensure_bot("alice", "external") == bot
    token = await store.issue_token(bot.id)
    principal = await store.principal_by_token(token)
    assert principal is not None and principal.bot == bot and principal.scope == "bot"
    assert await store.revoke_bot_tokens(bot.id) == [principal.id]
    assert await store.bot_by_token(token) is None
    assert await store.revoked_among([principal.id]) == {principal.id}
    assert [(b.name, n) for b, n in await store.list_bots()] == [("alice", 0)]


async def test_moves_are_committed_with_the_game_and_read_back(store: Store) -> None:
    """A move and the game's new position are stored together; the end of the game too;
    moves, JSON meta, float times and clocks read back as written."""
    game_id, a, _ = await game(store)
    await store.start_game(game_id)
    meta = {"actor_ms": 1234.5, "branches": [{"line": ["e7e5"], "kept": True}]}
    await store.commit_move(
        game_id,
        record(0, "e2e4", (59_000, 60_000)),
        turn_started_at=1.5,
        received_at=2.25,
        meta=meta,
        position_key="k0",
    )
    await store.commit_move(
        game_id,
        record(1, "e7e5", (59_000, 58_500)),
        turn_started_at=3.0,
        received_at=4.0,
        meta=None,
        finish=("0-1", 1, "resign"),
    )
    row = await store.get_game(game_id)
    assert row is not None
    assert (row.status, row.result, row.winner, row.ply) == ("finished", "0-1", 1, 2)
    assert row.clocks == (59_000, 58_500) and row.players == ("a", "b")
    moves = await store.get_moves(game_id)
    assert [(m.ply, m.move, m.meta) for m in moves] == [(0, "e2e4", meta), (1, "e7e5", None)]
    assert moves[0].received_at == 2.25 and moves[0].clocks == (59_000, 60_000)
    assert [m.move for m in await store.get_moves(game_id, from_ply=1)] == ["e7e5"]
    assert await store.history("chess", "a", "k0") == [("e2e4", 1)]
    assert [g.id for g in await store.list_games(bot="a", status="finished")] == [game_id]
    assert await store.unfinished_games() == []
    assert a in row.seat_bot_ids


async def test_predictions_tournaments_and_unfinished_games(store: Store) -> None:
    """Predictions keep their order and probabilities; tournaments their config; an
    unfinished game is listed for recovery and can be closed as interrupted."""
    game_id, a, _ = await game(store)
    await store.add_prediction(game_id, ply=1, seat=0, moves=["e7e5"], probs=[0.5], received_at=1)
    await store.add_prediction(game_id, ply=1, seat=0, moves=["c7c5"], probs=None, received_at=2)
    assert [(p.moves, p.probs) for p in await store.get_predictions(game_id)] == [
        (["e7e5"], [0.5]),
        (["c7c5"], None),
    ]
    assert [g.id for g in await store.unfinished_games(bot_id=a)] == [game_id]
    await store.mark_interrupted(game_id)
    row = await store.get_game(game_id)
    assert row is not None and (row.result, row.reason) == ("*", "interrupted")
    config = {"players": [{"name": "a"}], "rounds": 2}
    tid = await store.create_tournament(
        name="t", format="round-robin", game="chess", config=config, runner="server"
    )
    found = await store.find_tournament("t")
    assert found is not None and found.id == tid and found.config == config
    await store.set_tournament_status(tid, "finished")
    assert [t.status for t in await store.list_tournaments(runner="server")] == ["finished"]


async def test_a_game_over_websockets(any_db: str) -> None:
    """Two bots play over real websockets on a server over this database; the moves are
    stored before they are acknowledged."""
    async with running_server(any_db) as srv:
        (a, ta), (b, tb) = await new_bot(srv, "w"), await new_bot(srv, "k")
        conns = []
        for token in (ta, tb):
            ws = await websockets.connect(srv.ws_url)
            await ws.send(json.dumps({"type": "hello", "token": token}))
            assert (await recv_json(ws))["type"] == "welcome"
            conns.append(ws)
        game_id = await srv.host.create_game("chess", (a, b), MatchConfig())
        for ply, uci in enumerate(["f2f3", "e7e5", "g2g4", "d8h4"]):
            ws = conns[ply % 2]
            await ws.send(json.dumps({"type": "move", "game_id": game_id, "ply": ply, "move": uci}))
            await recv_type(ws, "move_ack")
            assert len(await srv.store.get_moves(game_id)) == ply + 1
        assert (await recv_type(conns[0], "game_over"))["result"] == "0-1"
        for ws in conns:
            await ws.close()


@pytest.mark.parametrize(
    "url",
    ["mysql://arena:s3cret@db/arena", "oracle+cx://arena:s3cret@db/arena"],
)
def test_an_unknown_scheme_is_a_clear_error(url: str) -> None:
    """An unsupported URL scheme names the URL, with the password redacted."""
    with pytest.raises(StoreError, match="unsupported database URL") as caught:
        database_url(url)
    assert "s3cret" not in str(caught.value) and "arena:***@db" in str(caught.value)


async def test_an_unreachable_server_is_a_clear_error() -> None:
    """A PostgreSQL URL nobody answers at fails at once, naming the URL (no password)."""
    url = "postgresql+asyncpg://arena:s3cret@127.0.0.1:9/arena"
    with pytest.raises(StoreError, match=r"cannot open the database .*127\.0\.0\.1:9") as caught:
        await Store.open(url)
    assert "s3cret" not in str(caught.value)


def test_postgres_urls_select_asyncpg() -> None:
    """postgresql:// and postgres:// mean the asyncpg driver; a path means a SQLite file."""
    assert database_url("postgresql://u@h/d") == "postgresql+asyncpg://u@h/d"
    assert database_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    assert database_url("arena.db").startswith("sqlite+aiosqlite:///")


async def test_a_server_that_never_answers_fails_within_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host that accepts TCP connections but never speaks PostgreSQL fails within the
    connect timeout, with the clear error naming the URL (no password)."""
    monkeypatch.setattr(db, "CONNECT_TIMEOUT_S", 0.5)
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepted, never answered

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"postgresql+asyncpg://arena:s3cret@127.0.0.1:{port}/arena"
    try:
        async with asyncio.timeout(10):
            with pytest.raises(StoreError, match=f"cannot open the database .*:{port}") as caught:
                await Store.open(url)
        assert "s3cret" not in str(caught.value)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_node_stores_nothing_in_a_game_it_no_longer_owns(pg_url: str) -> None:
    """On PostgreSQL, once another node owns a game, this node's move and end of game
    are refused with a clear error and nothing of them is stored."""
    store = await Store.open(pg_url)
    try:
        store.node_id = 101
        game_id, _, _ = await game(store)
        await store.commit_move(
            game_id, record(0, "e2e4", (1000, 1000)), turn_started_at=1, received_at=2, meta=None
        )
        async with store.engine.begin() as conn:  # node 102 took the game over
            await conn.execute(
                update(t.games).where(t.games.c.id == game_id).values(owner_node=102)
            )
        with pytest.raises(GameNotOwnedError, match=f"{game_id!r} is no longer owned by node 101"):
            await store.commit_move(
                game_id,
                record(1, "e7e5", (900, 1000)),
                turn_started_at=3,
                received_at=4,
                meta=None,
            )
        with pytest.raises(GameNotOwnedError, match="its end"):
            await store.finish_game(
                game_id, result="1-0", winner=0, reason="resignation", clocks=(1, 1)
            )
        assert [m.move for m in await store.get_moves(game_id)] == ["e2e4"]
        row = await store.get_game(game_id)
        assert row is not None and (row.ply, row.status) == (1, "created")
        store.node_id = 102  # the new owner goes on
        await store.commit_move(
            game_id, record(1, "e7e5", (900, 1000)), turn_started_at=3, received_at=4, meta=None
        )
        assert [m.move for m in await store.get_moves(game_id)] == ["e2e4", "e7e5"]
    finally:
        await store.close()


async def test_a_move_of_a_game_taken_over_fails_alone_in_its_batch(pg_url: str) -> None:
    """Moves committed together (one group-commit batch) for a game this node still owns
    and one it lost: the first is stored, the second refused."""
    store = await Store.open(pg_url)
    try:
        store.node_id = 101
        kept, _, _ = await game(store)
        lost = await store.create_game(
            game="chess",
            seat_bot_ids=(1, 2),
            time_control="60+1",
            max_plies=None,
            max_retries=2,
            initial_state="start",
            clocks=(60_000, 60_000),
        )
        async with store.engine.begin() as conn:
            await conn.execute(update(t.games).where(t.games.c.id == lost).values(owner_node=102))
        outcomes = await asyncio.gather(
            *(
                store.commit_move(
                    game_id,
                    record(0, "e2e4", (1000, 1000)),
                    turn_started_at=1,
                    received_at=2,
                    meta=None,
                )
                for game_id in (kept, lost)
            ),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], float) and isinstance(outcomes[1], GameNotOwnedError)
        assert [m.move for m in await store.get_moves(kept)] == ["e2e4"]
        assert await store.get_moves(lost) == []
    finally:
        await store.close()
