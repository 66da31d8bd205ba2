"""Small batches on both backends for the kernel tests."""

from __future__ import annotations

import numpy as np
import sympy
import torch

from icon_registry.backends import SympyBackend, TorchBackend
from icon_registry.pairs import Inputs, pairs_on


def torch_inputs(n=5, d=3, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    params = kw.pop("params", {})
    return Inputs(TorchBackend, z, n, params, **kw)


def sympy_inputs(n=3, d=2, **kw):
    z = np.array([[sympy.Symbol(f"z_{i}_{k}", real=True) for k in range(d)] for i in range(n)], dtype=object)
    params = kw.pop("params", {})
    return Inputs(SympyBackend, z, n, params, **kw)


def weights(kernel, inputs, support="others"):
    return kernel.weights(pairs_on(inputs, support))


def dense_log(w, n, m=None):
    """log weights as a dense array with -inf off the mask (torch)."""
    lw = torch.zeros(w.mask.shape, dtype=torch.float64) if w.log_weights is None else w.log_weights
    return lw.masked_fill(~w.mask, float("-inf"))
