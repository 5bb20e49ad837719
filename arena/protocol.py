"""Protocol v1: the typed messages exchanged over the websocket.

Every frame is one JSON object (a text frame) with a ``type`` field. Client
messages are parsed strictly (unknown fields are an error, so typos surface);
clients should ignore fields they do not know in server messages, so that the
server can add fields within v1. The reference for bot authors is
``docs/protocol.md``; ``arena protocol schema`` prints the JSON schema.

Conventions: moves are strings in the game's canonical notation (UCI for
chess); ``ply`` is the number of moves played before the move in question
(the first move of a game has ply 0); clocks are milliseconds indexed by seat;
``seq`` numbers the events of one game's stream (``state`` at ply n has
``seq == n``, ``game_over`` has ``seq == plies + 1``), identical for both
players and spectators and derived from the stored moves, so it survives a
server restart. A reconnecting bot sends the last ``seq`` it saw per game in
``hello.resume`` and gets exactly the events after it (or a ``game_start``
snapshot when the gap is long), then ``resumed``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from arena.errors import ErrorCode, ProtocolError
from arena.match import MAX_PLIES
from arena.safejson import JSONInputError, loads

__all__ = [
    "MAX_META_BYTES",
    "MAX_PLIES",
    "MAX_RESUME_GAMES",
    "MAX_SEQ",
    "PROTOCOL_VERSION",
    "BranchReport",
    "ClientMessage",
    "Clocks",
    "ErrorMessage",
    "GameOver",
    "GameStart",
    "Hello",
    "Move",
    "MoveAck",
    "MoveMeta",
    "Ping",
    "Pong",
    "Predict",
    "Resign",
    "Resumed",
    "ResumedGame",
    "Seek",
    "SeekAck",
    "ServerMessage",
    "StateEvent",
    "WarningMessage",
    "Welcome",
    "dump",
    "json_schema",
    "parse_client_frame",
    "parse_client_message",
]

PROTOCOL_VERSION = 1
MAX_PREDICTIONS = 8
MAX_BRANCH_REPORTS = 64
MAX_RESUME_GAMES = 64
"""Games a ``hello`` may name in ``resume``."""
MAX_META_BYTES = 24 * 1024
"""Largest ``move.meta``, encoded as compact UTF-8 JSON; a larger one refuses the move."""
MAX_MS = 86_400_000.0
"""Largest duration (ms, a day) a client may report in ``meta``."""
MAX_COUNT = 1_000_000_000
"""Largest count (tokens, calls) a client may report in ``meta``."""

GameId = Annotated[str, Field(min_length=1, max_length=64)]
Ply = Annotated[int, Field(ge=0, le=100_000)]
MAX_SEQ = 100_001
"""Largest ``seq`` a client may name (games stored by older versions may be long)."""
Seq = Annotated[int, Field(ge=0, le=MAX_SEQ)]
MoveText = Annotated[str, Field(min_length=1, max_length=32)]


Ms = Annotated[float, Field(ge=0, le=MAX_MS)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


class _Client(BaseModel):
    # Non-finite numbers never get this far (arena.safejson.loads refuses them);
    # allow_inf_nan=False keeps them out of messages built in Python too.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Server(BaseModel):
    # Clients ignore fields they do not know: the server may add fields within v1.
    model_config = ConfigDict(extra="ignore", frozen=True)


# ---------------------------------------------------------------- client -> server


class Hello(_Client):
    """First message of a bot connection: authenticates it."""

    type: Literal["hello"] = "hello"
    token: Annotated[str, Field(min_length=1, max_length=256, repr=False)]
    protocol: int = PROTOCOL_VERSION
    client: Annotated[str, Field(max_length=100)] | None = None
    """Free-form client name and version, e.g. ``"mybot/0.3"``."""
    resume: Annotated[dict[GameId, Seq], Field(max_length=MAX_RESUME_GAMES)] | None = None
    """The last ``seq`` this bot saw in each game it follows (on a reconnection):
    the server sends exactly the events after it, or a snapshot."""


class Seek(_Client):
    """Ask for an ad-hoc game; two matching seeks are paired into a game."""

    type: Literal["seek"] = "seek"
    game: Annotated[str, Field(min_length=1, max_length=64)] = "chess"
    time_control: Annotated[str, Field(max_length=32)] = "60+1"
    """``"BASE+INC"`` in seconds, ``"N/move"`` for N seconds per move, or ``"none"``."""
    opponent: Annotated[str, Field(max_length=64)] | None = None
    """Only pair with this bot name (a challenge); any opponent when absent."""
    max_plies: Annotated[int, Field(ge=1, le=MAX_PLIES)] | None = None


class BranchReport(_Client):
    """One speculative branch (an actor call on a predicted position), as the
    client ran it, for the replay's timeline. Times are milliseconds relative
    to the moment the client learnt the real position it then moved from (so a
    branch started during the opponent's turn has a negative ``started_ms``)."""

    line: Annotated[list[MoveText], Field(min_length=1, max_length=16)]
    """The guessed moves the branch assumed, after the real moves known when it started."""
    rank: Annotated[int, Field(ge=1, le=MAX_PREDICTIONS)]
    """Rank of the (last) guess in its speculator answer, 1 = top."""
    started_ms: Annotated[float, Field(ge=-MAX_MS, le=MAX_MS)]
    ended_ms: Annotated[float, Field(ge=-MAX_MS, le=MAX_MS)]
    outcome: Literal["kept", "cancelled", "discarded"]
    """``kept``: it produced this move; ``cancelled``: stopped before it finished;
    ``discarded``: it finished but its position never happened."""


class MoveMeta(_Client):
    """Figures a client reports about how it produced a move (stored as reported)."""

    actor_ms: Ms | None = None
    """How long the actor call that produced this move ran."""
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    spec_calls: Count | None = None
    spec_tokens: Count | None = None
    wasted_tokens: Count | None = None
    speculator_ms: Ms | None = None
    """Time the speculator took for the window before this move (its latency S)."""
    speculation: Literal["hit", "miss", "off"] | None = None
    comment: Annotated[str, Field(max_length=16_384)] | None = None
    """Free text kept for the replay, e.g. an LLM's raw reply."""
    wait_ms: Ms | None = None
    """Client-side time from learning the real position to deciding (the actor
    call, on a miss, ends at ``wait_ms`` and started ``actor_ms`` before)."""
    branches: Annotated[list[BranchReport], Field(max_length=MAX_BRANCH_REPORTS)] | None = None
    """Branches that ended since the previous move (kept, cancelled, discarded)."""
    backoff: Annotated[str, Field(max_length=200)] | None = None
    """Why the player did not speculate on this move: its adaptive policy backed
    off (e.g. predictions too late to count, windows that cost more than they saved)."""


class Move(_Client):
    """Play ``move`` as the ``ply``-th move of ``game_id``."""

    type: Literal["move"] = "move"
    game_id: GameId
    ply: Ply
    move: MoveText
    meta: MoveMeta | None = None


class Predict(_Client):
    """Ranked predictions of the opponent's move at ``ply`` (best first)."""

    type: Literal["predict"] = "predict"
    game_id: GameId
    ply: Ply
    moves: Annotated[list[MoveText], Field(min_length=1, max_length=MAX_PREDICTIONS)]
    probs: (
        Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(max_length=MAX_PREDICTIONS)]
        | None
    ) = None
    """Optional probability of each move, same order as ``moves``."""


