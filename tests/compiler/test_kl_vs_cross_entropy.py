"""KL and cross-entropy objectives differ by exactly H(p), a constant (p is fixed)."""

from __future__ import annotations

import math

import pytest
import torch

from . import conformance as C
from . import references as ref


def _both(entry_id, z, reduction="sum", **kw):
    params = {k: kw.pop(k) for k in list(kw) if k in ("tau", "perplexity", "alpha", "steps")}
    kl = C.compiled(entry_id, reduction=reduction, **params)(z, **kw)
    ce = C.compiled(entry_id, reduction=reduction, objective="cross_entropy", **params)(z, **kw)
    return kl, ce


def _entropy(P):
    return -sum(v * math.log(v) for v in P.ravel() if v > 0)


def test_supcon_difference_is_sum_log_positives():
    z, labels = C.supcon_data()
    kl, ce = _both("supcon", z, labels=labels, tau=0.2)
    counts = [(labels == labels[i]).sum().item() - 1 for i in range(len(labels))]
    assert abs(float(ce - kl) - sum(math.log(c) for c in counts if c > 0)) < 1e-12


def test_sne_difference_is_entropy_of_calibrated_rows():
    x, y = C.sne_data()
    kl, ce = _both("sne", y, x=x, perplexity=4.0)
    # each row is calibrated to entropy log(perplexity)
    assert abs(float(ce - kl) - 10 * math.log(4.0)) < 1e-9
    assert abs(float(ce - kl) - _entropy(ref.calibrated_conditionals(x.numpy(), 4.0))) < 1e-9


def test_tsne_difference_is_joint_entropy():
    x, y = C.sne_data()
    kl, ce = _both("tsne", y, x=x, perplexity=4.0)
    assert abs(float(ce - kl) - _entropy(ref.tsne_joint_p(x.numpy(), 4.0))) < 1e-12


def test_difference_does_not_depend_on_z():
    x, y = C.sne_data()
    a = _both("sne", y, x=x, perplexity=4.0)
    b = _both("sne", y * 3 + 1, x=x, perplexity=4.0)
    assert abs(float(a[1] - a[0]) - float(b[1] - b[0])) < 1e-9


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_simclr_one_positive_kl_equals_cross_entropy(reduction):
    _, _, z, ids = C.two_views()
    kl, ce = _both("simclr", z, reduction=reduction, ids=ids)
    assert torch.equal(kl, ce)
