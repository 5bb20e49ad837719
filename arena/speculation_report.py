"""What speculation did in a set of stored games, per player and in all.

The account the main job (``arena demo``) ends with, and ``arena tournament
show --speculation``: for each player, the moves it speculated on (a window was
open: ``hit`` or ``miss``), the predictions that counted, top-1/top-k, the time
it saved (``actor_ms - response_ms`` over those moves, negative when it cost),
that as a share of its actor time over all its moves (the time it would have
spent without speculation: moves played backed off count there too, at no
saving), and how many moves it played while its
adaptive policy had backed off, with the last reason. Players that never
speculated get no share (``None``): the harness's cost of every move is not a
saving or a cost of speculation.

Every figure comes from the stored moves (:mod:`arena.accounting`); all games
count, rated or not, since speculation happened in each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from arena.accounting import MoveAccount, account_game, account_player
from arena.store import Store

__all__ = ["PlayerSpeculation", "SpeculationReport", "speculation_report", "summarise"]


@dataclass(frozen=True, slots=True)
class PlayerSpeculation:
    name: str
    moves: int
    speculated: int
    """Moves with a window open (hit or miss)."""
    predicted: int
    top1_accuracy: float | None
    topk_accuracy: float | None
    saved_s: float
    actor_s: float
    """The player's actor time over all its moves (what it would take sequentially)."""
    backed_off: int
    """Moves played while its adaptive policy had backed off."""
    last_backoff: str | None

    @property
    def saved_share(self) -> float | None:
        if self.speculated == 0 or self.actor_s == 0:
            return None
        return self.saved_s / self.actor_s


@dataclass(frozen=True, slots=True)
class SpeculationReport:
    players: list[PlayerSpeculation]

    @property
    def speculating(self) -> list[PlayerSpeculation]:
        return [p for p in self.players if p.speculated > 0]

    @property
    def saved_s(self) -> float:
        """Wall-clock saved by the players that speculated, in all."""
        return sum(p.saved_s for p in self.speculating)

    @property
    def actor_s(self) -> float:
        """Actor time of the players that speculated, in all."""
        return sum(p.actor_s for p in self.speculating)

    def share(self, names: Sequence[str] | None = None) -> float | None:
        """Saved over actor time of the speculating players (of ``names``, if given)."""
        chosen = [p for p in self.speculating if names is None or p.name in names]
        actor = sum(p.actor_s for p in chosen)
        return None if actor == 0 else sum(p.saved_s for p in chosen) / actor


def summarise(moves_by_player: dict[str, list[MoveAccount]]) -> SpeculationReport:
    """The report from each player's scored moves."""
    players = []
    for name, moves in sorted(moves_by_player.items()):
        total = account_player(0, moves)
        backed = [m for m in moves if m.backoff is not None]
        players.append(
            PlayerSpeculation(
                name=name,
                moves=total.moves,
                speculated=total.speculated,
                predicted=total.predicted,
                top1_accuracy=total.top1_accuracy,
                topk_accuracy=total.topk_accuracy,
                saved_s=total.saved_ms / 1000.0,
                actor_s=total.sequential_ms / 1000.0,
                backed_off=len(backed),
                last_backoff=backed[-1].backoff if backed else None,
            )
        )
    return SpeculationReport(players)


async def speculation_report(store: Store, tournament_id: str | None = None) -> SpeculationReport:
    """The report over the stored games (of one tournament, if given)."""
    moves: dict[str, list[MoveAccount]] = defaultdict(list)
    for game in await store.list_games(limit=None, tournament_id=tournament_id):
        account = account_game(await store.get_moves(game.id), await store.get_predictions(game.id))
        for m in account.moves:
            moves[game.players[m.seat]].append(replace(m, seat=0))
    return summarise(moves)
