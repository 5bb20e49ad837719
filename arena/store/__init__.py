"""Storage: schema, migrations and the async :class:`Store`."""

from arena.store.db import (
    BotExistsError,
    BotRow,
    GameRow,
    MoveRow,
    PredictionRow,
    Store,
    StoreError,
    TokenRow,
    TournamentRow,
    database_url,
    hash_token,
    now_ms,
    redact_url,
)

__all__ = [
    "BotExistsError",
    "BotRow",
    "GameRow",
    "MoveRow",
    "PredictionRow",
    "Store",
    "StoreError",
    "TokenRow",
    "TournamentRow",
    "database_url",
    "hash_token",
    "now_ms",
    "redact_url",
]
