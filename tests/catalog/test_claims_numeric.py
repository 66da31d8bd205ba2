"""Direct numerical checks of the catalog's own derivations, on the compiled losses.

- t_kmeans' reverse_kl_entropy claim has a non-Gaussian p, which the verifier's
  K-Means-specific sub-check (sum_ij d2 q = 2 cost) does not cover;
- the sigma -> 0 limits of triplet_clip / triplet_supcon (hardest-negative hinges) hold
  with a log|S(i)| sandwich, not the triplet's log 2 one;
- error_rate's unproved statement (1 - q(y_i|i) -> the 0-1 error) is not a limit claim.
"""

from __future__ import annotations

import torch

from icon_registry import compile_loss

N = 10


def _z(seed=0, d=3):
    return torch.randn(N, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_t_kmeans_reverse_kl_is_cost_minus_entropy_plus_constant():
    nu = 1.3
    x = torch.randn(N, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    values = []
    for seed in range(3):
        z = _z(seed)
        kl = compile_loss("t_kmeans", reduction="sum", nu=nu)(z, x=x)
        phi = torch.softmax(z, 1)
        q = (phi / phi.sum(0)) @ phi.T
        entropy = -(q * q.log()).sum()
        cost = (q * torch.log1p(torch.cdist(x, x) ** 2 / nu)).sum()
        values.append(float(kl + entropy - (nu + 1) / 2 * cost))
    assert max(values) - min(values) < 1e-9


def test_kmeans_reverse_kl_is_cost_over_sigma_squared_minus_entropy():
    sigma = 0.7
    x = torch.randn(N, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    values = []
    for seed in range(3):
        z = _z(seed)
        kl = compile_loss("kmeans", reduction="sum", sigma=sigma)(z, x=x)
        phi = torch.softmax(z, 1)
        q = (phi / phi.sum(0)) @ phi.T
        entropy = -(q * q.log()).sum()
        centroids = (phi.T @ x) / phi.sum(0)[:, None]
        cost = (phi * torch.cdist(x, centroids) ** 2).sum()
        values.append(float(kl + entropy - cost / sigma**2))
    assert max(values) - min(values) < 1e-9


def _hard_limit(d2, positives, support):
    return torch.stack([d2[i][positives[i]].mean() - d2[i][support[i]].min() for i in range(N)]).mean()


def test_triplet_supcon_limit_is_batch_hard_hinge():
    z = _z(1)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    d2 = torch.cdist(z, z) ** 2
    others = ~torch.eye(N, dtype=torch.bool)
    same = (labels[:, None] == labels[None]) & others
    target = _hard_limit(d2, same, others)
    previous = None
    for sigma in (0.3, 0.1, 0.03):
        value = compile_loss("triplet_supcon", objective="cross_entropy", sigma=sigma)(z, labels=labels)
        gap = float(value - target)
        # sandwich: 0 <= sigma^2 H - limit <= sigma^2 log|S(i)|
        assert -1e-12 <= gap <= sigma**2 * torch.log(torch.tensor(N - 1.0)) + 1e-12
        assert previous is None or gap <= previous + 1e-12
        previous = gap


def test_triplet_clip_limit_is_cross_modal_hardest_negative_hinge():
    z = _z(2)
    ids = torch.arange(N) % (N // 2)
    modality = (torch.arange(N) >= N // 2).long()
    other = modality[:, None] != modality[None]
    pairs = other & (ids[:, None] == ids[None])
    target = _hard_limit(torch.cdist(z, z) ** 2, pairs, other)
    for sigma in (0.3, 0.1, 0.03):
        value = compile_loss("triplet_clip", objective="cross_entropy", sigma=sigma)(z, ids=ids, modality=modality)
        gap = float(value - target)
        assert -1e-12 <= gap <= sigma**2 * torch.log(torch.tensor(N / 2.0)) + 1e-12


def test_error_rate_limit():
    z = _z(3)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    sigma = 1e-3
    loss = compile_loss("error_rate", num_classes=3, dim=3, sigma=sigma, reduction="none").double()
    with torch.no_grad():
        per_anchor = loss(z, labels=labels) / sigma**2  # the unscaled cross entropy, -log q(y_i|i)
        d2 = torch.cdist(z, loss.prototypes) ** 2
    errors = (d2.argmin(1) != labels).double()
    assert torch.allclose((1 - torch.exp(-per_anchor)).mean(), errors.mean(), atol=1e-6)
    margin = (d2.gather(1, labels[:, None])[:, 0] - d2.min(1).values).mean()
    assert abs(float(per_anchor.mean() * sigma**2 - margin)) < 1e-4
