import pytest
import torch
from pydantic import ValidationError

from icon_registry.kernels import AnyOf

from .helpers import torch_inputs, weights


def test_union_of_views_and_neighbours():
    kernel = AnyOf.model_validate({"kind": "any_of", "kernels": [{"kind": "same_id"}, {"kind": "knn", "source": "given"}]})
    inputs = torch_inputs(n=4, ids=torch.tensor([0, 1, 0, 1]), neighbors=torch.tensor([[1], [0], [3], [2]]))
    w = weights(kernel, inputs)
    assert w.mask.sum(1).tolist() == [2, 2, 2, 2]
    assert kernel.inputs_used() == {"ids", "neighbors"}


def test_indicators_only():
    with pytest.raises(ValidationError, match="combines indicator kernels only"):
        AnyOf.model_validate({"kind": "any_of", "kernels": [{"kind": "student_t"}]})
