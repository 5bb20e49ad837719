"""A lichess bot written against berserk, as a bot author would (run in a thread).

It knows nothing of the arena: it reads its event stream until ``gameStart``,
plays the game from its game stream (a seeded random legal move on its turn),
and returns what it saw, for the tests to check.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, cast

import berserk
import chess


def client(url: str, token: str) -> berserk.Client:
    """A berserk client for the arena at ``url`` (its base URL is all that changes)."""
    return berserk.Client(berserk.TokenSession(token), base_url=url)


Events = Generator[dict[str, Any], None, None]


def event_stream(api: berserk.Client) -> Events:
    """The bot's event stream (berserk's generator, as plain dicts)."""
    for event in api.bots.stream_incoming_events():
        yield cast(dict[str, Any], event)


def game_stream(api: berserk.Client, game_id: str) -> Events:
    """A game's stream (berserk's generator)."""
    yield from api.bots.stream_game_state(game_id)


@dataclass
class Seen:
    """What the bot received."""

    events: list[dict[str, Any]] = field(default_factory=list)
    game: list[dict[str, Any]] = field(default_factory=list)
    played: list[str] = field(default_factory=list)

    @property
    def last_state(self) -> dict[str, Any]:
        last = self.game[-1]
        state: dict[str, Any] = last["state"] if last["type"] == "gameFull" else last
        return state


def wait_game_start(api: berserk.Client, seen: Seen) -> tuple[str, str]:
    """Read the event stream until a ``gameStart``: the game's id and the bot's colour."""
    for event in event_stream(api):
        seen.events.append(event)
        if event["type"] == "gameStart":
            return event["game"]["gameId"], event["game"]["color"]
    raise AssertionError("the event stream ended without a gameStart")


def play_game(
    api: berserk.Client,
    game_id: str,
    color: str,
    seen: Seen,
    *,
    seed: int = 1,
    stop_after: int | None = None,
    predict: tuple[str, str] | None = None,
) -> None:
    """Play from the game stream until the game ends (or, with ``stop_after``,
    until the bot has made that many moves in total: the stream is then left)."""
    rng = random.Random(seed)
    me = chess.WHITE if color == "white" else chess.BLACK
    for event in game_stream(api, game_id):
        seen.game.append(event)
        if event["type"] not in ("gameFull", "gameState"):
            continue
        state = event["state"] if event["type"] == "gameFull" else event
        if state["status"] != "started":
            return
        fen = event.get("initialFen", "startpos") if event["type"] == "gameFull" else None
        board = chess.Board() if fen in (None, "startpos") else chess.Board(fen)
        for move in state["moves"].split():
            board.push_uci(move)
        if board.turn != me or board.is_game_over():
            continue
        if stop_after is not None and len(seen.played) >= stop_after:
            return
        move = rng.choice(sorted(m.uci() for m in board.legal_moves))
        if predict is not None:  # sent before the move, so it is in time for the reply
            board.push_uci(move)
            replies = sorted(m.uci() for m in board.legal_moves)[:8]
            if replies and not board.is_game_over():
                send_prediction(*predict, game_id, replies, ply=len(board.move_stack))
        api.bots.make_move(game_id, move)
        seen.played.append(move)


def send_prediction(url: str, token: str, game_id: str, moves: list[str], *, ply: int) -> None:
    """``POST /api/bot/game/{id}/predict`` (the arena's extension: berserk has no call for it)."""
    with berserk.TokenSession(token) as session:
        answer = session.post(
            f"{url}/api/bot/game/{game_id}/predict", json={"moves": moves, "ply": ply}, timeout=10
        )
    assert answer.ok, answer.text


def play_one(url: str, token: str, seed: int = 1) -> tuple[str, Seen]:
    """Wait for a game, play it to the end, then read the event stream up to its ``gameFinish``."""
    api = client(url, token)
    seen = Seen()
    events = event_stream(api)
    game_id: str | None = None
    color: str | None = None
    for event in events:
        seen.events.append(event)
        if event["type"] == "gameStart":
            game_id, color = event["game"]["gameId"], event["game"]["color"]
            break
    assert game_id is not None and color is not None
    play_game(api, game_id, color, seen, seed=seed)
    for event in events:
        seen.events.append(event)
        if event["type"] == "gameFinish":
            break
    events.close()
    return game_id, seen


def play_many(url: str, token: str, count: int, seed: int = 1) -> list[tuple[str, Seen]]:
    """Play the games the arena starts, one after the other, until ``count`` have finished."""
    api = client(url, token)
    played: list[tuple[str, Seen]] = []
    finished = 0
    events = event_stream(api)
    for event in events:
        if event["type"] == "gameStart":
            seen = Seen(events=[event])
            game = event["game"]
            play_game(api, game["gameId"], game["color"], seen, seed=seed + len(played))
            played.append((game["gameId"], seen))
        elif event["type"] == "gameFinish":
            finished += 1
            if finished == count:
                break
    events.close()
    return played
