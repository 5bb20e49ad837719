"""lichess's published shapes of the events the arena sends, transcribed from the
OpenAPI specification (``lichess-org/api``, ``doc/specs/schemas/*.yaml``): the
required fields of each event type and the enums of its fields."""

from __future__ import annotations

from typing import Any

_NAMES = "created started aborted mate resign stalemate timeout draw outoftime cheat noStart"
GAME_STATUS_NAMES = frozenset(  # GameStatusName.yaml
    [*_NAMES.split(), "unknownFinish", "insufficientMaterialClaim", "variantEnd"]
)
GAME_STATUS_IDS = frozenset({10, 20, 25, 30, 31, 32, 33, 34, 35, 36, 37, 38, 60})
SPEEDS = frozenset(  # Speed.yaml
    ["ultraBullet", "bullet", "blitz", "rapid", "classical", "correspondence"]
)
COLORS = frozenset({"white", "black"})  # GameColor.yaml

# GameFullEvent.yaml: required
GAME_FULL: tuple[str, ...] = ("type", "id", "variant", "speed", "perf", "rated", "createdAt")
GAME_FULL += ("white", "black", "initialFen", "state")
# GameStateEvent.yaml: required
GAME_STATE = ("type", "moves", "wtime", "btime", "winc", "binc", "status")
# GameStartEvent.yaml / GameFinishEvent.yaml: type + game (GameEventInfo, all optional there;
# lichess-bot reads these)
EVENT_GAME: tuple[str, ...] = (
    "gameId",
    "fullId",
    "color",
    "fen",
    "status",
    "variant",
    "speed",
    "opponent",
)
EVENT_GAME += ("isMyTurn", "compat", "id", "hasMoved", "rated", "perf", "lastMove", "source")


def check_game_state(event: dict[str, Any]) -> None:
    """Fail unless ``event`` is a ``gameState`` as lichess specifies it."""
    assert event["type"] == "gameState"
    missing = [k for k in GAME_STATE if k not in event]
    assert not missing, f"gameState lacks {missing}: {event}"
    assert isinstance(event["moves"], str)
    for key in ("wtime", "btime", "winc", "binc"):
        value = event[key]
        # berserk turns the clocks of a top-level gameState into timedeltas
        assert isinstance(value, int) or hasattr(value, "total_seconds"), (key, value)
    assert event["status"] in GAME_STATUS_NAMES
    if "winner" in event:
        assert event["winner"] in COLORS


def check_game_full(event: dict[str, Any]) -> None:
    """Fail unless ``event`` is a ``gameFull`` as lichess specifies it."""
    assert event["type"] == "gameFull"
    missing = [k for k in GAME_FULL if k not in event]
    assert not missing, f"gameFull lacks {missing}: {event}"
    assert event["variant"]["key"] == "standard"
    assert event["speed"] in SPEEDS
    assert isinstance(event["perf"]["name"], str)
    assert isinstance(event["rated"], bool)
    for color in ("white", "black"):
        player = event[color]
        assert isinstance(player["id"], str) and isinstance(player["name"], str)
        assert player["title"] == "BOT"
    if "clock" in event:
        assert isinstance(event["clock"]["initial"], int)
        assert isinstance(event["clock"]["increment"], int)
    check_game_state(event["state"])


def check_event(event: dict[str, Any]) -> None:
    """Fail unless ``event`` is a ``gameStart``/``gameFinish`` as lichess-bot reads them."""
    assert event["type"] in ("gameStart", "gameFinish")
    game = event["game"]
    missing = [k for k in EVENT_GAME if k not in game]
    assert not missing, f"{event['type']} lacks {missing}: {event}"
    assert game["color"] in COLORS
    assert game["status"]["id"] in GAME_STATUS_IDS
    assert game["status"]["name"] in GAME_STATUS_NAMES
    assert game["speed"] in SPEEDS
    assert game["compat"]["bot"] is True
