"""The cluster's reads and writes of the shared PostgreSQL database (SQLAlchemy Core).

A node is alive while its session holds the advisory lock ``(NODE_LOCK_CLASS,
node id)``: PostgreSQL releases it when that session ends, including when the
process is killed, so liveness needs no heartbeat and no clock. Another session
that can take the lock (for the length of one transaction) knows the node is gone.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from arena.store import BotRow, GameRow, Store, now_ms
from arena.store import schema as t

__all__ = [
    "NODE_LOCK_CLASS",
    "PRESENCE",
    "Owner",
    "SeekSpec",
    "Sweep",
    "live_presence",
    "owner_of",
    "remote_games_of",
    "sweep",
    "take_seek",
]

NODE_LOCK_CLASS = 0x4152454E
"""First key of every node's advisory lock (``AREN``); the second is the node id."""
PRESENCE = "arena_presence"
"""The channel of presence news: ``{"b", "n", "on"}`` for one bot on one node, or
``{"dead": [node ids]}`` when a sweep found nodes gone (every node forgets their bots)."""


@dataclass(frozen=True)
class Owner:
    """Who hosts an unfinished game, and whether that process is gone."""

    node_id: int | None
    gone: bool


@dataclass(frozen=True)
class Sweep:
    """What one sweep found and did."""

    dead_nodes: list[int]
    absent_bots: list[int]
    """Bots that were connected to a dead node."""
    games: list[str]
    """Games now owned by the sweeping node (to rebuild and host)."""
    tournaments: list[str]
    """Server-run tournaments now owned by the sweeping node."""


@dataclass(frozen=True)
class SeekSpec:
    """A seek as stored for every node to match."""

    ref: str
    bot: BotRow
    game: str
    time_control: str
    max_plies: int | None
    opponent: str | None


async def sweep(
    engine: AsyncEngine,
    me: int,
    *,
    tournaments: bool = False,
    only: Collection[str] | None = None,
) -> Sweep:
    """Forget the nodes that are gone (their presence, seeks and mail; every node is
    told on :data:`PRESENCE`) and take over their unfinished games (and with
    ``tournaments``, their running server tournaments), and those of no node, in one
    transaction; with ``only``, only those of these games. Two nodes sweeping at once
    cannot both take a game: a dead node's lock is held by the first for the length
    of its transaction, and a game row another sweep is taking is skipped."""
    async with engine.begin() as conn:
        dead = [
            int(i)
            for i in (
                await conn.execute(
                    select(t.nodes.c.id).where(
                        (t.nodes.c.id != me)
                        & func.pg_try_advisory_xact_lock(NODE_LOCK_CLASS, t.nodes.c.id)
                    )
                )
            ).scalars()
        ]
        absent: list[int] = []
        if dead:
            absent = [
                int(b)
                for b in (
                    await conn.execute(
                        delete(t.presence)
                        .where(t.presence.c.node_id.in_(dead))
                        .returning(t.presence.c.bot_id)
                    )
                ).scalars()
            ]
            await conn.execute(delete(t.seeks).where(t.seeks.c.node_id.in_(dead)))
            await conn.execute(delete(t.cluster_mail).where(t.cluster_mail.c.node_id.in_(dead)))
            await conn.execute(delete(t.nodes).where(t.nodes.c.id.in_(dead)))
            # Delivered at commit, with the deletions: nodes that did not sweep forget
            # the dead nodes' bots too.
            await conn.execute(
                select(func.pg_notify(PRESENCE, json.dumps({"dead": dead}, separators=(",", ":"))))
            )
        orphan = or_(
            t.games.c.owner_node.is_(None), t.games.c.owner_node.not_in(select(t.nodes.c.id))
        )
        adoptable = select(t.games.c.id).where((t.games.c.status != "finished") & orphan)
        if only is not None:
            adoptable = adoptable.where(t.games.c.id.in_(list(only)))
        games = [
            str(g)
            for g in (
                await conn.execute(
                    update(t.games)
                    .where(t.games.c.id.in_(adoptable.with_for_update(skip_locked=True)))
                    .values(owner_node=me)
                    .returning(t.games.c.id)
                )
            ).scalars()
        ]
        taken: list[str] = []
        if tournaments:
            stray = or_(
                t.tournaments.c.owner_node.is_(None),
                t.tournaments.c.owner_node.not_in(select(t.nodes.c.id)),
            )
            taken = [
                str(i)
                for i in (
                    await conn.execute(
                        update(t.tournaments)
                        .where(
                            (t.tournaments.c.status == "running")
                            & (t.tournaments.c.runner == "server")
                            & stray
                        )
                        .values(owner_node=me)
                        .returning(t.tournaments.c.id)
                    )
                ).scalars()
            ]
    return Sweep(dead, sorted(set(absent)), games, taken)


