"""TorchBackend's log-space primitives against float64 references written out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from icon_registry.backends.torch_backend import TorchBackend as B


def _reference_log_matmul_exp(a, b):
    """log sum_k exp(a_ik + b_kj) with all n x k x m terms in float64: exact to rounding."""
    return torch.logsumexp(a.double()[:, :, None] + b.double()[None, :, :], dim=1)


@pytest.mark.parametrize("scale", [1.0, 50.0, 1e4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_matmul_exp_matches_the_float64_reference(scale, dtype):
    """Cluster-like inputs (log-softmax rows): at scale 50 and 1e4 the rows' and the columns'
    largest terms sit at different k, where one shift per row and per column underflows."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 5, generator=g, dtype=torch.float64) * scale
    log_phi = torch.log_softmax(logits, 1)
    a = (log_phi - torch.logsumexp(log_phi, 0, keepdim=True)).to(dtype).requires_grad_(True)
    b = log_phi.T.contiguous().to(dtype).requires_grad_(True)
    weights = torch.rand(12, 12, generator=g, dtype=torch.float64)
    out = B.log_matmul_exp(a, b)
    (out.double() * weights).sum().backward()
    a64, b64 = a.detach().double().requires_grad_(True), b.detach().double().requires_grad_(True)
    want = _reference_log_matmul_exp(a64, b64)
    (want * weights).sum().backward()
    assert bool(torch.isfinite(out).all()) and bool(torch.isfinite(a.grad).all()) and bool(torch.isfinite(b.grad).all())
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(out.double(), want, rtol=tol, atol=tol * max(1.0, scale))
    assert torch.allclose(a.grad.double(), a64.grad, rtol=tol, atol=tol * 10)
    assert torch.allclose(b.grad.double(), b64.grad, rtol=tol, atol=tol * 10)


def test_log_matmul_exp_underflow_is_recomputed_only_where_needed():
    """Moderate inputs take the matmul alone; the result equals the reference either way."""
    a = torch.tensor([[0.0, -200.0], [-200.0, 0.0]])
    b = torch.tensor([[-200.0, 0.0], [0.0, -200.0]])
    out = B.log_matmul_exp(a, b)
    # (0,0): exp(0 - 200) + exp(-200 + 0): log 2 - 200, which the shifted product (e^-200) loses in float32
    assert torch.allclose(out, torch.tensor([[math.log(2) - 200, 0.0], [0.0, math.log(2) - 200]]), atol=1e-4)


def test_plogp_is_zero_for_zero_probability():
    prob = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    log_prob = torch.tensor([[math.log(0.5), math.log(0.5), -math.inf, -math.inf]])
    mask = torch.tensor([[True, True, True, False]])
    assert torch.equal(B.plogp(prob, log_prob, mask), torch.tensor([[0.5 * math.log(0.5)] * 2 + [0.0, 0.0]]))


def test_log_sqdist_is_finite_at_distance_zero():
    d2 = torch.tensor([0.0, 1.0], requires_grad=True)
    out = B.log_sqdist(d2)
    out.sum().backward()
    assert bool(torch.isfinite(out).all()) and bool(torch.isfinite(d2.grad).all())
    assert out[1] == 0.0


def test_calibration_at_perplexity_one_is_finite():
    """Entropy log(1) = 0: the bisection drives the precision up until p is one-hot, where the
    row's other probabilities underflow to 0 next to log-probabilities of -inf (0 log 0 = 0)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20, 3, generator=g, dtype=torch.float64)
    d = B.sqdist(x, x)
    mask = ~torch.eye(20, dtype=torch.bool)
    log_beta = B.calibrate_log_precision(d, mask, 1.0)
    assert bool(torch.isfinite(log_beta).all())
    logp = torch.log_softmax((-d * log_beta.exp()).masked_fill(~mask, -math.inf), 1)
    entropy = -B.plogp(logp.exp(), logp, mask).sum(1)
    assert bool((entropy < 1e-3).all())
