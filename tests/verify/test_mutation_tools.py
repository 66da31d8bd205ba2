"""The mutation-testing tools themselves (``tests/verify/mutations``): the generators, the
random batches and the oracle, each against an independent reference."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from icon_registry.catalog import load_catalog
from icon_registry.formula import FormulaInstance, evaluate_numeric, parse, to_source
from icon_registry.static_check import parse_entry_formula

from .mutations import neutral as R
from .mutations.batches import make_batch
from .mutations.campaign import ISSUE_OPERATORS, sample
from .mutations.neutral import neutral_rewrites
from .mutations.oracle import NUM_BATCHES, Oracle, aspects, calibrated_precisions, judge_group
from .mutations.variants import Variant, change_words, formula_fields, site_rewrites
from .mutations.wrong import scale_factor, wrong_variants

CATALOG = load_catalog(use_env=False)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generated():
    entries = CATALOG.entries()
    return wrong_variants(entries), neutral_rewrites(entries)


# --- generators ----------------------------------------------------------------------------
def test_every_variant_is_a_valid_entry_whose_formulas_parse(generated):
    for collected in generated:
        assert collected.variants and not collected.dropped
        for variant in collected.variants:
            for where, _, text in formula_fields(variant.entry):
                root = parse_entry_formula(variant.entry, text).root
                assert parse(to_source(root), variant.entry.parameters).root == root, (variant.line(), where)


def test_wrong_operators_of_the_issue_and_ours_are_generated(generated):
    wrong, _ = generated
    made = {(v.entry_id, v.operator) for v in wrong.variants}
    for pair in [("simclr", "mean_to_sum"), ("clip", "mean_to_sum"), ("supcon", "l_out_to_l_in"),
                 ("supcon", "constant_negated"), ("supcon", "constant_zero"), ("supcon", "constant_doubled"),
                 ("pca", "loss_negated"), ("kmeans", "loss_negated"), ("t_kmeans", "loss_negated"),
                 ("vicreg_no_cov", "offset_zero"), ("vicreg_no_cov", "offset_plus_one"), ("pca", "limit_scale"),
                 ("simclr", "objective_swap"), ("supcon", "constant_to_identity"),
                 ("supcon", "anchors_with_dropped")]:
        assert pair in made, pair
    ours = {"kernel_kind", "support", "temperature", "temperature_dropped", "sign_flip", "scale_factor", "direction",
            "joint_rows", "symmetrize", "cosine", "p_kernel", "index_set", "normalizer_set", "drop_term", "number",
            "kernel_scale", "kernel_constant", "reduction", "factor_changed", "offset_doubled", "sum_to_mean"}
    assert ours <= {v.operator for v in wrong.variants}
    expected = parse(l_in(CATALOG.get("supcon").loss.formula), {"tau"}).root
    assert any(parse(v.entry.loss.formula, {"tau"}).root == expected for v in wrong.variants
               if (v.entry_id, v.operator) == ("supcon", "l_out_to_l_in"))


def l_in(formula: str, inner: str = "mean(j, same_class(i), ") -> str:
    """SupCon's L_in by hand: mean(j, P(i), BODY) -> log(mean(j, P(i), exp(BODY)))."""
    start = formula.index(inner) + len(inner)
    depth, end = 1, start
    while depth:
        depth += {"(": 1, ")": -1}.get(formula[end], 0)
        end += 1
    body = formula[start:end - 1]
    return formula[:formula.index(inner)] + f"log({inner}exp({body})))" + formula[end:]


def test_every_neutral_rule_fires_on_the_catalog(generated):
    _, neutral = generated
    fired = Counter(v.operator for v in neutral.variants)
    core = {"logsumexp_expanded", "mean_as_sum_over_count", "minus_as_plus_negative", "division_as_product",
            "commuted", "linearity_split", "bound_index_renamed", "cosine_expanded", "log_split", "constant_split",
            "symmetric_arguments", "double_negation", "anchors_as_all"}
    assert not core - set(fired), core - set(fired)
    assert fired["parameter_renamed"] >= 30


