"""Runs a tournament: plans its games, plays them over a real embedded server,
and resumes where it stopped.

Every game of a tournament has a *pairing key* (round, seats, opening) stored
with it. Restarted, the runner skips the keys already finished and adopts the
games that were cut off mid-way: the host resumes them from their stored moves
(:meth:`arena.host.Host.recover`), so they go on where they stopped. A game
that cannot be resumed is marked ``interrupted`` (kept, result ``*``, not
rated) and its key is played again; so is a key whose game was aborted. No
game is played twice and none is lost. Swiss rounds are paired from the
results of the rounds before, which are stored, so a resumed Swiss tournament
pairs exactly as it would have.

:meth:`TournamentRunner.run` plays on its own embedded server with built-in
players; :meth:`TournamentRunner.run_on` plays on a running server, where
``external`` players are registered bots that connect by themselves (the
tournaments ``arena serve`` runs, see :mod:`arena.tournament.service`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.serve import RunningServer, running_server
from arena.store import BotRow, GameRow, Store
from arena.tournament.config import TournamentConfig, TournamentConfigError, config_from_dict
from arena.tournament.formats import Bye, Pairing, plan, planned_games
from arena.tournament.openings import Opening, bundled_openings, load_openings, opening_position
from arena.tournament.swiss import swiss_round
from clients.player import SpeculativePlayer
from clients.sdk import BotClient
from games import result_score

__all__ = [
    "Progress",
    "Standing",
    "TournamentFinishedError",
    "TournamentRunner",
    "check_external_players",
    "next_games",
    "standings",
]

log = logging.getLogger(__name__)

NOT_REPLAYED = frozenset({"engine_error"})
"""Reasons of unrated games that are not played again: a player's program failed,
and would most likely fail again (``interrupted`` and ``aborted`` games are
replayed)."""


class TournamentFinishedError(TournamentConfigError):
    """A tournament of this name has finished: running its file again plays nothing."""

    def __init__(self, tournament_id: str, name: str) -> None:
        super().__init__(
            f"tournament {name!r} ({tournament_id}) has finished; its leaderboard is "
            "below. To play it again as a new tournament, pass --again"
        )
        self.tournament_id = tournament_id


@dataclass
class Standing:
    """A player's running total."""

    name: str
    points: float = 0.0
    games: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0
    byes: int = 0


def standings(
    names: Sequence[str], games: Sequence[GameRow], byes: Sequence[Bye] = ()
) -> list[Standing]:
    """Points per player from finished, rated games (and byes, one point each)."""
    table = {name: Standing(name) for name in names}
    for g in games:
        score = result_score(g.result)
        if g.status != "finished" or score is None:
            continue
        points = (score, 1.0 - score)
        for seat, name in enumerate(g.players):
            entry = table.setdefault(name, Standing(name))
            entry.games += 1
            entry.points += points[seat]
            if points[seat] == 1.0:
                entry.wins += 1
            elif points[seat] == 0.5:
                entry.draws += 1
            else:
                entry.losses += 1
    for bye in byes:
        table[bye.player].points += 1.0
        table[bye.player].byes += 1
    return sorted(table.values(), key=lambda s: (-s.points, s.name))


@dataclass(frozen=True)
class Progress:
    """What the runner reports after each game."""

    tournament_id: str
    done: int
    total: int
    last: GameRow | None
    standings: list[Standing]


