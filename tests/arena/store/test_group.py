"""Group commit of moves (arena.store.group) and the host's commit-before-acknowledge."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from arena.host import Host
from arena.match import MatchConfig, MoveRecord
from arena.protocol import Move
from arena.store import BotRow, Store
from arena.store.group import GroupCommitter, PendingMove, PendingPrediction, PendingWrite


def _pending(game_id: str, ply: int = 0) -> PendingMove:
    record = MoveRecord(
        ply=ply,
        seat=ply % 2,
        move="e2e4",
        display="e4",
        state_after="fen",
        response_ms=1,
        clocks_after=(None, None),
    )
    return PendingMove(game_id, record, 0.0, 0.0, None, None, None)


class GatedWriter:
    """A writer whose transactions finish only when the test lets them."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.committed: set[str] = set()
        self.gate = asyncio.Event()
        self.fail: set[str] = set()

    async def __call__(self, batch: Sequence[PendingWrite]) -> float:
        ids = [m.game_id for m in batch]
        self.batches.append(ids)
        await self.gate.wait()
        if self.fail & set(ids):
            raise RuntimeError(f"cannot store {sorted(self.fail & set(ids))}")
        self.committed |= set(ids)
        return float(len(self.batches))


async def test_moves_arriving_during_a_commit_share_the_next_transaction() -> None:
    """The first move is written at once; moves that arrive while it is written go
    together in one next transaction; nobody returns before their transaction did."""
    writer = GatedWriter()
    group = GroupCommitter(writer)
    first = asyncio.create_task(group.commit(_pending("g0")))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert writer.batches == [["g0"]]
    rest = [asyncio.create_task(group.commit(_pending(f"g{i}"))) for i in range(1, 6)]
    await asyncio.sleep(0.01)
    assert not first.done() and not any(t.done() for t in rest)
    assert writer.batches == [["g0"]]  # one transaction in flight at a time
    writer.gate.set()
    assert await first == 1.0
    assert await asyncio.gather(*rest) == [2.0] * 5
    assert writer.batches == [["g0"], ["g1", "g2", "g3", "g4", "g5"]]
    assert group.transactions == 2 and group.largest_batch == 5


async def test_a_failing_batch_is_retried_move_by_move() -> None:
    """When a batch cannot be stored, each move is written alone: only the move that
    cannot be stored fails, the others are committed."""
    writer = GatedWriter()
    writer.gate.set()
    writer.fail = {"bad"}
    blocker = asyncio.Event()

    async def slow_first(batch: Sequence[PendingWrite]) -> float:
        if batch[0].game_id == "first":
            await blocker.wait()
        return await writer(batch)

    group = GroupCommitter(slow_first)
    first = asyncio.create_task(group.commit(_pending("first")))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(group.commit(_pending(g))) for g in ("a", "bad", "b")]
    await asyncio.sleep(0)
    blocker.set()
    await first
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[1], RuntimeError) and "bad" in str(results[1])
    assert not isinstance(results[0], BaseException)
    assert not isinstance(results[2], BaseException)
    assert writer.committed == {"first", "a", "b"}
    assert ["a", "bad", "b"] in writer.batches  # tried together first


def _prediction(game_id: str) -> PendingPrediction:
    return PendingPrediction(game_id, 1, 1, ("e7e5",), None, 0.0)


async def test_a_prediction_waits_to_ride_with_the_next_move() -> None:
    """A prediction starts no transaction of its own: the move queued after it
    (a speculating bot sends its prediction just before its move) is not held
    behind a commit of the prediction; both go in one transaction."""
    writer = GatedWriter()
    writer.gate.set()
    group = GroupCommitter(writer, prediction_delay=10.0)
    predicted = group.submit(_prediction("p"))
    await asyncio.sleep(0.01)
    assert writer.batches == [] and not predicted.done()
    assert await group.commit(_pending("m")) == 1.0
    assert await predicted == 1.0
    assert writer.batches == [["p", "m"]] and group.transactions == 1


