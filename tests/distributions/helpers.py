from __future__ import annotations

import torch

from icon_registry.backends import TorchBackend
from icon_registry.pairs import Inputs
from pydantic import TypeAdapter

from icon_registry.distributions import DistributionSpec as _Spec

_adapter = TypeAdapter(_Spec)


def dist(spec: dict):
    return _adapter.validate_python(spec)


def inputs(n=6, d=3, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    params = kw.pop("params", {})
    return Inputs(TorchBackend, z, n, params, **kw)
