"""Hot frames encoded by hand are byte for byte what the pydantic models produce."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arena.events import missed_events, state_frame
from arena.frames import MovesJson, move_ack_json, state_json
from arena.match import MoveRecord
from arena.protocol import Clocks, MoveAck, StateEvent, dump, parse_server_message
from games.chess import ChessGame

# Any text pydantic can encode: quotes, backslashes, control characters, non-ASCII
# (lone surrogates are not text).
texts = st.text(st.characters(codec="utf-8"), max_size=40)
clock = st.none() | st.integers(min_value=-(10**6), max_value=10**12)


@given(
    game_id=texts,
    ply=st.integers(min_value=1, max_value=100_000),
    last_move=texts,
    display=texts,
    moves=st.lists(texts, max_size=12),
    state=texts,
    to_move=st.none() | st.integers(min_value=0, max_value=1),
    remaining=st.tuples(clock, clock),
    time_control=texts,
)
def test_state_frame_equals_the_model(
    game_id: str,
    ply: int,
    last_move: str,
    display: str,
    moves: list[str],
    state: str,
    to_move: int | None,
    remaining: tuple[int | None, int | None],
    time_control: str,
) -> None:
    """A ``state`` built from encoded parts equals ``dump(StateEvent(...))``."""
    model = StateEvent(
        game_id=game_id,
        seq=ply,
        ply=ply,
        last_move=last_move,
        display=display,
        moves=moves,
        state=state,
        to_move=to_move,
        clocks=Clocks(remaining_ms=remaining, time_control=time_control),
    )
    fast = state_json(
        game_id=game_id,
        ply=ply,
        last_move=last_move,
        display=display,
        moves=MovesJson(moves).text,
        state=state,
        to_move=to_move,
        remaining_ms=remaining,
        time_control=time_control,
    )
    assert fast == dump(model)
    assert parse_server_message(fast) == model


@given(
    game_id=texts,
    ply=st.integers(min_value=0, max_value=100_000),
    move=texts,
    response_ms=st.integers(min_value=0, max_value=10**9),
)
def test_move_ack_equals_the_model(game_id: str, ply: int, move: str, response_ms: int) -> None:
    """A ``move_ack`` built by hand equals ``dump(MoveAck(...))``."""
    model = MoveAck(game_id=game_id, ply=ply, move=move, response_ms=response_ms)
    assert move_ack_json(game_id, ply, move, response_ms) == dump(model)


@given(st.lists(texts, max_size=20))
def test_moves_json_grown_one_by_one_equals_built_at_once(moves: list[str]) -> None:
    """Appending moves one at a time gives the same array as encoding the list."""
    grown = MovesJson()
    for move in moves:
        grown.append(move)
    assert grown.text == MovesJson(moves).text


def test_replayed_states_equal_the_live_ones() -> None:
    """The events rebuilt for a resume equal the frames built live with a kept move list."""
    game = ChessGame()
    state = game.initial_state()
    records: list[MoveRecord] = []
    live: list[str] = []
    kept = MovesJson()
    for ply, move in enumerate(["e2e4", "e7e5", "g1f3", "b8c6", "f1b5"]):
        state = game.apply(state, move)
        records.append(
            MoveRecord(ply, ply % 2, move, move, game.encode_state(state), 10 + ply, (1000, None))
        )
        kept.append(move)
        live.append(state_frame("g1", records, ply, game.to_move(state), "5+0", moves=kept))
        assert live[-1] == state_frame("g1", records, ply, game.to_move(state), "5+0")
    replayed = missed_events(
        "g1", game, records, since=2, max_plies=None, time_control="5+0", over=None
    )
    assert replayed == live[2:]