async def owner_of(engine: AsyncEngine, game_id: str) -> Owner | None:
    """The owner of an unfinished game (``None``: no such game, or finished)."""
    gone = func.pg_try_advisory_xact_lock(NODE_LOCK_CLASS, t.games.c.owner_node)
    query = select(t.games.c.owner_node, gone.label("gone")).where(
        (t.games.c.id == game_id) & (t.games.c.status != "finished")
    )
    async with engine.begin() as conn:  # the lock, if taken, ends with the transaction
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    node = None if row.owner_node is None else int(row.owner_node)
    return Owner(node, node is None or bool(row.gone))


async def remote_games_of(store: Store, bot_id: int, me: int) -> list[GameRow]:
    """The bot's unfinished games owned by other nodes (or by none)."""
    seated = (t.games.c.seat0_bot_id == bot_id) | (t.games.c.seat1_bot_id == bot_id)
    query = select(t.games.c.id).where(
        (t.games.c.status != "finished") & (t.games.c.owner_node == me) & seated
    )
    async with store.engine.connect() as conn:
        mine = {str(g) for g in (await conn.execute(query)).scalars()}
    return [g for g in await store.unfinished_games(bot_id=bot_id) if g.id not in mine]


async def live_presence(engine: AsyncEngine, me: int) -> list[tuple[int, int]]:
    """``(bot_id, node_id)`` of bots connected to other nodes."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(t.presence.c.bot_id, t.presence.c.node_id).where(t.presence.c.node_id != me)
            )
        ).all()
    return [(int(r.bot_id), int(r.node_id)) for r in rows]


async def take_seek(engine: AsyncEngine, me: int, seek: SeekSpec) -> tuple[BotRow, int] | None:
    """Take the oldest stored seek that matches ``seek`` (returns its bot and node), or
    store ``seek``. Rows being taken by another node at the same moment are skipped.

    Seeks that could match each other (same game, time control and ply limit) are
    matched one at a time across the cluster (a transaction-level advisory lock on
    those keys): under READ COMMITTED two bots seeking each other at the same moment
    on two nodes would otherwise each miss the other's uncommitted seek and both wait.
    """
    key = f"seek|{seek.game}|{seek.time_control}|{seek.max_plies}"
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
        await conn.execute(delete(t.seeks).where(t.seeks.c.bot_id == seek.bot.id))
        plies = (
            t.seeks.c.max_plies.is_(None)
            if seek.max_plies is None
            else t.seeks.c.max_plies == seek.max_plies
        )
        query = (
            select(t.seeks, t.bots.c.name, t.bots.c.kind, t.bots.c.spec, t.bots.c.created_at)
            .join(t.bots, t.bots.c.id == t.seeks.c.bot_id)
            .where(
                (t.seeks.c.game == seek.game)
                & (t.seeks.c.time_control == seek.time_control)
                & plies
                & (t.seeks.c.bot_id != seek.bot.id)
            )
            .order_by(t.seeks.c.created_at)
            .with_for_update(skip_locked=True, of=t.seeks)
        )
        for row in (await conn.execute(query)).all():
            if seek.opponent not in (None, row.name) or row.opponent not in (None, seek.bot.name):
                continue
            await conn.execute(delete(t.seeks).where(t.seeks.c.bot_id == row.bot_id))
            bot = BotRow(int(row.bot_id), row.name, row.kind, row.spec, int(row.created_at))
            return bot, int(row.node_id)
        await conn.execute(
            insert(t.seeks).values(
                bot_id=seek.bot.id,
                node_id=me,
                ref=seek.ref,
                game=seek.game,
                time_control=seek.time_control,
                max_plies=seek.max_plies,
                opponent=seek.opponent,
                created_at=int(now_ms()),
            )
        )
    return None
