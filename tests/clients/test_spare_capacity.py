"""Speculation that never costs: promotion on a hit, back-off when it does not pay,
and an engine failure that ends a game as an engine error, not a resignation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.serve import RunningServer
from clients.actors.engine import EngineActor, EngineOptions
from clients.actors.priority import Priority, current_priority, supported
from clients.player import SpeculativePlayer
from clients.sdk import BotClient
from clients.speculation import (
    Action,
    ActorFailure,
    Guess,
    Meter,
    Payoff,
    Position,
    Speculation,
    SpeculationConfig,
    WindowOutcome,
)
from clients.speculators import ScriptedSpeculator
from games import get_game, replay
from tests.clients.test_engine_pool import searching


def position(moves: list[str], game: str = "chess") -> Position:
    g = get_game(game)
    return Position(g, replay(g, moves), tuple(moves))


@pytest.fixture
async def engine() -> AsyncIterator[EngineActor]:
    actor = EngineActor(EngineOptions(nodes=1_500_000), pool_size=2)
    try:
        yield actor
    finally:
        await actor.close()


@pytest.mark.skipif(not supported(), reason="no SCHED_IDLE on this platform")
async def test_the_hit_branch_is_promoted_to_normal_priority(engine: EngineActor) -> None:
    """The branch searches at idle priority; once its guess comes true it is the real
    search, and its engine runs at normal priority until it answers."""
    spec = Speculation(engine, ScriptedSpeculator({0: ["e2e4"]}), SpeculationConfig(k=1))
    spec.opponent_to_move(position([]))
    await searching(engine.pool)
    (pid,) = engine.pool.pids
    assert set(current_priority(pid).values()) == {Priority.IDLE}
    report = await spec.decide(position(["e2e4"]))
    assert report.speculation == "hit"
    # The pool sets a priority only when it lends an engine: this is the promotion.
    assert set(current_priority(pid).values()) == {Priority.NORMAL}
    await spec.close()


class Instant:
    """An actor that answers at once, deterministically."""

    resource: str | None = None

    async def act(self, position: Position, meter: Meter) -> Action:
        return Action(sorted(position.legal_moves())[0])


class Never:
    """A speculator that answers only after the opponent has moved (always late)."""

    def __init__(self) -> None:
        self.calls = 0

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        self.calls += 1
        await asyncio.Event().wait()
        return []


async def test_an_always_late_speculator_backs_off_within_a_few_windows() -> None:
    """Self-play against a speculator that is never ready: after ``samples`` windows
    speculation backs off, says why in each move's report, and stops calling it."""
    game = get_game("connect4")
    payoff = Payoff(samples=4, retry_every=100)
    never = Never()
    config = SpeculationConfig(k=1, adaptive=True)
    spec = Speculation(Instant(), never, config, payoff=payoff)
    other = Instant()
    pos = Position(game, game.initial_state(), ())
    spec.opponent_to_move(pos)
    reports = []
    for _ in range(12):  # our 12 moves: the opponent (seat 0) moves first each time
        pos = pos.after((await other.act(pos, Meter())).move)
        if pos.over:
            break
        reports.append(await spec.decide(pos))
        pos = pos.after(reports[-1].move)
        if pos.over:
            break
    await spec.close()
    assert payoff.backoffs == 1 and payoff.reason is not None and "late" in payoff.reason
    assert [r.speculation for r in reports[:4]] == ["miss"] * 4
    assert all(r.speculation == "off" and r.backoff == payoff.reason for r in reports[5:])
    assert never.calls <= 5  # no more speculator calls once backed off


def test_payoff_backs_off_when_windows_cost_more_than_they_save_and_probes_again() -> None:
    payoff = Payoff(samples=3, retry_every=2, max_retry=8)
    for _ in range(3):
        payoff.record(WindowOutcome(late=False, saved_ms=-5.0))  # each miss cost 5 ms
    assert payoff.reason is not None and payoff.reason.startswith("costly")
    assert [payoff.allow_window() for _ in range(3)] == [False, False, True]  # skips 2
    assert payoff.reason is None
    for _ in range(3):
        payoff.record(WindowOutcome(late=False, saved_ms=-5.0))
    assert [payoff.allow_window() for _ in range(5)] == [False] * 4 + [True]  # doubled
    for _ in range(3):
        payoff.record(WindowOutcome(late=False, saved_ms=20.0))  # it pays now
    assert payoff.reason is None and payoff.allow_window()
    # Noise of a fraction of a millisecond per window is not a cost.
    quiet = Payoff(samples=3)
    for _ in range(3):
        quiet.record(WindowOutcome(late=False, saved_ms=-0.2))
    assert quiet.reason is None


class Crashing:
    """An engine-like actor whose program dies at ``at`` (an ActorFailure)."""

    resource: str | None = None

    def __init__(self, at: int) -> None:
        self.at = at

    async def act(self, position: Position, meter: Meter) -> Action:
        if position.ply >= self.at:
            raise ActorFailure("engine process died unexpectedly (exit code: -9)")
        return Action(sorted(position.legal_moves())[0])


async def test_an_engine_failure_ends_the_game_as_an_engine_error(server: RunningServer) -> None:
    """Not a resignation: reason ``engine_error``. For the arena's own (built-in)
    player no result and no rating; an outside bot's crash is still its loss, so
    that no bot can turn a lost game into no result."""
    for kind, result in (("builtin", "*"), ("external", "0-1")):
        crashing = SpeculativePlayer(Crashing(at=4), name=f"crashing-{kind}")
        steady = SpeculativePlayer(Instant(), name=f"steady-{kind}")
        bots = [
            await server.store.add_bot(f"crashing-{kind}", kind),
            await server.store.add_bot(f"steady-{kind}", kind),
        ]
        tokens = [await server.store.issue_token(b.id) for b in bots]
        config = MatchConfig(time_control=TimeControl.parse("none"), max_plies=16)
        game_id = await server.host.create_game("chess", (bots[0], bots[1]), config)
        clients = [
            BotClient(p, server.ws_url, t, max_games=1)
            for p, t in zip((crashing, steady), tokens, strict=True)
        ]
        async with asyncio.timeout(30):
            await asyncio.gather(*(c.run() for c in clients))
        row = await server.store.get_game(game_id)
        assert row is not None and row.status == "finished"
        assert (row.result, row.reason, row.ply) == (result, "engine_error", 4), kind
