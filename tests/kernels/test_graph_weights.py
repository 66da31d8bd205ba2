import math

import torch

from icon_registry.kernels import GraphWeights

from .helpers import torch_inputs, weights


def test_log_of_positive_weights():
    A = torch.tensor([[0, 2.0, 0], [2.0, 0, 0.5], [0, 0.5, 0]], dtype=torch.float64)
    w = weights(GraphWeights(kind="graph_weights"), torch_inputs(n=3, graph=A))
    assert w.mask.tolist() == [[False, True, False], [True, False, True], [False, True, False]]
    assert math.isclose(float(w.log_weights[1, 2]), math.log(0.5))
