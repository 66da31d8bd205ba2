"""compile_loss(entry, source="formula"): the published formula as a vectorized torch loss.

Every catalog formula against the formula module's own evaluator (numpy float64, one element
at a time) on random batches; gradients by torch.autograd.gradcheck; SimCLR, SupCon and CLIP
against the objective (value and gradients); chunked evaluation against unchunked; the
numerically delicate places (masked singular positions, underflow, empty sets)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from icon_registry import compile_loss, load_catalog
from icon_registry.errors import IconError, IconWarning
from icon_registry.formula import FormulaInstance, evaluate_numeric
from icon_registry.static_check import parse_entry_formula
from icon_registry.schema import Entry

CATALOG = load_catalog(use_env=False)
IDS = CATALOG.ids


def batch_for(entry, loss, n=12, d=3, seed=0):
    """Random inputs for everything the formula loss reads (float64)."""
    g = torch.Generator().manual_seed(seed)
    reads = loss.requires
    batch = {}
    if "modality" in reads:
        batch["modality"] = torch.arange(n) % 2
        batch["ids"] = torch.arange(n) // 2
    elif "ids" in reads:
        batch["ids"] = torch.arange(n) % (n // 2)
    if "labels" in reads:
        batch["labels"] = torch.randint(0, 3, (n,), generator=g)
        batch["labels"][:3] = torch.arange(3)  # every class present, and classes of size >= 2 likely
    if "x" in reads:
        batch["x"] = torch.randn(n, 4, generator=g, dtype=torch.float64)
    if "neighbors" in reads:
        batch["neighbors"] = torch.stack([torch.randperm(n - 1, generator=g)[:2] for _ in range(n)])
        batch["neighbors"] += (batch["neighbors"] >= torch.arange(n)[:, None]).long()  # never the anchor itself
    if "graph" in reads:
        w = torch.rand(n, n, generator=g, dtype=torch.float64) * (torch.rand(n, n, generator=g) < 0.7)
        w = torch.triu(w, 1)
        batch["graph"] = w + w.T
    if "teacher" in reads:  # probabilities over z's d outputs, one exact zero (a teacher's support)
        teacher = torch.softmax(torch.randn(n, d, generator=g, dtype=torch.float64), 1)
        teacher[0, 0] = 0.0
        batch["teacher"] = teacher / teacher.sum(1, keepdim=True)
    if "center" in reads:
        batch["center"] = torch.randn(d, generator=g, dtype=torch.float64)
    if "keys" in reads:
        batch["keys"] = torch.randn(n, d, generator=g, dtype=torch.float64)
    if {"bank", "bank_ids", "bank_labels"} & reads:  # five rows; two share an id with the batch, one does not
        batch["bank"] = torch.randn(5, d, generator=g, dtype=torch.float64)
        batch["bank_ids"] = torch.tensor([0, 1, 1, 2, n + 7])
        batch["bank_labels"] = torch.tensor([0, 1, 2, 1, 0])
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    return z, batch


def compiled(entry, **kw):
    extra = {"num_classes": 3, "dim": 3} if entry.mapper == "prototypes" else {}
    loss = compile_loss(entry, source="formula", **extra, **kw)
    if loss.prototypes is not None:
        with torch.no_grad():
            loss.prototypes.copy_(torch.randn(3, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    return loss


def reference(entry, loss, z, batch) -> float:
    """The formula module's numeric evaluator on the same batch."""
    formula = parse_entry_formula(entry, entry.loss.formula)
    rows = lambda t: None if t is None else t.tolist()  # noqa: E731
    phi = None
    if "phi" in loss.fields:
        phi = torch.softmax(z / loss.params.get(loss._cluster.temperature, loss._cluster.temperature)
                            if isinstance(loss._cluster.temperature, str) else z / loss._cluster.temperature, 1)
    beta = None
    if "beta" in loss.fields:
        beta = loss._beta(loss._inputs(z, x=batch.get("x")), None).tolist()
    instance = FormulaInstance(
        n=z.shape[0], z=rows(z), x=rows(batch.get("x")), g=rows(batch.get("x")),
        w=rows(loss.prototypes.detach()) if loss.prototypes is not None else None,
        labels=rows(batch.get("labels")), ids=rows(batch.get("ids")), modality=rows(batch.get("modality")),
        candidates=rows(batch.get("neighbors")), neighbors=rows(batch.get("neighbors")), beta=beta,
        phi=rows(phi), W=rows(batch.get("graph")), teacher=rows(batch.get("teacher")), center=rows(batch.get("center")),
        keys=rows(batch.get("keys")), bank=rows(batch.get("bank")), bank_ids=rows(batch.get("bank_ids")),
        bank_labels=rows(batch.get("bank_labels")), params=dict(loss.params),
        num_classes=3 if "labels" in batch and loss.prototypes is None else None)
    return float(evaluate_numeric(formula, instance))


