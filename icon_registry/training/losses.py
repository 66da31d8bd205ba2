"""THE SEAM between training and the catalog: entry id -> ``loss_fn(z, **inputs)``.

:func:`resolve_loss` returns the compiled catalog loss (``icon_registry.compile_loss``) when it
is available, and otherwise a hand-written reference implementation of the same entry (only
the entries ``icon reproduce`` trains have one). Every returned callable carries:

- ``requires``: the per-batch argument names it reads (the batch builder provides them);
- ``source``: 'catalog' or 'reference', recorded in metrics.json / the results file;
- ``prototypes`` (prototype entries): the (num_classes, dim) class prototypes, trained with the mapper.

The references follow the catalog entries' formulas (catalog/methods/<id>.yaml) and double as
an independent check of the compiler when both exist.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from icon_registry.training._errors import IconError


def compile_available() -> bool:
    try:
        from icon_registry import compile_loss  # noqa: F401
    except Exception:
        return False
    return True


def compiled_loss(entry_id: str, **overrides):
    from icon_registry import compile_loss

    loss = compile_loss(entry_id, **overrides)
    loss.source = "catalog"
    return loss


def resolve_loss(entry_id: str, use_catalog: bool | None = None, **overrides):
    """use_catalog: None = catalog if available else reference; True = catalog or error; False = reference."""
    if use_catalog is not False and compile_available():
        return compiled_loss(entry_id, **overrides)
    if use_catalog:
        raise IconError("icon_registry.compile_loss is not available in this installation", entry=entry_id)
    if entry_id not in REFERENCE:
        raise IconError(
            f"no reference implementation of '{entry_id}' and the compiler is not available "
            f"(references: {', '.join(sorted(REFERENCE))})",
            entry=entry_id,
        )
    loss = REFERENCE[entry_id](**overrides)
    loss.source = "reference"
    return loss


# ---------------------------------------------------------------------------------------------
# Reference implementations (float-agnostic, full batch, no chunking)
# ---------------------------------------------------------------------------------------------


def _sqdist(a, b=None):
    b = a if b is None else b
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return d.clamp_min(0.0)


def _eye(n, like):
    return torch.eye(n, dtype=torch.bool, device=like.device)


def calibrated_conditional(x: torch.Tensor, perplexity: float, steps: int = 64) -> torch.Tensor:
    """p(j|i) Gaussian with per-row precision bisected so each row's entropy is log(perplexity)."""
    d = _sqdist(x.double())
    n = d.shape[0]
    off = ~_eye(n, d)
    target = math.log(perplexity)
    lo = torch.full((n, 1), -50.0, dtype=torch.float64, device=d.device)
    hi = torch.full_like(lo, 50.0)
    scale = ((d * off).sum(1, keepdim=True) / (n - 1)).clamp_min(1e-300).log()
    lo, hi = lo - scale, hi - scale
    for _ in range(steps):
        mid = (lo + hi) / 2
        logp = torch.log_softmax((-d * mid.exp()).masked_fill(~off, -math.inf), 1)
        h = -(logp.exp() * logp.masked_fill(~off, 0.0)).sum(1, keepdim=True)
        lo = torch.where(h > target, mid, lo)
        hi = torch.where(h > target, hi, mid)
    mid = (lo + hi) / 2
    return torch.softmax((-d * mid.exp()).masked_fill(~off, -math.inf), 1)


class _Ref(nn.Module):
    requires: frozenset = frozenset()
    source = "reference"

    def __init__(self):
        super().__init__()
        self._cache = {}

    def cached(self, key, fn):
        if key not in self._cache:
            self._cache.clear()
            self._cache[key] = fn()
        return self._cache[key]


def _key(t):
    return (t.data_ptr(), tuple(t.shape), t.device.type)


class TSNE(_Ref):
    """Joint KL(P || Q): P symmetrized calibrated Gaussians, Q joint Student-t (reduction sum)."""

    requires = frozenset({"x"})

    def __init__(self, perplexity: float = 30.0, nu: float = 1.0, **_):
        super().__init__()
        self.perplexity, self.nu = perplexity, nu

    def joint_p(self, x):
        def make():
            p = calibrated_conditional(x, self.perplexity)
            return (p + p.T) / (2 * p.shape[0])
        return self.cached(_key(x), make)

    def forward(self, z, *, x, **_):
        P = self.joint_p(x).to(z.dtype)
        n = z.shape[0]
        off = ~_eye(n, z)
        logw = -(self.nu + 1) / 2 * torch.log1p(_sqdist(z) / self.nu)
        logQ = logw - torch.logsumexp(logw.masked_fill(~off, -math.inf).reshape(-1), 0)
        mask = off & (P > 0)
        return (P * (torch.log(P.clamp_min(1e-300)) - logQ)).masked_fill(~mask, 0.0).sum()


