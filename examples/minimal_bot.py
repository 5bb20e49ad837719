"""A minimal arena bot: a random legal move, in any game the arena hosts.

Register it and run it against an arena (`arena serve` in another terminal):

    arena bot add minimal
    arena bot run examples/minimal_bot.py:RandomMover --token TOKEN --seek chess
"""

import random

from clients.sdk import Bot, GameView


class RandomMover(Bot):
    name = "random-mover"

    async def choose_move(self, view: GameView) -> str:
        # view.state: the position; view.moves: the game so far; view.clocks: ms left
        return random.choice(view.legal_moves())
