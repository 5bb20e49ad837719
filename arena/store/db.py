"""The store: every read and write of the arena's database, as async methods.

SQLAlchemy 2 async Core over aiosqlite by default, or PostgreSQL through asyncpg
when the database is a ``postgresql+asyncpg://`` URL (the engine for several
server processes, see :mod:`arena.cluster`). SQLite runs in WAL mode with
``synchronous=FULL``: a transaction that returned is on disk, so a move
acknowledged after its commit survives a crash of the process or of the machine.

Tokens are stored as SHA-256 hashes. They are 192-bit random strings, so a
fast hash is enough (there is nothing to brute-force); the plain token is
shown once, when it is created.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, case, event, func, insert, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import Executable

from arena.match import MoveRecord
from arena.safejson import STORED_LIMIT, finite
from arena.store import schema as t
from arena.store.group import GroupCommitter, PendingMove, PendingPrediction, PendingWrite
from arena.store.migrations import migrate
from arena.store.sqlite_writer import SqliteMoveWriter

__all__ = [
    "CONNECT_TIMEOUT_S",
    "BotExistsError",
    "BotRow",
    "GameNotOwnedError",
    "GameRow",
    "MoveRow",
    "PredictionRow",
    "Store",
    "StoreError",
    "TokenRow",
    "TournamentRow",
    "connection_error",
    "database_url",
    "hash_token",
    "now_ms",
    "redact_url",
]


class StoreError(Exception):
    """A store operation that cannot be done as asked."""


class BotExistsError(StoreError, ValueError):
    """A bot with this name is already registered."""


class GameNotOwnedError(StoreError):
    """A cluster node wrote to a game it no longer owns (another node took it over):
    nothing was stored."""


CONNECT_TIMEOUT_S = 10.0
"""How long opening a PostgreSQL connection may take before the server counts as unreachable."""


def now_ms() -> float:
    """Wall-clock milliseconds since the epoch (for stored times)."""
    return time.time() * 1000.0


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh bot token (shown once, stored hashed)."""
    return "arena_" + secrets.token_urlsafe(24)


def new_game_id() -> str:
    """A short random game id, like lichess's (8 chars, URL-safe)."""
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


_SCHEMES = {
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "sqlite": "sqlite+aiosqlite",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}
"""URL schemes accepted for ``--db``, and the SQLAlchemy driver each one means."""


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


