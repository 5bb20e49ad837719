"""The database schema (SQLAlchemy Core tables), in its current shape.

Times are integer or float milliseconds since the Unix epoch (wall clock, for
people and replays); clocks are milliseconds left. JSON columns hold lists and
objects written by :mod:`arena.store.db`. The migrations in
:mod:`arena.store.migrations` build this shape step by step.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

__all__ = [
    "bots",
    "cluster_mail",
    "games",
    "metadata",
    "moves",
    "nodes",
    "predictions",
    "presence",
    "seeks",
    "tokens",
    "tournaments",
]

metadata = MetaData()

bots = Table(
    "bots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # "external" or "builtin"
    Column("spec", Text, nullable=True),  # player spec of a built-in, e.g. "random:seed=7"
    Column("created_at", BigInteger, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bot_id", Integer, ForeignKey("bots.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scope", String(16), nullable=False),  # "bot" or "admin"
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Index("ix_tokens_bot", "bot_id"),
)

tournaments = Table(
    "tournaments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("format", String(32), nullable=False),
    Column("game", String(64), nullable=False),
    Column("config", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("runner", String(16), nullable=True),  # "server" (hosted by arena serve) or NULL (v4)
    Column("owner_node", Integer, nullable=True),  # the nodes.id running it (v5; PostgreSQL)
)

games = Table(
    "games",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("game", String(64), nullable=False),
    Column("seat0_bot_id", Integer, ForeignKey("bots.id"), nullable=False),
    Column("seat1_bot_id", Integer, ForeignKey("bots.id"), nullable=False),
    Column("status", String(16), nullable=False),  # created | active | finished
    Column("result", String(8), nullable=True),
    Column("winner", Integer, nullable=True),
    Column("reason", String(32), nullable=True),
    Column("time_control", String(32), nullable=False),
    Column("max_plies", Integer, nullable=True),
    Column("max_retries", Integer, nullable=False),
    Column("initial_state", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("ply", Integer, nullable=False),
    Column("clock0_ms", BigInteger, nullable=True),
    Column("clock1_ms", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("finished_at", BigInteger, nullable=True),
    Column("tournament_id", String(32), ForeignKey("tournaments.id"), nullable=True),
    Column("round", Integer, nullable=True),
    Column("opening", Text, nullable=True),
    Column("pairing_key", String(200), nullable=True),  # a tournament's planned game
    Column("owner_node", Integer, nullable=True),  # the nodes.id hosting it (v5; PostgreSQL)
    Index("ix_games_status", "status"),
    Index("ix_games_tournament", "tournament_id", "pairing_key"),
    Index("ix_games_created", "created_at"),
    Index("ix_games_owner", "owner_node", "status"),
)

moves = Table(
    "moves",
    metadata,
    Column("game_id", String(32), ForeignKey("games.id"), nullable=False),
    Column("ply", Integer, nullable=False),
    Column("seat", Integer, nullable=False),
    Column("move", String(32), nullable=False),
    Column("display", String(32), nullable=False),
    Column("state_after", Text, nullable=False),
    Column("turn_started_at", Float, nullable=False),  # position sent to the mover
    Column("received_at", Float, nullable=False),  # move received by the server
    Column("committed_at", Float, nullable=False),  # move stored (then acknowledged)
    Column("response_ms", Integer, nullable=False),
    Column("clock0_ms", BigInteger, nullable=True),
    Column("clock1_ms", BigInteger, nullable=True),
    Column("meta", JSON, nullable=True),  # figures reported by the client
    Column("position_key", Text, nullable=True),  # arena.positions key before the move (v2)
    PrimaryKeyConstraint("game_id", "ply"),
    Index("ix_moves_position_key", "position_key"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("game_id", String(32), ForeignKey("games.id"), nullable=False),
    Column("ply", Integer, nullable=False),  # the ply of the predicted (opponent's) move
    Column("seat", Integer, nullable=False),  # the seat that predicted
    Column("moves", JSON, nullable=False),
    Column("probs", JSON, nullable=True),
    Column("received_at", Float, nullable=False),
    Index("ix_predictions_game_ply", "game_id", "ply"),
)

# ---------------------------------------------------------------------- cluster (v5)
# Several `arena serve` processes on one PostgreSQL database (arena.cluster). Each
# process is a node; it is alive while its session holds the advisory lock on its id.

nodes = Table(
    "nodes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),  # host:pid, for people
    Column("started_at", BigInteger, nullable=False),
)

presence = Table(
    "presence",
    metadata,
    Column("bot_id", Integer, nullable=False),
    Column("node_id", Integer, nullable=False),
    Column("since", BigInteger, nullable=False),
    PrimaryKeyConstraint("bot_id", "node_id"),
)

seeks = Table(
    "seeks",
    metadata,
    Column("bot_id", Integer, primary_key=True),  # one seek per bot
    Column("node_id", Integer, nullable=False),
    Column("ref", String(32), nullable=False),  # the seek's id on its node
    Column("game", String(64), nullable=False),
    Column("time_control", String(32), nullable=False),
    Column("max_plies", Integer, nullable=True),
    Column("opponent", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

cluster_mail = Table(
    "cluster_mail",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("node_id", Integer, nullable=False),  # the addressee
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_cluster_mail_node", "node_id"),
)
