"""Protocol fuzzing with hypothesis against a live ``arena serve`` process.

Over ten thousand generated frames (malformed JSON, random JSON, binary frames,
and client messages with fuzzed fields, alone and in sequences) go to a real
server over real websockets: on a bot's authenticated connection, as the
first message of a new connection, and on a spectator's connection. Every
frame is followed by a ``ping`` so each answer is attributed to the frame
that caused it. Checked: every answer is a well-formed server message and
never ``internal``; the connection stays usable; the database changes exactly
by what was accepted (a ``move_ack`` per stored move, an unanswered
``predict`` per stored prediction) and not at all otherwise; the server's log
has no error; its memory stays bounded; and it still answers at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from arena.bench.crash import ServerProcess, free_port
from arena.errors import ErrorCode, ProtocolError
from arena.protocol import Ping, parse_client_message, parse_server_message
from arena.store import Store
from games import get_game

pytestmark = pytest.mark.slow

KNOWN_CODES = {int(c) for c in ErrorCode} - {int(ErrorCode.INTERNAL)}
FIELDS = ("game_id", "ply", "move", "moves", "probs", "token", "protocol", "id", "game",
          "time_control", "opponent", "max_plies", "meta", "resume", "client", "type")  # fmt: skip


@dataclass
class Live:
    """The server and the connections the fuzzer talks through."""

    server: ServerProcess
    db: str
    tokens: dict[str, str]
    game_id: str = ""
    moves: list[str] = field(default_factory=list)
    """The moves of the current game (the fuzzed bot plays White)."""
    state: Any = None
    """The position after ``moves``."""
    legal: list[str] = field(default_factory=list)
    """The legal moves there."""
    bot: ClientConnection | None = None
    partner: ClientConnection | None = None
    sent: int = 0
    accepted_moves: int = 0
    accepted_predictions: int = 0
    answers: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/ws"


def recv(ws: ClientConnection) -> dict[str, Any]:
    raw = ws.recv(timeout=10)
    assert isinstance(raw, str), raw
    parse_server_message(raw)  # every answer is a well-formed server message
    data: dict[str, Any] = json.loads(raw)
    return data


def open_ws(url: str) -> ClientConnection:
    """A connection kept open across calls (not a ``with`` block)."""
    return connect(url, max_size=None, legacy=True)


def hello(url: str, token: str) -> ClientConnection:
    ws = open_ws(url)
    ws.send(json.dumps({"type": "hello", "token": token}))
    assert recv(ws)["type"] == "welcome"
    return ws


def counts(db: str) -> tuple[int, ...]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return tuple(
            int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ("moves", "predictions", "games", "bots", "tokens", "tournaments")
        )
    finally:
        conn.close()


def counts_once_stored(db: str, before: tuple[int, ...], predictions: int) -> tuple[int, ...]:
    """The counts once the accepted predictions are in. The server stores a prediction
    without holding up the connection's next frame (a ``pong`` does not wait for it),
    so they may land a moment later; more than were accepted must never appear."""
    deadline = time.monotonic() + 10.0
    while True:
        after = counts(db)
        if after[1] - before[1] >= predictions or time.monotonic() > deadline:
            return after
        time.sleep(0.01)  # the store is another process's file: there is nothing to await


def new_game(live: Live) -> None:
    """A fresh chess game between the fuzzed bot (White to move) and its partner."""
    for ws in (live.bot, live.partner):
        if ws is not None:
            ws.close()
    live.bot = hello(live.url, live.tokens["fuzz"])
    live.partner = hello(live.url, live.tokens["partner"])
    live.bot.send(json.dumps({"type": "seek", "game": "chess", "time_control": "none"}))
    live.partner.send(json.dumps({"type": "seek", "game": "chess", "time_control": "none"}))
    while (msg := recv(live.bot))["type"] != "game_start":
        pass
    live.game_id = msg["game_id"]
    assert msg["seat"] == 0
    live.moves = []
    advance(live, None)


def advance(live: Live, move: str | None) -> None:
    """Play ``move`` on the tracked position (or reset it to the start)."""
    chess = get_game("chess")
    if move is None:
        live.state = chess.initial_state()
    else:
        live.moves.append(move)
        live.state = chess.apply(live.state, move)
    live.legal = sorted(chess.legal_moves(live.state))


def partner_replies(live: Live, white_move: str) -> bool:
    """After White's accepted move, the partner answers at once, so White is to move
    again. True if the game is over."""
    assert live.partner is not None
    advance(live, white_move)
    reply = live.legal
    if not reply:
        return True
    frame = {"type": "move", "game_id": live.game_id, "ply": len(live.moves), "move": reply[0]}
    live.partner.send(json.dumps(frame))
    while (msg := recv(live.partner))["type"] != "move_ack":
        if msg["type"] == "game_over":
            return True
        assert msg["type"] != "error", msg
    advance(live, reply[0])
    assert live.bot is not None
    while (msg := recv(live.bot)) != {**msg, "type": "state", "seq": len(live.moves)}:
        pass  # the bot's copy of the reply, so it is not taken for an answer to a fuzzed frame
    return get_game("chess").outcome(live.state) is not None


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("fuzz")
    db = str(tmp / "fuzz.db")

    async def setup() -> dict[str, str]:
        store = await Store.open(db)
        try:
            tokens = {}
            for name in ("fuzz", "partner", "outsider"):
                bot = await store.add_bot(name)
                tokens[name] = await store.issue_token(bot.id)
            return tokens
        finally:
            await store.close()

    tokens = asyncio.run(setup())
    server = ServerProcess(db, free_port(), tmp, "--rate-limit", "1000000")
    asyncio.run(server.start())
    live = Live(server, db, tokens)
    try:
        new_game(live)
        yield live
    finally:
        for ws in (live.bot, live.partner):
            if ws is not None:
                with contextlib.suppress(Exception):
                    ws.close()
        server.stop()


# ---------------------------------------------------------------------- strategies

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=6,
)
plausible_moves = st.sampled_from(
    ["e2e4", "d2d4", "g1f3", "e7e5", "e2e5", "Nf3", "O-O", "a1a8q", "4", ""]
)


GAME = "@GAME@"
"""Stands for the current game's id in generated frames (set when they are sent), so
that what hypothesis draws does not depend on the server's state."""


