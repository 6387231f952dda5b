"""Records -> customers: connected components over links, split at weak bridges.

Connected components alone chain: one uncertain link between two groups of
records that each clearly belong together merges two people. So a weak link
(a probabilistic match below the strong probability) that is a bridge of its
component -- the only path between its two sides -- and has at least
``min_side_records`` records on each side is cut. A weak link inside a well
connected group is not a bridge and stays; a lone record attached by a weak
link is an ordinary match and stays too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass
class Clustering:
    labels: np.ndarray  # component of each record (0..n-1 index space)
    cut: np.ndarray  # per link: True when it was cut as a weak bridge


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def weak_bridges(
    nodes_left: np.ndarray, nodes_right: np.ndarray, strong: np.ndarray, min_side_records: int
) -> set[int]:
    """Indexes of the links of one component that are weak bridges with enough records on both sides.

    One iterative depth-first search (Tarjan): a tree link to child c is a bridge
    when nothing below c reaches above it; the records below c are one side.
    """
    adjacency: dict[int, list[tuple[int, int]]] = {}
    for index, (a, b) in enumerate(zip(nodes_left.tolist(), nodes_right.tolist(), strict=True)):
        adjacency.setdefault(a, []).append((b, index))
        adjacency.setdefault(b, []).append((a, index))
    size = len(adjacency)
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    below: dict[int, int] = {}
    cut: set[int] = set()
    root = next(iter(adjacency))
    order[root] = low[root] = 0
    below[root] = 1
    stack = [(root, -1, iter(adjacency[root]))]
    while stack:
        node, via, neighbours = stack[-1]
        for nxt, link in neighbours:
            if link == via:
                continue
            if nxt in order:
                low[node] = min(low[node], order[nxt])
            else:
                order[nxt] = low[nxt] = len(order)
                below[nxt] = 1
                stack.append((nxt, link, iter(adjacency[nxt])))
                break
        else:
            stack.pop()
            if stack:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                below[parent] += below[node]
                is_bridge = low[node] > order[parent]
                if is_bridge and not strong[via] and min(below[node], size - below[node]) >= min_side_records:
                    cut.add(via)
    return cut


def cluster(n: int, left: np.ndarray, right: np.ndarray, strong: np.ndarray, min_side_records: int = 2) -> Clustering:
    """Cluster records 0..n-1 linked by ``left[i] - right[i]``."""
    left, right, strong = np.asarray(left), np.asarray(right), np.asarray(strong, dtype=bool)
    labels = _components(n, left, right)
    cut = np.zeros(len(left), dtype=bool)
    if len(left):
        sizes = np.bincount(labels, minlength=n)
        link_component = labels[left]
        # only components big enough to have two sides, with a weak link, can split
        candidates = np.unique(link_component[~strong])
        candidates = candidates[sizes[candidates] >= 2 * min_side_records]
        if len(candidates):
            order = np.argsort(link_component, kind="stable")
            bounds = np.searchsorted(link_component[order], [candidates, candidates + 1])
            for start, stop in zip(*bounds, strict=True):
                links = order[start:stop]
                for local in weak_bridges(left[links], right[links], strong[links], min_side_records):
                    cut[links[local]] = True
        if cut.any():
            labels = _components(n, left[~cut], right[~cut])
    return Clustering(labels, cut)
