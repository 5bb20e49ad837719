"""A node's own life: it fails to start with a clear error and leaves nothing behind, it
notices a database connection that stopped answering, and it stops hosting a game
another node took over instead of storing moves in it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine

from arena.cluster import Cluster, queries
from arena.host import Host
from arena.serve import running_server
from arena.store import Store, StoreError
from arena.store import schema as t
from tests.arena.cluster.strict import bot_tokens, frames_through, move, pair
from tests.tcp_proxy import tcp_proxy


def cluster_tasks() -> list[asyncio.Task[Any]]:
    """Tasks running code of arena.cluster."""
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and task.get_coro().__qualname__.startswith(("Cluster.", "Mirror."))  # type: ignore[union-attr]
    ]


async def test_an_unreachable_database_is_a_clear_error() -> None:
    """A node whose database does not answer fails to start with the store's error naming
    the URL, its password redacted; the host is left without a cluster."""
    store = Store(create_async_engine("postgresql+asyncpg://arena:s3cret@127.0.0.1:9/arena"))
    host = Host(store)
    try:
        with pytest.raises(
            StoreError, match=r"cannot open the database .*127\.0\.0\.1:9"
        ) as caught:
            await Cluster.start(store, host)
        assert "s3cret" not in str(caught.value) and "***" in str(caught.value)
        assert host.cluster is None
    finally:
        await store.close()


async def test_a_node_that_fails_to_start_leaves_no_session_or_task(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the start-up sweep fails, the start fails: the node's session ends (its lock is
    free, so others count it gone) and none of its tasks is left running."""
    store = await Store.open(pg_url)
    host = Host(store)

    async def failing_sweep(*_args: Any, **_kwargs: Any) -> queries.Sweep:
        raise RuntimeError("sweep failed")

    monkeypatch.setattr(queries, "sweep", failing_sweep)
    try:
        with pytest.raises(RuntimeError, match="sweep failed"):
            await Cluster.start(store, host, adopt=True)
        assert host.cluster is None and cluster_tasks() == []
        monkeypatch.undo()
        query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        async with asyncio.timeout(10):  # the server ends the session once its socket closes
            while not (await queries.sweep(store.engine, me=0)).dead_nodes:  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # polls PostgreSQL: it offers no event to await
            while True:
                async with store.engine.connect() as conn:
                    if (await conn.execute(query)).scalar() == 1:  # this one only
                        break
                await asyncio.sleep(0.02)
    finally:
        await store.close()


