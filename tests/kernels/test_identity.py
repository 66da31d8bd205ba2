import torch

from icon_registry.kernels import Identity

from .helpers import torch_inputs, weights


def test_diagonal_on_support_all():
    w = weights(Identity(kind="identity"), torch_inputs(), "all")
    assert w.log_weights is None and torch.equal(w.mask, torch.eye(5, dtype=torch.bool))


def test_empty_on_support_others():
    assert not bool(weights(Identity(kind="identity"), torch_inputs(), "others").mask.any())
