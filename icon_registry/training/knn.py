"""Global k-nearest neighbours in blocks (``knn``, from ``icon_registry.neighbors``), and k-step
neighbour propagation.

``propagate`` turns the (n, k) neighbour lists into the sparse supervisory graph of the
debiased InfoNCE clustering recipe: uniform over the points reachable in <= W steps
("reach"), or the normalized sum of walk counts P + P^2 + ... + P^W ("walks").
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch

from icon_registry.neighbors import METRICS, knn
from icon_registry.training._errors import IconError

__all__ = ["METRICS", "adjacency", "batch_graph", "batch_neighbors", "knn", "knn_bruteforce", "propagate"]


def knn_bruteforce(features, k: int, metric: str = "cosine", exclude_self: bool = True):
    """Reference: the dense n x n version (tests only)."""
    x = torch.as_tensor(features).double()
    if metric == "cosine":
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
        s = x @ x.T
    else:
        s = -torch.cdist(x, x) ** 2
    if exclude_self:
        s.fill_diagonal_(-math.inf)
    val, idx = s.topk(k, dim=1)
    return idx, val


def adjacency(neighbors, n: int | None = None) -> sp.csr_matrix:
    """Sparse 0/1 kNN graph A[i, j] = 1[j in kNN(i)] (not symmetrized)."""
    nb = np.asarray(torch.as_tensor(neighbors).cpu())
    rows = np.repeat(np.arange(nb.shape[0]), nb.shape[1])
    n = n or nb.shape[0]
    a = sp.csr_matrix((np.ones(rows.size, dtype=np.float64), (rows, nb.reshape(-1))), shape=(nb.shape[0], n))
    a.data[:] = 1.0  # duplicates (never from knn) count once
    return a


def propagate(neighbors, walks: int = 1, mode: str = "reach") -> sp.csr_matrix:
    """Row-stochastic sparse supervisory graph from kNN lists, self excluded.

    mode 'reach': uniform over the points reachable in 1..walks steps;
    mode 'walks': proportional to P + P^2 + ... + P^walks with P = A / k (walk probabilities).
    """
    if walks < 1:
        raise IconError(f"--walks must be >= 1, got {walks}", argument="--walks")
    if mode not in ("reach", "walks"):
        raise IconError(f"unknown propagation mode '{mode}' (reach, walks)", argument="mode")
    a = adjacency(neighbors)
    p = sp.diags(1.0 / np.maximum(a.sum(1).A1, 1)) @ a
    total = p.copy()
    step = p
    for _ in range(walks - 1):
        step = step @ p
        total = total + step
    total = total.tocsr()
    total.setdiag(0)
    total.eliminate_zeros()
    if mode == "reach":
        total.data[:] = 1.0
    rowsum = np.asarray(total.sum(1)).ravel()
    total = sp.diags(1.0 / np.where(rowsum > 0, rowsum, 1.0)) @ total
    return total.tocsr()


def batch_graph(graph: sp.csr_matrix, sources) -> np.ndarray:
    """Dense weights graph[s_a, s_b] among the batch's source indices (B, B)."""
    s = np.asarray(sources)
    return np.asarray(graph[s][:, s].todense())


def batch_neighbors(global_neighbors, sources) -> torch.Tensor:
    """Batch-local neighbour lists for compiled losses' ``neighbors`` argument.

    For each batch row a, the batch positions whose source is one of source(a)'s global
    neighbours; lists are padded to a common width with a's own position (a self index that
    supports excluding i never count).
    """
    s = np.asarray(sources)
    nb = np.asarray(torch.as_tensor(global_neighbors).cpu())
    positions: dict[int, list[int]] = {}
    for pos, src in enumerate(s.tolist()):
        positions.setdefault(src, []).append(pos)
    lists = []
    for pos, src in enumerate(s.tolist()):
        found = [p for j in nb[src].tolist() for p in positions.get(j, ())]
        lists.append(found)
    width = max(1, max(len(f) for f in lists))
    out = np.empty((len(s), width), dtype=np.int64)
    for pos, found in enumerate(lists):
        out[pos, : len(found)] = found
        out[pos, len(found):] = pos
    return torch.from_numpy(out)
