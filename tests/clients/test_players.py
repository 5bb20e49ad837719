"""Player specs and the built-in players."""

from __future__ import annotations

import pytest

from clients.actors.engine import EngineOptions, EnginePlayer, find_stockfish
from clients.actors.random_player import RandomOptions
from clients.players import PlayerSpecError, parse_player_spec
from clients.sdk import GameView
from games import get_game


def test_parse_spec_with_options() -> None:
    """'stockfish:nodes=20000,skill=3' gives typed options."""
    spec = parse_player_spec("stockfish:nodes=20000,skill=3")
    assert spec.kind.name == "stockfish"
    assert spec.options == EngineOptions(nodes=20000, skill=3)
    assert parse_player_spec("random").options == RandomOptions()
    assert parse_player_spec("random:seed=7").options == RandomOptions(seed=7)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("alphazero", "valid kinds: random"),
        ("stockfish:speed=3", "valid options: depth, hash, movetime, nodes"),
        ("stockfish:nodes=many", "must be int"),
        ("random:seed", "key=value"),
    ],
)
def test_bad_specs(text: str, fragment: str) -> None:
    """Unknown kinds, keys and bad values are errors that list what is valid."""
    with pytest.raises(PlayerSpecError, match=fragment):
        parse_player_spec(text)


def test_find_stockfish_explicit_path_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong explicit path falls back to the other places, which are listed if all fail."""
    monkeypatch.setenv("STOCKFISH_PATH", "/nonexistent/stockfish")
    found = find_stockfish("/also/missing")
    assert found.endswith("stockfish")


def view_for(moves: list[str]) -> GameView:
    game = get_game("chess")
    state = game.initial_state()
    for m in moves:
        state = game.apply(state, m)
    return GameView(
        game_id="g",
        game=game,
        seat=len(moves) % 2,
        players=("a", "b"),
        initial_state=game.initial_state(),
        state=state,
        moves=moves,
        clocks=(60_000, 60_000),
        time_control="60+0",
        max_plies=None,
        to_move=len(moves) % 2,
    )


async def test_stockfish_is_deterministic_at_fixed_nodes() -> None:
    """Real Stockfish at fixed nodes gives the same legal move for the same position."""
    first, second = EnginePlayer(EngineOptions(nodes=5000)), EnginePlayer(EngineOptions(nodes=5000))
    try:
        view = view_for(["e2e4", "e7e5", "g1f3"])
        a = await first.choose_move(view)
        b = await second.choose_move(view)
        again = await first.choose_move(view_for(["d2d4"]))
        a2 = await first.choose_move(view)
    finally:
        await first.close()
        await second.close()
    assert a == b == a2
    assert a in view.legal_moves()
    assert again in view_for(["d2d4"]).legal_moves()


async def test_stockfish_finds_mate_in_one() -> None:
    """The engine plays a real search: it finds a mate in one."""
    player = EnginePlayer(EngineOptions(depth=5))
    try:
        move = await player.choose_move(view_for(["e2e4", "e7e5", "f1c4", "b8c6", "d1h5", "g8f6"]))
    finally:
        await player.close()
    assert move == "h5f7"