@pytest.mark.parametrize("entry_id", IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_catalog_formula_equals_the_evaluator(entry_id, seed):
    entry = CATALOG.get(entry_id)
    loss = compiled(entry)
    z, batch = batch_for(entry, loss, seed=seed)
    if "labels" in batch and loss.prototypes is None:
        batch["labels"] = torch.arange(12) % 3  # classes of four: every anchor has same-class items
    value = loss(z, **batch)
    expected = reference(entry, loss, z, batch)
    assert value.dtype == torch.float64 and value.dim() == 0
    assert float(value.detach()) == pytest.approx(expected, rel=1e-9, abs=1e-12), entry_id


GRADCHECK = ["simclr", "supcon", "clip", "tsne", "sne", "kmeans", "triplet", "harmonic", "cross_entropy",
             "debiased_infonce_clustering", "normalized_cuts", "pca", "avg_margin_clip", "tsne_uniform"]


@pytest.mark.parametrize("entry_id", GRADCHECK)
def test_gradcheck(entry_id):
    entry = CATALOG.get(entry_id)
    loss = compiled(entry)
    z, batch = batch_for(entry, loss, n=8, seed=3)
    if "labels" in batch and loss.prototypes is None:
        batch["labels"] = torch.arange(8) % 2
    z.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: loss(t, **batch), (z,), eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("entry_id, objective", [("simclr", "kl"), ("supcon", "cross_entropy"),
                                                 ("clip", "cross_entropy")])
def test_published_formula_equals_the_objective(entry_id, objective):
    """SimCLR, SupCon and CLIP: value and gradients of the formula equal the I-Con objective
    (float64), SupCon's KL objective by its gradients (they differ by H(p), a constant)."""
    entry = CATALOG.get(entry_id)
    g = torch.Generator().manual_seed(7)
    n = 32
    z = torch.randn(n, 16, generator=g, dtype=torch.float64, requires_grad=True)
    batch = {"ids": torch.arange(n) % (n // 2)} if entry_id == "simclr" else {}
    if entry_id == "supcon":
        batch = {"labels": torch.randint(0, 5, (n,), generator=g)}
    if entry_id == "clip":
        batch = {"ids": torch.arange(n) // 2, "modality": torch.arange(n) % 2}
    formula = compile_loss(entry, source="formula", tau=0.2)
    for objective_name in {objective, "kl"}:
        reference_loss = compile_loss(entry, tau=0.2, objective=objective_name)
        a = formula(z, **batch)
        (ga,) = torch.autograd.grad(a, z)
        b = reference_loss(z, **batch)
        (gb,) = torch.autograd.grad(b, z)
        if objective_name == objective:
            assert float(a) == pytest.approx(float(b), abs=1e-6, rel=0)
        assert torch.allclose(ga, gb, atol=1e-6, rtol=0)


def test_chunked_equals_unchunked():
    entry = CATALOG.get("tsne")
    loss = compile_loss(entry, source="formula")
    blocks = compile_loss(entry, source="formula", chunk_size=5)
    z, batch = batch_for(entry, loss, n=17, seed=2)
    z.requires_grad_(True)
    a, b = loss(z, **batch), blocks(z, **batch)
    (ga,) = torch.autograd.grad(a, z)
    (gb,) = torch.autograd.grad(b, z)
    assert float(a) == pytest.approx(float(b), rel=1e-12)
    assert torch.allclose(ga, gb, rtol=1e-10, atol=1e-12)
    for entry_id in ("supcon", "kmeans", "cross_entropy"):
        entry = CATALOG.get(entry_id)
        plain, chunked = compiled(entry), compiled(entry, chunk_size=4)
        if chunked.prototypes is not None:
            chunked.prototypes = plain.prototypes
        z, batch = batch_for(entry, plain, n=13, seed=4)
        assert float(chunked(z, **batch)) == pytest.approx(float(plain(z, **batch)), rel=1e-12)


def test_a_sum_over_clusters_is_not_row_separable():
    with pytest.raises(IconError, match="normalized_cuts: cannot evaluate this formula in anchor-row blocks"):
        compile_loss(CATALOG.get("normalized_cuts"), source="formula", chunk_size=4)


def _user_entry(formula, **loss):
    data = CATALOG.get("simclr").model_dump(mode="json")
    data.update(id="mine", status="new", paper=None, aliases=[], relations=[], peers=[])
    data["loss"] = {"formula": formula, "description": "test", **loss}
    data["claims"] = [{"kind": "unproved", "statement": "a test", "reason": "a test"}]
    return Entry.model_validate(data)


def test_masked_singular_positions_give_finite_gradients():
    """dist(z_i, z_j) is singular at j = i, which others(i) masks out: the gradient stays finite
    (and equals the hand-written one)."""
    entry = _user_entry("sum(i, anchors, sum(j, others(i), dist(z[i], z[j])))")
    z = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    value = compile_loss(entry, source="formula")(z, ids=torch.arange(6) % 3)
    value.backward()
    assert torch.isfinite(z.grad).all()
    reference_z = z.detach().clone().requires_grad_(True)
    torch.pdist(reference_z).sum().mul(2).backward()
    assert float(value) == pytest.approx(2 * float(torch.pdist(z.detach()).sum()), rel=1e-12)
    assert torch.allclose(z.grad, reference_z.grad, rtol=1e-10)


def test_underflow_stays_finite_in_float32():
    """t-SNE on far-apart points in float32: P_ij underflows to 0 far from i; P log(P/Q) is 0
    there (the log is taken in its stable form), so value and gradients are finite."""
    entry = CATALOG.get("tsne")
    loss = compile_loss(entry, source="formula", perplexity=2.0)
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(20, 5, generator=g), 200 + torch.randn(20, 5, generator=g)])
    z = torch.randn(40, 2, generator=g, requires_grad=True)
    value = loss(z, x=x)
    value.backward()
    assert math.isfinite(float(value)) and torch.isfinite(z.grad).all()
    exact = loss(z.detach().double(), x=x.double())
    objective = compile_loss(entry, perplexity=2.0, reduction="sum")(z.detach().double(), x=x.double())
    assert float(exact) == pytest.approx(float(objective), rel=1e-10)
    assert float(value) == pytest.approx(float(objective), rel=1e-3)


def test_mean_over_an_empty_set_is_an_error_not_a_silent_zero():
    entry = _user_entry("-mean(i, anchors, mean(j, positives(i), cos(z[i], z[j])))")
    loss = compile_loss(entry, source="formula")
    with pytest.raises(IconError) as info:
        loss(torch.randn(5, 3), ids=torch.tensor([0, 0, 1, 1, 2]))
    assert str(info.value) == ("mine: loss.formula is undefined on this batch: mean over an empty set: "
                               "positives(i) has no elements for some index (write the reduction over "
                               "anchors_with(S), the anchors with a non-empty S)")
    guarded = _user_entry("-mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j])))")
    assert math.isfinite(float(compile_loss(guarded, source="formula")(torch.randn(5, 3), ids=torch.tensor([0, 0, 1, 1, 2]))))


def test_same_call_signature_and_arguments_checked():
    entry = CATALOG.get("supcon")
    loss = compile_loss(entry, source="formula")
    assert loss.requires == frozenset({"labels"})
    with pytest.raises(IconError, match=r"supcon: missing argument 'labels'"):
        loss(torch.randn(4, 3))
    with pytest.raises(IconError, match="reduction= applies to source='objective'"):
        compile_loss(entry, source="formula", reduction="sum")
    with pytest.raises(IconError, match="source must be one of"):
        compile_loss(entry, source="paper")
    half = loss(torch.randn(6, 3, dtype=torch.bfloat16), labels=torch.arange(6) % 2)
    assert half.dtype == torch.bfloat16 and math.isfinite(float(half))


def test_objective_of_an_entry_with_no_tying_claim_warns_once():
    entry = _user_entry("-mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j])))")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compile_loss(entry)
        compile_loss(entry)
        compile_loss(entry, source="formula")
        compile_loss(CATALOG.get("simclr"))
    messages = [str(w.message) for w in caught if issubclass(w.category, IconWarning)]
    assert messages == [
        "mine: no claim of this entry ties its I-Con objective to its published loss (claims: unproved); "
        "compile_loss computes the objective sum_i KL(p_i || q_i), not loss.formula. For the published loss use "
        "compile_loss(entry, source='formula') (icon fit --source formula)."]


def test_the_warning_names_the_reverse_divergence_of_a_reverse_entry(monkeypatch):
    from icon_registry.compiler import module

    monkeypatch.setattr(module, "_WARNED", set())  # once per entry and process: earlier tests may have compiled it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compile_loss(CATALOG.get("spectral_clustering"))
    (message,) = [str(w.message) for w in caught if issubclass(w.category, IconWarning)]
    assert "compile_loss computes the objective sum_i KL(q_i || p_i), not loss.formula." in message


def test_formula_bench_suite_runs_and_agrees():
    """`icon bench --suite formula` times the formula against the objective (the speed figures
    come from it, never from a unit test); here only that it runs and the two agree."""
    from icon_registry import bench

    rows = bench.run_suite("formula", sizes=[64], d=8, repeats=1, warmup=0)
    assert [r["case"] for r in rows] == ["simclr", "supcon", "clip"]
    assert all(r["value_rel_diff"] < 1e-5 and r["grad_rel_diff"] < 1e-4 for r in rows)
    assert bench.report(rows, "formula")["formula_target_ratio"] == 2.0


@pytest.mark.parametrize("entry_id", ["tsne_uniform", "tsne_graph", "debiased_infonce_clustering"])
def test_one_point_sums_become_memberships(entry_id):
    """sum(m, neighbors(i), indicator(m == j) ...) is [j in neighbors(i)] ...: an n x n table, not an
    n x n x n tensor (the values are the evaluator's: test_every_catalog_formula_equals_the_evaluator)."""
    from icon_registry.compiler.formula import Member, _children
    from icon_registry.formula import nodes as N

    plan = compile_loss(CATALOG.get(entry_id), source="formula").plan
    stack, members, one_point_left = [plan.root], 0, []
    while stack:
        node = stack.pop()
        members += isinstance(node, Member)
        if isinstance(node, N.Reduce) and isinstance(node.body, N.Indicator) and N.Index(node.var) in (
                node.body.left, node.body.right):
            one_point_left.append(node)
        stack.extend(_children(node))
    assert members == 2 and not one_point_left