@dataclass
class TournamentRunner:
    """Plays (or resumes) one tournament over the database ``db``."""

    db: str
    config: TournamentConfig
    on_progress: Callable[[Progress], None] = lambda _p: None
    tournament_id: str | None = None
    again: bool = False
    """Start a new tournament when one of this name has finished (else
    :class:`TournamentFinishedError`)."""
    _byes: list[Bye] = field(default_factory=list)

    async def run(self) -> str:
        """Play every planned game that is not finished yet; returns the tournament id."""
        external = [p.name for p in self.config.players if p.external]
        if external:
            raise TournamentConfigError(
                f"external players ({', '.join(external)}) connect to a running server: "
                "create this tournament on `arena serve` with POST /api/tournaments"
            )
        async with running_server(self.db) as server:
            return await self.run_on(server)

    async def run_on(self, server: RunningServer) -> str:
        """Play (or resume) the tournament on a running server; returns its id.

        Built-in players are run here, as SDK clients of ``server``; external
        players must be registered bots, which connect by themselves.
        """
        store = server.store
        await self._refuse_if_finished(store)  # before any engine is started for nothing
        players = await self._players()  # checked before anything is stored
        try:
            tournament_id = await self._tournament(store)
            self.tournament_id = tournament_id
            await self._recover(server, tournament_id)
            openings = self._openings()
            bots, tokens = await self._register(store)
        except BaseException:
            for player in players.values():
                await player.close()
            raise
        clients = [
            BotClient(players[entry.name], server.ws_url, token, client_name="arena-tournament")
            for entry, token in zip(self.config.players, tokens, strict=True)
            if token is not None
        ]
        try:
            async with asyncio.TaskGroup() as group:
                client_tasks = [group.create_task(c.run()) for c in clients]
                try:
                    await self._play_all(server, tournament_id, bots, openings)
                finally:
                    for task in client_tasks:
                        task.cancel()
        finally:
            for client in clients:
                with contextlib.suppress(Exception):
                    await client.bot.close()
            for token in tokens:
                if token is not None:
                    await store.revoke_token(token)
        await store.set_tournament_status(tournament_id, "finished")
        return tournament_id

    # ------------------------------------------------------------------ set-up

    async def _players(self) -> dict[str, SpeculativePlayer]:
        """The built-in players, built and checked: each starts what it needs (an
        engine with its options, ...) now, so that a player that cannot play
        refuses the tournament before any game is stored, with the cause."""
        built = [p for p in self.config.players if not p.external]
        if not built:
            return {}
        from clients.players import parse_player_spec  # every player kind: import if needed

        capacity = self.config.capacity
        players: dict[str, SpeculativePlayer] = {}
        try:
            for entry in built:
                games = min(
                    self.config.concurrency, capacity[entry.name] or self.config.concurrency
                )
                try:
                    player = parse_player_spec(entry.spec).build(parallel_games=games)
                    players[entry.name] = player
                    await player.check()
                except Exception as exc:  # a missing engine binary, a bad option, ...
                    raise TournamentConfigError(
                        f"player {entry.name!r} ({entry.spec}) cannot play: {exc}"
                    ) from None
        except BaseException:
            for player in players.values():
                await player.close()
            raise
        return players

    async def _refuse_if_finished(self, store: Store) -> None:
        if self.tournament_id is None and not self.again:
            existing = await store.find_tournament(self.config.name)
            if existing is not None and existing.status == "finished":
                raise TournamentFinishedError(existing.id, self.config.name)

    async def _tournament(self, store: Store) -> str:
        if self.tournament_id is not None:
            row = await store.get_tournament(self.tournament_id)
            if row is None:
                raise TournamentConfigError(f"no tournament {self.tournament_id!r}")
            self.config = config_from_dict(row.config, source=f"tournament {row.id}")
            return row.id
        existing = await store.find_tournament(self.config.name)
        if existing is not None and existing.status == "finished" and not self.again:
            raise TournamentFinishedError(existing.id, self.config.name)
        if existing is not None and existing.status != "finished":
            stored = config_from_dict(existing.config, source=f"tournament {existing.id}")
            if stored != self.config:
                raise TournamentConfigError(
                    f"tournament {self.config.name!r} ({existing.id}) is unfinished and was "
                    "started with a different configuration; give this one another name"
                )
            log.info("resuming tournament %s (%s)", existing.id, self.config.name)
            return existing.id
        return await store.create_tournament(
            name=self.config.name,
            format=self.config.format,
            game=self.config.game,
            config=self.config.to_dict(),
        )

    async def _recover(self, server: RunningServer, tournament_id: str) -> None:
        """Host the tournament's unfinished games again (or, in a cluster, those whose
        node is gone: the games of a live node stay with it and are waited for)."""
        store = server.store
        unfinished = [
            g.id
            for g in await store.list_games(limit=None, tournament_id=tournament_id)
            if g.status != "finished"
        ]
        if server.cluster is not None:
            # Through the cluster's own takeover, never from a live node; a game that
            # cannot be rebuilt there is closed as interrupted.
            await server.cluster.take_over(unfinished)
            return
        await server.host.recover(lambda row: row.tournament_id == tournament_id)
        for game_id in unfinished:
            if game_id not in server.host.games:
                await store.mark_interrupted(game_id)
                log.info("game %s cannot be resumed; it will be replayed", game_id)

    def _openings(self) -> list[Opening]:
        source = self.config.openings
        if source == "none":
            return []
        return bundled_openings() if source == "bundled" else load_openings(source)

    async def _register(self, store: Store) -> tuple[list[BotRow], list[str | None]]:
        """The players' bots, and a fresh token for each built-in one (``None``: external)."""
        await check_external_players(store, self.config)
        bots: list[BotRow] = []
        tokens: list[str | None] = []
        for player in self.config.players:
            if player.external:
                bot = await store.bot_by_name(player.name)
                assert bot is not None
                bots.append(bot)
                tokens.append(None)
            else:
                bot = await store.ensure_bot(player.name, "builtin", player.spec)
                bots.append(bot)
                tokens.append(await store.issue_token(bot.id))
        return bots, tokens

    # ------------------------------------------------------------------ playing

    async def _play_all(
        self,
        server: RunningServer,
        tournament_id: str,
        bots: list[BotRow],
        openings: list[Opening],
    ) -> None:
        count = min(self.config.opening_pairs, len(openings)) if openings else None
        book = len(openings) if openings else None
        by_name = {bot.name: bot for bot in bots}
        names = self.config.player_names
        if self.config.format != "swiss":
            planned = plan(
                self.config.format,
                names,
                cycles=self.config.cycles,
                openings=count,
                book_size=book,
                hero=self.config.hero,
            )
            await self._play(server, tournament_id, planned, by_name, openings, len(planned))
            return
        assert self.config.rounds is not None
        total = planned_games("swiss", names, openings=count, rounds=self.config.rounds)
        self._byes = []
        for round_no in range(1, self.config.rounds + 1):
            games = await server.store.list_games(limit=None, tournament_id=tournament_id)
            played = sorted(
                (
                    g
                    for g in games
                    if result_score(g.result) is not None and (g.round or 0) < round_no
                ),
                key=lambda g: (g.round or 0, g.pairing_key or ""),
            )  # in playing order: colour allocation looks at each player's last game
            results = [(g.players[0], g.players[1], result_score(g.result) or 0.0) for g in played]
            pairings, byes = swiss_round(
                self.config.player_names,
                results,
                round_no,
                openings=count,
                book_size=book,
                byes=self._byes,
            )
            self._byes.extend(byes)
            await self._play(server, tournament_id, pairings, by_name, openings, total)

    async def _play(
        self,
        server: RunningServer,
        tournament_id: str,
        plan: list[Pairing],
        bots: dict[str, BotRow],
        openings: list[Opening],
        total: int,
    ) -> None:
        store = server.store
        finished = {
            g.pairing_key
            for g in await store.list_games(limit=None, tournament_id=tournament_id)
            if g.status == "finished"
            and (result_score(g.result) is not None or g.reason in NOT_REPLAYED)
        }
        todo = [p for p in plan if p.key not in finished]
        done = len(finished)
        control = TimeControl.parse(self.config.time_control)
        clustered = server.cluster is not None
        adopted = {  # games cut off by a restart, resumed by the host (or another node)
            g.pairing_key: g.id
            for g in await store.list_games(limit=None, tournament_id=tournament_id)
            if g.status != "finished" and (clustered or g.id in server.host.games) and g.pairing_key
        }

        async def play_one(pairing: Pairing) -> None:
            nonlocal done
            game_id = adopted.pop(pairing.key, None)
            if game_id is None:
                opening = (
                    openings[pairing.opening_index] if pairing.opening_index is not None else None
                )
                game_id = await server.host.create_game(
                    self.config.game,
                    (bots[pairing.white], bots[pairing.black]),
                    MatchConfig(time_control=control, max_plies=self.config.max_plies),
                    initial_state=opening_position(self.config.game, opening),
                    tournament_id=tournament_id,
                    opening=None if opening is None else opening.name,
                    round_no=pairing.round,
                    pairing_key=pairing.key,
                )
            else:
                log.info("game %s (%s) resumed", game_id, pairing.key)
            await server.host.wait_finished(game_id)
            done += 1
            count = done  # games finishing together each get their own count
            row = await store.get_game(game_id)
            games = await store.list_games(limit=None, tournament_id=tournament_id)
            self.on_progress(
                Progress(
                    tournament_id,
                    count,
                    total,
                    row,
                    standings(self.config.player_names, games, self._byes),
                )
            )

        self.on_progress(
            Progress(
                tournament_id,
                done,
                total,
                None,
                standings(
                    self.config.player_names,
                    await store.list_games(limit=None, tournament_id=tournament_id),
                    self._byes,
                ),
            )
        )
        running: dict[asyncio.Task[None], Pairing] = {}
        async with asyncio.TaskGroup() as group:
            for pairing in [p for p in todo if p.key in adopted]:  # already under way
                todo.remove(pairing)
                running[group.create_task(play_one(pairing))] = pairing
            while todo or running:
                for pairing in next_games(
                    todo, running.values(), self.config.concurrency, self.config.capacity
                ):
                    todo.remove(pairing)
                    running[group.create_task(play_one(pairing))] = pairing
                finished_now, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in finished_now:
                    del running[task]


