"""A node is alive while its session holds its advisory lock: a sweep takes nothing from
a live node, and everything (games, presence, seeks) from one whose session ended."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import event, insert, select, text
from sqlalchemy.util import await_only

from arena.cluster import queries
from arena.store import BotRow, Store, now_ms
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


def seek_of(bot: BotRow, opponent: str) -> queries.SeekSpec:
    return queries.SeekSpec(
        ref=f"s-{bot.name}",
        bot=bot,
        game="chess",
        time_control="60+1",
        max_plies=None,
        opponent=opponent,
    )


async def until(condition: Callable[[], Awaitable[bool]], deadline_s: float = 10.0) -> None:
    """Poll ``condition`` until it holds (fails the test after ``deadline_s``)."""
    async with asyncio.timeout(deadline_s):
        while not await condition():  # noqa: ASYNC110 (PostgreSQL's state: no event to await)
            await asyncio.sleep(0.01)


async def test_two_nodes_seeking_each_other_at_the_same_moment_are_matched(pg_url: str) -> None:
    """Node A has looked for a match for X's seek (none yet) and not yet stored it when
    node B takes Y's seek for X: B waits for A's seek to be stored, then matches it, so
    neither seek is left waiting for the other."""
    store_a, store_b = await Store.open(pg_url), await Store.open(pg_url)
    try:
        node_a, conn_a = await register(store_a, "a")
        node_b, conn_b = await register(store_b, "b")
        x, y = await store_a.add_bot("x"), await store_a.add_bot("y")
        looked, go_on = asyncio.Event(), asyncio.Event()

        def pause_before_storing(
            _conn: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
        ) -> None:
            if statement.startswith("INSERT INTO seeks"):
                looked.set()
                await_only(go_on.wait())  # runs inside the engine's greenlet

        event.listen(store_a.engine.sync_engine, "before_cursor_execute", pause_before_storing)
        taking_a = asyncio.create_task(queries.take_seek(store_a.engine, node_a, seek_of(x, "y")))
        async with asyncio.timeout(10):
            await looked.wait()
        taking_b = asyncio.create_task(queries.take_seek(store_b.engine, node_b, seek_of(y, "x")))

        async def b_done_or_waiting() -> bool:
            if taking_b.done():
                return True
            async with store_a.engine.connect() as conn:
                query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                return bool((await conn.execute(text(query))).scalar())

        await until(b_done_or_waiting)
        go_on.set()
        async with asyncio.timeout(10):
            took_a, took_b = await asyncio.gather(taking_a, taking_b)
        assert took_a is None
        assert took_b is not None and (took_b[0].id, took_b[1]) == (x.id, node_a)
        async with store_a.engine.connect() as conn:
            assert (await conn.execute(select(t.seeks))).all() == []
        await conn_a.close()
        await conn_b.close()
    finally:
        await store_a.close()
        await store_b.close()


async def test_a_sweep_skips_a_game_another_sweep_is_taking(pg_url: str) -> None:
    """While another transaction holds an ownerless game's row (a sweep taking it), a
    sweep takes the other ownerless games at once, without waiting for that row, and
    takes it later once it is free and still ownerless."""
    store = await Store.open(pg_url)
    try:
        node_b, conn_b = await register(store, "b")
        x, y = await store.add_bot("x"), await store.add_bot("y")
        games = []
        for _ in range(2):
            games.append(
                await store.create_game(
                    game="chess",
                    seat_bot_ids=(x.id, y.id),
                    time_control="60+1",
                    max_plies=None,
                    max_retries=2,
                    initial_state="start",
                    clocks=(1, 1),
                )
            )
        other = await asyncpg.connect(
            store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        )
        taking = other.transaction()
        await taking.start()
        await other.execute("SELECT id FROM games WHERE id = $1 FOR UPDATE", games[0])
        async with asyncio.timeout(5):
            first = await queries.sweep(store.engine, node_b)
        assert first.games == [games[1]]
        await taking.rollback()
        async with asyncio.timeout(5):
            second = await queries.sweep(store.engine, node_b)
        assert second.games == [games[0]]
        await other.close()
        await conn_b.close()
    finally:
        await store.close()


async def test_a_sweep_tells_every_node_which_nodes_are_gone(pg_url: str) -> None:
    """A sweep that finds a node gone announces it on the presence channel, with the
    deletion of its presence (so nodes that did not sweep forget its bots too)."""
    store = await Store.open(pg_url)
    try:
        node_a, conn_a = await register(store, "a")
        node_b, conn_b = await register(store, "b")
        heard: asyncio.Queue[str] = asyncio.Queue()
        await conn_b.add_listener(
            queries.PRESENCE, lambda _c, _p, _ch, payload: heard.put_nowait(payload)
        )
        await conn_a.close()
        found = await queries.sweep(store.engine, node_b)
        assert found.dead_nodes == [node_a]
        async with asyncio.timeout(5):
            assert json.loads(await heard.get()) == {"dead": [node_a]}
        await conn_b.close()
    finally:
        await store.close()
