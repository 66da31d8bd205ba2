"""Global k-nearest neighbours in blocks, and k-step neighbour propagation.

``knn`` never forms the n x n similarity matrix: queries are taken ``query_block`` rows at a time
against keys ``key_block`` rows at a time, and a running top-k is merged per key block, so the
peak extra memory is query_block x key_block scores. It runs wherever the tensors live (CPU or
GPU): 1.2M x 768 features (3.7 GB in float32) fit on one large GPU with the default blocks.

``propagate`` turns the (n, k) neighbour lists into the sparse supervisory graph of the
debiased InfoNCE clustering recipe: uniform over the points reachable in <= W steps
("reach"), or the normalized sum of walk counts P + P^2 + ... + P^W ("walks").
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch

from icon_registry.training._errors import IconError

METRICS = ("cosine", "euclidean")


def _auto_blocks(n: int, device: torch.device, query_block, key_block):
    # Scores per block: ~64M floats on a GPU (256 MB), ~8M on a CPU (keeps caches warm).
    budget = (1 << 26) if device.type == "cuda" else (1 << 23)
    qb = query_block or min(n, 4096 if device.type == "cuda" else 1024)
    kb = key_block or max(1024, min(n, budget // max(qb, 1)))
    return int(qb), int(kb)


@torch.no_grad()
def knn(
    features,
    k: int,
    *,
    metric: str = "cosine",
    exclude_self: bool = True,
    query_block: int | None = None,
    key_block: int | None = None,
    device: str | torch.device | None = None,
    progress=None,
):
    """Indices (n, k) int64 and scores (n, k) of each row's k nearest rows, best first.

    Scores are cosine similarities (metric='cosine') or negative squared distances
    ('euclidean'). ``features`` may be a numpy array or a tensor; results are on ``device``
    (default: the tensor's device, or CPU for numpy input).
    """
    if metric not in METRICS:
        raise IconError(f"unknown kNN metric '{metric}' (choose from {', '.join(METRICS)})", argument="metric")
    x = torch.as_tensor(features)
    if device is not None:
        x = x.to(device)
    if x.ndim != 2:
        raise IconError(f"kNN needs (n, d) features, got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        x = x.float()
    n = x.shape[0]
    kmax = n - 1 if exclude_self else n
    if not 1 <= k <= kmax:
        raise IconError(f"kNN with k={k} needs 1 <= k <= {kmax} for {n} points", argument="--knn")
    if metric == "cosine":
        # One normalized copy; rows of zeros stay zero (similarity 0 to everything).
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
        key_bias = None
    else:
        key_bias = -(x * x).sum(1)  # score = 2 q.k - |k|^2 (= -|q-k|^2 + |q|^2)
    qb, kb = _auto_blocks(n, x.device, query_block, key_block)
    out_idx = torch.empty((n, k), dtype=torch.long, device=x.device)
    out_val = torch.empty((n, k), dtype=x.dtype, device=x.device)
    for q0 in range(0, n, qb):
        q1 = min(n, q0 + qb)
        q = x[q0:q1]
        best_val = torch.full((q1 - q0, k), -math.inf, dtype=x.dtype, device=x.device)
        best_idx = torch.full((q1 - q0, k), -1, dtype=torch.long, device=x.device)
        rows = torch.arange(q0, q1, device=x.device)
        for k0 in range(0, n, kb):
            k1 = min(n, k0 + kb)
            s = q @ x[k0:k1].T
            if key_bias is not None:
                s = 2.0 * s + key_bias[k0:k1][None, :]
            if exclude_self and k0 < q1 and q0 < k1:
                cols = rows - k0
                inside = (cols >= 0) & (cols < k1 - k0)
                s[inside.nonzero().squeeze(1), cols[inside]] = -math.inf
            kk = min(k, k1 - k0)
            val, idx = s.topk(kk, dim=1)
            val = torch.cat([best_val, val], 1)
            idx = torch.cat([best_idx, idx + k0], 1)
            best_val, pos = val.topk(k, dim=1)
            best_idx = idx.gather(1, pos)
        if key_bias is not None:
            best_val = best_val - (q * q).sum(1, keepdim=True)
        out_idx[q0:q1] = best_idx
        out_val[q0:q1] = best_val
        if progress is not None:
            progress(q1 - q0)
    return out_idx, out_val


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
