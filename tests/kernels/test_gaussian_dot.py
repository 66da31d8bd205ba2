import math

import sympy
import torch

from icon_registry.kernels import GaussianDot

from .helpers import sympy_inputs, torch_inputs, weights


def test_cosine_over_temperature():
    inputs = torch_inputs(params={"tau": 0.3})
    w = weights(GaussianDot(kind="gaussian_dot", temperature="tau"), inputs)
    a, b = inputs.z[0], inputs.z[2]
    assert math.isclose(float(w.log_weights[0, 2]), float(a @ b / a.norm() / b.norm()) / 0.3, rel_tol=1e-12)


def test_the_temperature_divides_the_anchor_rows_not_the_pairs():
    """The values and gradients of <u_i, u_j> / tau, with the division on the n x d anchor rows: the
    n x m logits come straight out of the matmul (a pass over the pairs and an n x m buffer less,
    forward and backward, than dividing them)."""
    inputs = torch_inputs(n=6, params={"tau": 0.3})
    inputs.z.requires_grad_(True)
    logits = weights(GaussianDot(kind="gaussian_dot", temperature="tau"), inputs).log_weights
    assert type(logits.grad_fn).__name__ == "MmBackward0"
    unit = torch.nn.functional.normalize(inputs.z, dim=1)
    expected = unit @ unit.T / 0.3
    torch.testing.assert_close(logits, expected, rtol=1e-12, atol=1e-12)
    upstream = torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (grad,) = torch.autograd.grad(logits, inputs.z, upstream)
    (reference,) = torch.autograd.grad(expected, inputs.z, upstream)
    torch.testing.assert_close(grad, reference, rtol=1e-12, atol=1e-12)


def test_raw_dot_product():
    inputs = torch_inputs()
    w = weights(GaussianDot(kind="gaussian_dot", temperature=2.0, cosine=False), inputs)
    assert math.isclose(float(w.log_weights[1, 3]), float(inputs.z[1] @ inputs.z[3]) / 2.0, rel_tol=1e-12)


def test_equals_distance_form_on_the_sphere():
    """d2 = 2 - 2 cos on unit vectors: the two forms differ by a per-row constant."""
    from icon_registry.kernels import Gaussian

    inputs = torch_inputs(params={"tau": 0.5})
    inputs.z = torch.nn.functional.normalize(inputs.z, dim=1)
    dot = weights(GaussianDot(kind="gaussian_dot", temperature="tau"), inputs).log_weights
    dist = weights(Gaussian(kind="gaussian", sigma=0.5**0.5, scale=2.0), inputs).log_weights
    diff = dot - dist
    off = ~torch.eye(5, dtype=torch.bool)
    assert torch.allclose(diff[off], torch.full_like(diff[off], 2.0), atol=1e-12)


def test_symbolic():
    tau = sympy.Symbol("tau", positive=True)
    inputs = sympy_inputs(params={"tau": tau})
    w = weights(GaussianDot(kind="gaussian_dot", temperature="tau", cosine=False), inputs)
    z = inputs.z
    assert sympy.simplify(w.log_weights[0, 1] - (z[0, 0] * z[1, 0] + z[0, 1] * z[1, 1]) / tau) == 0
