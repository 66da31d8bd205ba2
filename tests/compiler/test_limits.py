"""sigma -> inf and sigma -> 0 rows approach their published losses, monotonically."""

from __future__ import annotations

import math

import torch

from . import conformance as C
from . import references as ref


def test_pca_tends_to_minus_two_variance_at_rate_sigma_minus_two():
    """sigma^2 (mean_i H(p_i, q_i) - log n) -> -2 Var(z) (Thm 2 / Prop 1), error O(sigma^-2)."""
    z = C.randn(9, 3, seed=70)
    target = ref.minus_two_variance(z.numpy())
    sigmas = [1.0, 3.0, 10.0, 30.0, 100.0]
    errors = []
    for sigma in sigmas:
        value = float(C.compiled("pca", sigma=sigma)(z)) - sigma**2 * math.log(9)
        errors.append(abs(value - target))
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    # O(sigma^-2): sigma^2 * error settles to a constant
    scaled = [e * s**2 for e, s in zip(errors, sigmas)]
    assert abs(scaled[-1] - scaled[-2]) < 0.05 * scaled[-1], scaled
    assert errors[-1] < 1e-3


def test_triplet_tends_to_margin_zero_triplet_with_thm5_sandwich():
    """L_sigma - sigma^2 log 2 <= L_triplet(margin 0) <= L_sigma, and the gap shrinks with sigma
    (at least as fast as sigma^2 log 2; exponentially away from ties)."""
    z, nb = C.triplet_data()
    target = ref.triplet_margin0(z.numpy(), nb.tolist())
    errors = []
    for sigma in [2.0, 1.0, 0.5, 0.35, 0.25]:
        value = float(C.compiled("triplet", sigma=sigma)(z, neighbors=nb))
        assert value - sigma**2 * math.log(2) - 1e-12 <= target <= value + 1e-12
        errors.append(value - target)
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-8  # exponentially small away from ties: sigma^2 log(1 + e^{-|t|/sigma^2})
    assert float(C.compiled("triplet", sigma=0.03)(z, neighbors=nb)) == target  # below float64 resolution


def test_triplet_at_a_tie_converges_at_rate_sigma_squared():
    """With d2(i, pos) = d2(i, neg) the gap is exactly sigma^2 log 2 per anchor: O(sigma^2)."""
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    nb = torch.tensor([[1, 2], [0, 2], [0, 1]])
    loss0 = C.compiled("triplet", sigma=0.5, reduction="none")(z, neighbors=nb)[0]
    assert abs(float(loss0) - 0.25 * math.log(2)) < 1e-15
