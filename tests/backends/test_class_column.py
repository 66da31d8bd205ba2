"""TorchBackend.class_column: the one column each value names among m classes."""

import pytest
import torch

from icon_registry.backends import TorchBackend


def test_every_value_in_range_is_its_own_column():
    values = torch.tensor([0, 3, 2, 3])
    column, rows = TorchBackend.class_column(values, 4)
    assert column is values and rows is None


@pytest.mark.parametrize("values", [[0, 4, 1], [-1, 0, 1], [5]])
def test_a_value_outside_gives_none(values):
    assert TorchBackend.class_column(torch.tensor(values), 4) is None


def test_compiled_form_clamps_and_marks_the_rows_in_range():
    values = torch.tensor([0, 4, -1, 3])

    @torch.compile(backend="eager", fullgraph=True)
    def traced(v):
        return TorchBackend.class_column(v, 4)

    column, rows = traced(values)
    assert column.tolist() == [0, 3, 0, 3]
    assert rows.tolist() == [True, False, False, True]
