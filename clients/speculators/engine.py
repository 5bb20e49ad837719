"""Stockfish as a speculator: MultiPV at low depth, scores turned into probabilities.

A shallow MultiPV search ranks the ``k`` best moves of the player to move in a
few milliseconds. Scores become probabilities with a softmax over centipawns
from the mover's point of view at a temperature of :data:`TEMPERATURE_CP`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import chess
import chess.engine

from clients.actors.engine import EnginePool, find_stockfish, search
from clients.actors.priority import Priority
from clients.speculation import Guess, Meter, Position

__all__ = ["DEFAULT_DEPTH", "MATE_SCORE_CP", "TEMPERATURE_CP", "EngineSpeculator", "softmax_cp"]

DEFAULT_DEPTH = 6
"""Search depth when neither nodes nor depth is given."""

MATE_SCORE_CP = 10_000
"""Centipawn value of a mate (minus its distance), so mates outrank everything."""

TEMPERATURE_CP = 100.0
"""Softmax temperature in centipawns.

With 100 cp, a move one pawn worse than another is ``e`` (~2.7) times less
likely, and one three pawns worse ~20 times less likely. That matches how
opponents (engines at other settings, LLMs, people) choose among the top moves
of a shallow search: close moves stay comparably likely (a depth-6 score is
too rough to separate them), while clear blunders and missed mates get
negligible weight. A smaller temperature would trust shallow scores too much;
a larger one would flatten the ranking to near-uniform.
"""


def softmax_cp(scores: Sequence[int], temperature: float = TEMPERATURE_CP) -> list[float]:
    """Probabilities proportional to ``exp(score / temperature)``, summing to 1."""
    if not scores:
        return []
    best = max(scores)
    weights = [math.exp((s - best) / temperature) for s in scores]
    total = sum(weights)
    return [w / total for w in weights]


class EngineSpeculator:
    """Predicts chess moves with a low-depth (or fixed-nodes) Stockfish MultiPV search.

    Each search starts a fresh engine "game" (``ucinewgame``), so its result
    depends only on the position. One engine process, one thread, 16 MB hash.
    """

    resource: str | None = "cpu"
    """It searches on the local CPU, like engine actors."""

    def __init__(
        self,
        path: str | None = None,
        nodes: int | None = None,
        depth: int | None = None,
        processes: int = 1,
    ) -> None:
        self.path = find_stockfish(path)
        if nodes is None and depth is None:
            depth = DEFAULT_DEPTH
        self.limit = chess.engine.Limit(nodes=nodes, depth=depth)
        # One engine per game played at once, so one game's window never waits
        # for another's (all at idle priority: they use spare cores only).
        self.pool = EnginePool(self.path, max(1, processes), {"Threads": 1, "Hash": 16})

    async def predict(self, position: Position, k: int, meter: Meter) -> list[Guess]:
        """The engine's ``k`` best moves for the player to move, best first."""
        name = position.game.info.name
        if name != "chess":
            raise ValueError(f"EngineSpeculator predicts chess moves only, not {name!r} moves")
        if k <= 0 or position.over:
            return []
        board: chess.Board = position.state.board
        # Always spare capacity only: a prediction is worth nothing once it takes
        # CPU from a real search (its own player's or another game's).
        async with self.pool.engine(Priority.IDLE) as engine:
            _, infos = await search(engine, board, self.limit, multipv=k)
        legal = set(position.legal_moves())
        moves: list[str] = []
        scores: list[int] = []
        for info in infos:
            pv = info.get("pv")
            score = info.get("score")
            if not pv or score is None:
                continue
            move = pv[0].uci()
            cp = score.pov(board.turn).score(mate_score=MATE_SCORE_CP)
            if move in legal and move not in moves and cp is not None:
                moves.append(move)
                scores.append(cp)
        probs = softmax_cp(scores)
        ranked = sorted(zip(moves, probs, strict=True), key=lambda mp: -mp[1])
        return [Guess(move, prob) for move, prob in ranked[:k]]

    async def check(self) -> None:
        """Start one engine and apply the options now (a bad option fails here); the
        others start when they are first needed."""
        await self.pool.start(1)

    async def close(self) -> None:
        """Stop the engine process."""
        await self.pool.close()
