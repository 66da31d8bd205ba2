"""TorchBackend.value_range: the lowest and highest value of an integer vector, read eagerly."""

import pytest
import torch

from icon_registry.backends import TorchBackend


@pytest.mark.parametrize("values, expected", [([0, 3, 2, 3], (0, 3)), ([-100, 4, 1], (-100, 4)), ([5], (5, 5)),
                                              ([], (0, -1))])
def test_the_range_as_python_integers(values, expected):
    found = TorchBackend.value_range(torch.tensor(values, dtype=torch.int64))
    assert found == expected and all(type(v) is int for v in found)


def test_none_under_torch_compile_where_reading_it_would_break_the_graph():
    @torch.compile(backend="eager", fullgraph=True)
    def traced(v):
        return TorchBackend.value_range(v) is None

    assert traced(torch.tensor([0, 1, 2, 3]))
