"""The speculation engine: lossless, real cancellation, hits, budgets, any game."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from arena.clock import TimeControl
from arena.match import MatchConfig
from arena.play import play_game, play_in_processes
from arena.serve import RunningServer
from arena.store import Store
from clients.actors.engine import EngineActor, EngineOptions
from clients.actors.random_player import RandomActor, RandomOptions
from clients.player import SpeculativePlayer
from clients.players import parse_player_spec
from clients.sdk import BotClient
from clients.speculation import (
    Action,
    Guess,
    Meter,
    Position,
    Speculation,
    SpeculationConfig,
)
from clients.speculators.scripted import ScriptedSpeculator
from games import get_game, replay
from tests.conftest import new_bot


def position(moves: list[str], game: str = "chess") -> Position:
    g = get_game(game)
    return Position(g, replay(g, moves), tuple(moves))


async def moves_of(db: str, game_id: str) -> list[str]:
    store = await Store.open(db)
    try:
        return [m.move for m in await store.get_moves(game_id)]
    finally:
        await store.close()


async def test_lossless_stockfish_off_one_step_pipelined(tmp_path: Path) -> None:
    """Stockfish at fixed nodes plays the same moves with speculation off, one-step,
    pipelined, and pipelined with each player in a process of its own (`arena bot run
    --player`, as the benchmark can run them), whose moves carry the players' reports."""
    db = str(tmp_path / "l.db")
    lines = []
    runs = (
        ("", False),
        (",spec=engine,k=2,depth=1,spec_depth=4", False),
        (",spec=engine,k=1,depth=3", False),
        (",spec=engine,k=1,depth=3", True),
    )
    for extra, in_processes in runs:
        text = f"stockfish:nodes=20000{extra}"
        result = await play_game(
            db,
            (parse_player_spec(text), parse_player_spec(text)),
            time_control="none",
            max_plies=16,
            in_processes=in_processes,
        )
        lines.append(await moves_of(db, result.game_id))
    assert len(lines[0]) == 16
    assert lines[0] == lines[1] == lines[2] == lines[3]
    store = await Store.open(db)
    try:
        moves = await store.get_moves(result.game_id)  # the game in processes
        assert all(m.meta and m.meta.get("actor_ms") for m in moves)
    finally:
        await store.close()


async def test_a_player_process_that_fails_is_a_clear_error(server: RunningServer) -> None:
    """A player process that exits before its game is over (here: its token is refused)
    ends the wait with an error naming the player and quoting its log."""
    spec = parse_player_spec("random:seed=1")
    never = asyncio.Event()
    with pytest.raises(RuntimeError, match="before its game was over") as info:
        async with asyncio.timeout(60):
            await play_in_processes(server.ws_url, (spec, spec), ["bad", "bad"], never.wait())
    assert "random:seed=1" in str(info.value) and "token" in str(info.value).lower()


class CountingActor:
    """A deterministic actor that counts its calls per position (first legal move)."""

    resource: str | None = None

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    async def act(self, position: Position, meter: Meter) -> Action:
        self.calls.append(position.moves)
        meter.prompt_tokens += 100
        meter.completion_tokens += 10
        await asyncio.sleep(0)
        return Action(sorted(position.legal_moves())[0])


async def test_hit_uses_the_branch() -> None:
    """On a hit the branch's result is played and the actor is not called again."""
    actor = CountingActor()
    spec = Speculation(actor, ScriptedSpeculator({0: ["e2e4", "d2d4"]}), SpeculationConfig(k=2))
    start = position([])
    spec.opponent_to_move(start)
    await asyncio.gather(*spec.live_tasks())
    real = position(["d2d4"])
    report = await spec.decide(real)
    assert report.speculation == "hit"
    assert report.move == sorted(real.legal_moves())[0]
    assert actor.calls.count(real.moves) == 1  # computed once, by the branch
    assert report.spec_calls == 3  # the speculator call and two branches
    assert report.wasted_tokens == 110  # the e2e4 branch, discarded
    assert report.actor.prompt_tokens == 100
    await spec.close()


async def test_miss_runs_the_actor_on_the_real_position() -> None:
    """On a miss the actor runs on the real position and the verdict is 'miss'."""
    actor = CountingActor()
    spec = Speculation(actor, ScriptedSpeculator({0: ["e2e4"]}), SpeculationConfig(k=1))
    spec.opponent_to_move(position([]))
    await asyncio.gather(*spec.live_tasks())
    report = await spec.decide(position(["g1f3"]))
    assert report.speculation == "miss"
    assert actor.calls[-1] == ("g1f3",)
    await spec.close()


