"""Speculators: fast predictors of the opponent's next move (see :class:`Speculator`).

- :class:`EngineSpeculator`: Stockfish MultiPV at low depth (chess);
- :class:`HistorySpeculator`: what the opponent played before in this position,
  from the arena's stored games, with a fallback for unseen positions;
- :class:`EnsembleSpeculator`: a weighted mix of other speculators;
- :class:`ScriptedSpeculator`: fixed guesses per ply, for tests and demos.

:class:`~clients.speculation.Speculator` itself is the protocol they implement.
"""

from clients.speculators.engine import TEMPERATURE_CP, EngineSpeculator, softmax_cp
from clients.speculators.ensemble import EnsembleSpeculator
from clients.speculators.history import HistorySpeculator
from clients.speculators.scripted import ScriptedSpeculator

__all__ = [
    "TEMPERATURE_CP",
    "EngineSpeculator",
    "EnsembleSpeculator",
    "HistorySpeculator",
    "ScriptedSpeculator",
    "softmax_cp",
]
