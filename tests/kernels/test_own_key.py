import pytest
import torch

from icon_registry.errors import IconError
from icon_registry.kernels import OwnKey

from .helpers import torch_inputs, weights


def test_the_own_key_is_column_zero_of_key_and_bank():
    inputs = torch_inputs(n=3, d=2, keys=torch.randn(3, 2, dtype=torch.float64), bank=torch.randn(4, 2, dtype=torch.float64))
    w = weights(OwnKey(kind="own_key"), inputs, "key_and_bank")
    assert w.mask.tolist() == [[True, False, False, False, False]] * 3 and w.log_weights is None


def test_needs_key_and_bank():
    with pytest.raises(IconError, match="needs support 'key_and_bank'"):
        weights(OwnKey(kind="own_key"), torch_inputs(n=3, d=2), "others")
