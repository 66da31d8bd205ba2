import torch

from .helpers import dist, inputs


def test_walks_two_steps():
    spec = {"kind": "propagate", "steps": 2, "of": {"kind": "normalize", "kernel": {"kind": "knn", "source": "given"}}}
    nb = torch.tensor([[1], [2], [3], [0]])  # a 4-cycle
    p = dist(spec).evaluate(inputs(n=4, neighbors=nb)).prob()
    # P + P^2 on i -> i+1 -> i+2, normalized: 1/2 each
    assert torch.allclose(p[0], torch.tensor([0, 0.5, 0.5, 0], dtype=torch.float64))


def test_reachable_is_uniform():
    spec = {"kind": "propagate", "steps": 3, "mode": "reachable", "of": {"kind": "normalize", "kernel": {"kind": "knn", "source": "given"}}}
    p = dist(spec).evaluate(inputs(n=4, neighbors=torch.tensor([[1], [2], [3], [0]]))).prob()
    assert torch.allclose(p[0], torch.tensor([0, 1 / 3, 1 / 3, 1 / 3], dtype=torch.float64))
