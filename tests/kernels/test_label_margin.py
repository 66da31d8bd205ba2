import torch

from icon_registry.kernels import LabelMargin

from .helpers import torch_inputs, weights


def test_margin_on_the_own_class_only():
    inputs = torch_inputs(n=3, d=2, labels=torch.tensor([0, 2, 1]), prototypes=torch.randn(3, 2, dtype=torch.float64),
                          params={"m": 0.35})
    w = weights(LabelMargin(kind="label_margin", margin="m", temperature=0.5), inputs, "prototypes")
    expected = torch.tensor([[-0.7, 0, 0], [0, 0, -0.7], [0, -0.7, 0]], dtype=torch.float64)
    assert torch.allclose(w.log_weights, expected) and bool(w.mask.all())
