"""Entries agree with the peer implementations their `peers` name, in the stated convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from icon_registry import compile_loss

N = 12


@pytest.fixture
def z():
    return torch.randn(N, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_simclr_matches_pml_ntxent_with_two_views(z, tau):
    losses = pytest.importorskip("pytorch_metric_learning.losses")
    ids = torch.arange(N) % (N // 2)
    ours = compile_loss("simclr", tau=tau)(z, ids=ids)
    assert torch.allclose(ours, losses.NTXentLoss(temperature=tau)(z, ids))


def test_pml_ntxent_differs_with_more_views(z):
    """The stated convention difference: PML averages over positive pairs and leaves the
    anchor's other positives out of each denominator."""
    losses = pytest.importorskip("pytorch_metric_learning.losses")
    ids = torch.arange(N) % 4  # three views per id
    ours = compile_loss("simclr", tau=0.5, objective="cross_entropy")(z, ids=ids)
    assert not torch.allclose(ours, losses.NTXentLoss(temperature=0.5)(z, ids))


def test_supcon_matches_pml_supcon_as_cross_entropy(z):
    losses = pytest.importorskip("pytorch_metric_learning.losses")
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3])
    ours = compile_loss("supcon", tau=0.1, objective="cross_entropy")(z, labels=labels)
    assert torch.allclose(ours, losses.SupConLoss(temperature=0.1)(z, labels))
    kl = compile_loss("supcon", tau=0.1)(z, labels=labels)
    sizes = torch.tensor([2, 2, 2, 3, 3, 3, 3, 1, 1, 2, 2, 2], dtype=torch.float64)
    assert torch.allclose(ours - kl, sizes.log().mean())


@pytest.mark.parametrize("entry", ["cross_entropy", "mlm"])
def test_cross_entropy_matches_torch(z, entry):
    loss = compile_loss(entry, num_classes=4, dim=5).double()
    labels = torch.arange(N) % 4
    expected = torch.nn.functional.cross_entropy(z @ loss.prototypes.T, labels)
    assert torch.allclose(loss(z, labels=labels), expected)


def test_tsne_matches_sklearn_exact_objective():
    t_sne = pytest.importorskip("sklearn.manifold._t_sne")
    from sklearn.metrics import pairwise_distances

    x = np.random.default_rng(0).normal(size=(N, 6))
    y = np.random.default_rng(1).normal(size=(N, 2))
    P = t_sne._joint_probabilities(pairwise_distances(x, squared=True), 5.0, 0)
    kl, grad = t_sne._kl_divergence(y.ravel(), P, 1, N, 2)
    loss = compile_loss("tsne", perplexity=5.0, reduction="sum")
    yt = torch.tensor(y, requires_grad=True)
    value = loss(yt, x=torch.tensor(x))
    value.backward()
    # the perplexity calibrations differ slightly (bisection details); the objective does not
    assert abs(float(value.detach()) - kl) < 1e-5
    assert np.abs(yt.grad.numpy().ravel() - grad).max() < 1e-5