HAND_FORMULAS = [
    "-mean(i, anchors, mean(j, positives(i), cos(z[i], z[j]) / tau - logsumexp(k, others(i), cos(z[i], z[k]) / tau)))",
    "sum(i, anchors, mean(j, positives(i), sqdist(z[i], z[j]))) - (1 + 1) * sum(i, anchors, sqdist(z[i], mean(k, all, z[k])))",
    "-sum(i, anchors, log(sum(k, others(i), exp(dot(z[i], z[k]) / tau)) / (2 * n)) - log((exp(tau) + 1) * count(others(i))))",
    "-(-mean(i, anchors, (sqdist(z[i], mean(k, all, z[k])) - dot(z[i], z[i])) / tau))",
    "sum(i, anchors, log(sum(k, others(i), exp(dot(z[i], z[k]) / tau)))) - 2 * sum(j, anchors, norm(z[j]))",
]


@pytest.mark.parametrize("rule", sorted(R.RULES))
def test_each_neutral_rule_is_an_identity_on_random_batches(rule):
    """Soundness of each rule by itself: the formula evaluator gives the same number before and
    after every rewrite it proposes, on batches with 1- to 4-view ids."""
    entry = CATALOG.get("simclr")
    rewrites = []
    for text in HAND_FORMULAS:
        root = parse(text, {"tau"}).root
        rewrites += [(root, new) for new, _, _ in site_rewrites(root, R.RULES[rule], positive=R.positivity(entry))]
    assert rewrites, f"{rule} proposes nothing on the hand-written formulas"
    for seed in range(0, 8, 2):
        batch = make_batch(seed)
        instance = FormulaInstance(n=batch.n, z=list(batch.z), ids=list(batch.ids), params={"tau": 0.3})
        for before, after in rewrites:
            a = evaluate_numeric(before, instance)
            b = evaluate_numeric(parse(to_source(after), {"tau"}), instance)
            assert abs(a - b) <= 1e-9 * (1 + abs(a)), (rule, to_source(after), a, b)


def test_descriptions_elide_the_unchanged_operand():
    root = parse("mean(i, anchors, norm(z[i]) + 1)").root
    words = [change_words(old, new) for _, old, new in site_rewrites(root, scale_factor)]
    assert words == ["mean(i, anchors, norm(z[i]) + 1)  ->  2 * \u2026", "mean(i, anchors, norm(z[i]) + 1)  ->  \u2026 / 2"]


def test_ci_sample_is_deterministic_and_covers_every_operator(generated):
    wrong, neutral = generated
    first, second = sample(wrong.variants, 110, ISSUE_OPERATORS), sample(wrong.variants, 110, ISSUE_OPERATORS)
    assert [v.key for v in first] == [v.key for v in second]
    assert len(first) == 110
    assert {v.operator for v in first} == {v.operator for v in wrong.variants}
    assert len({v.key for v in first}) == 110
    assert {v.operator for v in sample(neutral.variants, 30)} == {v.operator for v in neutral.variants}


# --- batches -------------------------------------------------------------------------------
def test_batches_are_richer_than_the_verifier_instances():
    batches = [make_batch(seed) for seed in range(NUM_BATCHES)]
    views = Counter(int(c) for b in batches for c in np.bincount(b.ids))
    classes = Counter(int(c) for b in batches for c in np.bincount(b.labels))
    assert {1, 2, 3, 4} <= set(views) and {1, 2, 3, 4} <= set(classes)
    assert len({b.n for b in batches}) >= 5 and all(5 <= b.n <= 14 for b in batches)
    assert any(len(set(np.bincount(b.modality))) > 1 for b in batches)  # unequal modality groups
    assert any(b.modality.max() == 2 for b in batches)  # three modalities
    for b in batches:
        assert (b.neighbors != np.arange(b.n)[:, None]).all()
        assert np.allclose(b.graph, b.graph.T) and (np.diag(b.graph) == 0).all()
        if b.complete:  # every id has a view on another modality, every class two members
            assert np.bincount(b.ids).min() >= 2 and np.bincount(b.labels).min() >= 2
            for i in range(b.n):
                assert ((b.ids == b.ids[i]) & (b.modality != b.modality[i])).any()
    assert any(not b.complete and np.bincount(b.ids).min() == 1 for b in batches)


def test_our_perplexity_calibration_matches_the_compiled_one():
    from icon_registry.backends import TorchBackend

    batch = make_batch(3)
    node = CATALOG.get("tsne").p.model_dump()["of"]
    ours = calibrated_precisions(node, batch, {"perplexity": 4.0})
    d2 = torch.cdist(torch.as_tensor(batch.x), torch.as_tensor(batch.x)) ** 2
    theirs = TorchBackend.calibrate_log_precision(d2, ~torch.eye(batch.n, dtype=torch.bool), 4.0).exp()[:, 0]
    assert np.allclose(ours, theirs.numpy(), rtol=1e-9)