class Resign(_Client):
    """Resign ``game_id``; or, with ``reason = "engine_error"``, end it because the
    player's program failed (no result, not rated, recorded as such)."""

    type: Literal["resign"] = "resign"
    game_id: GameId
    reason: Literal["engine_error"] | None = None


class Ping(_Client):
    """Liveness check; answered by ``pong`` with the same ``id``."""

    type: Literal["ping"] = "ping"
    id: Annotated[str, Field(max_length=64)] | None = None


ClientMessage = Annotated[
    Hello | Seek | Move | Predict | Resign | Ping, Field(discriminator="type")
]
CLIENT_TYPES = frozenset({"hello", "seek", "move", "predict", "resign", "ping"})

# ---------------------------------------------------------------- server -> client


class Welcome(_Server):
    """Answer to a good ``hello``."""

    type: Literal["welcome"] = "welcome"
    protocol: int = PROTOCOL_VERSION
    bot: str
    server: str
    max_message_bytes: int
    rate_limit_per_s: float


class Clocks(_Server):
    """Time left per seat, in ms (``null`` without a clock), and the control."""

    remaining_ms: tuple[int | None, int | None]
    time_control: str
    """As in ``seek``: ``"60+1"``, ``"5/move"`` or ``"none"``."""


class GameStart(_Server):
    """A game this connection plays (or watches): a full snapshot.

    Sent when the game starts, and again on (re)connection for every game in
    progress, so a client can resume from it.
    """

    type: Literal["game_start"] = "game_start"
    game_id: str
    game: str
    seat: int | None
    """0 or 1 for a player; ``null`` for a spectator."""
    seat_names: tuple[str, str]
    players: tuple[str, str]
    """Bot names by seat."""
    initial_state: str
    moves: list[str]
    state: str
    ply: int
    to_move: int | None
    """Seat to move, ``null`` when the game is over."""
    clocks: Clocks
    max_plies: int | None
    seq: int
    status: Literal["active", "paused", "finished"]
    """``paused``: restored after a server restart, clocks stopped until both
    players are connected; another ``game_start`` (``active``) follows then."""