async def check_external_players(store: Store, config: TournamentConfig) -> None:
    """Every external player of ``config`` must be a registered bot (not a built-in)."""
    for player in config.players:
        if not player.external:
            continue
        bot = await store.bot_by_name(player.name)
        if bot is None or bot.kind != "external":
            raise TournamentConfigError(
                f"external player {player.name!r} is not a registered bot; "
                "register it first (arena bot add, or POST /api/bots)"
            )


def next_games(
    pending: Sequence[Pairing],
    running: Iterable[Pairing],
    concurrency: int,
    capacity: Mapping[str, int | None] | None = None,
) -> list[Pairing]:
    """Games to start now: in plan order, up to ``concurrency`` at once, and only
    games whose players have room for one more: ``capacity[name]`` games at once
    (``None`` or absent: as many as ``concurrency`` allows; an engine player
    searches each game on an engine process of its own, an LLM endpoint serves
    calls side by side, but a one-slot local model holds one game). When
    nothing runs, the first pending game starts whatever its players."""
    running = list(running)
    limits = capacity or {}
    busy: dict[str, int] = {}
    for p in running:
        for name in (p.white, p.black):
            busy[name] = busy.get(name, 0) + 1

    def has_room(name: str) -> bool:
        limit = limits.get(name)
        return limit is None or busy.get(name, 0) < limit

    # Busiest first: players who can hold only a few games at once set the
    # tournament's critical path, so the pairings that hold most of that path
    # start first and the others fill the free slots. Plan order breaks ties.
    load: dict[str, int] = {}
    for p in pending:
        for name in (p.white, p.black):
            load[name] = load.get(name, 0) + 1

    def pressure(p: Pairing) -> float:
        def one(name: str) -> float:
            limit = limits.get(name)
            return 0.0 if limit is None else load[name] / limit

        return one(p.white) + one(p.black)

    chosen: list[Pairing] = []
    for pairing in sorted(pending, key=pressure, reverse=True):
        if len(running) + len(chosen) >= concurrency:
            break
        if not (has_room(pairing.white) and has_room(pairing.black)):
            continue
        chosen.append(pairing)
        for name in (pairing.white, pairing.black):
            busy[name] = busy.get(name, 0) + 1
    if not chosen and not running and pending:
        chosen.append(pending[0])
    return chosen
