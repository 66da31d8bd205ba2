"""A perplexity-calibrated kernel restricted to each anchor's k nearest (``nearest`` = k > 0, t-SNE's
Barnes-Hut P): evaluated on the k alone and held as index entries, with no n x n matrix."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from icon_registry import compile_loss
from icon_registry.backends import TorchBackend
from icon_registry.pairs import Inputs

N = 240


def _points(n=N, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g, dtype=dtype)
    x[n // 2:] += 8.0  # two far clusters: the pairs between them underflow in the dense P
    return x


def _p(x, nearest, perplexity=5.0, dense=False, monkeypatch=None):
    """The t-SNE entry's P on x; ``dense``: through the n x n k-nearest mask instead (the path
    torch.compile traces), the reference."""
    if dense:
        monkeypatch.setattr(TorchBackend, "nearest_rows", staticmethod(lambda *args: None))
    loss = compile_loss("tsne", perplexity=perplexity, nearest=nearest)
    inputs = Inputs(TorchBackend, x, x.shape[0], dict(loss.params), x=x, entry_id="tsne")
    with torch.no_grad(), TorchBackend.float_dtype(x.dtype):
        return loss.entry.p.evaluate(inputs)


@pytest.mark.parametrize("nearest", [1, 15, 90])
def test_the_index_form_equals_the_dense_k_nearest_p(monkeypatch, nearest):
    x = _points()
    sparse = _p(x, nearest)
    assert sparse.entries is not None
    rows, cols, log_p = sparse.entries
    assert bool((rows != cols).all()) and bool(torch.isfinite(log_p).all())
    with monkeypatch.context() as patched:
        dense = _p(x, nearest, dense=True, monkeypatch=patched)
    assert dense.entries is None
    torch.testing.assert_close(sparse.prob(), dense.prob(), rtol=1e-10, atol=1e-15)
    assert torch.equal(sparse.mask, dense.mask)
    assert float(sparse.prob().sum()) == pytest.approx(1.0, abs=1e-12)


class _Sizes(TorchDispatchMode):
    """Records the number of elements of every tensor an operation returns."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(value, torch.Tensor):
                self.sizes.append(value.numel())
        return out


def _largest_tensor_made(run):
    """(the most elements of any tensor made while ``run()`` ran, what it returned)."""
    with _Sizes() as sizes:
        result = run()
    return max(sizes.sizes), result


def test_no_n_by_n_tensor_is_made():
    """Every tensor the evaluation makes has fewer than n^2 / 4 elements (the search's blocks
    are 1,024 x n at most: n = 5,000 keeps them under that)."""
    n = 5000
    x = _points(n, torch.float32)
    largest, p = _largest_tensor_made(lambda: _p(x, 90, perplexity=30.0))
    assert p.entries is not None
    assert largest < n * n / 4, largest


@pytest.mark.parametrize("interpolation", [0, 3])
def test_a_training_step_holds_no_n_by_n_tensor(interpolation):
    """With P at its k nearest, t-SNE's q sums its normalizer in blocks of rows from the points (or
    interpolates it on a grid): P's calibration and two forward and backward passes allocate nothing
    of n^2 / 4 elements or more (not even the n x n mask of 'others'; the search's blocks are 1,024 x n
    at most)."""
    n = 5001  # no other test makes the shared 'others' mask of this n
    x = _points(n, torch.float32)
    loss = compile_loss("tsne", perplexity=10.0, nearest=30, reduction="sum", interpolation=interpolation)
    y = torch.randn(n, 2).requires_grad_()
    largest, _ = _largest_tensor_made(lambda: [loss(y, x=x).backward() for _ in range(2)])
    assert largest < n * n / 4, largest


