import torch

from .helpers import dist, inputs


def test_rows_sum_to_one_over_support():
    d = dist({"kind": "normalize", "kernel": {"kind": "student_t"}, "support": "others"}).evaluate(inputs())
    p = d.prob()
    assert torch.allclose(p.sum(1), torch.ones(6, dtype=torch.float64)) and float(p.diagonal().abs().max()) == 0


def test_joint_sums_to_one():
    d = dist({"kind": "normalize", "kernel": {"kind": "student_t"}, "over": "joint"}).evaluate(inputs())
    assert d.joint and abs(float(d.prob().sum()) - 1) < 1e-12


def test_uniform_indicator_without_exp():
    d = dist({"kind": "normalize", "kernel": {"kind": "same_id"}}).evaluate(inputs(n=6, ids=torch.tensor([0, 0, 0, 1, 1, 2])))
    assert d.logits is None
    assert torch.allclose(d.prob()[0], torch.tensor([0, 0.5, 0.5, 0, 0, 0], dtype=torch.float64))
    assert float(d.prob()[5].sum()) == 0  # no other view: an empty row, no NaN


def test_counts_keep_float64_precision():
    """1/|P(i)| = 1/3 to float64 precision (counts are made in the evaluation's dtype)."""
    from icon_registry.backends import TorchBackend

    with TorchBackend.float_dtype(torch.float64):
        d = dist({"kind": "normalize", "kernel": {"kind": "same_id"}}).evaluate(inputs(n=4, ids=torch.tensor([0, 0, 0, 0])))
    assert float(d.prob()[0, 1]) == 1 / 3
