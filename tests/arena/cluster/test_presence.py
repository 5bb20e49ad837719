"""Presence across nodes: the bots of a node that died stop counting as present on every
node (not only the one that swept it), and a game taken over at start-up sees its bots
connected to other nodes at once."""

from __future__ import annotations

from pathlib import Path

from arena.bench.crash import ServerProcess, free_port
from arena.limits import Limits
from arena.serve import running_server
from tests.arena.cluster.strict import (
    bot_tokens,
    connect,
    frames_through,
    move,
    pair,
    quiet,
    seek,
    summary,
)

SHORT_GRACE = Limits(grace_min_s=0.5, grace_max_s=0.5)


async def test_bots_of_a_dead_node_are_away_on_nodes_that_did_not_sweep(
    pg_url: str, tmp_path: Path
) -> None:
    """Three nodes: A hosts a game between X (on A) and Z (on C); A never sweeps, B
    does. C is killed; B's sweep tells A, whose grace period for Z then runs out: the
    game ends (aborted, no move was played) and X is told."""
    async with running_server(pg_url, limits=SHORT_GRACE) as a:  # adopts nothing
        tokens = {}
        for name in ("x", "z"):
            bot = await a.store.add_bot(name)
            tokens[name] = await a.store.issue_token(bot.id)
        c = ServerProcess(pg_url, free_port(), tmp_path)
        try:
            await c.start()
            z = await connect(f"ws://127.0.0.1:{c.port}/ws", tokens["z"])
            await seek(z, "x")
            assert summary(await frames_through(z, "seek_ack")) == [("seek_ack", None)]
            x = await connect(a.ws_url, tokens["x"])
            await seek(x, "z")  # A hosts the game; Z is present for A (connected to C)
            start = (await frames_through(x, "game_start"))[-1]
            assert start["status"] == "active"
            await frames_through(z, "game_start")
            await quiet(x)
            async with running_server(
                pg_url, recover=True, limits=Limits(cluster_sweep_s=0.05)
            ) as b:
                assert b.cluster is not None and b.cluster.adopt
                c.kill()  # B's next sweep finds C gone
                over = (await frames_through(x, "game_over"))[-1]
                assert (over["game_id"], over["reason"]) == (start["game_id"], "aborted")
            await x.close()
        finally:
            c.stop()
        row = await a.store.get_game(start["game_id"])
        assert row is not None and (row.status, row.reason) == ("finished", "aborted")


async def test_a_game_taken_over_at_start_up_sees_its_bots_on_other_nodes(
    pg_url: str, tmp_path: Path
) -> None:
    """A hosts a game whose bots are both connected to B (which never sweeps); A is
    killed; C starts and takes the game over at once: it counts both bots present (they
    are, on B), so the game resumes and goes on instead of being lost by both."""
    async with running_server(pg_url) as b:  # adopts nothing
        tokens = await bot_tokens(b.store)
        a = ServerProcess(pg_url, free_port(), tmp_path)
        try:
            await a.start()
            game = await pair(f"ws://127.0.0.1:{a.port}/ws", b.ws_url, tokens)  # A hosts it
            x, y, game_id = game.x, game.y, game.game_id
            await move(y, game_id, 0, "f2f3")
            assert summary(await frames_through(x, "state")) == [("state", 1)]
            await x.close()
            x = await connect(b.ws_url, tokens["x"], resume={game_id: 1})
            assert summary(await frames_through(x, "resumed")) == [("resumed", None)]
            assert summary(await frames_through(y, "state")) == [("move_ack", 0), ("state", 1)]
            a.kill()
            async with running_server(pg_url, recover=True, limits=SHORT_GRACE) as c:
                assert c.host.recovered == [game_id]
                for ws in (x, y):  # resumed by C at once, relayed by B
                    frames = await frames_through(ws, "game_start")
                    assert [f["type"] for f in frames] == ["game_start"]
                    assert (frames[-1]["status"], frames[-1]["moves"]) == ("active", ["f2f3"])
                await move(x, game_id, 1, "e7e5")  # forwarded by B to C
                assert summary(await frames_through(x, "state")) == [("move_ack", 1), ("state", 2)]
                assert summary(await frames_through(y, "state")) == [("state", 2)]
                await move(y, game_id, 2, "g2g4")
                assert summary(await frames_through(y, "state")) == [("move_ack", 2), ("state", 3)]
                assert summary(await frames_through(x, "state")) == [("state", 3)]
                await move(x, game_id, 3, "d8h4")
                over = (await frames_through(y, "game_over"))[-1]
                assert (over["result"], over["reason"]) == ("0-1", "checkmate")
            await x.close()
            await y.close()
        finally:
            a.stop()
