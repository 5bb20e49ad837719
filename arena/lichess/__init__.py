"""The lichess Bot API, served beside protocol v1: any lichess bot plays by changing its URL.

- :mod:`arena.lichess.shapes`: lichess's JSON shapes from a game view (pure);
- :mod:`arena.lichess.peer`: a lichess bot as one :class:`~arena.host.Peer` of the host;
- :mod:`arena.lichess.hub`: the lichess bots of a server, connected while a stream is open;
- :mod:`arena.lichess.api`: the HTTP routes (``/api/stream/event``, ``/api/bot/game/...``).
"""

from arena.lichess.api import LichessApi

__all__ = ["LichessApi"]
