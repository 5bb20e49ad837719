"""A chess bot that speculates: while the opponent thinks, it guesses their reply and
already searches its answer to each guess, so a correct guess is answered at once.

- `choose_move` is the actor: a small alpha-beta search on material (real work,
  tens of milliseconds to a second). It yields to the event loop as it goes, so
  a search on a guess that turned out wrong is cancelled at once.
- `predict` is the speculator: the opponent's moves ranked by a one-ply look,
  which is fast. The SDK sends the top `k` to the arena (which scores them) and
  runs `choose_move` on each predicted position while the opponent thinks.

    arena bot add speculator
    arena bot run examples/speculating_bot.py:MaterialSpeculator --token TOKEN --seek chess
    arena games show GAME_ID        # predictions, hits, and the time saved per move
"""

import asyncio

import chess

from clients.sdk import Bot, GameView, SpeculationConfig

VALUES = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9}


def material(board: chess.Board) -> int:
    """Material balance from the side to move's point of view."""
    score = 0
    for piece in board.piece_map().values():
        value = VALUES.get(piece.piece_type, 0)
        score += value if piece.color == board.turn else -value
    return score


def ordered(board: chess.Board) -> list[chess.Move]:
    """Captures of valuable pieces first, then the rest in a fixed order."""

    def key(move: chess.Move) -> tuple[int, str]:
        victim = board.piece_at(move.to_square)
        return (-(VALUES.get(victim.piece_type, 0) if victim else 0), move.uci())

    return sorted(board.legal_moves, key=key)


class MaterialSpeculator(Bot):
    name = "material-speculator"
    speculation_config = SpeculationConfig(k=2)  # publish and branch on the top 2 guesses
    depth = 3

    def __init__(self) -> None:
        self.nodes = 0

    async def negamax(self, board: chess.Board, depth: int, alpha: int, beta: int) -> int:
        self.nodes += 1
        if self.nodes % 64 == 0:
            await asyncio.sleep(0)  # let the event loop run (and cancel us)
        if board.is_checkmate():
            return -1000
        if depth == 0 or board.is_game_over():
            return material(board)
        for move in ordered(board):
            board.push(move)
            score = -await self.negamax(board, depth - 1, -beta, -alpha)
            board.pop()
            if score >= beta:
                return beta
            alpha = max(alpha, score)
        return alpha

    async def choose_move(self, view: GameView) -> str:
        # Only the position decides the move (no clocks, no randomness): lossless speculation.
        board = chess.Board(view.game.encode_state(view.state))
        best, best_score = None, -10_000
        for move in ordered(board):
            board.push(move)
            score = -await self.negamax(board, self.depth - 1, -10_000, -best_score)
            board.pop()
            if best is None or score > best_score:
                best, best_score = move, score
        assert best is not None
        return best.uci()

    async def predict(self, view: GameView) -> list[str]:
        # The opponent is to move in `view`: rank their moves by a one-ply look.
        board = chess.Board(view.game.encode_state(view.state))

        def after(move: chess.Move) -> int:
            board.push(move)
            score = -material(board) + (5 if board.is_check() else 0)
            board.pop()
            return score

        return [m.uci() for m in sorted(ordered(board), key=after, reverse=True)[:3]]
