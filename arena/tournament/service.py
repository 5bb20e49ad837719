"""Tournaments run by ``arena serve``: created over the admin API, resumed after a restart.

``POST /api/tournaments`` hands a configuration (the tournament file's keys, as
JSON) to :meth:`TournamentService.create`, which checks it, stores the
tournament with ``runner = "server"`` and plays it on the server's own host in
the background. Its players are registered bots that connect by themselves
(``kind = "external"``) or built-in players the server runs as SDK clients.
When the server starts, every such tournament still ``running`` is picked up
again, with its games resumed where they stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from arena.serve import RunningServer
from arena.specpolicy import SpecPolicy
from arena.store import Store

if TYPE_CHECKING:
    from arena.tournament.config import TournamentConfig

# The configuration and the runner import every player kind (LLM clients, engines):
# they are imported when a tournament is created or resumed, not at server start.

__all__ = ["RUNNER", "TournamentService"]

log = logging.getLogger(__name__)

RUNNER = "server"
"""The ``tournaments.runner`` of the tournaments a server runs."""
MAX_API_CONCURRENCY = 16
"""Most games a tournament created over the API plays at once."""
MAX_API_CYCLES = 100
"""Most cycles (round-robin repetitions) of a tournament created over the API."""


class TournamentService:
    """Runs the server's tournaments, one background task each."""

    def __init__(self, store: Store, policy: SpecPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or SpecPolicy()
        """What the players of a tournament created over the API may name."""
        self._server: RunningServer | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self, server: RunningServer) -> list[str]:
        """Serve ``server`` and resume its unfinished tournaments; their ids."""
        self._server = server
        rows = await self.store.list_tournaments(status="running", runner=RUNNER)
        if server.cluster is not None:  # only those this node took over from a node gone
            rows = [r for r in rows if r.id in server.cluster.tournaments]
        for row in reversed(rows):  # oldest first
            log.info("resuming tournament %s (%s)", row.id, row.name)
            self._launch(row.id)
        return [row.id for row in rows]

    async def create(self, data: dict[str, Any]) -> str:
        """Check a configuration, store the tournament and start it; its id.

        Raises :class:`~arena.tournament.config.TournamentConfigError` (a
        ``ValueError``) saying what is wrong.
        """
        from arena.tournament.config import TournamentConfigError, config_from_dict
        from arena.tournament.runner import check_external_players

        if self._server is None:
            raise TournamentConfigError("the server is not running tournaments yet")
        config = config_from_dict(data, source="tournament")
        config = self._within_policy(config)
        await check_external_players(self.store, config)
        existing = await self.store.find_tournament(config.name)
        if existing is not None and existing.status != "finished":
            raise TournamentConfigError(
                f"tournament {config.name!r} ({existing.id}) is still running; "
                "give this one another name"
            )
        tournament_id = await self.store.create_tournament(
            name=config.name,
            format=config.format,
            game=config.game,
            config=config.to_dict(),
            runner=RUNNER,
        )
        self._launch(tournament_id)
        return tournament_id

    def _within_policy(self, config: TournamentConfig) -> TournamentConfig:
        """``config`` with each built-in player's spec checked against the policy
        (engine names resolved to their paths); ``TournamentConfigError`` if one is refused."""
        from arena.match import MAX_PLIES
        from arena.names import check_name
        from arena.tournament.config import TournamentConfigError
        from clients.players import PlayerSpecError

        if config.openings not in ("bundled", "none"):
            raise TournamentConfigError(
                "openings over the API must be 'bundled' or 'none' (a file on the server "
                "is for 'arena tournament run')"
            )
        if config.max_plies is not None and config.max_plies > MAX_PLIES:
            raise TournamentConfigError(f"max_plies must be at most {MAX_PLIES}")
        if not 1 <= config.concurrency <= MAX_API_CONCURRENCY:
            raise TournamentConfigError(f"concurrency must be 1-{MAX_API_CONCURRENCY}")
        if not 1 <= config.cycles <= MAX_API_CYCLES:
            raise TournamentConfigError(f"cycles must be 1-{MAX_API_CYCLES}")
        players = []
        for entry in config.players:
            try:
                check_name(entry.name)
            except ValueError as exc:
                raise TournamentConfigError(f"player {entry.name[:64]!r}: {exc}") from None
            if entry.external:
                players.append(entry)
                continue
            try:
                players.append(dataclasses.replace(entry, spec=self.policy.check(entry.spec)))
            except PlayerSpecError as exc:
                raise TournamentConfigError(f"player {entry.name!r}: {exc}") from None
        return dataclasses.replace(config, players=tuple(players))

    def running(self) -> list[str]:
        """Ids of the tournaments being played now."""
        return [tid for tid, task in self._tasks.items() if not task.done()]

    async def wait(self, tournament_id: str) -> None:
        """Return when the tournament's run has ended (finished, failed or stopped)."""
        task = self._tasks.get(tournament_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(task)

    async def close(self) -> None:
        """Stop every run; the tournaments stay ``running`` and resume at the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _launch(self, tournament_id: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._run(tournament_id), name=f"tournament {tournament_id}"
        )
        self._tasks[tournament_id] = task

    async def _run(self, tournament_id: str) -> None:
        from arena.tournament.config import config_from_dict
        from arena.tournament.runner import TournamentRunner

        server = self._server
        assert server is not None
        row = await self.store.get_tournament(tournament_id)
        assert row is not None
        try:
            config = config_from_dict(row.config, source=f"tournament {row.id}")
            runner = TournamentRunner("", config, tournament_id=tournament_id)
            await runner.run_on(server)
            log.info("tournament %s (%s) finished", row.id, row.name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("tournament %s (%s) failed; it is marked failed", row.id, row.name)
            await self.store.set_tournament_status(tournament_id, "failed")