@st.composite
def client_messages(draw: st.DrawFn) -> str:
    """A client message whose type and fields are each valid, plausible or random."""
    kinds = st.sampled_from(["move", "predict", "resign", "ping", "seek", "hello"])
    msg: dict[str, Any] = {"type": draw(kinds | st.text(max_size=12))}
    game = st.sampled_from([GAME, "nope", ""]) | st.text(max_size=70)
    meta = st.fixed_dictionaries(
        {},
        optional={
            "actor_ms": st.floats(-5, 1e9),
            "comment": st.text(max_size=50),
            "bogus": st.integers(),
        },
    )
    controls = st.sampled_from(["60+1", "none", "5/move", "0+0", "-1+2", "abc"])
    values: dict[str, st.SearchStrategy[Any]] = {
        "game_id": game,
        "ply": st.integers(-2, 3) | st.integers() | json_values,
        "move": plausible_moves | st.text(max_size=40) | json_values,
        "moves": st.lists(plausible_moves, max_size=10) | json_values,
        "probs": st.lists(st.floats(-1, 2), max_size=10) | json_values,
        "meta": meta | json_values,
        "time_control": controls | st.text(max_size=10),
        "game": st.sampled_from(["chess", "connect4", "go"]) | st.text(max_size=10),
    }
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=5, unique=True)):
        if name != "type":
            msg[name] = draw(values.get(name, json_values))
    return json.dumps(msg)


@dataclass(frozen=True)
class Valid:
    """A message the server accepts, made concrete when it is sent (:func:`concrete`)."""

    kind: str
    index: int = 0
    """Which legal move (modulo their number), or how many plies ahead to predict."""
    guesses: tuple[str, ...] = ()


guesses = st.lists(plausible_moves.filter(bool), min_size=1, max_size=3).map(tuple)
valid_messages = st.one_of(
    st.builds(Valid, st.just("move"), st.integers(0, 1000)),
    st.builds(Valid, st.just("predict"), st.integers(0, 3), guesses),
    st.sampled_from([Valid("move")] * 9 + [Valid("resign")]),
)


def concrete(frame: str | bytes | Valid, live: Live) -> str | bytes:
    """The frame to send now, in the game as it stands."""
    if isinstance(frame, bytes):
        return frame
    if isinstance(frame, str):
        return frame.replace(GAME, live.game_id)
    ply = len(live.moves)
    if frame.kind == "move":
        move = live.legal[frame.index % len(live.legal)] if live.legal else "e2e4"
        return json.dumps({"type": "move", "game_id": live.game_id, "ply": ply, "move": move})
    if frame.kind == "predict":
        moves = list(frame.guesses)
        msg = {"type": "predict", "game_id": live.game_id, "ply": ply + frame.index, "moves": moves}
        return json.dumps(msg)
    return json.dumps({"type": "resign", "game_id": live.game_id})


frames: st.SearchStrategy[str | bytes | Valid] = st.one_of(
    valid_messages,
    client_messages(),
    json_values.map(json.dumps),
    st.text(max_size=60),
    st.binary(max_size=60),
    st.sampled_from(['{"type": "ping"', "null", "[]", '"move"', "{}", "\x00", "{" * 200]),
)


