import math

import numpy as np
import pytest
import sympy
import torch

from icon_registry.errors import IconError
from icon_registry.kernels import ClassPool

from .helpers import sympy_inputs, torch_inputs, weights

POOL = {"kind": "class_pool", "of": {"kind": "gaussian", "space": "z", "temperature": 1.0}}


def test_pooled_weights_are_sums_over_the_other_members_of_each_class():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    inputs = torch_inputs(n=6, d=2, labels=labels)
    w = weights(ClassPool.model_validate(POOL), inputs, "class_pools")
    z = inputs.z
    for i in range(6):
        for c in range(3):
            members = [j for j in range(6) if j != i and int(labels[j]) == c]
            assert bool(w.mask[i, c]) == bool(members)
            if members:
                expected = math.log(sum(math.exp(-float(((z[i] - z[j]) ** 2).sum())) for j in members))
                assert abs(float(w.log_weights[i, c]) - expected) < 1e-12
    # class 2 has one item: it is no candidate of itself; the others see it
    assert w.mask[:, 2].tolist() == [True] * 5 + [False]


def test_gradient_is_finite_where_a_class_is_absent():
    labels = torch.tensor([0, 0, 1, 1, 2])
    z = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    inputs = torch_inputs(n=5, d=2, labels=labels)
    inputs.z = z
    w = weights(ClassPool.model_validate(POOL), inputs, "class_pools")
    w.log_weights.sum().backward()
    assert torch.isfinite(z.grad).all()


def test_symbolic_pool():
    inputs = sympy_inputs(n=3, d=1, labels=np.array([0, 0, 1]))
    w = weights(ClassPool.model_validate(POOL), inputs, "class_pools")
    z = inputs.z
    assert sympy.simplify(w.log_weights[0, 1] - sympy.log(sympy.exp(-(z[0, 0] - z[2, 0]) ** 2))) == 0
    assert w.mask[2].tolist() == [True, False]


def test_needs_support_class_pools():
    with pytest.raises(IconError, match="needs support 'class_pools'"):
        weights(ClassPool.model_validate(POOL), torch_inputs(n=4, labels=torch.tensor([0, 0, 1, 1])), "others")