async def test_predictions_alone_are_written_after_the_delay_or_on_flush() -> None:
    """With no move coming, predictions are written together once the delay has
    passed; a flush (the store's close) writes them at once."""
    writer = GatedWriter()
    writer.gate.set()
    group = GroupCommitter(writer, prediction_delay=0.02)
    first, second = group.submit(_prediction("a")), group.submit(_prediction("b"))
    assert list(await asyncio.wait_for(asyncio.gather(first, second), 5)) == [1.0, 1.0]
    assert writer.batches == [["a", "b"]]
    patient = GroupCommitter(writer, prediction_delay=3600.0)
    queued = patient.submit(_prediction("c"))
    await patient.flush()
    assert queued.done() and writer.batches[-1] == ["c"]


async def test_predictions_queued_during_a_commit_still_get_written() -> None:
    """Predictions that arrive while a move's transaction is in flight and find no
    move after it are written after the delay, not left in the queue."""
    writer = GatedWriter()
    group = GroupCommitter(writer, prediction_delay=0.02)
    move = group.submit(_pending("m"))
    await asyncio.sleep(0)
    late = group.submit(_prediction("p"))
    await asyncio.sleep(0.05)  # the timer fires while the move's commit is held
    writer.gate.set()
    assert await move == 1.0
    assert await asyncio.wait_for(late, 5) == 2.0
    assert writer.batches == [["m"], ["p"]]


async def test_a_cancelled_commit_settles_every_waiter() -> None:
    """Cancelled while it writes a failed batch again item by item, the committer
    settles every item of that batch and of the queue: nobody waits forever."""
    writer = GatedWriter()
    writer.fail = {"bad"}
    group = GroupCommitter(writer)
    first = group.submit(_pending("first"))
    await asyncio.sleep(0)
    rest = [group.submit(_pending(g)) for g in ("bad", "a", "b")]
    writer.gate.set()
    await first
    await asyncio.sleep(0)  # the batch ["bad", "a", "b"] fails; "bad" is retried alone
    writer.gate.clear()
    await asyncio.sleep(0)
    assert group._task is not None
    group._task.cancel()
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert all(r is not None for r in results)
    assert all(f.done() for f in rest)


class ObservedStore(Store):
    """A real SQLite store whose group transactions the test can hold and watch."""

    gate: asyncio.Event
    committed: set[tuple[str, int]]
    batch_sizes: list[int]

    async def commit_moves(self, batch: Sequence[PendingWrite]) -> float:
        self.batch_sizes.append(len(batch))
        await self.gate.wait()
        committed_at = await super().commit_moves(batch)
        self.committed |= {(m.game_id, m.record.ply) for m in batch if isinstance(m, PendingMove)}
        return committed_at


class RecordingPeer:
    """A connection that checks, for every ``move_ack``, that the move was committed."""

    def __init__(self, bot: BotRow, store: ObservedStore) -> None:
        self.bot: BotRow | None = bot
        self.store = store
        self.frames: list[dict[str, object]] = []
        self.acked_before_commit: list[tuple[str, int]] = []

    def send(self, *texts: str) -> None:
        for text in texts:
            frame = json.loads(text)
            self.frames.append(frame)
            if frame["type"] in ("move_ack", "state"):
                key = (str(frame["game_id"]), int(frame["ply"]) - (frame["type"] == "state"))
                if key not in self.store.committed:
                    self.acked_before_commit.append(key)

    def close(self, code: int, reason: str) -> None:
        pass


@pytest.fixture
async def observed(tmp_path: Path) -> ObservedStore:
    plain = await Store.open(str(tmp_path / "arena.db"))
    store = ObservedStore(plain.engine)
    store.gate = asyncio.Event()
    store.committed = set()
    store.batch_sizes = []
    return store