def fuzz(examples: int) -> settings:
    """Settings of a bounded, reproducible run (no example database on disk)."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ---------------------------------------------------------------------- the fuzzing


def is_ping(frame: str | bytes) -> bool:
    if isinstance(frame, bytes):
        return False
    try:
        return isinstance(parse_client_message(frame), Ping)
    except ProtocolError:
        return False


def exchange(
    live: Live, ws: ClientConnection, batch: list[str | bytes]
) -> list[list[dict[str, Any]]]:
    """Send each frame followed by a ``ping``, all at once; the answers between one
    frame's ping and the previous one are that frame's (the server answers in order)."""
    tags = []
    for frame in batch:
        tags.append(f"t{live.sent}")
        ws.send(frame)
        ws.send(json.dumps({"type": "ping", "id": tags[-1]}))
        live.sent += 1
    answers: list[list[dict[str, Any]]] = []
    for tag in tags:
        mine = []
        while (msg := recv(ws)) != {"type": "pong", "id": tag}:
            mine.append(msg)
            live.answers[msg["type"]] = live.answers.get(msg["type"], 0) + 1
            if msg["type"] == "error":
                assert msg["code"] in KNOWN_CODES, msg
        answers.append(mine)
    return answers


def test_fuzzed_messages_and_sequences_on_a_bot_connection(live: Live) -> None:
    """Sequences of fuzzed frames from a seated bot: answers well-formed, state changes
    only by what was accepted."""

    @fuzz(600)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        assert live.bot is not None
        drawn = data.draw(st.lists(frames, min_size=10, max_size=30))
        batch = [concrete(frame, live) for frame in drawn]
        before = counts(live.db)
        moves = predictions = 0
        played: str | None = None
        over = False
        for frame, answers in zip(batch, exchange(live, live.bot, batch), strict=True):
            types = [a["type"] for a in answers]
            moves += types.count("move_ack")
            played = next((a["move"] for a in answers if a["type"] == "move_ack"), played)
            over = over or "game_over" in types
            is_predict = isinstance(frame, str) and '"type": "predict"' in frame
            if is_predict and not answers:
                predictions += 1
        after = counts_once_stored(live.db, before, predictions)
        assert after[0] - before[0] == moves, (before, after, moves)
        assert after[1] - before[1] == predictions, (before, after, predictions)
        assert after[2:] == before[2:]  # no game, bot, token or tournament from fuzz
        live.accepted_moves += moves
        live.accepted_predictions += predictions
        if not over and played is not None:
            over = partner_replies(live, played)
        if over:
            new_game(live)

    run()
    assert live.sent >= 8000
    assert live.accepted_moves > 0 and live.accepted_predictions > 0  # not only rejections


def test_fuzzed_first_messages_and_spectator_frames(live: Live) -> None:
    """A fuzzed first message gets an error and a close with the same code (or a welcome
    for a real hello); on a spectator connection, everything is refused. Nothing changes."""
    before = counts(live.db)
    watch_url = f"ws://127.0.0.1:{live.server.port}/ws/watch/{live.game_id}"
    spectator = open_ws(watch_url)
    assert recv(spectator)["type"] == "game_start"

    @fuzz(500)
    @given(frames, frames)
    def run(first_frame: str | bytes | Valid, watched_frame: str | bytes | Valid) -> None:
        first, watched = concrete(first_frame, live), concrete(watched_frame, live)
        with connect(live.url, max_size=None) as ws:
            ws.send(first)
            live.sent += 1
            answer = recv(ws)
            if answer["type"] == "error":
                assert answer["code"] in KNOWN_CODES
                with pytest.raises(ConnectionClosed) as info:
                    ws.recv(timeout=10)
                assert info.value.rcvd is not None and info.value.rcvd.code == answer["code"]
            else:
                assert answer["type"] == "welcome"  # a well-formed hello with a real token
        (answers,) = exchange(live, spectator, [watched])
        if is_ping(watched):  # a liveness check is answered; anything else is refused
            assert [a["type"] for a in answers] == ["pong"]
            return
        assert [a["type"] for a in answers] == ["error"], (watched, answers)
        assert answers[0]["code"] in (ErrorCode.READ_ONLY, ErrorCode.BINARY_FRAME)

    rss_before = live.server.rss_kb()
    run()
    spectator.close()
    assert counts(live.db) == before
    assert live.server.rss_kb() - rss_before < 40_000  # bounded: under 40 MB of growth


def test_the_server_is_well_after_fuzzing(live: Live) -> None:
    """After the fuzzing: over 10,000 frames sent, the server answers, and its log is clean."""
    assert live.sent >= 10_000, live.sent
    ws = hello(live.url, live.tokens["outsider"])
    ws.send(json.dumps({"type": "ping", "id": "end"}))
    while recv(ws)["type"] != "pong":
        pass
    ws.close()
    assert live.server.errors() == []
    accepted = f"moves {live.accepted_moves}, predictions {live.accepted_predictions} accepted"
    print(f"fuzz: {live.sent} frames; answers {live.answers}; {accepted}")
