"""Mappers f: the learned side of an I-Con loss.

Every mapper is an ``nn.Module`` called as ``mapper(x, index)``: ``x`` is the (possibly
augmented) input batch, ``index`` the rows' positions in the dataset. A lookup table reads
``index`` only; the others read ``x`` only. ``post_step()`` runs after each optimizer step
(the orthonormal linear map retracts onto the Stiefel manifold there).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from icon_registry.training._errors import IconError

MAPPERS = ("lookup", "linear", "mlp", "cluster")
#: The catalog's ``mapper:`` field -> the mapper ``icon fit`` builds by default.
CATALOG_MAPPER = {
    "lookup": "lookup",
    "linear": "linear",
    "network": "mlp",
    "cluster_head": "cluster",
    "prototypes": "mlp",
}


class Mapper(nn.Module):
    kind = "?"

    def post_step(self):
        pass


class Lookup(Mapper):
    """One free vector per item (SNE, t-SNE); initialized from ``init`` (e.g. scaled PCA)."""

    kind = "lookup"

    def __init__(self, n: int, dim: int, init: np.ndarray | torch.Tensor | None = None, seed: int = 0):
        super().__init__()
        if init is None:
            g = torch.Generator().manual_seed(seed)
            init = 1e-4 * torch.randn(n, dim, generator=g)
        self.table = nn.Parameter(torch.as_tensor(np.asarray(init), dtype=torch.float32).clone())

    def forward(self, x, index):
        return self.table[index]


class Linear(Mapper):
    """z = (x - mean) W, W (d_in, d_out). ``orthonormal``: W^T W = I kept by a QR retraction
    after each step (the constraint PCA needs and the paper leaves unstated)."""

    kind = "linear"

    def __init__(self, d_in: int, d_out: int, orthonormal: bool = False, mean: torch.Tensor | None = None, seed: int = 0):
        super().__init__()
        if orthonormal and d_out > d_in:
            raise IconError(f"an orthonormal linear map from {d_in} to {d_out} dimensions does not exist", argument="--dim")
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(d_in, d_out, generator=g) / np.sqrt(d_in)
        self.orthonormal = orthonormal
        self.weight = nn.Parameter(w)
        self.register_buffer("mean", torch.zeros(d_in) if mean is None else torch.as_tensor(mean, dtype=torch.float32))
        if orthonormal:
            self.post_step()
            # Riemannian gradient: drop the component normal to the Stiefel manifold (it only
            # rescales W, and the retraction would undo it), so that Adam's normalized steps
            # move along the manifold.
            self.weight.register_hook(self._tangent)

    def _tangent(self, grad):
        w = self.weight.detach()
        wtg = w.T @ grad
        return grad - w @ ((wtg + wtg.T) / 2)

    def forward(self, x, index=None):
        return (x - self.mean) @ self.weight

    @torch.no_grad()
    def post_step(self):
        if self.orthonormal:
            q, r = torch.linalg.qr(self.weight)
            # Fix signs so the retraction is continuous (diag(R) > 0).
            self.weight.copy_(q * torch.sign(torch.diagonal(r)).clamp_min(0).mul(2).sub(1))


class MLP(Mapper):
    kind = "mlp"

    def __init__(self, d_in: int, d_out: int, hidden: int = 256, depth: int = 2, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        d = d_in
        for _ in range(depth - 1):
            layers += [nn.Linear(d, hidden), nn.LayerNorm(hidden), nn.ReLU()]
            d = hidden
        layers.append(nn.Linear(d, d_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x, index=None):
        return self.net(x)

    def features(self, x):
        """The representation before the last layer (the usual linear-probe input)."""
        return self.net[:-1](x) if len(self.net) > 1 else x


class ClusterHead(Mapper):
    """Cluster logits: a linear head on x (``free=False``) or free logits per item (``free=True``,
    K-Means on a fixed set). phi = softmax(logits)."""

    kind = "cluster"

    def __init__(self, d_in: int, clusters: int, free: bool = False, n: int | None = None,
                 init_logits: torch.Tensor | None = None, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.free = free
        if free:
            if init_logits is None:
                init_logits = 0.01 * torch.randn(n, clusters)
            self.logits = nn.Parameter(torch.as_tensor(init_logits, dtype=torch.float32).clone())
        else:
            self.head = nn.Linear(d_in, clusters)

    def forward(self, x, index=None):
        return self.logits[index] if self.free else self.head(x)


def build_mapper(kind: str, *, n: int, d_in: int, d_out: int, seed: int = 0, x: np.ndarray | None = None,
                 orthonormal: bool = False, hidden: int = 256) -> Mapper:
    if kind not in MAPPERS:
        import difflib

        close = difflib.get_close_matches(kind, MAPPERS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise IconError(f"unknown mapper '{kind}'{hint} (choose from {', '.join(MAPPERS)})", argument="--mapper")
    if kind == "lookup":
        init = pca_init(x, d_out, seed=seed) if x is not None else None
        return Lookup(n, d_out, init, seed)
    if kind == "linear":
        mean = None if x is None else torch.as_tensor(x.mean(0))
        return Linear(d_in, d_out, orthonormal, mean, seed)
    if kind == "mlp":
        return MLP(d_in, d_out, hidden, seed=seed)
    return ClusterHead(d_in, d_out, seed=seed)


def pca_init(x: np.ndarray, dim: int, std: float = 1e-4, seed: int = 0) -> np.ndarray:
    """``dim`` PCA coordinates rescaled so the first has standard deviation ``std`` (scikit-learn's
    t-SNE initialization). The data has at most min(n, d) principal components: past them the
    columns are random, N(0, (``std`` / 100)^2) from ``seed`` (small against the PCA columns, and
    not all equal, which would leave them without a gradient). See :func:`padded_columns`."""
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean(0)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    y = xc @ vt[:dim].T
    y = y / y[:, 0].std() * std
    extra = dim - y.shape[1]
    if extra > 0:
        y = np.concatenate([y, np.random.default_rng(seed).normal(scale=std / 100, size=(y.shape[0], extra))], 1)
    return y.astype(np.float32)


def padded_columns(x: np.ndarray, dim: int) -> int:
    """How many of :func:`pca_init`'s ``dim`` columns for ``x`` are random (past its principal components)."""
    x = np.asarray(x)
    return max(0, dim - min(x.shape))