def database_url(db: str) -> str:
    """A SQLAlchemy URL from a path (``arena.db``) or a URL (``postgresql+asyncpg://...``;
    ``postgresql://`` and ``sqlite://`` name the same drivers).

    Raises :class:`StoreError` naming the URL (password redacted) for a scheme
    the arena cannot use.
    """
    if "://" not in db:
        return f"sqlite+aiosqlite:///{Path(db).expanduser().resolve()}"
    scheme, rest = db.split("://", 1)
    driver = _SCHEMES.get(scheme.lower())
    if driver is None:
        raise StoreError(
            f"unsupported database URL {redact_url(db)!r}: give a SQLite file path or a "
            "URL postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    return f"{driver}://{rest}"


@dataclass(frozen=True, slots=True)
class BotRow:
    id: int
    name: str
    kind: str
    spec: str | None
    created_at: int


@dataclass(frozen=True, slots=True)
class GameRow:
    id: str
    game: str
    seat_bot_ids: tuple[int, int]
    players: tuple[str, str]
    status: str
    result: str | None
    winner: int | None
    reason: str | None
    time_control: str
    max_plies: int | None
    max_retries: int
    initial_state: str
    state: str
    ply: int
    clocks: tuple[int | None, int | None]
    created_at: int
    started_at: int | None
    finished_at: int | None
    tournament_id: str | None
    round: int | None = None
    opening: str | None = None
    pairing_key: str | None = None


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A valid token's identity: which principal it belongs to and what it may do."""

    id: int
    bot: BotRow
    """The principal (a bot, or for an admin token an ``admin`` principal)."""
    scope: str
    """``bot`` (play) or ``admin`` (administer over the API)."""


@dataclass(frozen=True, slots=True)
class TournamentRow:
    id: str
    name: str
    format: str
    game: str
    config: dict[str, Any]
    status: str
    created_at: int
    finished_at: int | None
    runner: str | None = None
    """``server`` for a tournament run by ``arena serve`` (created over the API)."""


@dataclass(frozen=True, slots=True)
class MoveRow:
    ply: int
    seat: int
    move: str
    display: str
    state_after: str
    turn_started_at: float
    received_at: float
    committed_at: float
    response_ms: int
    clocks: tuple[int | None, int | None]
    meta: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PredictionRow:
    ply: int
    seat: int
    moves: list[str]
    probs: list[float] | None
    received_at: float


def connection_error(url: str, exc: BaseException) -> StoreError:
    """The error for a database that cannot be reached: the URL (password redacted) and
    the first line of why (a timeout says so)."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, TimeoutError):
        reason = f"no answer within {CONNECT_TIMEOUT_S:g} s"
    else:
        lines = str(cause).splitlines()
        reason = lines[0] if lines else type(cause).__name__
    return StoreError(f"cannot open the database {redact_url(url)}: {reason}")


def _set_sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


_UPDATE_POSITION = (
    update(t.games)
    .where(t.games.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        ply=bindparam("b_ply"),
        clock0_ms=bindparam("b_clock0"),
        clock1_ms=bindparam("b_clock1"),
    )
)
"""A game's new position after a move (executed for many games at once)."""

_UPDATE_FINISHED = _UPDATE_POSITION.values(
    status="finished",
    result=bindparam("b_result"),
    winner=bindparam("b_winner"),
    reason=bindparam("b_reason"),
    finished_at=bindparam("b_finished_at"),
)
"""The same for a move that ended its game."""


def _move_statements(
    batch: Sequence[PendingMove], committed_at: float
) -> list[tuple[Executable, list[dict[str, Any]]]]:
    """The statements (each run once for a list of parameters) storing ``batch``."""
    rows = [
        {
            "game_id": m.game_id,
            "ply": m.record.ply,
            "seat": m.record.seat,
            "move": m.record.move,
            "display": m.record.display,
            "state_after": m.record.state_after,
            "turn_started_at": m.turn_started_at,
            "received_at": m.received_at,
            "committed_at": committed_at,
            "response_ms": m.record.response_ms,
            "clock0_ms": m.record.clocks_after[0],
            "clock1_ms": m.record.clocks_after[1],
            "meta": m.meta,
            "position_key": m.position_key,
        }
        for m in batch
    ]
    positions = [
        {
            "b_id": m.game_id,
            "b_state": m.record.state_after,
            "b_ply": m.record.ply + 1,
            "b_clock0": m.record.clocks_after[0],
            "b_clock1": m.record.clocks_after[1],
        }
        for m in batch
        if m.finish is None
    ]
    finished = [
        {
            "b_id": m.game_id,
            "b_state": m.record.state_after,
            "b_ply": m.record.ply + 1,
            "b_clock0": m.record.clocks_after[0],
            "b_clock1": m.record.clocks_after[1],
            "b_result": m.finish[0],
            "b_winner": m.finish[1],
            "b_reason": m.finish[2],
            "b_finished_at": int(committed_at),
        }
        for m in batch
        if m.finish is not None
    ]
    statements: list[tuple[Executable, list[dict[str, Any]]]] = []
    if rows:
        statements.append((insert(t.moves), rows))
    if positions:
        statements.append((_UPDATE_POSITION, positions))
    if finished:
        statements.append((_UPDATE_FINISHED, finished))
    return statements


_s0 = aliased(t.bots, name="s0")
_s1 = aliased(t.bots, name="s1")
_GAME_COLUMNS = (t.games, _s0.c.name.label("p0"), _s1.c.name.label("p1"))


def _game_row(r: Any) -> GameRow:
    return GameRow(
        id=r.id,
        game=r.game,
        seat_bot_ids=(r.seat0_bot_id, r.seat1_bot_id),
        players=(r.p0, r.p1),
        status=r.status,
        result=r.result,
        winner=r.winner,
        reason=r.reason,
        time_control=r.time_control,
        max_plies=r.max_plies,
        max_retries=r.max_retries,
        initial_state=r.initial_state,
        state=r.state,
        ply=r.ply,
        clocks=(r.clock0_ms, r.clock1_ms),
        created_at=r.created_at,
        started_at=r.started_at,
        finished_at=r.finished_at,
        tournament_id=r.tournament_id,
        round=r.round,
        opening=r.opening,
        pairing_key=r.pairing_key,
    )


def _move_row(r: Any) -> MoveRow:
    return MoveRow(
        ply=r.ply,
        seat=r.seat,
        move=r.move,
        display=r.display,
        state_after=r.state_after,
        turn_started_at=r.turn_started_at,
        received_at=r.received_at,
        committed_at=r.committed_at,
        response_ms=r.response_ms,
        clocks=(r.clock0_ms, r.clock1_ms),
        # finite(): a database written by an older version may hold 1e999
        meta=finite(r.meta, STORED_LIMIT) if r.meta else r.meta,
    )


def _prediction_row(r: Any) -> PredictionRow:
    probs = finite(r.probs) if r.probs else r.probs
    return PredictionRow(r.ply, r.seat, r.moves, probs, r.received_at)


def _tournament_row(r: Any) -> TournamentRow:
    return TournamentRow(
        id=r.id,
        name=r.name,
        format=r.format,
        game=r.game,
        config=r.config,
        status=r.status,
        created_at=r.created_at,
        finished_at=r.finished_at,
        runner=r.runner,
    )


class Store:
    """Async access to the arena database. Open with :meth:`open`, then :meth:`close`."""

    def __init__(self, engine: AsyncEngine, move_writer: SqliteMoveWriter | None = None) -> None:
        self.engine = engine
        self.group = GroupCommitter(self.commit_moves)
        """Batches concurrent :meth:`commit_move` calls into shared transactions."""
        self._move_writer = move_writer
        self.node_id: int | None = None
        """The cluster node this process is (:mod:`arena.cluster`), recorded as the
        owner of the games it creates; ``None`` on SQLite (one process)."""

    @property
    def url(self) -> str:
        """The database URL, password redacted."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def is_postgres(self) -> bool:
        """Whether the database is PostgreSQL (several processes may share it)."""
        return self.engine.dialect.name == "postgresql"

    @classmethod
    async def open(cls, db: str) -> Store:
        """Open (creating and migrating as needed) the database at path or URL ``db``.

        Raises :class:`StoreError` naming the URL (password redacted) when the
        URL is not one the arena can use or the server cannot be reached.
        """
        url = database_url(db)
        options: dict[str, Any] = {}
        if url.startswith("postgresql"):
            options["connect_args"] = {"timeout": CONNECT_TIMEOUT_S}
        try:
            engine = create_async_engine(url, **options)
        except (ArgumentError, ImportError, ValueError) as exc:
            raise StoreError(f"bad database URL {redact_url(url)!r}: {exc}") from None
        if url.startswith("sqlite"):
            sync_engine: Engine = engine.sync_engine
            event.listen(sync_engine, "connect", _set_sqlite_pragmas)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(migrate)
        except (OSError, DBAPIError, TimeoutError) as exc:
            await engine.dispose()
            raise connection_error(url, exc) from None
        move_writer = None
        path = engine.url.database
        if url.startswith("sqlite+aiosqlite:") and path and path != ":memory:":
            move_writer = SqliteMoveWriter(path)  # one hop per batch of moves
        return cls(engine, move_writer)

    async def flush(self) -> None:
        """Wait until the moves and predictions queued so far are committed."""
        await self.group.flush()

    async def close(self) -> None:
        await self.flush()
        if self._move_writer is not None:
            await asyncio.to_thread(self._move_writer.close)
        await self.engine.dispose()

    # ------------------------------------------------------------------ bots and tokens

    async def add_bot(self, name: str, kind: str = "external", spec: str | None = None) -> BotRow:
        """Register a bot; raises :class:`BotExistsError` if the name is taken."""
        created = int(now_ms())
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    insert(t.bots).values(name=name, kind=kind, spec=spec, created_at=created)
                )
                bot_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        except IntegrityError:
            raise BotExistsError(f"a bot named {name!r} already exists") from None
        return BotRow(bot_id, name, kind, spec, created)

    async def ensure_bot(self, name: str, kind: str, spec: str | None = None) -> BotRow:
        """The bot called ``name``, registered now if it was not."""
        existing = await self.bot_by_name(name)
        if existing is not None:
            return existing
        try:
            return await self.add_bot(name, kind, spec)
        except BotExistsError:  # registered concurrently
            found = await self.bot_by_name(name)
            assert found is not None
            return found

    async def issue_token(self, bot_id: int, scope: str = "bot") -> str:
        """A new token for the bot; only its hash is stored."""
        token = new_token()
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(t.tokens).values(
                    bot_id=bot_id,
                    token_hash=hash_token(token),
                    scope=scope,
                    created_at=int(now_ms()),
                )
            )
        return token

    async def revoke_token(self, token: str) -> None:
        """Revoke one token (e.g. the temporary token of a built-in player)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.tokens)
                .where(t.tokens.c.token_hash == hash_token(token))
                .values(revoked_at=int(now_ms()))
            )

    async def bot_by_token(self, token: str) -> BotRow | None:
        """The bot a valid (not revoked) token belongs to."""
        query = (
            select(t.bots)
            .join(t.tokens, t.tokens.c.bot_id == t.bots.c.id)
            .where(
                and_(t.tokens.c.token_hash == hash_token(token), t.tokens.c.revoked_at.is_(None))
            )
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else BotRow(row.id, row.name, row.kind, row.spec, row.created_at)

    async def bot_by_name(self, name: str) -> BotRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.bots).where(t.bots.c.name == name))).first()
        return None if row is None else BotRow(row.id, row.name, row.kind, row.spec, row.created_at)

    async def list_bots(self) -> list[tuple[BotRow, int]]:
        """Every bot with its number of games."""
        played = (
            select(func.count())
            .select_from(t.games)
            .where(
                (t.games.c.seat0_bot_id == t.bots.c.id) | (t.games.c.seat1_bot_id == t.bots.c.id)
            )
            .scalar_subquery()
        )
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(select(t.bots, played.label("n")).order_by(t.bots.c.id))
            ).all()
        return [(BotRow(r.id, r.name, r.kind, r.spec, r.created_at), int(r.n)) for r in rows]

    # ------------------------------------------------------------------ games

    async def create_game(
        self,
        *,
        game: str,
        seat_bot_ids: tuple[int, int],
        time_control: str,
        max_plies: int | None,
        max_retries: int,
        initial_state: str,
        clocks: tuple[int | None, int | None],
        tournament_id: str | None = None,
        round_no: int | None = None,
        opening: str | None = None,
        pairing_key: str | None = None,
    ) -> str:
        """Store a new game (status ``created``); returns its id."""
        for _ in range(5):
            game_id = new_game_id()
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(
                        insert(t.games).values(
                            id=game_id,
                            game=game,
                            seat0_bot_id=seat_bot_ids[0],
                            seat1_bot_id=seat_bot_ids[1],
                            status="created",
                            time_control=time_control,
                            max_plies=max_plies,
                            max_retries=max_retries,
                            initial_state=initial_state,
                            state=initial_state,
                            ply=0,
                            clock0_ms=clocks[0],
                            clock1_ms=clocks[1],
                            created_at=int(now_ms()),
                            tournament_id=tournament_id,
                            round=round_no,
                            opening=opening,
                            pairing_key=pairing_key,
                            owner_node=self.node_id,
                        )
                    )
                return game_id
            except IntegrityError:
                continue
        raise StoreError("could not allocate a unique game id")

    async def start_game(self, game_id: str) -> None:
        """Mark a game active (a resumed game keeps its first start time)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.games)
                .where(t.games.c.id == game_id)
                .values(
                    status="active", started_at=func.coalesce(t.games.c.started_at, int(now_ms()))
                )
            )

    async def commit_move(
        self,
        game_id: str,
        record: MoveRecord,
        *,
        turn_started_at: float,
        received_at: float,
        meta: dict[str, Any] | None,
        finish: tuple[str, int | None, str] | None = None,
        position_key: str | None = None,
    ) -> float:
        """Store a move and the game's new position; return once they are committed.

        ``finish`` is ``(result, winner, reason)`` when the move ended the game.
        ``position_key`` is the key of the position before the move
        (:func:`arena.positions.position_key`), for :meth:`history`.
        Moves of many games that arrive together are written in one
        transaction (:mod:`arena.store.group`); this returns after that
        transaction has committed, with its commit time (wall ms), after which
        the move may be acknowledged and relayed.
        """
        pending = PendingMove(
            game_id=game_id,
            record=record,
            turn_started_at=turn_started_at,
            received_at=received_at,
            meta=meta,
            finish=finish,
            position_key=position_key,
        )
        return await self.group.commit(pending)

    async def commit_moves(self, batch: Sequence[PendingWrite]) -> float:
        """Store moves (of different games), their games' new positions and
        predictions in one transaction; returns its commit time (wall ms)."""
        committed_at = now_ms()
        moves = [m for m in batch if isinstance(m, PendingMove)]
        predictions = [p for p in batch if isinstance(p, PendingPrediction)]
        if self._move_writer is not None:
            await self._move_writer.write(moves, predictions, committed_at)
            return committed_at
        async with self.engine.begin() as conn:
            if self.node_id is not None and moves:
                await self._check_owned(conn, moves)
            for statement, params in _move_statements(moves, committed_at):
                await conn.execute(statement, params)
            if predictions:
                await conn.execute(insert(t.predictions), [p.row() for p in predictions])
        return committed_at

    async def _check_owned(self, conn: AsyncConnection, batch: Sequence[PendingMove]) -> None:
        """Lock the batch's games (a sweep skips locked rows) and check this node still
        owns each; else raise :class:`GameNotOwnedError` for the first one it does not
        (the group committer then writes the others on their own)."""
        ids = sorted({m.game_id for m in batch})
        query = (
            select(t.games.c.id)
            .where(t.games.c.id.in_(ids) & (t.games.c.owner_node == self.node_id))
            .order_by(t.games.c.id)
            .with_for_update()
        )
        owned = set((await conn.execute(query)).scalars())
        for move in batch:
            if move.game_id not in owned:
                raise self._not_owned(move.game_id, f"move {move.record.ply} ({move.record.move})")

    def _owned(self, game_id: str) -> Any:
        """The game's row, if this node still owns it (in a cluster; else just the row)."""
        where = t.games.c.id == game_id
        return where if self.node_id is None else where & (t.games.c.owner_node == self.node_id)

    def _not_owned(self, game_id: str, what: str) -> GameNotOwnedError:
        return GameNotOwnedError(
            f"game {game_id!r} is no longer owned by node {self.node_id} (another node took "
            f"it over, or it was removed); {what} was not stored"
        )

    async def finish_game(
        self,
        game_id: str,
        *,
        result: str,
        winner: int | None,
        reason: str,
        clocks: tuple[int | None, int | None],
    ) -> None:
        """Record the end of a game that did not end with a move (time, resignation, ...)."""
        async with self.engine.begin() as conn:
            updated = await conn.execute(
                update(t.games)
                .where(self._owned(game_id))
                .values(
                    status="finished",
                    result=result,
                    winner=winner,
                    reason=reason,
                    clock0_ms=clocks[0],
                    clock1_ms=clocks[1],
                    finished_at=int(now_ms()),
                )
            )
            if updated.rowcount == 0 and self.node_id is not None:
                raise self._not_owned(game_id, f"its end ({result}, {reason})")

    async def add_prediction(
        self,
        game_id: str,
        *,
        ply: int,
        seat: int,
        moves: Sequence[str],
        probs: Sequence[float] | None,
        received_at: float,
    ) -> None:
        """Store a prediction (group-committed with the moves, :mod:`arena.store.group`)."""
        await self.queue_prediction(
            game_id, ply=ply, seat=seat, moves=moves, probs=probs, received_at=received_at
        )

    def queue_prediction(
        self,
        game_id: str,
        *,
        ply: int,
        seat: int,
        moves: Sequence[str],
        probs: Sequence[float] | None,
        received_at: float,
    ) -> asyncio.Future[float]:
        """Queue a prediction for the next group commit without waiting for it: it
        is stored no later than any move queued after it (the future gives its
        commit time, or the error)."""
        return self.group.submit(
            PendingPrediction(
                game_id=game_id,
                ply=ply,
                seat=seat,
                moves=tuple(moves),
                probs=None if probs is None else tuple(probs),
                received_at=received_at,
            )
        )

    async def get_game(self, game_id: str) -> GameRow | None:
        query = (
            select(*_GAME_COLUMNS)
            .join(_s0, _s0.c.id == t.games.c.seat0_bot_id)
            .join(_s1, _s1.c.id == t.games.c.seat1_bot_id)
            .where(t.games.c.id == game_id)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _game_row(row)

    async def list_games(
        self,
        *,
        limit: int | None = 100,
        status: str | None = None,
        bot: str | None = None,
        tournament_id: str | None = None,
        game: str | None = None,
    ) -> list[GameRow]:
        """Most recent games first (``limit=None``: all of them)."""
        query = (
            select(*_GAME_COLUMNS)
            .join(_s0, _s0.c.id == t.games.c.seat0_bot_id)
            .join(_s1, _s1.c.id == t.games.c.seat1_bot_id)
            .order_by(t.games.c.created_at.desc(), t.games.c.id)
            .limit(limit)
        )
        if status is not None:
            query = query.where(t.games.c.status == status)
        if bot is not None:
            query = query.where((_s0.c.name == bot) | (_s1.c.name == bot))
        if tournament_id is not None:
            query = query.where(t.games.c.tournament_id == tournament_id)
        if game is not None:
            query = query.where(t.games.c.game == game)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_game_row(r) for r in rows]

    async def results_version(self) -> tuple[int, float | None]:
        """Changes whenever a game finishes (in any process): the number of finished
        games and the latest finish time. Cheap (an index on ``status``); caches of
        ratings and leaderboards are keyed by it."""
        query = select(func.count(), func.max(t.games.c.finished_at)).where(
            t.games.c.status == "finished"
        )
        async with self.engine.connect() as conn:
            count, latest = (await conn.execute(query)).one()
        return int(count), None if latest is None else float(latest)

    async def mark_interrupted(self, game_id: str) -> None:
        """Close a game cut off mid-way (kept, result ``*``, reason ``interrupted``)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.games)
                .where((t.games.c.id == game_id) & (t.games.c.status != "finished"))
                .values(
                    status="finished", result="*", reason="interrupted", finished_at=int(now_ms())
                )
            )

    # ------------------------------------------------------------------ tournaments

    async def create_tournament(
        self,
        *,
        name: str,
        format: str,
        game: str,
        config: dict[str, Any],
        runner: str | None = None,
    ) -> str:
        """Store a new tournament (status ``running``); returns its id.

        ``runner="server"`` marks a tournament run by ``arena serve`` itself.
        """
        tournament_id = "t" + new_game_id()
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(t.tournaments).values(
                    id=tournament_id,
                    name=name,
                    format=format,
                    game=game,
                    config=config,
                    status="running",
                    created_at=int(now_ms()),
                    runner=runner,
                    owner_node=self.node_id,
                )
            )
        return tournament_id

    async def get_tournament(self, tournament_id: str) -> TournamentRow | None:
        query = select(t.tournaments).where(t.tournaments.c.id == tournament_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _tournament_row(row)

    async def find_tournament(self, name: str) -> TournamentRow | None:
        """The most recent tournament called ``name``."""
        query = (
            select(t.tournaments)
            .where(t.tournaments.c.name == name)
            .order_by(t.tournaments.c.created_at.desc())
            .limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _tournament_row(row)

    async def list_tournaments(
        self, *, status: str | None = None, runner: str | None = None
    ) -> list[TournamentRow]:
        """Most recent first; optionally only those with this status and runner."""
        query = select(t.tournaments).order_by(t.tournaments.c.created_at.desc())
        if status is not None:
            query = query.where(t.tournaments.c.status == status)
        if runner is not None:
            query = query.where(t.tournaments.c.runner == runner)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_tournament_row(r) for r in rows]

    async def set_tournament_status(self, tournament_id: str, status: str) -> None:
        finished = int(now_ms()) if status == "finished" else None
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.tournaments)
                .where(t.tournaments.c.id == tournament_id)
                .values(status=status, finished_at=finished)
            )

    async def get_moves(self, game_id: str, from_ply: int = 0) -> list[MoveRow]:
        """The game's moves in order (those from ply ``from_ply`` on)."""
        query = (
            select(t.moves)
            .where((t.moves.c.game_id == game_id) & (t.moves.c.ply >= from_ply))
            .order_by(t.moves.c.ply)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_move_row(r) for r in rows]

    async def moves_of(self, game_ids: Sequence[str]) -> dict[str, list[MoveRow]]:
        """The moves of many games at once (in order), by game id."""
        found: dict[str, list[MoveRow]] = {}
        for start in range(0, len(game_ids), 500):
            query = (
                select(t.moves)
                .where(t.moves.c.game_id.in_(game_ids[start : start + 500]))
                .order_by(t.moves.c.game_id, t.moves.c.ply)
            )
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            for r in rows:
                found.setdefault(r.game_id, []).append(_move_row(r))
        return found

    async def predictions_of(self, game_ids: Sequence[str]) -> dict[str, list[PredictionRow]]:
        """The predictions of many games at once (as :meth:`get_predictions`), by game id."""
        found: dict[str, list[PredictionRow]] = {}
        for start in range(0, len(game_ids), 500):
            query = (
                select(t.predictions)
                .where(t.predictions.c.game_id.in_(game_ids[start : start + 500]))
                .order_by(t.predictions.c.game_id, t.predictions.c.ply, t.predictions.c.id)
            )
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            for r in rows:
                found.setdefault(r.game_id, []).append(_prediction_row(r))
        return found

    async def history(
        self, game: str, bot_name: str, key: str, limit: int = 20
    ) -> list[tuple[str, int]]:
        """What ``bot_name`` played in the position ``key`` in stored ``game`` games.

        ``(move, count)`` pairs, most frequent first (ties by move), at most ``limit``.
        """
        seat_bot = case((t.moves.c.seat == 0, t.games.c.seat0_bot_id), else_=t.games.c.seat1_bot_id)
        count = func.count().label("n")
        query = (
            select(t.moves.c.move, count)
            .join(t.games, t.games.c.id == t.moves.c.game_id)
            .join(t.bots, t.bots.c.id == seat_bot)
            .where(
                t.moves.c.position_key == key,
                t.games.c.game == game,
                t.bots.c.name == bot_name,
            )
            .group_by(t.moves.c.move)
            .order_by(count.desc(), t.moves.c.move)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(str(r.move), int(r.n)) for r in rows]

    async def get_predictions(self, game_id: str) -> list[PredictionRow]:
        query = (
            select(t.predictions)
            .where(t.predictions.c.game_id == game_id)
            .order_by(t.predictions.c.ply, t.predictions.c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_prediction_row(r) for r in rows]

    # ------------------------------------------------------------------ access and recovery

    async def principal_by_token(self, token: str) -> TokenRow | None:
        """The principal and scope of a valid (not revoked) token."""
        query = (
            select(t.bots, t.tokens.c.id.label("token_id"), t.tokens.c.scope)
            .join(t.tokens, t.tokens.c.bot_id == t.bots.c.id)
            .where(
                and_(t.tokens.c.token_hash == hash_token(token), t.tokens.c.revoked_at.is_(None))
            )
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        bot = BotRow(row.id, row.name, row.kind, row.spec, row.created_at)
        return TokenRow(id=int(row.token_id), bot=bot, scope=str(row.scope))

    async def revoke_bot_tokens(self, bot_id: int) -> list[int]:
        """Revoke every valid token of a principal; returns their ids."""
        async with self.engine.begin() as conn:
            ids = [
                int(i)
                for i in (
                    await conn.execute(
                        select(t.tokens.c.id).where(
                            (t.tokens.c.bot_id == bot_id) & t.tokens.c.revoked_at.is_(None)
                        )
                    )
                ).scalars()
            ]
            if ids:
                await conn.execute(
                    update(t.tokens).where(t.tokens.c.id.in_(ids)).values(revoked_at=int(now_ms()))
                )
        return ids

    async def revoked_among(self, token_ids: Sequence[int]) -> set[int]:
        """Which of these tokens are revoked (the server polls this for open connections)."""
        if not token_ids:
            return set()
        query = select(t.tokens.c.id).where(
            t.tokens.c.id.in_(list(token_ids)) & t.tokens.c.revoked_at.is_not(None)
        )
        async with self.engine.connect() as conn:
            return {int(i) for i in (await conn.execute(query)).scalars()}

    async def unfinished_games(self, *, bot_id: int | None = None) -> list[GameRow]:
        """Games created or in progress (what a restarted server resumes), oldest first;
        with ``bot_id``, only that bot's."""
        query = (
            select(*_GAME_COLUMNS)
            .join(_s0, _s0.c.id == t.games.c.seat0_bot_id)
            .join(_s1, _s1.c.id == t.games.c.seat1_bot_id)
            .where(t.games.c.status != "finished")
            .order_by(t.games.c.created_at, t.games.c.id)
        )
        if bot_id is not None:
            query = query.where(
                (t.games.c.seat0_bot_id == bot_id) | (t.games.c.seat1_bot_id == bot_id)
            )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_game_row(r) for r in rows]