async def test_host_acknowledges_and_relays_only_after_the_group_commit(
    observed: ObservedStore,
) -> None:
    """Eight games move at once: the host sends no move_ack and no state before the
    transaction holding the move has committed, the moves share transactions, and all
    are stored."""
    store = observed
    host = Host(store)
    peers: list[RecordingPeer] = []
    games: list[str] = []
    try:
        for i in range(8):
            white = await store.add_bot(f"w{i}")
            black = await store.add_bot(f"b{i}")
            pair = [RecordingPeer(white, store), RecordingPeer(black, store)]
            for peer in pair:
                await host.connect(peer)
            peers += pair
            games.append(await host.create_game("chess", (white, black), MatchConfig()))
        moves = [
            asyncio.create_task(
                host.handle(peers[2 * i], Move(game_id=game_id, ply=0, move="e2e4"))
            )
            for i, game_id in enumerate(games)
        ]
        await asyncio.sleep(0.05)
        assert not any(t.done() for t in moves)
        assert not any(f["type"] == "move_ack" for p in peers for f in p.frames)
        store.gate.set()
        await asyncio.gather(*moves)
        assert all(p.acked_before_commit == [] for p in peers)
        acks = [f for p in peers for f in p.frames if f["type"] == "move_ack"]
        assert sorted(str(f["game_id"]) for f in acks) == sorted(games)
        assert sum(store.batch_sizes) == 8 and max(store.batch_sizes) > 1
        for game_id in games:
            assert [m.move for m in await store.get_moves(game_id)] == ["e2e4"]
    finally:
        await host.close()
        await store.close()


async def test_a_batch_stores_moves_positions_and_finished_games(any_db: str) -> None:
    """One batch stores every move with its meta, each game's new position, the end
    of a game a move finished, and the predictions that came with them (SQLite's
    writer thread and PostgreSQL's executemany)."""
    store = await Store.open(any_db)
    try:
        white, black = await store.add_bot("w"), await store.add_bot("b")
        ids = []
        for _ in range(3):
            ids.append(
                await store.create_game(
                    game="chess",
                    seat_bot_ids=(white.id, black.id),
                    time_control="60+0",
                    max_plies=None,
                    max_retries=3,
                    initial_state="start",
                    clocks=(60_000, 60_000),
                )
            )
        batch: list[PendingWrite] = [
            PendingMove(ids[0], _record(0, "after0"), 1.0, 2.0, {"actor_ms": 5.0}, None, "k0"),
            PendingMove(ids[1], _record(0, "after1"), 1.0, 2.0, None, ("1-0", 0, "resign"), None),
            PendingMove(ids[2], _record(0, "after2"), 1.0, 2.0, None, None, None),
            PendingPrediction(ids[2], 1, 0, ("e7e5", "c7c5"), (0.6, 0.3), 1.5),
            PendingPrediction(ids[2], 1, 0, ("d7d5",), None, 1.75),
        ]
        committed_at = await store.commit_moves(batch)
        predictions = await store.get_predictions(ids[2])
        assert [(p.ply, p.seat, p.moves, p.probs, p.received_at) for p in predictions] == [
            (1, 0, ["e7e5", "c7c5"], [0.6, 0.3], 1.5),
            (1, 0, ["d7d5"], None, 1.75),
        ]
        first = await store.get_moves(ids[0])
        assert [(m.move, m.meta, m.committed_at) for m in first] == [
            ("e2e4", {"actor_ms": 5.0}, committed_at)
        ]
        moved, finished, other = [await store.get_game(g) for g in ids]
        assert moved is not None and finished is not None and other is not None
        assert (moved.state, moved.ply, moved.clocks) == ("after0", 1, (59_000, 60_000))
        assert (finished.status, finished.result, finished.reason) == ("finished", "1-0", "resign")
        assert finished.finished_at == int(committed_at)
        assert other.status == "created" and other.state == "after2"
        assert (await store.get_moves(ids[2]))[0].meta is None
    finally:
        await store.close()


def _record(ply: int, state_after: str) -> MoveRecord:
    return MoveRecord(
        ply=ply,
        seat=0,
        move="e2e4",
        display="e4",
        state_after=state_after,
        response_ms=3,
        clocks_after=(59_000, 60_000),
    )