class StateEvent(_Server):
    """A move was played: the new position, sent to both players and spectators."""

    type: Literal["state"] = "state"
    game_id: str
    seq: int
    ply: int
    """Moves played so far (the ply of the next move)."""
    last_move: str
    display: str
    """``last_move`` as written for people (SAN for chess)."""
    moves: list[str]
    state: str
    to_move: int | None
    clocks: Clocks


class MoveAck(_Server):
    """The mover's move was committed to storage (sent before ``state``)."""

    type: Literal["move_ack"] = "move_ack"
    game_id: str
    ply: int
    move: str
    response_ms: int
    """Server-measured time from sending the position to receiving the move."""


class GameOver(_Server):
    """The game ended; ``result`` is ``1-0``, ``0-1``, ``1/2-1/2`` or ``*`` (aborted)."""

    type: Literal["game_over"] = "game_over"
    game_id: str
    seq: int
    result: str
    winner: int | None
    reason: str
    ply: int


class ResumedGame(_Server):
    """Where one game stands after a (re)connection."""

    game_id: str
    seq: int
    """The game's latest ``seq``: every event up to it has now been sent."""
    status: Literal["active", "paused", "finished"]
    mode: Literal["events", "snapshot"]
    """``events``: the missed events were sent (maybe none); ``snapshot``: a
    ``game_start`` was sent instead (no ``resume`` entry, or the gap was too long)."""
    seat: int | None = None
    """The bot's seat in the game."""
    game: str | None = None
    """The game's name (``chess``, ...)."""
    players: tuple[str, str] | None = None
    """Bot names by seat."""
    initial_state: str | None = None
    """The position the game started from: with the moves of the ``state`` events
    (or of a ``game_start``), enough for a restarted client to rebuild the game."""


class Resumed(_Server):
    """Sent once after ``welcome`` and the catch-up frames: the connection is in step.

    Lists every game of this bot in progress, and every game named in
    ``hello.resume`` that the bot plays.
    """

    type: Literal["resumed"] = "resumed"
    games: list[ResumedGame]


class SeekAck(_Server):
    """A ``seek`` is waiting for an opponent."""

    type: Literal["seek_ack"] = "seek_ack"
    seek_id: str


class ErrorMessage(_Server):
    """Something the client sent was refused; nothing changed unless stated."""

    type: Literal["error"] = "error"
    code: int
    name: str
    message: str
    game_id: str | None = None
    ply: int | None = None
    ref: str | None = None
    """The ``type`` of the message that was refused, when known."""


class Pong(_Server):
    """Answer to ``ping``."""

    type: Literal["pong"] = "pong"
    id: str | None = None


class WarningMessage(_Server):
    """Something in an accepted message was ignored (not an error: the message took effect).

    Sent before the message's answer (``move_ack`` for a move): e.g. ``meta``
    fields this server does not know, named in ``ignored``, or figures not
    stored because the game reached its storage limit.
    """

    type: Literal["warning"] = "warning"
    name: str
    """``ignored_fields`` or ``meta_not_stored``."""
    message: str
    game_id: str | None = None
    ply: int | None = None
    ref: str | None = None
    """The ``type`` of the message the warning is about."""
    ignored: list[str] = []
    """The names of the ignored fields, if any."""


ClientMessageType = Hello | Seek | Move | Predict | Resign | Ping
ServerMessageType = (
    Welcome
    | Resumed
    | GameStart
    | StateEvent
    | MoveAck
    | GameOver
    | SeekAck
    | ErrorMessage
    | Pong
    | WarningMessage
)
ServerMessage = Annotated[ServerMessageType, Field(discriminator="type")]

