import math

import sympy
import torch

from icon_registry.kernels import Gaussian

from .helpers import sympy_inputs, torch_inputs, weights


def test_distance_form_torch():
    inputs = torch_inputs(params={"sigma": 0.7})
    w = weights(Gaussian(kind="gaussian", sigma="sigma"), inputs)
    z = inputs.z
    d2 = float(((z[0] - z[3]) ** 2).sum())
    assert math.isclose(float(w.log_weights[0, 3]), -d2 / (2 * 0.7**2), rel_tol=1e-12)
    assert not bool(w.mask[1, 1]) and bool(w.mask[1, 2])


def test_scale_one_is_prop1_form():
    inputs = torch_inputs(params={"sigma": 2.0})
    w = weights(Gaussian(kind="gaussian", sigma="sigma", scale=1.0), inputs, "all")
    d2 = float(((inputs.z[1] - inputs.z[4]) ** 2).sum())
    assert math.isclose(float(w.log_weights[1, 4]), -d2 / 4.0, rel_tol=1e-12)
    assert bool(w.mask[2, 2])


def test_perplexity_calibrates_row_entropy():
    inputs = torch_inputs(n=12, d=4, params={"perplexity": 4.0})
    inputs.x = inputs.z
    w = weights(Gaussian(kind="gaussian", space="x", perplexity="perplexity"), inputs)
    logp = torch.log_softmax(w.log_weights.masked_fill(~w.mask, float("-inf")), 1)
    entropy = -(logp.exp() * logp.masked_fill(~w.mask, 0)).sum(1)
    assert torch.allclose(entropy, torch.full((12,), math.log(4.0), dtype=torch.float64), atol=1e-10)


def test_symbolic():
    inputs = sympy_inputs(params={"sigma": sympy.Symbol("sigma", positive=True)})
    w = weights(Gaussian(kind="gaussian", sigma="sigma"), inputs)
    z, s = inputs.z, sympy.Symbol("sigma", positive=True)
    expected = -sum((z[0, k] - z[1, k]) ** 2 for k in range(2)) / (2 * s**2)
    assert sympy.simplify(w.log_weights[0, 1] - expected) == 0


def test_exactly_one_bandwidth():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one of 'sigma', 'perplexity' and 'temperature'"):
        Gaussian(kind="gaussian", sigma=1.0, perplexity=5.0)


def test_temperature_form():
    inputs = torch_inputs(n=4, d=3, params={"T": 0.7})
    w = weights(Gaussian(kind="gaussian", temperature="T"), inputs)
    d2 = torch.cdist(inputs.z, inputs.z) ** 2
    assert torch.allclose(w.log_weights, -d2 / 0.7)
