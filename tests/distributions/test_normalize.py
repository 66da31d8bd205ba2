import pytest
import torch

from icon_registry.backends import TorchBackend
from icon_registry.pairs import pairs_on

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


@pytest.mark.parametrize("rows, axis", [(None, 1), ((2, 5), 1), (None, None)], ids=["rows", "row-slice", "joint"])
def test_others_support_fills_the_diagonal_with_the_masked_select_values(rows, axis):
    """'others' fills each anchor's own entry instead of selecting through the mask (faster):
    same log-normalizer and gradient. A row slice (chunk) offsets that diagonal by its first row."""
    pairs = pairs_on(inputs(n=6, rows=rows), "others")
    assert pairs.excluded_diagonal == (0 if rows is None else rows[0])
    logits = torch.randn(pairs.support.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    results = []
    for diagonal in (pairs.excluded_diagonal, None):
        leaf = logits.clone().requires_grad_(True)
        lse = TorchBackend.masked_logsumexp(leaf, pairs.support, axis, diagonal)
        (lse * torch.arange(1.0, lse.numel() + 1, dtype=torch.float64).reshape(lse.shape)).sum().backward()
        results.append((lse.detach(), leaf.grad))
    (fast, fast_grad), (select, select_grad) = results
    assert torch.allclose(fast, select, rtol=1e-14, atol=0) and torch.allclose(fast_grad, select_grad, rtol=1e-14, atol=0)
    assert float(fast_grad[~pairs.support].abs().max()) == 0


def test_other_supports_have_no_excluded_diagonal():
    assert pairs_on(inputs(), "all").excluded_diagonal is None
    assert pairs_on(inputs(modality=torch.tensor([0, 0, 0, 1, 1, 1])), "other_modality").excluded_diagonal is None


@pytest.mark.parametrize("empty_row", [False, True], ids=["full-rows", "an-empty-row"])
def test_masked_logsumexp_gradient_is_the_masked_softmax(empty_row):
    """d lse_i / d a_ij = softmax_ij over the mask (0 off the mask); an empty row: lse 0, gradient 0."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 5, dtype=torch.float64, generator=g).requires_grad_(True)
    mask = torch.rand(4, 5, generator=g) > 0.3
    mask[:, 0] = True
    if empty_row:
        mask[2] = False
    lse = TorchBackend.masked_logsumexp(logits, mask, 1)
    lse.sum().backward()
    expected = torch.softmax(logits.detach().masked_fill(~mask, -torch.inf), 1).nan_to_num(0.0)
    assert torch.allclose(logits.grad, expected, rtol=1e-14, atol=1e-16)
    assert torch.isfinite(lse).all() and (float(lse[2].detach()) == 0) == empty_row
