"""Maximum matching in a general graph (Edmonds' blossom algorithm), for Swiss pairing.

scipy (already a dependency) matches bipartite graphs only; a Swiss round is a
general graph, and pulling in networkx for one function is not worth it.
"""

from __future__ import annotations

from collections import deque

__all__ = ["maximum_matching"]


def maximum_matching(adjacent: list[list[int]]) -> list[int]:
    """A maximum matching of a general graph (Edmonds' blossom algorithm).

    ``adjacent[v]`` lists the neighbours of ``v``; the result maps each vertex
    to its mate, or ``-1``. O(V³), plenty for tournament fields.
    """
    n = len(adjacent)
    mate = [-1] * n
    for v in range(n):  # a greedy start saves most of the searches
        if mate[v] < 0:
            for u in adjacent[v]:
                if mate[u] < 0:
                    mate[v], mate[u] = u, v
                    break
    for root in range(n):
        if mate[root] < 0:
            _augment(root, adjacent, mate)
    return mate


def _augment(root: int, adjacent: list[list[int]], mate: list[int]) -> None:
    """Grow an alternating tree from the free vertex ``root``; flip the path if one is found."""
    n = len(adjacent)
    parent = [-1] * n
    base = list(range(n))
    in_tree = [False] * n
    in_tree[root] = True
    queue = deque([root])

    def common_base(a: int, b: int) -> int:
        seen = [False] * n
        while True:
            a = base[a]
            seen[a] = True
            if mate[a] < 0:
                break
            a = parent[mate[a]]
        while True:
            b = base[b]
            if seen[b]:
                return b
            b = parent[mate[b]]

    def mark(v: int, stop: int, child: int, blossom: list[bool]) -> None:
        while base[v] != stop:
            blossom[base[v]] = blossom[base[mate[v]]] = True
            parent[v] = child
            child = mate[v]
            v = parent[mate[v]]

    while queue:
        v = queue.popleft()
        for u in adjacent[v]:
            if base[v] == base[u] or mate[v] == u:
                continue
            if u == root or (mate[u] >= 0 and parent[mate[u]] >= 0):
                stop = common_base(v, u)
                blossom = [False] * n
                mark(v, stop, u, blossom)
                mark(u, stop, v, blossom)
                for i in range(n):
                    if blossom[base[i]]:
                        base[i] = stop
                        if not in_tree[i]:
                            in_tree[i] = True
                            queue.append(i)
            elif parent[u] < 0:
                parent[u] = v
                if mate[u] < 0:
                    while u >= 0:  # flip the augmenting path back to the root
                        v = parent[u]
                        after = mate[v]
                        mate[u], mate[v] = v, u
                        u = after
                    return
                in_tree[mate[u]] = True
                queue.append(mate[u])
