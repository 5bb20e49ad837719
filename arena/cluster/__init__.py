"""Several ``arena serve`` processes on one PostgreSQL database.

Each process is a node (:class:`Cluster`): it owns the games it creates (runs
their match, clocks and commits), relays the games other nodes own to its own
bots and spectators by reading the store when the owner says something changed
(LISTEN/NOTIFY, no other broker), forwards its bots' moves in those games to
their owner, and takes over the games of a node that is gone (its advisory
lock free), never those of a live one. See docs/scaling.md.
"""

from arena.cluster.node import Cluster, RemotePeer

__all__ = ["Cluster", "RemotePeer"]
