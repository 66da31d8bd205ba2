import math

import torch

from icon_registry.kernels import DegreeSoftmax

from .helpers import torch_inputs, weights


def test_weight_over_column_degree():
    A = torch.tensor([[0, 2.0, 1.0], [2.0, 0, 0.5], [1.0, 0.5, 0]], dtype=torch.float64)
    w = weights(DegreeSoftmax(kind="degree_softmax"), torch_inputs(n=3, graph=A))
    assert math.isclose(float(w.log_weights[0, 1]), 2.0 / 2.5)
    assert math.isclose(float(w.log_weights[2, 0]), 1.0 / 3.0)
