"""One ``arena serve`` process as a node of a cluster sharing a PostgreSQL database.

Ownership: the node that creates a game (or takes it over from a node that is
gone) *owns* it: it alone runs the game's :class:`~arena.match.Match`, measures
its clocks and commits its moves. The owner's id is stored with the game.

Liveness: each node holds a session-level advisory lock on its id on one
dedicated connection, which also ``LISTEN``s. When the process dies, PostgreSQL
ends the session and the lock is free; a sweep (every ``sweep_s``, at start-up,
and before a bot is caught up) by any other node can then take the lock for one
transaction, and takes over the dead node's unfinished games (they come back
paused, as after a restart) and its running tournaments. A live node's games
are never taken.

Relay, through ``NOTIFY`` (payloads of a few bytes; anything longer than
PostgreSQL's 8000-byte limit travels as a row of ``cluster_mail``):

- ``arena_events``: the owner announces that a game started or has a new stored
  event; nodes with players or spectators of it read the news from the store
  (:class:`~arena.cluster.mirror.Mirror`).
- ``arena_presence``: a bot connected to or left a node; owners count a bot
  connected anywhere as present (games start, resume, grace periods). A sweep
  that finds nodes gone says so on the same channel, and every node forgets
  the bots of those nodes.
- ``arena_node_<id>``: messages to one node: a bot's ``move``, ``predict`` or
  ``resign`` for a game that node owns, the owner's ``error`` replies to it, and
  "your bot's seek was taken".

Every outgoing notification goes through one queue on the dedicated
connection, so they leave in the order they were made. The same queue pings
the connection every ``ping_s``: a connection that does not answer within
``ping_s`` (a half-open TCP connection, say) counts as lost, like a session
PostgreSQL ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Collection, Coroutine
from typing import Any, Literal

import asyncpg
from sqlalchemy import delete

from arena.cluster import queries
from arena.cluster.mirror import Mirror
from arena.host import Host, HostedGame, Peer, PendingSeek
from arena.protocol import Move, Predict, Resign, ResumedGame, dump, parse_client_message
from arena.store import BotRow, Store, now_ms
from arena.store import db as store_db
from arena.store import schema as t

__all__ = ["EVENTS", "NOTIFY_LIMIT", "PRESENCE", "Cluster", "RemotePeer"]

log = logging.getLogger(__name__)

EVENTS = "arena_events"
PRESENCE = queries.PRESENCE
NOTIFY_LIMIT = 7000
"""Longest payload sent inline (PostgreSQL allows 8000 bytes); longer ones go by mail."""

KEEPALIVES = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}
"""TCP keepalives of the node's session on the server's side: when a node's machine
vanishes from the network, PostgreSQL ends its session (freeing its lock, so others take
its games over) once these probes go unanswered (10 s idle, then 3 probes 5 s apart),
not after the system's default of hours. Not measured; the node's own side is watched
by pinging (``ping_s``)."""

Op = Callable[[asyncpg.Connection], Awaitable[None]]


def node_channel(node_id: int) -> str:
    """The channel of messages to one node."""
    return f"arena_node_{node_id}"


class RemotePeer:
    """A bot connected to another node, as the owner of its game sees it: what the
    host sends it (errors) goes back through that node."""

    def __init__(self, bot: BotRow, node_id: int, cluster: Cluster) -> None:
        self.bot: BotRow | None = bot
        self.node_id = node_id
        self._cluster = cluster

    def send(self, *texts: str) -> None:
        assert self.bot is not None
        for text in texts:
            self._cluster.tell(self.node_id, {"t": "reply", "bot": self.bot.id, "frame": text})

    def close(self, code: int, reason: str) -> None:
        """Nothing: the connection belongs to the other node."""


class Cluster:
    """This process's part in a cluster; implements :class:`arena.host.ClusterHooks`."""

    def __init__(
        self,
        store: Store,
        host: Host,
        *,
        adopt: bool,
        sweep_s: float = 1.0,
        ping_s: float = 10.0,
    ) -> None:
        self.store = store
        self.host = host
        self.adopt = adopt
        """Whether this node takes over the games of nodes that are gone."""
        self.sweep_s = sweep_s
        self.ping_s = ping_s
        """How often the dedicated connection is pinged, and how long it may take to answer."""
        self.node_id = 0
        self.lost = asyncio.Event()
        """Set when the node's own database session ends: it no longer owns anything."""
        self.tournaments: list[str] = []
        """Server-run tournaments this node took over (to resume)."""
        self._conn: asyncpg.Connection | None = None
        self._outbox: asyncio.Queue[Op] = asyncio.Queue()
        self._inbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._remote: dict[int, set[int]] = {}
        """Nodes each bot is connected to, besides this one."""
        self._mirrors: dict[str, Mirror] = {}
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._owned: set[asyncio.Task[None]] = set()
        """Short tasks (relayed messages, mirror workers), cancelled by :meth:`close`."""
        self._waiters: dict[str, set[asyncio.Event]] = {}
        """Events set when a game hosted elsewhere may have changed (:meth:`wait_finished`)."""
        self._sweep_lock = asyncio.Lock()
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def start(
        cls,
        store: Store,
        host: Host,
        *,
        adopt: bool = True,
        sweep_s: float = 1.0,
        ping_s: float = 10.0,
    ) -> Cluster:
        """Register this process as a node, take its lock, listen; with ``adopt``,
        take over what nodes that are gone left (before connections are accepted).

        Raises :class:`~arena.store.StoreError` naming the database (password
        redacted) if PostgreSQL cannot be reached within
        :data:`~arena.store.db.CONNECT_TIMEOUT_S`.
        If anything fails, what was started is stopped again.
        """
        self = cls(store, host, adopt=adopt, sweep_s=sweep_s, ping_s=ping_s)
        url = store.engine.url.set(drivername="postgresql")
        try:
            self._conn = await asyncpg.connect(
                url.render_as_string(hide_password=False),
                timeout=store_db.CONNECT_TIMEOUT_S,
                server_settings=KEEPALIVES,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise store_db.connection_error(
                url.render_as_string(hide_password=False), exc
            ) from None
        try:
            await self._join()
        except BaseException:
            self._closing = True
            await self._stop_tasks()
            if not self._conn.is_closed():
                self._conn.terminate()
            host.cluster = None
            store.node_id = None
            raise
        return self

    async def _join(self) -> None:
        conn, store, host = self._conn, self.store, self.host
        assert conn is not None
        name = f"{socket.gethostname()}:{os.getpid()}"[:200]
        async with conn.transaction():  # visible to others only once the lock is held
            node_id = await conn.fetchval(
                "INSERT INTO nodes (name, started_at) VALUES ($1, $2) RETURNING id",
                name,
                int(now_ms()),
            )
            await conn.execute("SELECT pg_advisory_lock($1, $2)", queries.NODE_LOCK_CLASS, node_id)
        self.node_id = int(node_id)
        store.node_id = self.node_id
        for channel in (EVENTS, PRESENCE, node_channel(self.node_id)):
            await conn.add_listener(channel, self._on_notify)
        conn.add_termination_listener(self._on_terminated)
        # Who is connected elsewhere, read after LISTEN and before the dispatcher
        # runs (news queued meanwhile apply on top), and before the first sweep: the
        # games taken over at start-up must see their bots connected to other nodes.
        for bot_id, node in await queries.live_presence(store.engine, self.node_id):
            self._remote.setdefault(bot_id, set()).add(node)
        host.cluster = self
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._publisher()),
            loop.create_task(self._dispatcher()),
            loop.create_task(self._pinger()),
        ]
        if self.adopt:
            await self.sweep(tournaments=True)
            self._tasks.append(loop.create_task(self._sweeper()))
        log.info("cluster node %d (%s) on %s", self.node_id, name, store.url)

    async def close(self) -> None:
        """Stop relaying and leave the cluster: the node's presence and seeks are
        removed, and its lock is released (others take over its unfinished games)."""
        self._closing = True
        if self._sweep_lock.locked():  # let a sweep in progress finish adopting
            async with self._sweep_lock:
                pass
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self._outbox.join()
        await self._stop_tasks()
        conn = self._conn
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.execute("DELETE FROM presence WHERE node_id = $1", self.node_id)
                await conn.execute("DELETE FROM seeks WHERE node_id = $1", self.node_id)
            await conn.close()
        self.host.cluster = None

    async def _stop_tasks(self) -> None:
        tasks = [*self._tasks, *self._owned]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._owned.clear()
        self._chains.clear()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A short task owned by the node (cancelled by :meth:`close`)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._owned.add(task)
        task.add_done_callback(self._owned.discard)
        return task

    def _on_terminated(self, _conn: Any) -> None:
        if not self._closing:
            log.critical(
                "cluster node %d lost its database session: it no longer owns its games",
                self.node_id,
            )
            self.lost.set()

    async def _pinger(self) -> None:
        """Ping the dedicated connection: a half-open one is noticed within ``2 * ping_s``."""
        while True:
            await asyncio.sleep(self.ping_s)
            answered = asyncio.Event()

            async def ping(conn: asyncpg.Connection, answered: asyncio.Event = answered) -> None:
                await conn.fetchval("SELECT 1")
                answered.set()

            self._enqueue(ping)
            try:
                async with asyncio.timeout(self.ping_s):
                    await answered.wait()
            except TimeoutError:
                log.critical(
                    "cluster node %d: its database connection did not answer within %.1f s; "
                    "it no longer owns its games",
                    self.node_id,
                    self.ping_s,
                )
                self.lost.set()
                conn = self._conn
                if conn is not None and not conn.is_closed():
                    self._closing = True  # the termination is ours, already reported
                    conn.terminate()
                return

    # ------------------------------------------------------------------ the outbox

    def _enqueue(self, op: Op) -> None:
        self._outbox.put_nowait(op)

    async def _publisher(self) -> None:
        while True:
            op = await self._outbox.get()
            try:
                assert self._conn is not None
                await op(self._conn)
            except Exception:
                log.exception("cluster node %d could not publish", self.node_id)
            finally:
                self._outbox.task_done()

    def _notify(self, channel: str, body: dict[str, Any], to_node: int | None = None) -> None:
        payload = json.dumps(body, separators=(",", ":"))

        async def op(conn: asyncpg.Connection) -> None:
            if len(payload.encode()) <= NOTIFY_LIMIT or to_node is None:
                await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
                return
            async with conn.transaction():
                mail = await conn.fetchval(
                    "INSERT INTO cluster_mail (node_id, body, created_at) "
                    "VALUES ($1, $2, $3) RETURNING id",
                    to_node,
                    payload,
                    int(now_ms()),
                )
                await conn.execute("SELECT pg_notify($1, $2)", channel, json.dumps({"mail": mail}))

        self._enqueue(op)

    def tell(self, node_id: int, body: dict[str, Any]) -> None:
        """Send ``body`` to one node (inline, or as mail if it is long)."""
        self._notify(node_channel(node_id), body, to_node=node_id)

    # ------------------------------------------------------------------ the inbox

    def _on_notify(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self._inbox.put_nowait((channel, payload))

    async def _dispatcher(self) -> None:
        while True:
            channel, payload = await self._inbox.get()
            try:
                data = json.loads(payload)
                if channel == EVENTS:
                    self._wake(str(data["g"]))
                    self._on_event(data)
                elif channel == PRESENCE:
                    await self._on_presence(data)
                else:
                    if "mail" in data:
                        data = await self._fetch_mail(int(data["mail"]))
                        if data is None:
                            continue
                    await self._on_message(data)
            except Exception:
                log.exception("cluster node %d could not act on %s", self.node_id, channel)

    async def _fetch_mail(self, mail_id: int) -> dict[str, Any] | None:
        async with self.store.engine.begin() as conn:
            body = (
                await conn.execute(
                    delete(t.cluster_mail)
                    .where(t.cluster_mail.c.id == mail_id)
                    .returning(t.cluster_mail.c.body)
                )
            ).scalar()
        return None if body is None else dict(json.loads(body))

    def _on_event(self, data: dict[str, Any]) -> None:
        if data.get("n") == self.node_id:
            return
        game_id = str(data["g"])
        mirror = self._mirrors.get(game_id)
        if mirror is None:
            if data["k"] != "start" or game_id in self.host.games:
                return
            if not any(b in self.host.peers for b in data.get("b", [])):
                return
            mirror = self._mirror(game_id)
        mirror.push(str(data["k"]))

    async def _on_presence(self, data: dict[str, Any]) -> None:
        if "dead" in data:
            await self._forget_nodes({int(n) for n in data["dead"]})
            return
        node, bot_id = int(data["n"]), int(data["b"])
        if node == self.node_id:
            return
        nodes = self._remote.setdefault(bot_id, set())
        if data["on"]:
            nodes.add(node)
        else:
            nodes.discard(node)
        if not nodes:
            del self._remote[bot_id]
        await self.host.presence_changed(bot_id)

    async def _forget_nodes(self, dead: set[int]) -> None:
        """Nodes that are gone: their bots are connected there no more."""
        dead.discard(self.node_id)
        affected = [b for b, nodes in self._remote.items() if nodes & dead]
        for bot_id in affected:
            nodes = self._remote[bot_id]
            nodes.difference_update(dead)
            if not nodes:
                del self._remote[bot_id]
        for bot_id in affected:
            await self.host.presence_changed(bot_id)

    async def _on_message(self, data: dict[str, Any]) -> None:
        kind = data["t"]
        if kind == "reply":
            peer = self.host.peers.get(int(data["bot"]))
            if peer is not None:
                peer.send(str(data["frame"]))
        elif kind == "seek_taken":
            self.host.seek_taken(int(data["bot"]))
        elif kind == "msg":
            bot = await self._bot(str(data["game"]), int(data["bot"]), str(data["name"]))
            if bot is None:
                return
            peer = RemotePeer(bot, int(data["from"]), self)
            msg = parse_client_message(str(data["raw"]))
            assert isinstance(msg, Move | Predict | Resign)
            self._chain(msg.game_id, self.host.handle(peer, msg))

    async def _bot(self, game_id: str, bot_id: int, name: str) -> BotRow | None:
        hosted = self.host.games.get(game_id)
        if hosted is not None:
            seat = hosted.seat_of(bot_id)
            if seat is not None:
                return hosted.bots[seat]
        return await self.store.bot_by_name(name)

    def _chain(self, key: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` after the previous one for the same game (messages in order)."""
        previous = self._chains.get(key)

        async def run() -> None:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            try:
                await coro
            except Exception:
                log.exception(
                    "cluster node %d: a relayed message of game %s failed", self.node_id, key
                )

        task = self._spawn(run())
        self._chains[key] = task

        def done(_task: asyncio.Task[None]) -> None:
            if self._chains.get(key) is task:
                del self._chains[key]

        task.add_done_callback(done)

    # ------------------------------------------------------------------ taking over

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("cluster node %d: sweep failed", self.node_id)

    async def sweep(self, *, tournaments: bool = False) -> None:
        """Take over the games of nodes that are gone; forget those nodes' bots. With
        ``tournaments`` (at start-up, before the server resumes its tournaments), take
        their running tournaments too."""
        if not self.adopt or self._closing:
            return
        async with self._sweep_lock:
            found = await queries.sweep(self.store.engine, self.node_id, tournaments=tournaments)
            await self._swept(found)

    async def take_over(self, game_ids: Collection[str]) -> None:
        """Take over those of these games that no live node owns (their owner is gone),
        as a sweep does, whether or not this node adopts in general: never a live
        node's game. Those taken are hosted here when this returns."""
        if self._closing or not game_ids:
            return
        async with self._sweep_lock:
            found = await queries.sweep(self.store.engine, self.node_id, only=game_ids)
            await self._swept(found)

    async def _swept(self, found: queries.Sweep) -> None:
        if found.dead_nodes:
            log.info("cluster node %d: nodes %s are gone", self.node_id, found.dead_nodes)
            await self._forget_nodes(set(found.dead_nodes))
        self.tournaments.extend(found.tournaments)
        if found.games:
            await self._adopt(set(found.games))
        for bot_id in found.absent_bots:
            await self.host.presence_changed(bot_id)

    async def wait_finished(self, game_id: str) -> None:
        """Return once a game hosted by any node has finished (read from the store when
        its owner announces news; every ``5 * sweep_s`` too, should news be lost)."""
        while True:
            if game_id in self.host.games:
                await self.host.wait_finished(game_id)
                return
            waiter = asyncio.Event()
            self._waiters.setdefault(game_id, set()).add(waiter)
            try:
                row = await self.store.get_game(game_id)
                if row is None or row.status == "finished":
                    return
                if game_id in self.host.games:
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5 * self.sweep_s):
                        await waiter.wait()
            finally:
                waiters = self._waiters.get(game_id, set())
                waiters.discard(waiter)
                if not waiters:
                    self._waiters.pop(game_id, None)

    def _wake(self, game_id: str) -> None:
        for waiter in self._waiters.get(game_id, ()):
            waiter.set()

    async def _adopt(self, ids: set[str]) -> None:
        brought = await self.host.recover(include=lambda row: row.id in ids)
        log.info("cluster node %d took over %d game(s)", self.node_id, len(brought))
        for game_id in brought:
            hosted = self.host.games.get(game_id)
            mirror = self._mirrors.pop(game_id, None)
            if hosted is not None and mirror is not None:
                async with mirror.lock:  # its followers get what they missed, then the host's
                    await mirror.advance()
                    hosted.watchers |= mirror.watchers
        for game_id in brought:
            self._wake(game_id)
            hosted = self.host.games.get(game_id)
            if hosted is not None:
                for bot in hosted.bots:
                    await self.host.presence_changed(bot.id)

    # ------------------------------------------------------------------ ClusterHooks

    def published(self, hosted: HostedGame, kind: Literal["start", "event"]) -> None:
        """Tell the other nodes (never blocks)."""
        body: dict[str, Any] = {"g": hosted.id, "k": kind, "n": self.node_id}
        if kind == "start":
            body["b"] = [bot.id for bot in hosted.bots]
        self._notify(EVENTS, body)

    def present_elsewhere(self, bot_id: int) -> bool:
        return bot_id in self._remote

    async def connected(self, peer: Peer, resume: dict[str, int]) -> list[ResumedGame]:
        assert peer.bot is not None
        bot = peer.bot
        self._presence(bot.id, on=True)
        entries = []
        for row in await queries.remote_games_of(self.store, bot.id, self.node_id):
            if row.id in self.host.games:
                continue
            mirror = self._mirrors.get(row.id) or self._mirror(row.id)
            seat = row.seat_bot_ids.index(bot.id)
            mode = await mirror.attach(peer, seat, resume.get(row.id))
            if mode is not None:
                entries.append(
                    ResumedGame(
                        game_id=row.id,
                        seq=mirror.seq,
                        status="active",
                        mode=mode,
                        seat=seat,
                        game=row.game,
                        players=row.players,
                        initial_state=row.initial_state,
                    )
                )
        return entries

    def disconnected(self, peer: Peer) -> None:
        for game_id, mirror in list(self._mirrors.items()):
            mirror.watchers.discard(peer)
            if not mirror.interested():
                self._mirrors.pop(game_id, None)
        if peer.bot is not None and peer.bot.id not in self.host.peers:
            self._presence(peer.bot.id, on=False)

    def _presence(self, bot_id: int, *, on: bool) -> None:
        me = self.node_id

        async def op(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                if on:
                    await conn.execute(
                        "INSERT INTO presence (bot_id, node_id, since) VALUES ($1, $2, $3) "
                        "ON CONFLICT (bot_id, node_id) DO NOTHING",
                        bot_id,
                        me,
                        int(now_ms()),
                    )
                else:
                    await conn.execute(
                        "DELETE FROM presence WHERE bot_id = $1 AND node_id = $2", bot_id, me
                    )
                body = json.dumps({"b": bot_id, "n": me, "on": on})
                await conn.execute("SELECT pg_notify($1, $2)", PRESENCE, body)

        self._enqueue(op)

    @property
    def session_alive(self) -> bool:
        """Whether the dedicated session lives (what this node tells other nodes and
        hears from them goes through it)."""
        conn = self._conn
        return not self.lost.is_set() and conn is not None and not conn.is_closed()

    def disowned(self, hosted: HostedGame) -> None:
        """Relay a game taken over by another node to the connections here that
        followed it, from the event they last got (nothing to relay with once this
        node's session is gone: the server then stops and its bots reconnect)."""
        if not self.session_alive:
            return
        mirror = self._mirrors.get(hosted.id) or self._mirror(hosted.id)
        mirror.seq = hosted.seq
        for seat, bot in enumerate(hosted.bots):
            peer = self.host.peers.get(bot.id)
            if peer is not None:
                mirror.seated[seat] = peer
        mirror.watchers |= hosted.watchers
        mirror.push("event")  # anything the new owner stored meanwhile

    async def forward(self, peer: Peer, msg: Move | Predict | Resign) -> bool:
        assert peer.bot is not None
        if not self.session_alive:
            return False  # the message would be dropped, and so would the owner's answer
        for _ in range(2):
            owner = await queries.owner_of(self.store.engine, msg.game_id)
            if owner is None or owner.node_id == self.node_id:
                return False
            if not owner.gone:
                assert owner.node_id is not None
                body = {
                    "t": "msg",
                    "bot": peer.bot.id,
                    "name": peer.bot.name,
                    "from": self.node_id,
                    "game": msg.game_id,
                    "raw": dump(msg),
                }
                self.tell(owner.node_id, body)
                return True
            await self.sweep()  # the owner is gone: take the game over, or find who did
            if msg.game_id in self.host.games:
                return False
        return False

    async def watch(self, peer: Peer, game_id: str, since: int | None) -> bool:
        owner = await queries.owner_of(self.store.engine, game_id)
        if owner is None or owner.node_id == self.node_id:
            return False
        mirror = self._mirrors.get(game_id) or self._mirror(game_id)
        if await mirror.attach(peer, None, since) is None:
            self._drop_if_idle(mirror)
            return False
        return True

    async def match_seek(self, seek: PendingSeek) -> BotRow | None:
        spec = queries.SeekSpec(
            ref=seek.id,
            bot=seek.bot,
            game=seek.game,
            time_control=str(seek.time_control),
            max_plies=seek.max_plies,
            opponent=seek.opponent,
        )
        taken = await queries.take_seek(self.store.engine, self.node_id, spec)
        if taken is None:
            return None
        bot, node = taken
        if node != self.node_id:
            self.tell(node, {"t": "seek_taken", "bot": bot.id})
        return bot

    def seek_dropped(self, seek: PendingSeek) -> None:
        me, bot_id, ref = self.node_id, seek.bot.id, seek.id

        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "DELETE FROM seeks WHERE bot_id = $1 AND node_id = $2 AND ref = $3",
                bot_id,
                me,
                ref,
            )

        self._enqueue(op)

    # ------------------------------------------------------------------ mirrors

    def _mirror(self, game_id: str) -> Mirror:
        mirror = Mirror(game_id, self.host, self._drop, self._spawn)
        self._mirrors[game_id] = mirror
        return mirror

    def _drop(self, mirror: Mirror) -> None:
        if self._mirrors.get(mirror.game_id) is mirror:
            del self._mirrors[mirror.game_id]

    def _drop_if_idle(self, mirror: Mirror) -> None:
        if not mirror.interested():
            self._drop(mirror)
