"""Lichess-API bots at the host: one :class:`LichessPeer` per bot while it has a stream open.

A lichess bot keeps its event stream open (and a stream per game it plays);
the bot is *connected* (present, in the host's sense) from its first open
stream to its last, exactly as a websocket bot is while its socket is open: its
games start, pause and resume, and its grace period runs, by the same rules.
Requests (move, resign, abort, predict) go to :meth:`arena.host.Host.handle`
like websocket messages; a bot with no stream open may still send them.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from arena.errors import ErrorCode, MatchError
from arena.host import Host, HostedGame
from arena.lichess.challenges import DECLINE_REASONS, Challenge, ChallengeError, challenge_json
from arena.lichess.peer import Captured, LichessPeer, Stream
from arena.lichess.shapes import GameView, chat_line, ndjson
from arena.match import MatchConfig
from arena.protocol import Move, Predict, Resign
from arena.store import BotRow, Store

__all__ = ["LichessHub"]

log = logging.getLogger(__name__)


class LichessHub:
    """The lichess-API bots of one server process."""

    def __init__(self, store: Store, host: Host) -> None:
        self.store = store
        self.host = host
        self.peers: dict[int, LichessPeer] = {}
        self.challenges: dict[str, Challenge] = {}
        """Open challenges, by id."""
        self._closed = False
        host.on_presence = self._presence

    def _forget(self, peer: LichessPeer) -> None:
        if peer.bot is not None and self.peers.get(peer.bot.id) is peer:
            del self.peers[peer.bot.id]

    def peer_of(self, bot: BotRow) -> LichessPeer:
        """The bot's peer (a new one, not yet connected, if it has no stream open)."""
        peer = self.peers.get(bot.id)
        if peer is None or peer.closed:
            peer = LichessPeer(bot, self._forget)
            self.peers[bot.id] = peer
        return peer

    async def open(self, bot: BotRow, token_id: int, game_id: str | None = None) -> Stream:
        """Open a stream for the bot: the first one connects it to the host."""
        peer = self.peer_of(bot)
        stream = Stream(game_id)
        if self._closed:
            stream.end()
            return stream
        peer.streams.add(stream)
        if not peer.connected:
            peer.connected = True
            await self.host.connect(peer, token_id=token_id)
        return stream

    def close(self, bot: BotRow, stream: Stream) -> None:
        """A stream's client went away: the last one disconnects the bot from the host."""
        stream.end()
        peer = self.peers.get(bot.id)
        if peer is None or stream not in peer.streams:
            return
        peer.streams.discard(stream)
        if not peer.streams:
            self._forget(peer)
            peer.closed = True
            if peer.connected:
                self.host.disconnect(peer)

    def view(self, bot: BotRow, game_id: str) -> GameView | None:
        """The bot's current view of a game it plays, if its streams have one."""
        peer = self.peers.get(bot.id)
        return None if peer is None else peer.views.get(game_id)

    def _acting(self, bot: BotRow) -> LichessPeer:
        """The bot's peer if it has streams open, else one just for a request."""
        peer = self.peers.get(bot.id)
        return peer if peer is not None and not peer.closed else LichessPeer(bot, self._forget)

    def streaming(self, bot_id: int) -> LichessPeer | None:
        """The bot's peer if it has a stream open (it can be told of a challenge)."""
        peer = self.peers.get(bot_id)
        return peer if peer is not None and peer.streams and not peer.closed else None

    async def act(self, bot: BotRow, msg: Move | Resign | Predict) -> Captured:
        """Hand a bot's request to the host; the error it answered with, if any."""
        peer = self._acting(bot)
        with peer.capture(msg.game_id, msg.type) as captured:
            await self.host.handle(peer, msg)
        return captured

    async def abort(self, bot: BotRow, game_id: str) -> Captured:
        """Abort a game of the bot before both sides have moved."""
        captured = Captured()
        try:
            await self.host.abort(self._acting(bot), game_id)
        except MatchError as exc:
            captured.code, captured.message = int(exc.code), exc.message
        return captured

    def chat(self, bot: BotRow, game_id: str, room: str, text: str) -> None:
        """Relay a chat line to the game's lichess streams (of both players)."""
        hosted = self.host.games.get(game_id)
        if hosted is None:
            return
        line = ndjson(chat_line(room, bot.name, text))
        for player in hosted.bots:
            peer = self.peers.get(player.id)
            if peer is not None:
                peer.to_game(game_id, line)

    # ------------------------------------------------------------------ challenges

    def _to_events(self, bot_id: int, event: dict[str, Any]) -> None:
        peer = self.streaming(bot_id)
        if peer is not None:
            peer.to_events(ndjson(event))

    def pending_for(self, bot: BotRow) -> list[bytes]:
        """``challenge`` events for the open challenges to ``bot``."""
        return [
            ndjson({"type": "challenge", "challenge": challenge_json(c)})
            for c in self.challenges.values()
            if c.dest.id == bot.id
        ]

    async def challenge(self, challenge: Challenge) -> Challenge:
        """Make a challenge. A lichess-API bot with a stream open is told on its event
        stream; a bot connected over the websocket protocol (which has no challenges)
        plays at once; an offline bot cannot be challenged (:class:`ChallengeError`)."""
        dest = challenge.dest
        if self.streaming(dest.id) is not None:
            self.challenges[challenge.id] = challenge
            event = {"type": "challenge", "challenge": challenge_json(challenge)}
            self._to_events(dest.id, event)
        elif dest.id in self.host.peers:
            await self._start(challenge)
        else:
            raise ChallengeError(f"{dest.name} is not online")
        return challenge

    def _open_challenge(self, challenge_id: str, bot: BotRow, *, as_dest: bool) -> Challenge:
        challenge = self.challenges.get(challenge_id)
        party = None if challenge is None else (challenge.dest if as_dest else challenge.challenger)
        if challenge is None or party is None or party.id != bot.id:
            raise ChallengeError("Not found")
        return challenge

    async def accept(self, bot: BotRow, challenge_id: str) -> str:
        """Accept a challenge to ``bot``: the game's id (both sides get ``gameStart``)."""
        challenge = self._open_challenge(challenge_id, bot, as_dest=True)
        del self.challenges[challenge_id]
        return await self._start(challenge)

    async def _start(self, challenge: Challenge) -> str:
        challenge.status = "accepted"
        pair = (challenge.challenger, challenge.dest)
        white, black = pair if challenge.final_color == "white" else pair[::-1]
        config = MatchConfig(time_control=challenge.time_control, max_plies=challenge.max_plies)
        return await self.host.create_game(
            "chess", (white, black), config, initial_state=challenge.fen
        )

    def decline(self, bot: BotRow, challenge_id: str, reason: str) -> None:
        """Decline a challenge to ``bot``; the challenger gets ``challengeDeclined``."""
        challenge = self._open_challenge(challenge_id, bot, as_dest=True)
        del self.challenges[challenge_id]
        challenge.status = "declined"
        challenge.decline_key = reason if reason in DECLINE_REASONS else "generic"
        event = {"type": "challengeDeclined", "challenge": challenge_json(challenge)}
        self._to_events(challenge.challenger.id, event)

    def cancel(self, bot: BotRow, challenge_id: str) -> None:
        """Cancel a challenge ``bot`` made; the opponent gets ``challengeCanceled``."""
        challenge = self._open_challenge(challenge_id, bot, as_dest=False)
        del self.challenges[challenge_id]
        challenge.status = "canceled"
        event = {"type": "challengeCanceled", "challenge": challenge_json(challenge)}
        self._to_events(challenge.dest.id, event)

    def _presence(self, hosted: HostedGame, seat: int, away: bool) -> None:
        """Tell a lichess bot its opponent left (``opponentGone``, with the seconds until
        the arena adjudicates the game itself) or came back."""
        peer = self.peers.get(hosted.bots[1 - seat].id)
        if peer is None:
            return
        event: dict[str, Any] = {"type": "opponentGone", "gone": away}
        if away:
            event["claimWinInSeconds"] = math.ceil(hosted.grace_ms / 1000)
        peer.to_game(hosted.id, ndjson(event))

    def shutdown(self) -> None:
        """End every open stream (the server is stopping; clients reconnect)."""
        self._closed = True
        for peer in list(self.peers.values()):
            for stream in list(peer.streams):
                stream.end()

    def is_online(self, bot_id: int) -> bool:
        return bot_id in self.host.peers


def error_status(code: int | None) -> int:
    """The HTTP status lichess answers a refused bot request with."""
    if code in (int(ErrorCode.UNKNOWN_GAME), int(ErrorCode.NOT_YOUR_GAME)):
        return 404
    if code == int(ErrorCode.BAD_TOKEN):
        return 401
    if code == int(ErrorCode.RATE_LIMITED):
        return 429
    if code == int(ErrorCode.INTERNAL):
        return 500
    return 400
