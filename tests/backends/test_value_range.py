"""TorchBackend.class_column: the one column each value names among m classes."""

import pytest
import torch

from icon_registry.backends import TorchBackend


def test_every_value_in_range_is_its_own_column():
    values = torch.tensor([0, 3, 2, 3])
    assert TorchBackend.class_column(values, 4) is values


@pytest.mark.parametrize("values", [[0, 4, 1], [-1, 0, 1], [5]])
def test_a_value_outside_gives_none(values):
    assert TorchBackend.class_column(torch.tensor(values), 4) is None


def test_none_under_torch_compile_which_fuses_the_mask_instead():
    @torch.compile(backend="eager", fullgraph=True)
    def traced(v):
        return TorchBackend.class_column(v, 4) is None

    assert traced(torch.tensor([0, 1, 2, 3]))
