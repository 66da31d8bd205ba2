import torch

from icon_registry.kernels import Knn

from .helpers import torch_inputs, weights


def test_given_neighbors():
    inputs = torch_inputs(n=4, neighbors=torch.tensor([[1], [2], [3], [0]]))
    w = weights(Knn(kind="knn", k=1), inputs)
    assert w.mask.nonzero().tolist() == [[0, 1], [1, 2], [2, 3], [3, 0]]


def test_from_distances():
    x = torch.tensor([[0.0], [1.0], [1.5], [10.0]], dtype=torch.float64)
    inputs = torch_inputs(n=4, x=x, params={"k": 1})
    w = weights(Knn(kind="knn", k="k", source="distances"), inputs)
    assert w.mask.nonzero()[:, 1].tolist() == [1, 2, 1, 2]
