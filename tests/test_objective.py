"""objective.anchor_terms / entry_terms: the one function behind the torch loss and the symbolic side."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from icon_registry import compile_loss, objective
from icon_registry.backends import SympyBackend, TorchBackend
from icon_registry.catalog import load_catalog
from icon_registry.objective import SupportMismatch, entry_terms, labelled_classes
from icon_registry.pairs import Inputs
from tests.compiler.entries import fixture


def test_symbolic_simclr_equals_hand_written_infonce():
    """DESIGN.md's symbolic example: SimCLR n=4, d=2 equals InfoNCE exactly."""
    entry = fixture("simclr")
    z = np.array([[sympy.Symbol(f"z_{i}_{k}", real=True) for k in range(2)] for i in range(4)], dtype=object)
    tau = sympy.Symbol("tau", positive=True)
    total = sympy.Add(*entry_terms(entry, Inputs(SympyBackend, z, 4, {"tau": tau}, ids=np.array([0, 1, 0, 1]))).values)
    unit = [v / sympy.sqrt(sum(c**2 for c in v)) for v in z]

    def s(i, j):
        return sum(a * b for a, b in zip(unit[i], unit[j]))

    hand = sum(
        -sympy.log(sympy.exp(s(i, (i + 2) % 4) / tau) / sum(sympy.exp(s(i, k) / tau) for k in range(4) if k != i))
        for i in range(4)
    )
    assert sympy.simplify(sympy.expand_log(total - hand, force=True)) == 0


def test_torch_and_sympy_agree_numerically():
    entry = fixture("supcon")
    zs = np.array([[sympy.Symbol(f"z_{i}_{k}", real=True) for k in range(2)] for i in range(4)], dtype=object)
    labels = np.array([0, 0, 1, 1])
    symbolic = sympy.Add(*entry_terms(entry, Inputs(SympyBackend, zs, 4, {"tau": sympy.Rational(1, 2)}, labels=labels)).values)
    values = torch.tensor([[0.3, -1.0], [1.2, 0.4], [-0.7, 0.9], [0.1, 0.2]], dtype=torch.float64)
    numeric = entry_terms(entry, Inputs(TorchBackend, values, 4, {"tau": 0.5}, labels=torch.tensor(labels))).values.sum()
    substituted = symbolic.subs({zs[i, k]: float(values[i, k]) for i in range(4) for k in range(2)})
    assert math.isclose(float(substituted), float(numeric), rel_tol=1e-12)


def test_support_mismatch_is_infinite_kl():
    entry = fixture("pca").model_copy(update={"q": fixture("pca").q.model_copy(update={"support": "others"})})
    with pytest.raises(SupportMismatch, match=r"p puts mass on the pair \(0, 0\) but q gives it none"):
        entry_terms(entry, Inputs(TorchBackend, torch.randn(3, 2, dtype=torch.float64), 3, {"sigma": 1.0}))


def test_has_mass_marks_empty_anchors():
    entry = fixture("supcon")
    terms = entry_terms(entry, Inputs(TorchBackend, torch.randn(4, 2, dtype=torch.float64), 4, {"tau": 1.0}, labels=torch.tensor([0, 0, 1, 2])))
    assert terms.has_mass.tolist() == [True, True, False, False]
    assert terms.values[2] == 0 and terms.values[3] == 0


def test_no_grad_evaluation_takes_the_generic_path():
    entry = fixture("simclr")
    z = torch.randn(6, 3, dtype=torch.float64)
    ids = torch.arange(3).repeat(2)
    with torch.no_grad():
        a = entry_terms(entry, Inputs(TorchBackend, z, 6, {"tau": 0.3}, ids=ids)).values
    b = entry_terms(entry, Inputs(TorchBackend, z.requires_grad_(True), 6, {"tau": 0.3}, ids=ids)).values
    assert torch.allclose(a, b.detach(), rtol=1e-13)


_CLASSIFIERS = [e.id for e in load_catalog() if labelled_classes(e)]
#: The classifiers whose q is a softmax over every class (cosface's too: a product of two kernels on
#: all of the support), which the direct path takes.
_DIRECT = {"cross_entropy", "cosface", "normface", "harmonic", "mlm", "skipgram", "error_rate", "proxy_nca"}


@pytest.mark.parametrize("labels", [[0, 2, 1, 2, 0, 1], [0, 2, -1, 2, 0, 1]], ids=["every label a class", "label -1: no class"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("entry_id", _CLASSIFIERS)
def test_classifier_read_off_the_labels_equals_the_generic_path(entry_id, reduction, labels, monkeypatch):
    """The classifiers' direct path (p one-hot from the labels, torch's cross entropy) against the
    generic one (p's mask, the fused objective) on the same batch: values and both gradients."""
    assert {"cross_entropy", "normface", "harmonic"} <= set(_CLASSIFIERS)
    taken = []
    direct = objective._labelled_class_terms
    monkeypatch.setattr(objective, "_labelled_class_terms", lambda *a: taken.append(direct(*a)) or taken[-1])
    results = []
    for path in ("direct", "generic"):
        if path == "generic":
            monkeypatch.setattr(objective, "_labelled_class_terms", lambda *a: None)
        loss = compile_loss(entry_id, reduction=reduction, num_classes=3, dim=4).double()
        with torch.no_grad():
            loss.prototypes.copy_(torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
        z = torch.randn(6, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64, requires_grad=True)
        value = loss(z, labels=torch.tensor(labels))
        value.sum().backward()
        results.append((value.detach(), z.grad, loss.prototypes.grad))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    in_range = min(labels) >= 0
    assert any(t is not None for t in taken) == (in_range and entry_id in _DIRECT), taken


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_a_matmul_product_masked_in_place_gives_the_reference_loss_every_call(reduction):
    """SimCLR's small-batch path fills the excluded diagonal of q's cosine product in place
    (torch_backend.masked_scores): the loss and the gradient stay the reference's, on the first
    call and on the next ones (p cached, the product made anew)."""
    from tests.compiler.references import nt_xent_two_views

    torch.manual_seed(3)
    loss = compile_loss("simclr", reduction=reduction, tau=0.2)
    z0, z1 = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    reference = nt_xent_two_views(z0.numpy(), z1.numpy(), 0.2)
    z = torch.cat([z0, z1]).requires_grad_(True)
    ids = torch.arange(5).repeat(2)
    expected_grad = None
    for _ in range(3):
        z.grad = None
        value = loss(z, ids=ids)
        total = value.mean() if reduction == "none" else value
        assert math.isclose(total.detach().item(), reference, rel_tol=1e-12)
        total.backward()
        assert torch.isfinite(z.grad).all()
        if expected_grad is None:
            expected_grad = z.grad.clone()
        assert torch.equal(z.grad, expected_grad)


def test_masked_scores_fills_a_product_in_place_and_copies_anything_else():
    from icon_registry.backends import torch_backend
    from icon_registry.distributions.base import Softmax

    a = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    others = Softmax(1, diagonal=0, nonempty=True, full=False)
    product = a @ a.T
    assert torch_backend.masked_scores(product, None, others) is product
    assert torch.isneginf(product.diagonal()).all()
    scaled = (a @ a.T) * 2.0  # not a matmul's product: autograd's mul may keep it, the caller may read it
    masked = torch_backend.masked_scores(scaled, None, others)
    assert masked is not scaled and torch.isfinite(scaled).all() and torch.isneginf(masked.diagonal()).all()