async def test_a_node_notices_a_database_connection_that_stopped_answering(pg_url: str) -> None:
    """When its dedicated connection stops answering (a half-open TCP connection), the
    node counts its session as lost within two ping periods."""
    database = pg_url.rsplit("/", 1)[1]
    async with tcp_proxy("127.0.0.1", int(pg_url.split(":")[-1].split("/")[0])) as proxy:
        store = await Store.open(f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{database}")
        host = Host(store)
        cluster = await Cluster.start(store, host, adopt=False, ping_s=0.2)
        try:
            proxy.stall()  # nothing passes, nothing is closed
            async with asyncio.timeout(5):
                await cluster.lost.wait()
        finally:
            proxy.release()
            await cluster.close()
            await store.close()
        assert cluster_tasks() == []


async def test_a_node_stops_hosting_a_game_another_node_took_over(pg_url: str) -> None:
    """A game whose row names another owner (taken over while this node lost its
    session) is no longer played here: with no live owner to hand the move to, it is
    refused with a clear error, not stored, and the game is no longer hosted."""
    async with running_server(pg_url) as a:
        game = await pair(a.ws_url, a.ws_url, await bot_tokens(a.store))
        x, y, game_id = game.x, game.y, game.game_id
        async with a.store.engine.begin() as conn:
            await conn.execute(update(t.games).where(t.games.c.id == game_id).values(owner_node=-1))
        await move(y, game_id, 0, "f2f3")
        error = (await frames_through(y, "error"))[-1]
        assert error["code"] == 4500 and "no longer owned" in error["message"]
        assert game_id not in a.host.games
        assert await a.store.get_moves(game_id) == []
        await x.close()
        await y.close()


async def test_a_move_refused_for_a_game_taken_over_goes_to_the_new_owner(pg_url: str) -> None:
    """A node that lost a game to another node, without knowing it yet, does not store
    the next move in it: it hands the move to the new owner, which plays it, and both
    bots hear of it as of any move (no error), relayed from the new owner."""
    async with running_server(pg_url) as a, running_server(pg_url) as b:
        game = await pair(a.ws_url, a.ws_url, await bot_tokens(a.store))
        x, y, game_id = game.x, game.y, game.game_id
        mover, other = (x, y) if game.x_start["seat"] == 0 else (y, x)
        # A loses its claim (as when its session ended) and B takes the game over.
        async with a.store.engine.begin() as conn:
            await conn.execute(update(t.games).where(t.games.c.id == game_id).values(owner_node=-1))
        assert b.cluster is not None
        await b.cluster.take_over([game_id])
        assert game_id in b.host.games
        await move(mover, game_id, 0, "e2e4")
        frames = await frames_through(mover, "move_ack")
        assert [f for f in frames if f["type"] == "error"] == []
        assert (await frames_through(other, "state"))[-1]["last_move"] == "e2e4"
        assert game_id not in a.host.games
        stored = await a.store.get_moves(game_id)
        assert [m.move for m in stored] == ["e2e4"]
        assert b.host.games[game_id].match.ply == 1
        await x.close()
        await y.close()


async def test_a_node_that_lost_its_session_answers_a_move_with_an_error(pg_url: str) -> None:
    """A game is taken over for real once its owner's session has ended. The old owner
    can no longer reach the new one (its notifications went through that session), so
    a move sent to it gets an error at once, naming the game, rather than silence, and
    nothing is stored."""
    async with running_server(pg_url) as a, running_server(pg_url) as b:
        game = await pair(a.ws_url, a.ws_url, await bot_tokens(a.store))
        x, y, game_id = game.x, game.y, game.game_id
        mover = x if game.x_start["seat"] == 0 else y
        assert a.cluster is not None and b.cluster is not None
        assert a.cluster._conn is not None
        pid = a.cluster._conn.get_server_pid()
        async with b.store.engine.begin() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.wait_for(a.cluster.lost.wait(), 10)
        await b.cluster.take_over([game_id])
        assert game_id in b.host.games
        await move(mover, game_id, 0, "e2e4")
        error = (await frames_through(mover, "error"))[-1]
        assert (error["name"], error["game_id"]) == ("internal", game_id)
        assert game_id in error["message"]
        assert await b.store.get_moves(game_id) == []
        await x.close()
        await y.close()


async def test_closing_a_node_cancels_the_relayed_messages_it_is_handling(pg_url: str) -> None:
    """A move forwarded to the owner and still waiting there (its game is busy) is a
    task of the owner's node: closing the node cancels it rather than leaving it
    running."""
    async with running_server(pg_url) as a, running_server(pg_url) as b:
        game = await pair(a.ws_url, b.ws_url, await bot_tokens(a.store))  # A hosts the game
        x, y, game_id = game.x, game.y, game.game_id
        cluster = a.cluster
        assert cluster is not None
        async with a.host.games[game_id].lock:  # the game is busy
            await move(y, game_id, 0, "f2f3")  # forwarded by B to A, where it waits
            async with asyncio.timeout(10):
                while not cluster._chains:  # noqa: ASYNC110 (no event marks its arrival)
                    await asyncio.sleep(0.01)
            waiting = list(cluster._chains.values())
            await cluster.close()
            assert all(task.cancelled() for task in waiting)
        assert await a.store.get_moves(game_id) == []  # cancelled before it was stored
        await x.close()
        await y.close()