class ProbeActor:
    """Branches search with real Stockfish for long; the real call records what is running."""

    resource: str | None = "cpu"

    def __init__(self, engine: EngineActor, real: tuple[str, ...]) -> None:
        self.engine = engine
        self.real = real
        self.seen: tuple[int, int] | None = None
        self.speculation: Speculation | None = None

    async def act(self, position: Position, meter: Meter) -> Action:
        if position.moves == self.real:
            assert self.speculation is not None
            self.seen = (self.engine.pool.busy, len(self.speculation.live_tasks()))
            return Action(position.legal_moves()[0])
        return await self.engine.act(position, meter)


async def test_miss_cancels_every_branch_for_real() -> None:
    """After a miss, no branch task and no engine search is left when the actor starts."""
    engine = EngineActor(EngineOptions(nodes=50_000_000), pool_size=3)
    real = ("g1f3",)
    actor = ProbeActor(engine, real)
    spec = Speculation(
        actor, ScriptedSpeculator({0: ["e2e4", "d2d4"]}), SpeculationConfig(k=2, max_branches=2)
    )
    actor.speculation = spec
    try:
        spec.opponent_to_move(position([]))
        async with asyncio.timeout(30):
            while engine.pool.busy < 2:  # noqa: ASYNC110 (polls the pool until both search)
                await asyncio.sleep(0.01)
        assert len(spec.live_tasks()) == 2
        report = await spec.decide(position(list(real)))
        assert report.speculation == "miss"
        assert actor.seen == (0, 0)
        assert engine.pool.busy == 0
        # the engines answer at once: they were stopped, not left searching
        async with asyncio.timeout(5):
            async with engine.pool.engine() as sf:
                await sf.ping()
    finally:
        await spec.close()
        await engine.close()


class ProbSpeculator:
    """Fixed guesses with probabilities."""

    def __init__(self, guesses: list[Guess]) -> None:
        self.guesses = guesses

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        meter.prompt_tokens += 7
        return self.guesses[:k]


