"""Versioned schema migrations, applied in order when a store opens.

The ``schema_version`` table holds the number of the last migration applied.
Each migration is a function of a synchronous SQLAlchemy connection, run
inside the same transaction that bumps the version, so a crash mid-way leaves
the old version in place. Migration 1 creates the tables of
:mod:`arena.store.schema` in their *current* shape, so on a new database the
later migrations find their columns already there and add only what is
missing (:func:`_add_column`); on an older database they add them. Changes
must be new migrations, never edits of an applied one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, text

from arena.store import schema

__all__ = ["MIGRATIONS", "MIGRATION_LOCK", "migrate"]

MIGRATION_LOCK = 0x4152_454E_4100_0001
"""The PostgreSQL advisory lock key held while migrating (``AREN A`` + 1)."""


def _v1_initial(conn: Connection) -> None:
    schema.metadata.create_all(conn)


def _add_column(conn: Connection, table: str, column: str, sql_type: str) -> None:
    """Add a column unless it exists (migration 1 creates the tables from the
    current metadata, so on a fresh database later columns exist already)."""
    columns = {c["name"] for c in inspect(conn).get_columns(table)}
    if column not in columns:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))


def _v2_moves_position_key(conn: Connection) -> None:
    """Add ``moves.position_key`` (the key of the position before the move) and its index."""
    _add_column(conn, "moves", "position_key", "TEXT")
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_moves_position_key ON moves (position_key)"))


def _v3_games_pairing_key(conn: Connection) -> None:
    """Add ``games.pairing_key`` (which planned tournament game this is), for resuming."""
    _add_column(conn, "games", "pairing_key", "VARCHAR(200)")
    conn.execute(
        text("CREATE INDEX IF NOT EXISTS ix_games_tournament ON games (tournament_id, pairing_key)")
    )


def _v4_hosted_tournaments(conn: Connection) -> None:
    """Add ``tournaments.runner`` (``server``: run by ``arena serve``, resumed when it
    restarts) and an index of tokens by bot (revoking a bot's tokens)."""
    _add_column(conn, "tournaments", "runner", "VARCHAR(16)")
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_tokens_bot ON tokens (bot_id)"))


def _v5_cluster(conn: Connection) -> None:
    """Add what several processes on one PostgreSQL database share: the owner of each
    game and server-run tournament, and the tables of :mod:`arena.cluster` (nodes,
    presence of bots, seeks, mail between nodes)."""
    _add_column(conn, "games", "owner_node", "INTEGER")
    _add_column(conn, "tournaments", "owner_node", "INTEGER")
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_games_owner ON games (owner_node, status)"))
    cluster = [schema.nodes, schema.presence, schema.seeks, schema.cluster_mail]
    schema.metadata.create_all(conn, tables=cluster)


MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1_initial,
    _v2_moves_position_key,
    _v3_games_pairing_key,
    _v4_hosted_tournaments,
    _v5_cluster,
]
"""Migration ``i`` brings the schema to version ``i + 1``."""


def migrate(conn: Connection) -> int:
    """Apply every pending migration; return the schema version reached.

    On PostgreSQL a transaction-level advisory lock serialises processes that
    start at the same moment on one database: the second waits, then finds the
    migrations applied.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
    conn.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
    current = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar() or 0
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema version {current} is newer than this arena knows "
            f"({len(MIGRATIONS)}); upgrade the arena"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        MIGRATIONS[version - 1](conn)
        conn.execute(text("DELETE FROM schema_version"))
        conn.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": version})
    return len(MIGRATIONS)
