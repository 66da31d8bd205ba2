import torch

from .helpers import dist, inputs


def test_joint_symmetric_sums_to_one():
    spec = {"kind": "symmetrize", "of": {"kind": "normalize", "kernel": {"kind": "student_t"}}}
    d = dist(spec).evaluate(inputs())
    P = d.prob()
    assert d.joint and torch.allclose(P, P.T) and abs(float(P.sum()) - 1) < 1e-12
