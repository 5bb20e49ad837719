"""Player specs and the built-in actors."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.actors.engine import EngineActor, EngineOptions, find_stockfish
from clients.actors.random_player import RandomActor, RandomOptions
from clients.players import PlayerSpecError, SpeculationOptions, parse_player_spec
from clients.speculation import Meter, Position, SpeculationConfig
from games import get_game, replay


def test_parse_spec_with_options() -> None:
    """'stockfish:nodes=20000,skill=3' gives typed options; speculation options split off."""
    spec = parse_player_spec("stockfish:nodes=20000,skill=3")
    assert spec.kind.name == "stockfish"
    assert spec.options == EngineOptions(nodes=20000, skill=3)
    assert spec.speculation == SpeculationOptions()
    assert parse_player_spec("random").options == RandomOptions()
    assert parse_player_spec("random:seed=7").options == RandomOptions(seed=7)
    with_spec = parse_player_spec("stockfish:nodes=200000,spec=engine,k=2,depth=1")
    assert with_spec.speculation == SpeculationOptions(
        spec="engine", policy=SpeculationConfig(k=2, depth=1, adaptive=True)
    )
    assert with_spec.speculation.config().k == 2
    # Adaptive by default for every kind, unless the spec turns it off.
    assert spec.speculation.policy.adaptive
    off = parse_player_spec("stockfish:nodes=2000,spec=engine,adaptive=false")
    assert not off.speculation.policy.adaptive


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("alphazero", "valid kinds: random"),
        ("stockfish:speed=3", "valid options: hash, movetime, nodes, path, search_depth"),
        ("stockfish:nodes=many", "must be int"),
        ("random:seed", "key=value"),
        ("random:spec=oracle", "valid: none, engine, history, ensemble"),
        ("random:adaptive=maybe", "must be bool"),
    ],
)
def test_bad_specs(text: str, fragment: str) -> None:
    """Unknown kinds, keys and bad values are errors that list what is valid."""
    with pytest.raises(PlayerSpecError, match=fragment):
        parse_player_spec(text)


def test_option_names_do_not_clash() -> None:
    """No actor option shares a name with a speculation option (one key, one meaning)."""
    import dataclasses

    from clients.players import PLAYER_KINDS

    spec_keys = {f.name for f in dataclasses.fields(SpeculationOptions)}
    spec_keys |= {f.name for f in dataclasses.fields(SpeculationConfig)}
    for kind in PLAYER_KINDS.values():
        assert not spec_keys & {f.name for f in dataclasses.fields(kind.options_type)}, kind.name


def test_find_stockfish_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Lookup order: explicit path, STOCKFISH_PATH, PATH, Debian's games directory."""
    from clients.actors.engine import DEBIAN_GAMES_DIRS, EngineNotFoundError

    engine = tmp_path / "bin" / "stockfish"
    engine.parent.mkdir()
    engine.write_text("#!/bin/sh\n")
    engine.chmod(0o755)
    monkeypatch.setenv("STOCKFISH_PATH", str(engine))
    assert find_stockfish("/also/missing") == str(engine)
    monkeypatch.setenv("STOCKFISH_PATH", "/nonexistent/stockfish")
    monkeypatch.setenv("PATH", str(engine.parent))
    assert find_stockfish("/also/missing") == str(engine)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    debian = find_stockfish("/also/missing")
    assert debian in [f"{d}/stockfish" for d in DEBIAN_GAMES_DIRS]
    monkeypatch.setattr("clients.actors.engine.DEBIAN_GAMES_DIRS", ())
    with pytest.raises(EngineNotFoundError, match="install Debian's 'stockfish'"):
        find_stockfish("/also/missing")


def position(moves: list[str], game: str = "chess") -> Position:
    g = get_game(game)
    return Position(g, replay(g, moves), tuple(moves))


async def test_random_actor_is_a_function_of_the_position() -> None:
    """The random actor gives the same legal move for the same position and seed."""
    a, b = RandomActor(RandomOptions(seed=3)), RandomActor(RandomOptions(seed=3))
    pos = position(["4", "4"], "connect4")
    first = (await a.act(pos, Meter())).move
    await a.act(position(["1"], "connect4"), Meter())
    assert (await a.act(pos, Meter())).move == first == (await b.act(pos, Meter())).move
    assert first in pos.legal_moves()


async def test_stockfish_is_deterministic_at_fixed_nodes() -> None:
    """Stockfish at fixed nodes gives the same move for a position, whatever ran before."""
    first, second = EngineActor(EngineOptions(nodes=5000)), EngineActor(EngineOptions(nodes=5000))
    try:
        pos = position(["e2e4", "e7e5", "g1f3"])
        a = (await first.act(pos, Meter())).move
        other = (await first.act(position(["d2d4"]), Meter())).move
        a2 = (await first.act(pos, Meter())).move
        b = (await second.act(pos, Meter())).move
    finally:
        await first.close()
        await second.close()
    assert a == b == a2
    assert a in pos.legal_moves()
    assert other in position(["d2d4"]).legal_moves()


async def test_stockfish_finds_mate_in_one() -> None:
    """The engine plays a real search: it finds a mate in one."""
    actor = EngineActor(EngineOptions(search_depth=5))
    try:
        move = await actor.act(position(["e2e4", "e7e5", "f1c4", "b8c6", "d1h5", "g8f6"]), Meter())
    finally:
        await actor.close()
    assert move.move == "h5f7"


def test_stockfish_without_a_limit_plays_on_the_clock() -> None:
    """With no nodes/depth/movetime, the engine's limit comes from the arena clock."""
    actor = EngineActor(EngineOptions())
    actor.set_clock((30_000, 20_000), "30+2")
    limit = actor.limit(position([]))
    assert (limit.white_clock, limit.black_clock, limit.white_inc) == (29.95, 19.95, 2.0)
    actor.set_clock((None, None), "5/move")
    assert actor.limit(position([])).time == 4.0
