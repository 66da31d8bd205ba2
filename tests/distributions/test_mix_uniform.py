import torch

from .helpers import dist, inputs


def test_mixes_probabilities():
    spec = {"kind": "mix_uniform", "alpha": 0.6, "of": {"kind": "normalize", "kernel": {"kind": "same_id"}}}
    d = dist(spec).evaluate(inputs(n=4, ids=torch.tensor([0, 1, 0, 1])))
    p = d.prob()
    assert torch.allclose(p.sum(1), torch.ones(4, dtype=torch.float64))
    assert abs(float(p[0, 2]) - (0.4 + 0.6 / 3)) < 1e-12 and abs(float(p[0, 1]) - 0.2) < 1e-12
