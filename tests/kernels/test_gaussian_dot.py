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
