"""compile_loss(entry, source="formula") at small temperatures and confident logits, against
independent float64 references written from the papers with logsumexp.

The published DCL and Proxy-NCA formulas are log(sum(exp ...) - sum(exp ...)): written as they
read, the difference cancels once the removed terms (the positives, the true proxy) dominate, which
nearly aligned views do at small temperature (-inf, NaN). PMI clustering's sum of products of
soft assignments underflows to 0 for confident logits (an infinite loss)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from icon_registry import compile_loss, load_catalog
from icon_registry.schema import Entry

from . import references as ref
from . import references_beyond as ref_beyond
from .conformance import lightly_source_dir, load_lightly

CATALOG = load_catalog(use_env=False)
TEMPERATURES = [0.5, 0.05, 0.02, 0.01]
DTYPES = [torch.float32, torch.float64]


def two_views(n=24, d=16, noise=0.3, seed=0):
    """Nearly aligned views (float64): row r and row r + n are two views of one instance."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=g, dtype=torch.float64)
    return base, base + noise * torch.randn(n, d, generator=g, dtype=torch.float64)


def dcl_reference(z, ids, tau) -> float:
    """Yeh et al. 2022, eq. 6 without weighting: mean over anchors with a positive of
    -mean_{j in P(i)} s_ij + log sum_{k: id_k != id_i} exp(s_ik), s = cos / tau."""
    u = torch.nn.functional.normalize(z.double(), dim=1)
    s = u @ u.T / tau
    same = ids[:, None] == ids[None, :]
    positive = same & ~torch.eye(len(ids), dtype=torch.bool)
    negatives = torch.logsumexp(s.masked_fill(same, -math.inf), dim=1)
    per_anchor = -(s * positive).sum(1) / positive.sum(1) + negatives
    return float(per_anchor[positive.any(1)].mean())


def proxy_nca_reference(z, w, labels, T) -> float:
    """Movshovitz-Attias et al. 2017, eq. 11: mean_i d(x_i, p(y_i)) / T + log sum_{c != y_i}
    exp(-d(x_i, p_c) / T), d the squared distance between unit vectors."""
    u, p = (torch.nn.functional.normalize(t.double(), dim=1) for t in (z, w))
    s = -((u[:, None, :] - p[None, :, :]) ** 2).sum(-1) / T
    own = s.gather(1, labels[:, None])[:, 0]
    others = torch.logsumexp(s.scatter(1, labels[:, None], -math.inf), dim=1)
    return float((-own + others).mean())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tau", TEMPERATURES)
def test_dcl_formula_at_small_temperatures(tau, dtype):
    a, b = two_views()
    z = torch.cat([a, b])
    ids = torch.arange(len(z)) % len(a)
    loss = compile_loss(CATALOG.get("dcl"), source="formula", tau=tau)
    leaf = z.to(dtype).detach().requires_grad_(True)
    value = loss(leaf, ids=ids)
    value.backward()
    assert math.isfinite(float(value.detach())) and torch.isfinite(leaf.grad).all()
    tolerance = dict(rel=1e-10, abs=1e-10) if dtype == torch.float64 else dict(rel=1e-5, abs=1e-4)
    assert float(value.detach()) == pytest.approx(dcl_reference(z, ids, tau), **tolerance)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T", TEMPERATURES + [1 / 9])
def test_proxy_nca_formula_at_small_temperatures(T, dtype):
    classes, d = 10, 16
    g = torch.Generator().manual_seed(1)
    w = torch.randn(classes, d, generator=g, dtype=torch.float64)
    labels = torch.arange(40) % classes
    z = w[labels] + 0.3 * torch.randn(40, d, generator=g, dtype=torch.float64)  # near the own proxy
    loss = compile_loss(CATALOG.get("proxy_nca"), source="formula", T=T, num_classes=classes, dim=d)
    with torch.no_grad():
        loss.prototypes.copy_(w)
    leaf = z.to(dtype).detach().requires_grad_(True)
    value = loss(leaf, labels=labels)
    value.backward()
    assert math.isfinite(float(value.detach())) and torch.isfinite(leaf.grad).all()
    assert torch.isfinite(loss.prototypes.grad).all()
    tolerance = dict(rel=1e-10, abs=1e-10) if dtype == torch.float64 else dict(rel=1e-5, abs=1e-4)
    proxies = loss.prototypes.detach().double()  # w as the parameter holds it (its dtype's rounding)
    assert float(value.detach()) == pytest.approx(proxy_nca_reference(z, proxies, labels, T), **tolerance)


