"""A node is alive while its session holds its advisory lock: a sweep takes nothing from
a live node, and everything (games, presence, seeks) from one whose session ended."""

from __future__ import annotations

import asyncpg
from sqlalchemy import insert, select

from arena.cluster import queries
from arena.store import Store, now_ms
from arena.store import schema as t


async def register(store: Store, name: str) -> tuple[int, asyncpg.Connection]:
    """A node row and a session holding its lock (as arena.cluster.Cluster.start does)."""
    dsn = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    node = await conn.fetchval(
        "INSERT INTO nodes (name, started_at) VALUES ($1, 0) RETURNING id", name
    )
    await conn.execute("SELECT pg_advisory_lock($1, $2)", queries.NODE_LOCK_CLASS, node)
    return int(node), conn


async def test_sweep_takes_only_what_dead_nodes_left(pg_url: str) -> None:
    """While node A's session lives its game stays A's; once the session ends, node B's
    sweep takes the game and forgets A's presence and seeks."""
    store = await Store.open(pg_url)
    try:
        node_a, conn_a = await register(store, "a")
        node_b, conn_b = await register(store, "b")
        x, y = await store.add_bot("x"), await store.add_bot("y")
        store.node_id = node_a
        game_id = await store.create_game(
            game="chess",
            seat_bot_ids=(x.id, y.id),
            time_control="60+1",
            max_plies=None,
            max_retries=2,
            initial_state="start",
            clocks=(1, 1),
        )
        async with store.engine.begin() as conn:
            await conn.execute(insert(t.presence).values(bot_id=x.id, node_id=node_a, since=0))
            await conn.execute(
                insert(t.seeks).values(
                    bot_id=y.id,
                    node_id=node_a,
                    ref="s1",
                    game="chess",
                    time_control="60+1",
                    created_at=int(now_ms()),
                )
            )
        first = await queries.sweep(store.engine, node_b)
        assert (first.dead_nodes, first.games) == ([], [])
        owner = await queries.owner_of(store.engine, game_id)
        assert owner == queries.Owner(node_a, gone=False)
        await conn_a.close()  # the process is gone: PostgreSQL releases its lock
        second = await queries.sweep(store.engine, node_b)
        assert (second.dead_nodes, second.absent_bots, second.games) == (
            [node_a],
            [x.id],
            [game_id],
        )
        assert await queries.owner_of(store.engine, game_id) == queries.Owner(node_b, gone=False)
        async with store.engine.connect() as conn:
            assert (await conn.execute(select(t.seeks))).all() == []
            assert [r.id for r in (await conn.execute(select(t.nodes))).all()] == [node_b]
        await conn_b.close()
    finally:
        await store.close()
