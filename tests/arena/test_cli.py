"""The command line, end to end: play, list, export, tokens."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import chess.pgn
from click.testing import CliRunner

from arena.cli import main
from arena.store import Store


def test_play_list_export(tmp_path: Path) -> None:
    """`arena play` finishes a chess and a Connect Four game; `games` and `export pgn` show them."""
    db = str(tmp_path / "x.db")
    runner = CliRunner()
    chess_run = runner.invoke(main, ["play", "stockfish:nodes=2000", "random", "--db", db])
    assert chess_run.exit_code == 0, chess_run.output
    assert "stockfish:nodes=2000 vs random:" in chess_run.output
    c4_run = runner.invoke(main, ["play", "random", "random", "--game", "connect4", "--db", db])
    assert c4_run.exit_code == 0, c4_run.output
    assert "random#1 vs random#2" in c4_run.output

    listed = runner.invoke(main, ["games", "--db", db, "--json"])
    games = json.loads(listed.output)
    assert {g["game"] for g in games} == {"chess", "connect4"}
    assert all(g["status"] == "finished" and g["result"] and g["plies"] > 0 for g in games)
    chess_game = next(g for g in games if g["game"] == "chess")

    exported = runner.invoke(main, ["export", "pgn", chess_game["id"], "--db", db])
    assert exported.exit_code == 0
    parsed = chess.pgn.read_game(io.StringIO(exported.output))
    assert parsed is not None
    assert len(list(parsed.mainline_moves())) == chess_game["plies"]
    assert parsed.headers["White"] == "stockfish:nodes=2000"


def test_play_bad_spec_is_a_clear_error(tmp_path: Path) -> None:
    """An unknown player kind is refused with the valid kinds, before anything starts."""
    result = CliRunner().invoke(main, ["play", "gpt9", "random", "--db", str(tmp_path / "y.db")])
    assert result.exit_code == 2
    assert "unknown player kind 'gpt9'" in result.output and "stockfish" in result.output


def test_export_unknown_game(tmp_path: Path) -> None:
    """Exporting a game that does not exist says so."""
    result = CliRunner().invoke(main, ["export", "pgn", "nope", "--db", str(tmp_path / "z.db")])
    assert result.exit_code == 1 and "no game 'nope'" in result.output


def test_protocol_schema_prints_json() -> None:
    """`arena protocol schema` prints a JSON schema."""
    result = CliRunner().invoke(main, ["protocol", "schema"])
    assert json.loads(result.output)["title"] == "Speculative Arena protocol v1"


def test_bot_add_and_list(tmp_path: Path) -> None:
    """`bot add` prints a token once; a second add of the same name fails; `bot list` shows it."""
    db = str(tmp_path / "b.db")
    runner = CliRunner()
    added = runner.invoke(main, ["bot", "add", "mybot", "--db", db])
    assert added.exit_code == 0 and "arena_" in added.output
    again = runner.invoke(main, ["bot", "add", "mybot", "--db", db])
    assert again.exit_code == 1 and "already exists" in again.output
    listed = json.loads(runner.invoke(main, ["bot", "list", "--db", db, "--json"]).output)
    assert listed == [{"name": "mybot", "kind": "external", "spec": None, "games": 0}]


def test_tokens_revoke_and_admin(tmp_path: Path) -> None:
    """`bot token` adds a token, `bot revoke` invalidates all of a bot's tokens, and
    `admin token` issues a token of scope admin."""
    db = str(tmp_path / "t.db")
    runner = CliRunner()
    first = runner.invoke(main, ["bot", "add", "rb", "--db", db]).output.split()[-1]
    second = runner.invoke(main, ["bot", "token", "rb", "--db", db]).output.split()[-1]
    admin = runner.invoke(main, ["admin", "token", "--db", db]).output.split()[-1]
    revoked = runner.invoke(main, ["bot", "revoke", "rb", "--db", db])
    assert revoked.exit_code == 0 and "revoked 2 token(s)" in revoked.output
    missing = runner.invoke(main, ["bot", "revoke", "nobody", "--db", db])
    assert missing.exit_code == 1 and "no bot or admin named 'nobody'" in missing.output

    async def scopes() -> list[str | None]:
        store = await Store.open(db)
        try:
            rows = [await store.principal_by_token(t) for t in (first, second, admin)]
            return [None if r is None else r.scope for r in rows]
        finally:
            await store.close()

    assert asyncio.run(scopes()) == [None, None, "admin"]