_client_adapter: TypeAdapter[ClientMessageType] = TypeAdapter(ClientMessage)
_server_adapter: TypeAdapter[ServerMessageType] = TypeAdapter(ServerMessage)
_META_FIELDS = frozenset(MoveMeta.model_fields)


def _about(raw: dict[str, Any]) -> tuple[str | None, int | None]:
    """The ``game_id`` and ``ply`` a frame names, when they have the right shape (so
    that an error about the frame can carry them)."""
    game_id, ply = raw.get("game_id"), raw.get("ply")
    return (
        game_id if isinstance(game_id, str) and 0 < len(game_id) <= 64 else None,
        ply if type(ply) is int and 0 <= ply <= 100_000 else None,
    )


def parse_client_frame(text: str | bytes) -> tuple[ClientMessageType, list[str]]:
    """Parse one frame from a client: the message, and the names of the ``move.meta``
    fields that were ignored because this server does not know them (the move is
    still valid; the server warns about them). Raises :class:`ProtocolError`
    saying why a frame cannot be accepted, with the frame's ``game_id``, ``ply``
    and ``type`` when it names them."""
    try:
        # Numbers are checked by the models (finite, in range), so that a refusal
        # names the field and carries the frame's game and ply.
        raw: Any = loads(text, numbers=False)
    except JSONInputError as exc:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, str(exc)) from None
    if not isinstance(raw, dict):
        raise ProtocolError(
            ErrorCode.BAD_MESSAGE, f"expected a JSON object, got {type(raw).__name__}"
        )
    kind = raw.get("type")
    if "type" not in raw:
        raise ProtocolError(
            ErrorCode.BAD_MESSAGE,
            f"missing field 'type'; valid types: {', '.join(sorted(CLIENT_TYPES))}",
        )
    if kind not in CLIENT_TYPES:
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {str(kind)[:40]!r}; valid types: "
            + ", ".join(sorted(CLIENT_TYPES)),
        )
    game_id, ply = _about(raw)
    ignored: list[str] = []
    meta = raw.get("meta")
    if kind == "move" and isinstance(meta, dict):
        ignored = sorted(str(k)[:64] for k in meta if k not in _META_FIELDS)[:16]
        if ignored:
            raw = raw | {"meta": {k: v for k, v in meta.items() if k in _META_FIELDS}}
    try:
        message = _client_adapter.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or '(message)'}: {err['msg']}"
            for err in exc.errors()[:8]
        )
        raise ProtocolError(
            ErrorCode.BAD_MESSAGE,
            f"invalid {kind!r} message: {problems}",
            game_id=game_id,
            ply=ply,
            ref=kind,
        ) from None
    if isinstance(message, Move) and message.meta is not None:
        size = len(message.meta.model_dump_json(exclude_none=True))
        if size > MAX_META_BYTES:
            raise ProtocolError(
                ErrorCode.BAD_MESSAGE,
                f"meta is {size} bytes; at most {MAX_META_BYTES} are accepted per move "
                "(shorten the comment or the branches, or send the move without meta)",
                game_id=game_id,
                ply=ply,
                ref=kind,
            )
    return message, ignored


def parse_client_message(text: str | bytes) -> ClientMessageType:
    """Parse one frame from a client, or raise :class:`ProtocolError` saying why not
    (unknown ``meta`` fields are dropped: see :func:`parse_client_frame`)."""
    return parse_client_frame(text)[0]


def parse_server_message(text: str | bytes) -> ServerMessageType:
    """Parse one frame from the server (used by the client SDK and tests)."""
    return _server_adapter.validate_json(text)


def dump(message: BaseModel) -> str:
    """Encode a message as the compact JSON text frame sent on the wire."""
    return message.model_dump_json()


def json_schema() -> dict[str, Any]:
    """One JSON schema covering every message of protocol v1, both directions."""
    both: TypeAdapter[Any] = TypeAdapter(
        Annotated[ClientMessageType | ServerMessageType, Field(discriminator="type")]
    )
    schema = both.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"Speculative Arena protocol v{PROTOCOL_VERSION}"
    schema["description"] = (
        "Every websocket text frame is one of these messages, told apart by 'type'. "
        "Client to server: hello, seek, move, predict, resign, ping. "
        "Server to client: welcome, resumed, game_start, state, move_ack, game_over, seek_ack, "
        "error, warning, pong. Error codes: "
        + ", ".join(f"{c.value} {c.name.lower()}" for c in ErrorCode)
        + "."
    )
    return schema
