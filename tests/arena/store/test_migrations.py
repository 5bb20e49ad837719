"""Migrations build the current schema on SQLite and PostgreSQL, upgrade an older
database, and two processes opening one new PostgreSQL database at once both succeed."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect, text

from arena.store import Store
from arena.store.migrations import MIGRATIONS, migrate


async def columns(store: Store, table: str) -> set[str]:
    async with store.engine.connect() as conn:
        return await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns(table)})


async def version(store: Store) -> int:
    async with store.engine.connect() as conn:
        found = (await conn.execute(text("SELECT MAX(version) FROM schema_version"))).scalar()
        return int(found or 0)


async def test_a_new_database_gets_every_migration(any_db: str) -> None:
    """A new database reaches the latest version, with the cluster's tables and columns,
    and opening it again changes nothing."""
    store = await Store.open(any_db)
    try:
        assert await version(store) == len(MIGRATIONS)
        assert "owner_node" in await columns(store, "games")
        for table in ("nodes", "presence", "seeks", "cluster_mail"):
            assert await columns(store, table)
    finally:
        await store.close()
    again = await Store.open(any_db)
    try:
        assert await version(again) == len(MIGRATIONS)
    finally:
        await again.close()


async def test_an_older_database_is_upgraded(any_db: str) -> None:
    """A database at version 4 (before the cluster) gets the owner columns and tables."""
    store = await Store.open(any_db)
    try:
        async with store.engine.begin() as conn:
            for table in ("cluster_mail", "seeks", "presence", "nodes"):
                await conn.execute(text(f"DROP TABLE {table}"))
            await conn.execute(text("DROP INDEX ix_games_owner"))
            await conn.execute(text("ALTER TABLE games DROP COLUMN owner_node"))
            await conn.execute(text("ALTER TABLE tournaments DROP COLUMN owner_node"))
            await conn.execute(text("UPDATE schema_version SET version = 4"))
        assert "owner_node" not in await columns(store, "games")
        async with store.engine.begin() as conn:
            assert await conn.run_sync(migrate) == len(MIGRATIONS)
        assert "owner_node" in await columns(store, "games")
        assert "owner_node" in await columns(store, "tournaments")
        assert await columns(store, "nodes")
    finally:
        await store.close()


async def test_two_processes_migrating_one_new_postgres_database_at_once(pg_url: str) -> None:
    """Servers started together on an empty PostgreSQL database wait for each other's
    migrations (an advisory lock) instead of failing on a half-created schema."""
    stores = await asyncio.gather(*(Store.open(pg_url) for _ in range(3)))
    try:
        assert [await version(s) for s in stores] == [len(MIGRATIONS)] * 3
    finally:
        for store in stores:
            await store.close()