# --- the oracle ----------------------------------------------------------------------------
def test_every_catalog_claim_holds_on_complete_batches():
    """The oracle's reference is sound: the catalog's own claims hold on the complete batches
    (error_rate's published loss is the error rate, not the margin its limit states)."""
    for entry in CATALOG.entries():
        oracle = Oracle(entry)
        for index, claim in enumerate(entry.claims):
            for aspect, check in aspects(claim):
                if (entry.id, aspect) == ("error_rate", "loss.formula is equals"):
                    continue
                for seed in (0, 2):
                    assert oracle.original_holds(index, aspect, check, oracle.batch(seed, entry)), (entry.id, aspect, seed)


def _variant(entry_id, operator, where, description, **changes):
    entry = CATALOG.get(entry_id)
    data = entry.model_dump(mode="json")
    for path, value in changes.items():
        target = data
        steps = path.split("__")
        for step in steps[:-1]:
            target = target[int(step)] if step.isdigit() else target[step]
        target[steps[-1]] = value
    return Variant(entry_id, operator, where, description, type(entry).model_validate(data), "wrong")


def test_oracle_refutes_a_sum_over_positives_on_a_batch_with_three_views():
    text = CATALOG.get("simclr").loss.formula.replace("mean(j, positives(i)", "sum(j, positives(i)")
    (decision,) = judge_group(CATALOG.get("simclr"), [_variant("simclr", "mean_to_sum", "loss.formula", "",
                                                               loss__formula=text)])
    assert decision.verdict == "wrong" and set(decision.refuted) == {0, 1}
    views = decision.refuted[0].split("views per id [")[1].split("]")[0]
    assert {"3", "4"} & set(views.split(", ")), decision.refuted[0]


def test_oracle_refutes_l_in_a_dropped_offset_and_a_loss_that_is_not_the_cost():
    supcon = CATALOG.get("supcon").loss.formula
    assert l_in(supcon) != supcon
    cases = [("supcon", _variant("supcon", "l_out_to_l_in", "loss.formula", "", loss__formula=l_in(supcon)), {0, 1}),
             ("pca", _variant("pca", "offset_zero", "claims[0].offset", "", claims__0__offset="0"), {0}),
             ("kmeans", _variant("kmeans", "loss_negated", "loss.formula", "",
                                 loss__formula="-" + CATALOG.get("kmeans").loss.formula), {0})]
    for entry_id, variant, claims in cases:
        (decision,) = judge_group(CATALOG.get(entry_id), [variant])
        assert set(decision.refuted) == claims, (entry_id, decision.refuted)


def test_oracle_compares_a_stated_limit_with_the_published_loss():
    pca = CATALOG.get("pca")
    stated = _variant("pca", "loss_negated", "loss.formula", "", claims__0__equals=pca.loss.formula,
                      loss__formula=f"-({pca.loss.formula})")
    (decision,) = judge_group(pca, [stated])
    assert "(loss.formula is equals)" in decision.refuted[0], decision.refuted


def test_oracle_leaves_a_true_variant_undecided_and_confirms_a_rewrite():
    # one-hot p: KL and cross entropy coincide, so the swapped objective is still true
    swapped = _variant("cross_entropy", "objective_swap", "claims[0].objective", "", claims__0__objective="cross_entropy")
    text = CATALOG.get("simclr").loss.formula.replace("logsumexp(k, others(i), cos(z[i], z[k])/tau)",
                                                      "log(sum(k, others(i), exp(cos(z[i], z[k])/tau)))")
    rewrite = Variant("simclr", "logsumexp_expanded", "loss.formula", "", CATALOG.get("simclr").model_copy(
        update={"loss": CATALOG.get("simclr").loss.model_copy(update={"formula": text})}), "neutral")
    assert judge_group(CATALOG.get("cross_entropy"), [swapped])[0].verdict == "undecided"
    (decision,) = judge_group(CATALOG.get("simclr"), [rewrite])
    assert decision.verdict == "confirmed" and min(decision.tested.values()) >= NUM_BATCHES // 2


def test_oracle_does_not_use_the_verifier():
    code = ("import sys; from tests.verify.mutations import wrong_variants, judge_group; "
            "from icon_registry.catalog import load_catalog; e = load_catalog(use_env=False).get('vicreg_no_cov'); "
            "judge_group(e, wrong_variants([e]).variants[:3]); "
            "print(sorted(m for m in sys.modules if m.startswith('icon_registry.verify')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