class KnnEmbedding(_Ref):
    """sne_uniform (conditional Gaussian q, cross entropy) and tsne_uniform (joint Student-t)."""

    requires = frozenset({"neighbors"})

    def __init__(self, joint: bool, nu: float = 1.0, k: int = 15, **_):
        super().__init__()
        self.joint, self.nu = joint, nu

    def forward(self, z, *, neighbors, **_):
        n = z.shape[0]
        off = ~_eye(n, z)
        m = torch.zeros((n, n), dtype=z.dtype, device=z.device)
        m.scatter_(1, neighbors.long(), 1.0)
        m = m * off
        p = m / m.sum(1, keepdim=True).clamp_min(1)
        d2 = _sqdist(z)
        if not self.joint:
            logq = torch.log_softmax((-d2).masked_fill(~off, -math.inf), 1)
            return -(p * logq.masked_fill(~off, 0.0)).sum()
        P = (p + p.T) / (2 * n)
        logw = -(self.nu + 1) / 2 * torch.log1p(d2 / self.nu)
        logQ = logw - torch.logsumexp(logw.masked_fill(~off, -math.inf).reshape(-1), 0)
        return -(P * logQ.masked_fill(~off, 0.0)).sum()


class PCA(_Ref):
    """sigma^2 * sum_i -log q(i|i), q(j|i) ~ exp(-d2/sigma^2) over all j (i included)."""

    requires = frozenset()

    def __init__(self, sigma: float = 10.0, **_):
        super().__init__()
        self.sigma = sigma

    def forward(self, z, **_):
        s2 = self.sigma ** 2
        logq = torch.log_softmax(-_sqdist(z) / s2, 1)
        return -s2 * torch.diagonal(logq).sum()


class Contrastive(_Ref):
    """SimCLR / SupCon (cosine / tau softmax) or t-SimCLR (Student-t on z); mean over anchors."""

    def __init__(self, positives: str, kernel: str, tau: float = 0.5, nu: float = 1.0, **_):
        super().__init__()
        self.positives, self.kernel, self.tau, self.nu = positives, kernel, tau, nu
        self.requires = frozenset({positives})

    def forward(self, z, **inputs):
        key = inputs[self.positives]
        n = z.shape[0]
        off = ~_eye(n, z)
        pos = (key[:, None] == key[None, :]) & off
        if self.kernel == "gaussian_dot":
            zn = nn.functional.normalize(z, dim=1)
            logits = zn @ zn.T / self.tau
        else:
            logits = -(self.nu + 1) / 2 * torch.log1p(_sqdist(z) / self.nu)
        logq = torch.log_softmax(logits.masked_fill(~off, -math.inf), 1).masked_fill(~off, 0.0)
        cnt = pos.sum(1)
        has = cnt > 0
        per = -(logq * pos).sum(1) / cnt.clamp_min(1)
        return per[has].mean()


class CrossEntropy(_Ref):
    requires = frozenset({"labels"})

    def __init__(self, tau: float = 1.0, num_classes: int | None = None, dim: int | None = None, **_):
        super().__init__()
        if num_classes is None or dim is None:
            raise IconError("cross_entropy owns class prototypes: pass num_classes= and dim=", entry="cross_entropy")
        self.tau = tau
        self.prototypes = nn.Parameter(torch.randn(num_classes, dim) / math.sqrt(dim))

    def forward(self, z, *, labels, **_):
        return nn.functional.cross_entropy(z @ self.prototypes.T / self.tau, labels.long())


class KMeans(_Ref):
    """sum_i KL(q_i || p_i): q the cluster kernel of phi = softmax(z), p Gaussian on x over all."""

    requires = frozenset({"x"})

    def __init__(self, sigma: float = 1.0, **_):
        super().__init__()
        self.sigma = sigma

    def forward(self, z, *, x, **_):
        logp = self.cached(_key(x) + (self.sigma,),
                           lambda: torch.log_softmax(-_sqdist(x.double()) / (2 * self.sigma ** 2), 1)).to(z.dtype)
        log_phi = torch.log_softmax(z, 1)
        phi = log_phi.exp()
        q = phi @ (phi / phi.sum(0, keepdim=True)).T
        return (q * (torch.log(q.clamp_min(1e-30)) - logp)).sum()


def _debiased(**overrides):
    from icon_registry.training.clustering import ReferenceClusterLoss

    return ReferenceClusterLoss(alpha=overrides.get("alpha", 0.6), alpha_p=overrides.get("alpha_p", 0.0))


REFERENCE = {
    "tsne": TSNE,
    "sne_uniform": lambda **kw: KnnEmbedding(joint=False, **kw),
    "tsne_uniform": lambda **kw: KnnEmbedding(joint=True, **kw),
    "pca": PCA,
    "simclr": lambda **kw: Contrastive("ids", "gaussian_dot", **{"tau": 0.5, **kw}),
    "tsimclr": lambda **kw: Contrastive("ids", "student_t", **kw),
    "supcon": lambda **kw: Contrastive("labels", "gaussian_dot", **{"tau": 0.1, **kw}),
    "cross_entropy": CrossEntropy,
    "kmeans": KMeans,
    "debiased_infonce_clustering": _debiased,
}
