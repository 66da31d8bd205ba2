import pytest
import torch
from pydantic import ValidationError

from icon_registry.kernels import Product

from .helpers import torch_inputs, weights


def test_log_weights_add_and_masks_intersect():
    kernel = Product.model_validate({"kind": "product", "kernels": [
        {"kind": "gaussian_dot", "temperature": 0.5, "cosine": False}, {"kind": "same_id"}]})
    inputs = torch_inputs(n=4, d=2, ids=torch.tensor([0, 1, 0, 1]))
    w = weights(kernel, inputs)
    assert w.mask.tolist() == [[False, False, True, False], [False, False, False, True],
                               [True, False, False, False], [False, True, False, False]]
    assert torch.allclose(w.log_weights, inputs.z @ inputs.z.T / 0.5)
    assert kernel.inputs_used() == {"ids"}


def test_needs_two_kernels():
    with pytest.raises(ValidationError):
        Product.model_validate({"kind": "product", "kernels": [{"kind": "same_id"}]})
