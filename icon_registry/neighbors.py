"""Global k-nearest neighbours in blocks.

``knn`` never forms the n x n similarity matrix: queries are taken ``query_block`` rows at a time
against keys ``key_block`` rows at a time, and a running top-k is merged per key block, so the
peak extra memory is query_block x key_block scores. It runs wherever the tensors live (CPU or
GPU): 1.2M x 768 features (3.7 GB in float32) fit on one large GPU with the default blocks.
The clustering recipe (``icon_registry.training.knn``) and the sparse k-nearest affinities of a
perplexity-calibrated kernel (t-SNE's ``nearest``) both search with it.
"""

from __future__ import annotations

import math

import torch

from icon_registry.errors import IconError

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
    qb, kb = _auto_blocks(n, x.device, query_block, key_block)
    if metric == "cosine":
        # One normalized copy; rows of zeros stay zero (similarity 0 to everything).
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
        center, key_bias = None, None
    else:
        # Rows are centred block by block (no second copy of the data): the expansion cancels a
        # common offset in the rounding of |k|^2 (float32 rows near 1000 with a spread of 0.3 ranked
        # their neighbours by noise); distances do not move.
        center = x.mean(0)
        # score = 2 q.k - |k|^2 (= -|q-k|^2 + |q|^2)
        key_bias = torch.cat([-((x[k0:k0 + kb] - center) ** 2).sum(1) for k0 in range(0, n, kb)])
    out_idx = torch.empty((n, k), dtype=torch.long, device=x.device)
    out_val = torch.empty((n, k), dtype=x.dtype, device=x.device)
    for q0 in range(0, n, qb):
        q1 = min(n, q0 + qb)
        q = x[q0:q1] if center is None else x[q0:q1] - center
        best_val = torch.full((q1 - q0, k), -math.inf, dtype=x.dtype, device=x.device)
        best_idx = torch.full((q1 - q0, k), -1, dtype=torch.long, device=x.device)
        rows = torch.arange(q0, q1, device=x.device)
        for k0 in range(0, n, kb):
            k1 = min(n, k0 + kb)
            keys = (x[k0:k1] if center is None else x[k0:k1] - center).T
            # one pass: the bias is the accumulator of the product
            s = q @ keys if key_bias is None else torch.addmm(key_bias[k0:k1][None, :], q, keys, alpha=2.0)
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