@pytest.mark.parametrize("tau", [0.05, 0.01])
def test_dcl_formula_equals_lightly(tau):
    """lightly's DCLLoss (its source, as the conformance cases load it), value and gradients."""
    root = lightly_source_dir()
    if root is None:
        pytest.skip("lightly's sources are not available")
    DCLLoss = load_lightly(root, ("lightly.utils.dist", "lightly.loss.dcl_loss"))["lightly.loss.dcl_loss"].DCLLoss
    a, b = two_views(n=12, d=8, noise=0.1, seed=3)
    a0, a1 = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    theirs = DCLLoss(temperature=tau)(a0, a1)
    theirs.backward()
    b0, b1 = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    ours = compile_loss(CATALOG.get("dcl"), source="formula", tau=tau)(torch.cat([b0, b1]), ids=torch.arange(24) % 12)
    ours.backward()
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), rel=1e-10)
    assert torch.allclose(b0.grad, a0.grad, rtol=1e-8, atol=1e-10)
    assert torch.allclose(b1.grad, a1.grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tau", [0.07, 1e-3, 1e-4])
def test_moco_formula_down_to_its_smallest_temperature(tau, dtype):
    """log(exp(a) + sum(m, bank, exp(b))) is one logaddexp of the two terms' logs: summed as written
    it overflowed to inf from tau = 1e-3 (the declared range goes down to 1e-4)."""
    g = torch.Generator().manual_seed(0)
    queries, keys, queue = (torch.randn(*shape, dtype=torch.float64, generator=g) for shape in [(5, 4), (5, 4), (9, 4)])
    leaf = queries.to(dtype).requires_grad_(True)
    value = compile_loss(CATALOG.get("moco_v2"), source="formula", tau=tau)(leaf, keys=keys.to(dtype),
                                                                           bank=queue.to(dtype))
    value.backward()
    assert math.isfinite(float(value.detach())) and torch.isfinite(leaf.grad).all()
    tolerance = dict(rel=1e-10) if dtype == torch.float64 else dict(rel=1e-5)
    assert float(value.detach()) == pytest.approx(float(ref_beyond.moco(queries, keys, queue, tau)), **tolerance)


def _user_entry(formula):
    data = CATALOG.get("simclr").model_dump(mode="json")
    data.update(id="mine", status="new", paper=None, aliases=[], relations=[], peers=[])
    data["loss"] = {"formula": formula, "description": "test"}
    data["claims"] = [{"kind": "unproved", "statement": "a test", "reason": "a test"}]
    return Entry.model_validate(data)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_masked_sum_of_exps_is_a_masked_logsumexp(dtype):
    """log(sum(k, S, indicator(c) * exp(e))): the indicator leaves the member out (never 0 * exp(e),
    NaN where exp overflows in float32), so DCL written with a mask equals the published one."""
    masked = _user_entry("-mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j])/tau) - "
                         "log(sum(k, others(i), indicator(id[k] != id[i]) * exp(cos(z[i], z[k])/tau))))")
    a, b = two_views(seed=2)
    z = torch.cat([a, b])
    ids = torch.arange(len(z)) % len(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = compile_loss(masked, source="formula", tau=0.01)
    leaf = z.to(dtype).detach().requires_grad_(True)
    value = loss(leaf, ids=ids)
    value.backward()
    assert torch.isfinite(leaf.grad).all()
    tolerance = dict(rel=1e-10) if dtype == torch.float64 else dict(rel=1e-5, abs=1e-4)
    assert float(value.detach()) == pytest.approx(dcl_reference(z, ids, 0.01), **tolerance)


@pytest.mark.parametrize("entry_id, sets", [("dcd", "sum"), ("pmi_clustering", "mean")])
def test_pmi_with_confident_logits_stays_finite(entry_id, sets):
    """pmi(i, j) = log sum_c phi_ic phi_jc / phi_c: the products underflow for confident logits,
    the log of it is a logsumexp of log-softmaxes (reference in float64)."""
    g = torch.Generator().manual_seed(4)
    n, clusters = 40, 8
    logits = 200 * torch.randn(n, clusters, generator=g)
    neighbors = torch.stack([torch.randperm(n - 1, generator=g)[:5] for _ in range(n)])
    neighbors += (neighbors >= torch.arange(n)[:, None]).long()
    log_phi = torch.log_softmax(logits.double(), dim=1)
    log_marginal = torch.logsumexp(log_phi, dim=0) - (math.log(n) if sets == "mean" else 0.0)
    pmi = torch.logsumexp(log_phi[:, None, :] + log_phi[neighbors] - log_marginal, dim=-1)  # (n, 5)
    expected = float(-pmi.mean()) if entry_id == "pmi_clustering" else float(-pmi.mean(1).sum())
    loss = compile_loss(CATALOG.get(entry_id), source="formula")
    for dtype, rel in ((torch.float32, 1e-5), (torch.float64, 1e-10)):
        leaf = logits.to(dtype).detach().requires_grad_(True)
        value = loss(leaf, neighbors=neighbors)
        value.backward()
        assert torch.isfinite(leaf.grad).all()
        assert float(value.detach()) == pytest.approx(expected, rel=rel)


@pytest.mark.parametrize("entry_id", ["dcl", "proxy_nca", "pmi_clustering"])
def test_gradcheck(entry_id):
    entry = CATALOG.get(entry_id)
    g = torch.Generator().manual_seed(6)
    z = torch.randn(8, 3, generator=g, dtype=torch.float64, requires_grad=True)
    kw = {"num_classes": 3, "dim": 3} if entry.mapper == "prototypes" else {}
    loss = compile_loss(entry, source="formula", **kw)
    batch = {"ids": torch.arange(8) % 4, "labels": torch.arange(8) % 3,
             "neighbors": (torch.arange(8)[:, None] + torch.tensor([1, 2])) % 8}
    batch = {name: value for name, value in batch.items() if name in loss.requires}
    assert torch.autograd.gradcheck(lambda t: loss(t, **batch), (z,), eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("entry_id", ["harmonic", "tsne"])
def test_float32_distances_far_from_the_origin_match_the_slow_reference(entry_id):
    """Points near 1000 (z and the prototypes; y for t-SNE) with distances ~1: expanded around the
    origin, |a|^2 + |b|^2 - 2 a.b cancelled them to float32's spacing at 3e6 (0.25): both losses
    were 2% off here (and the harmonic loss inf where a distance rounded to 0)."""
    g = torch.Generator().manual_seed(9)
    if entry_id == "harmonic":
        torch.manual_seed(0)
        loss = compile_loss(CATALOG.get("harmonic"), source="formula", num_classes=3, dim=4, power=2.0)
        with torch.no_grad():
            loss.prototypes.add_(1000.0)
        z = 1000.0 + torch.randn(12, 4, generator=g)
        labels = torch.arange(12) % 3
        value = loss(z, labels=labels)
        want = ref.harmonic(z.double().numpy(), loss.prototypes.detach().double().numpy(), labels.numpy(), 2.0)
    else:
        x = torch.randn(12, 5, generator=g)
        y = 1000.0 + torch.randn(12, 2, generator=g)
        value = compile_loss(CATALOG.get("tsne"), source="formula", perplexity=3.0)(y, x=x)
        want = ref.tsne(x.double().numpy(), y.double().numpy(), 3.0)
    assert value.dtype == torch.float32
    assert abs(value.item() - want) <= 1e-4 * abs(want), (value.item(), want)
