import torch

from icon_registry.kernels import SameLabel

from .helpers import torch_inputs, weights


def test_same_class_others():
    w = weights(SameLabel(kind="same_label"), torch_inputs(n=4, labels=torch.tensor([2, 2, 2, 5])))
    assert w.mask.sum(1).tolist() == [2, 2, 2, 0]


def test_data_label_pairs_on_prototypes():
    inputs = torch_inputs(n=3, labels=torch.tensor([1, 0, 1]), prototypes=torch.zeros(2, 3, dtype=torch.float64))
    w = weights(SameLabel(kind="same_label"), inputs, "prototypes")
    assert w.mask.tolist() == [[False, True], [True, False], [False, True]]
