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

__all__ = ["MIGRATIONS", "migrate"]


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


MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1_initial,
    _v2_moves_position_key,
    _v3_games_pairing_key,
    _v4_hosted_tournaments,
]
"""Migration ``i`` brings the schema to version ``i + 1``."""


def migrate(conn: Connection) -> int:
    """Apply every pending migration; return the schema version reached."""
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