@pytest.mark.parametrize("objective", ["kl", "cross_entropy"])
def test_the_loss_and_its_gradient_equal_the_dense_ones(monkeypatch, objective):
    x = _points()
    y0 = torch.randn(N, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    results = []
    for dense in (False, True):
        if dense:
            monkeypatch.setattr(TorchBackend, "nearest_rows", staticmethod(lambda *args: None))
        loss = compile_loss("tsne", perplexity=5.0, nearest=15, reduction="none", objective=objective)
        y = y0.clone().requires_grad_()
        value = loss(y, x=x)
        value.sum().backward()
        results.append((value.detach(), y.grad))
    (values, grad), (dense_values, dense_grad) = results
    torch.testing.assert_close(values, dense_values, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(grad, dense_grad, rtol=1e-10, atol=1e-13)


def test_duplicate_points_give_a_finite_p_and_loss():
    x = _points(60, torch.float32)
    x[30:] = x[:30]  # every point twice: its nearest is at distance 0
    p = _p(x, 10)
    assert bool(torch.isfinite(p.entries[2]).all())
    y = torch.randn(60, 2, requires_grad=True)
    value = compile_loss("tsne", perplexity=5.0, nearest=10)(y, x=x)
    value.backward()
    assert math.isfinite(float(value.detach())) and bool(torch.isfinite(y.grad).all())


def test_symmetrize_entries_adds_the_two_directions_in_log_space():
    """log((p_ij + p_ji) / 2n) at the union of the pairs and their transposes, against the dense
    log-space sum; conditionals far below float64's range stay finite."""
    n = 7
    rows = torch.tensor([0, 0, 1, 2, 3, 4, 5, 6, 6])
    cols = torch.tensor([1, 2, 0, 5, 4, 3, 6 - 6, 3, 5])
    log_p = torch.tensor([-0.5, -1.2, -0.1, -2000.0, -0.7, -0.3, -3.0, -1.0, -2001.0], dtype=torch.float64)
    got_rows, got_cols, got = TorchBackend.symmetrize_entries(rows, cols, log_p, n)
    dense = torch.full((n, n), -math.inf, dtype=torch.float64)
    dense[rows, cols] = log_p
    want = torch.logaddexp(dense, dense.T) - math.log(2 * n)
    support = torch.isfinite(want)
    assert torch.equal(torch.stack([got_rows, got_cols]), support.nonzero().T)  # row-major, each pair once
    torch.testing.assert_close(got, want[support], rtol=1e-14, atol=0.0)
    assert bool(torch.isfinite(got).all())


@pytest.mark.parametrize("cosine", [False, True])
def test_a_knn_indicator_from_distances_is_uniform_over_the_k_in_index_form(monkeypatch, cosine):
    """The knn kernel on distances (a user's entry: uniform over each point's k nearest), symmetrized:
    the same P as through the n x n mask."""
    from tests.distributions.helpers import dist

    spec = dist({"kind": "symmetrize", "of": {"kind": "normalize", "support": "others",
                                              "kernel": {"kind": "knn", "source": "distances", "k": 7,
                                                         "space": "x", "cosine": cosine}}})
    x = _points(80)
    inputs = Inputs(TorchBackend, x, 80, {}, x=x)
    sparse = spec.evaluate(inputs)
    assert sparse.entries is not None
    monkeypatch.setattr(TorchBackend, "nearest_rows", staticmethod(lambda *args: None))
    dense = spec.evaluate(Inputs(TorchBackend, x, 80, {}, x=x))
    assert dense.entries is None
    torch.testing.assert_close(sparse.prob(), dense.prob(), rtol=1e-12, atol=1e-15)


def test_a_learned_k_nearest_kernel_keeps_its_gradient():
    """On z (a user's q) the search, whose distances carry no gradient, is not used: the dense
    path is taken and z gets a gradient through the kernel."""
    from tests.distributions.helpers import dist

    spec = dist({"kind": "normalize", "support": "others",
                 "kernel": {"kind": "gaussian", "space": "z", "perplexity": 3.0, "nearest": 5}})
    z = _points(40).requires_grad_()
    q = spec.evaluate(Inputs(TorchBackend, z, 40, {}))
    assert q.entries is None
    (q.log_prob().clamp_min(-1e4) * torch.eye(40, dtype=z.dtype).roll(1, 1)).sum().backward()
    assert z.grad is not None and float(z.grad.abs().sum()) > 0
