import numpy as np
import torch

from icon_registry.kernels import SameId

from .helpers import sympy_inputs, torch_inputs, weights


def test_other_views():
    w = weights(SameId(kind="same_id"), torch_inputs(n=4, ids=torch.tensor([0, 1, 0, 1])))
    assert w.log_weights is None
    assert w.mask.tolist() == [[False, False, True, False], [False, False, False, True], [True, False, False, False], [False, True, False, False]]


def test_symbolic_mask_is_structure():
    w = weights(SameId(kind="same_id"), sympy_inputs(n=3, ids=np.array([0, 0, 1])))
    assert w.mask.dtype == bool and w.mask.tolist() == [[False, True, False], [True, False, False], [False, False, False]]
