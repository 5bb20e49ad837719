"""A bot written without asyncio: plain methods, run by `clients.sync`.

Chess: it gives check or captures when it can, else plays a random move.
Run it with `arena bot run examples/sync_bot.py:CheckOrCapture --token TOKEN --seek chess`,
or from a script of your own:

    from clients.sync import run
    run(CheckOrCapture(), "ws://127.0.0.1:8000/ws", TOKEN, max_games=1)
"""

import random

import chess

from clients.sync import GameView, SyncBot


class CheckOrCapture(SyncBot):
    name = "check-or-capture"

    def choose_move(self, view: GameView) -> str:
        board = chess.Board(view.game.encode_state(view.state))  # the FEN of the position
        moves = list(board.legal_moves)
        checks = [m for m in moves if board.gives_check(m)]
        captures = [m for m in moves if board.is_capture(m)]
        return random.choice(checks or captures or moves).uci()