class ConcurrencyActor(CountingActor):
    """Counts its calls and the most that ran at once; each call waits a little."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.peak = 0

    async def act(self, position: Position, meter: Meter) -> Action:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            for _ in range(5):
                await asyncio.sleep(0)
            return await super().act(position, meter)
        finally:
            self.running -= 1


async def test_threshold_and_branch_cap() -> None:
    """Branches start only for guesses above the threshold, never more at once than
    the cap; the rest wait for a slot and start likeliest first."""
    actor = ConcurrencyActor()
    guesses = [Guess("e2e4", 0.5), Guess("d2d4", 0.3), Guess("c2c4", 0.05), Guess("g1f3", 0.15)]
    spec = Speculation(
        actor, ProbSpeculator(guesses), SpeculationConfig(k=4, max_branches=1, threshold=0.1)
    )
    spec.opponent_to_move(position([]))
    for _ in range(5):
        await asyncio.gather(*spec.live_tasks())
    assert actor.calls == [("e2e4",), ("d2d4",), ("g1f3",)]
    assert actor.peak == 1
    await spec.close()


async def test_a_likelier_branch_preempts_a_running_one() -> None:
    """With every slot taken, a likelier branch cancels the least likely running one,
    which waits for a slot again (it is not lost); a less likely one waits too, and
    the preempted one, likelier, gets the next free slot first."""
    actor = GatedActor(("d2d4",))
    spec = Speculation(actor, None, SpeculationConfig(k=1, max_branches=1))
    likely = {"e2e4": 0.1, "d2d4": 0.8, "c2c4": 0.05}
    for move, p in likely.items():
        spec._likelihood[(move,)] = p
        spec._offer_branch(position([move]), 1)
        await asyncio.sleep(0)
    assert actor.calls == [("e2e4",)]  # started, then preempted before it could finish
    assert ("e2e4",) not in spec._branches
    assert set(spec._pending) == {("e2e4",), ("c2c4",)}
    actor.release.set()
    for _ in range(4):
        await asyncio.gather(*spec.live_tasks())
    assert actor.calls == [("e2e4",), ("d2d4",), ("e2e4",), ("c2c4",)]
    report = await spec.decide(position(["d2d4"]))
    assert report.speculation == "off"  # no window was open: branches were offered by hand
    e2e4 = [b.outcome for b in report.branches if b.line == ("e2e4",)]
    assert e2e4 == ["cancelled", "discarded"]  # preempted, then run again to the end
    await spec.close()


async def test_a_nearer_branch_keeps_its_slot_and_is_started_first() -> None:
    """A branch for our next move is not preempted by a likelier one further ahead
    (that one still starts once the real game gets near it), and of two queued
    branches the nearer one gets a free slot first."""
    actor = GatedActor(("e2e4",))
    spec = Speculation(actor, None, SpeculationConfig(k=1, depth=2, max_branches=1))
    near, deep = ("e2e4",), ("d2d4", "d7d5", "c2c4")
    spec._likelihood[near] = 0.2
    spec._likelihood[deep[:1]] = 0.9
    spec._likelihood[deep] = 0.9  # 0.81 in all: likelier than the near branch
    spec._offer_branch(position(list(near)), 3)
    spec._offer_branch(position(list(deep)), 1)
    await asyncio.sleep(0)
    assert list(spec._branches) == [near]  # still running: its call waits on the gate
    assert set(spec._pending) == {deep}
    other_near = ("g1f3",)
    spec._likelihood[other_near] = 0.1
    spec._offer_branch(position(list(other_near)), 2)
    assert set(spec._pending) == {deep, other_near}
    spec._drop_branch(near)  # a slot frees up
    spec._fill_slots()
    assert list(spec._branches) == [other_near] and set(spec._pending) == {deep}
    for _ in range(3):
        await asyncio.gather(*spec.live_tasks())
    assert actor.calls == [other_near, deep]  # the deep one once a slot was free
    await spec.close()


async def test_token_budget_stops_branches() -> None:
    """Once speculation has spent max_extra_tokens, no new branch starts."""
    actor = CountingActor()
    spec = Speculation(
        actor,
        ProbSpeculator([Guess("e2e4", 0.9)]),
        SpeculationConfig(k=1, max_extra_tokens=5),
    )
    spec.opponent_to_move(position([]))
    await asyncio.gather(*spec.live_tasks())
    assert actor.calls == []  # the speculator call alone (7 tokens) used the budget
    await spec.close()


def first(position: Position) -> str:
    """What CountingActor plays: the first legal move in sorted order."""
    return sorted(position.legal_moves())[0]


class Oracle:
    """Always predicts what CountingActor plays."""

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        return [Guess(first(position), 1.0)]


async def test_pipelined_chains_hits() -> None:
    """With depth 2, a hit finds the next window already open and its branch computed."""
    actor = CountingActor()
    spec = Speculation(actor, Oracle(), SpeculationConfig(k=1, depth=2, max_branches=2))
    p0 = position([])
    spec.opponent_to_move(p0)
    for _ in range(10):  # let the chain of windows and branches run
        await asyncio.gather(*spec.live_tasks())
    opp = sorted(p0.legal_moves())[0]
    p1 = p0.after(opp)
    report = await spec.decide(p1)
    assert report.speculation == "hit"
    p2 = p1.after(report.move)
    p3 = p2.after(sorted(p2.legal_moves())[0])
    assert p3.moves in {c for c in actor.calls}  # the next reply was computed in advance
    await spec.close()
    assert spec.live_tasks() == []


async def test_pipelined_window_reopens_after_every_hit() -> None:
    """Depth counts our moves ahead of the real game: however long the chain of hits,
    each opponent turn finds our reply and our next reply (after its guessed answer)
    computed already."""
    actor = CountingActor()
    spec = Speculation(actor, Oracle(), SpeculationConfig(k=1, depth=2, max_branches=2))
    p = position([])
    for _ in range(6):
        spec.opponent_to_move(p)
        for _ in range(10):  # let the chain of windows and branches run
            await asyncio.gather(*spec.live_tasks())
        ours = p.after(first(p))
        next_ours = ours.after(first(ours)).after(first(ours.after(first(ours))))
        assert ours.moves in actor.calls
        assert next_ours.moves in actor.calls
        report = await spec.decide(ours)
        assert report.speculation == "hit"
        p = ours.after(report.move)
    await spec.close()
    assert spec.live_tasks() == []


async def test_a_ready_prediction_of_the_reply_is_sent_before_the_move() -> None:
    """Pipelined, the guesses of the opponent's reply are often known before our
    move is: decide() returns only once they are sent, so the move, sent after it
    on the same connection, cannot overtake them (an opponent whose branch hit
    answers within milliseconds)."""
    published: list[int] = []

    async def publish(ply: int, guesses: list[Guess]) -> None:
        published.append(ply)

    spec = Speculation(
        CountingActor(), Oracle(), SpeculationConfig(k=1, depth=2, max_branches=2), publish
    )
    p0 = position([])
    spec.opponent_to_move(p0)
    for _ in range(10):  # let the chain of windows and branches run
        await asyncio.gather(*spec.live_tasks())
    assert published == [0]
    p1 = p0.after(first(p0))
    report = await spec.decide(p1)
    assert report.speculation == "hit"
    assert published == [0, 2]  # the reply to our move (ply 1) is ply 2
    await spec.close()


class GatedActor(CountingActor):
    """Like CountingActor, but the call on ``gated`` waits until ``release`` is set."""

    def __init__(self, gated: tuple[str, ...]) -> None:
        super().__init__()
        self.gated = gated
        self.release = asyncio.Event()

    async def act(self, position: Position, meter: Meter) -> Action:
        if position.moves == self.gated:
            await self.release.wait()
        return await super().act(position, meter)


class FirstLegal:
    """Predicts the first legal move in sorted order (what CountingActor plays) and,
    as second guess, the last one."""

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        ordered = sorted(position.legal_moves())
        return [Guess(m) for m in (ordered[0], ordered[-1])][:k]


async def test_pipelined_own_window_branches_before_our_move_is_known() -> None:
    """With depth 2, while our actor still thinks, the engine guesses our own move and
    the opponent's reply, and starts the branch for our next move; the wrong guess's
    line is dropped as soon as our move is known."""
    real = position([])
    actor = GatedActor(real.moves)
    spec = Speculation(
        actor, FirstLegal(), SpeculationConfig(k=2, depth=2, own_k=2, max_branches=8)
    )
    decision = asyncio.create_task(spec.decide(real))
    mine = sorted(real.legal_moves())[0]
    after_mine = real.after(mine)
    reply = sorted(after_mine.legal_moves())[0]
    target = after_mine.after(reply).moves
    async with asyncio.timeout(5):
        while target not in actor.calls:  # noqa: ASYNC110 (waits for the branch to start)
            await asyncio.sleep(0)
    assert real.moves not in actor.calls  # our own move is still being computed
    wrong = sorted(real.legal_moves())[-1]
    assert any(c[:1] == (wrong,) for c in actor.calls)  # the other own guess branched too
    actor.release.set()
    report = await decision
    assert report.move == mine
    # Only our real line is still speculated on.
    assert all(k[:1] == (mine,) for k in spec._branches)
    assert all(k[:1] == (mine,) for k in spec._windows)
    spec.opponent_to_move(after_mine)
    await asyncio.gather(*spec.live_tasks())
    calls_before = len(actor.calls)
    nxt = await spec.decide(after_mine.after(reply))
    assert nxt.speculation == "hit"
    assert len(actor.calls) == calls_before  # answered from the early branch
    kept = [b for b in nxt.branches if b.outcome == "kept"]
    assert [b.line for b in kept] == [(mine, reply)]  # guessed before our move was known
    assert kept[0].started_ms < 0
    dropped = [b for b in nxt.branches if b.line[0] == wrong]
    assert dropped and all(b.outcome in {"cancelled", "discarded"} for b in dropped)
    await spec.close()
    assert spec.live_tasks() == []


class FirstLegalHalf:
    """Predicts what CountingActor plays: sure of the first move, half sure after."""

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        return [Guess(first(position), 1.0 if position.ply == 0 else 0.5)]


async def test_a_finished_branch_makes_the_positions_after_its_move_likelier() -> None:
    """Pipelined, the branch on the opponent's reply after a guess of our own move
    waits below the threshold (0.5 x 0.5); once the branch computing that move has
    finished, the move is known, not guessed (0.5), and the waiting branch starts
    at once, before the real game has moved."""
    root = position([])
    opponent = first(root)
    actor = GatedActor((opponent,))
    spec = Speculation(
        actor, FirstLegalHalf(), SpeculationConfig(k=1, depth=2, max_branches=4, threshold=0.4)
    )
    spec.opponent_to_move(root)
    ours = first(root.after(opponent))
    reply = first(root.after(opponent).after(ours))
    deep = (opponent, ours, reply)
    async with asyncio.timeout(5):
        while deep not in spec._pending:  # noqa: ASYNC110 (waits for the windows to fill)
            await asyncio.sleep(0)
    assert deep not in actor.calls
    actor.release.set()
    async with asyncio.timeout(5):
        while deep not in actor.calls:  # noqa: ASYNC110 (waits for the branch to start)
            await asyncio.sleep(0)
    assert spec._real_ply == 0  # the real game has not moved
    await spec.close()


async def test_branch_timings_in_the_report() -> None:
    """A decision reports every branch that ended since the last one: the kept one
    and the discarded one, with times relative to the real position."""
    actor = CountingActor()
    spec = Speculation(actor, ScriptedSpeculator({0: ["e2e4", "d2d4"]}), SpeculationConfig(k=2))
    spec.opponent_to_move(position([]))
    await asyncio.gather(*spec.live_tasks())
    report = await spec.decide(position(["d2d4"]))
    outcomes = {b.line: (b.outcome, b.rank) for b in report.branches}
    assert outcomes == {("d2d4",): ("kept", 2), ("e2e4",): ("discarded", 1)}
    for b in report.branches:
        assert b.started_ms <= b.ended_ms <= report.wait_ms
    await spec.close()


async def test_connect4_scripted_hit_ranks(server: RunningServer) -> None:
    """A scripted speculator on Connect Four gives exactly the expected hit ranks."""
    (a, ta), (b, tb) = await new_bot(server, "red"), await new_bot(server, "yellow")
    config = MatchConfig(time_control=TimeControl.parse("none"), max_plies=12)

    class PatientRed(RandomActor):
        """Red moves only once yellow's prediction for this ply is stored (if one is due),
        so the test does not depend on who is faster."""

        async def act(self, position: Position, meter: Meter) -> Action:
            if waiting and position.ply in script:
                for _ in range(2000):  # up to 10 s
                    rows = await server.store.get_predictions(current[0])
                    if any(p.ply == position.ply for p in rows):
                        break
                    await asyncio.sleep(0.005)
            return await super().act(position, meter)

    waiting = False
    current = [""]
    script: dict[int, list[str]] = {}

    async def play(yellow: SpeculativePlayer) -> str:
        game_id = await server.host.create_game("connect4", (a, b), config)
        current[0] = game_id
        red = SpeculativePlayer(PatientRed(RandomOptions(seed=5)))
        clients = [
            BotClient(red, server.ws_url, ta, max_games=1),
            BotClient(yellow, server.ws_url, tb, max_games=1),
        ]
        async with asyncio.timeout(30):
            await asyncio.gather(*(c.run() for c in clients))
        return game_id

    plain = await play(SpeculativePlayer(RandomActor(RandomOptions(seed=6))))
    reference = await moves_of_server(server, plain)
    wrong = {m: next(c for c in "1234567" if c != m) for m in set(reference)}
    script.update(
        {
            0: [reference[0]],  # rank 1
            2: [wrong[reference[2]], reference[2]],  # rank 2
            4: [wrong[reference[4]]],  # miss
        }
    )
    waiting = True
    yellow = SpeculativePlayer(
        RandomActor(RandomOptions(seed=6)),
        speculator=lambda view: ScriptedSpeculator(script),
        config=SpeculationConfig(k=2),
    )
    game_id = await play(yellow)
    assert await moves_of_server(server, game_id) == reference  # lossless on Connect Four too
    async with httpx.AsyncClient(base_url=server.url) as http:
        detail = (await http.get(f"/api/games/{game_id}")).json()
    ranks = {m["ply"]: m["hit_rank"] for m in detail["speculation"]["moves"]}
    assert (ranks[1], ranks[3], ranks[5]) == (1, 2, None)
    verdicts = {m["ply"]: m["speculation"] for m in detail["speculation"]["moves"]}
    assert (verdicts[1], verdicts[3], verdicts[5]) == ("hit", "hit", "miss")


async def moves_of_server(server: RunningServer, game_id: str) -> list[str]:
    return [m.move for m in await server.store.get_moves(game_id)]


class OneSlotServer:
    """SIMULATION of a local model server with one slot (like llama.cpp): requests queue,
    and a request whose client went away still runs to the end of its batch."""

    def __init__(self, work_s: float) -> None:
        self.work_s = work_s
        self.lock = asyncio.Lock()

    async def request(self) -> None:
        await self.lock.acquire()
        job = asyncio.create_task(asyncio.sleep(self.work_s))  # the simulated compute
        job.add_done_callback(lambda _job: self.lock.release())
        await asyncio.shield(job)  # a cancelled client does not stop the server's batch


class SlotActor:
    """An actor whose calls all go to one OneSlotServer."""

    resource: str | None = "llm:local"

    def __init__(self, server: OneSlotServer) -> None:
        self.server = server
        self.branch_calls = 0

    async def act(self, position: Position, meter: Meter) -> Action:
        await self.server.request()
        return Action(sorted(position.legal_moves())[0])


class WrongGuess:
    """Always guesses a move the test will not play (the last in sorted order)."""

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        return [Guess(sorted(position.legal_moves())[-1], 0.9)]


async def test_adaptive_backs_off_when_branches_queue_behind_the_actor() -> None:
    """With a one-slot server, cancelled branches delay the actor; adaptive stops branching."""
    actor = SlotActor(OneSlotServer(work_s=0.03))
    spec = Speculation(actor, WrongGuess(), SpeculationConfig(k=1, adaptive=True))
    branches_started = []
    pos = position([])
    for i in range(10):
        spec.opponent_to_move(pos)
        for _ in range(5):  # let the window open and its branch reach the server
            await asyncio.sleep(0)
        branches_started.append(len(spec._branches))
        legal = sorted(pos.legal_moves())
        real = pos.after(legal[(3 * i) % (len(legal) - 1)])  # never the guessed (last) move
        report = await spec.decide(real)
        pos = real.after(report.move)
    await spec.close()
    assert branches_started[:3] == [0, 0, 0]  # measures the actor alone first
    assert branches_started[3] == 1  # then speculates, sees the actor slowed down ...
    assert spec.contention.backoff
    assert branches_started[4:7] == [0, 0, 0]  # ... and stops starting branches,
    assert branches_started[7] == 1  # tries again after a while,
    assert branches_started[8:] == [0, 0]  # and backs off again


def test_contention_verdicts() -> None:
    """Back off when shared calls are slower, or the speculator is no faster than the actor."""
    from clients.speculation import Contention

    slow_branches = Contention()
    for ms in (100.0, 110.0, 90.0):
        slow_branches.record(ms, overlapped=False)
    assert not slow_branches.backoff
    slow_branches.record(200.0, overlapped=True)
    assert slow_branches.backoff

    slow_speculator = Contention()
    for ms in (100.0, 110.0, 90.0):
        slow_speculator.record(ms, overlapped=False)
    slow_speculator.record_speculator(30.0)
    assert not slow_speculator.backoff
    slow_speculator.record_speculator(300.0)
    slow_speculator.record_speculator(300.0)
    assert slow_speculator.backoff
    assert [slow_speculator.allow_branches() for _ in range(8)][-1]  # tries again after 8


class SlowToStopActor(CountingActor):
    """Like CountingActor, but a call on ``slow`` spends tokens, then blocks, and when
    cancelled takes until ``stopped`` is set to stop (a stream slow to close)."""

    def __init__(self, slow: tuple[str, ...], resource: str | None) -> None:
        super().__init__()
        self.slow = slow
        self.resource = resource
        self.stopped = asyncio.Event()

    async def act(self, position: Position, meter: Meter) -> Action:
        if position.moves != self.slow:
            return await super().act(position, meter)
        self.calls.append(position.moves)
        meter.prompt_tokens += 70
        try:
            await asyncio.Event().wait()
        finally:
            await self.stopped.wait()
        raise AssertionError("unreachable")


async def test_a_hit_on_parallel_capacity_does_not_wait_for_cancelled_branches() -> None:
    """On a hit, an actor on parallel capacity answers before the losing branches have
    stopped (their tokens are settled at once); one on a shared resource waits."""
    for resource in (None, "cpu"):
        actor = SlowToStopActor(("e2e4",), resource)
        spec = Speculation(actor, ScriptedSpeculator({0: ["e2e4", "d2d4"]}), SpeculationConfig(k=2))
        try:
            spec.opponent_to_move(position([]))
            async with asyncio.timeout(5):
                while len(actor.calls) < 2:  # noqa: ASYNC110 (waits for both branches)
                    await asyncio.sleep(0)
            decision = asyncio.create_task(spec.decide(position(["d2d4"])))
            for _ in range(20):
                await asyncio.sleep(0)
            if resource is None:
                assert decision.done()
                report = decision.result()
                assert report.speculation == "hit"
                assert report.wasted_tokens == 70  # the cancelled branch, settled at once
            else:
                assert not decision.done()  # waits until the cancelled search has stopped
            actor.stopped.set()
            async with asyncio.timeout(5):
                report = await decision
            assert report.speculation == "hit" and report.wasted_tokens == 70
        finally:
            actor.stopped.set()
            await spec.close()
