"""Each rewrite rule, alone: it fires where it should, keeps the value on random batches (any
ids, labels, modalities, neighbour lists and graphs), and does not fire where its side condition
fails (a set that can be empty, a factor that can be negative or undefined)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from icon_registry.formula import FormulaInstance, evaluate_numeric, parse
from icon_registry.prover import ir
from icon_registry.prover.evaluate import Batch, evaluate
from icon_registry.prover.from_formula import translate
from icon_registry.prover.normal_form import apply_rule, normalize, Derivation
from icon_registry.prover.rules import RULES_BY_NAME, Context

PARAMETERS = {"tau": sympy.Symbol("tau", positive=True), "alpha": sympy.Symbol("alpha", real=True)}


def random_batch(seed: int):
    """A batch of 9 items: ids with 3, 2, 2, 1 and 1 views, classes of 1 to 4 items, unequal
    modality groups, neighbour lists with repeats and self-references, a graph with an isolated node."""
    rng = np.random.default_rng(seed)
    n = 9
    ids = rng.permutation([0, 0, 0, 1, 1, 2, 2, 3, 4]).tolist()
    labels = rng.permutation([0, 1, 1, 2, 2, 2, 3, 3, 3]).tolist()
    modality = [0, 0, 0, 1, 1, 1, 1, 1, 0]
    neighbors = rng.integers(0, n, size=(n, 3)).tolist()
    weights = rng.uniform(0.1, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.6)
    np.fill_diagonal(weights, 0)
    weights[4] = 0
    arrays = dict(z=rng.normal(size=(n, 3)), x=rng.normal(size=(n, 3)), w=rng.normal(size=(5, 3)))
    params = {"tau": float(rng.uniform(0.3, 2)), "alpha": float(rng.uniform(-1, 1))}
    batch = Batch(n, ids=ids, labels=labels, modality=modality, neighbors=neighbors, W=weights,
                  beta=rng.uniform(0.5, 2, n), params=params, **arrays)
    formula = FormulaInstance(n=n, ids=ids, labels=labels, modality=modality, neighbors=neighbors, W=weights,
                              beta=list(batch.scalars["beta"]), params=params, **arrays)
    return batch, formula


BATCHES = [random_batch(seed) for seed in range(4)]


def expression(text):
    return translate(parse(text, tuple(PARAMETERS)), PARAMETERS)


def value(expr, batch):
    return evaluate(expr, batch)


def assert_same_value(before, after):
    for batch, _ in BATCHES:
        a, b = value(before, batch), value(after, batch)
        assert np.isclose(a, b, rtol=1e-10, atol=1e-12), (a, b, ir.render(before), ir.render(after))


#: rule name -> formulas where it must fire (and keep the value)
FIRES = {
    "mean = sum / count": ["mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j])))",
                           "sum(i, anchors, mean(j, others(i), sqdist(z[i], z[j])))"],
    "sizes of index sets": ["sum(i, anchors, count(others(i)) + count(all))", "count(classes) * n"],
    "distributivity": ["sum(i, anchors, (cos(z[i], x[i]) + 1) * (dot(z[i], z[i]) - tau))"],
    "linearity of sums": ["sum(i, anchors, sum(j, positives(i), tau * cos(z[i], z[j]) + sqdist(z[i], z[j])))"],
    "a term free of the index": ["sum(i, anchors, sum(j, positives(i), dot(z[i], z[i])))",
                                 "sum(i, anchors, logsumexp(j, others(i), tau * dot(z[i], z[i])))"],
    "an indicator restricts the set": ["sum(i, anchors, sum(j, others(i), indicator(id[j] == id[i]) * cos(z[i], z[j])))",
                                       "sum(i, anchors, sum(j, all, indicator(j != i) * sqdist(z[i], z[j])))"],
    "one-point sets": ["sum(i, anchors, sum(j, all, indicator(j == i) * dot(z[j], x[j])))",
                       "sum(i, anchors, sum(c, classes, indicator(c == y[i]) * dot(z[i], w[c])))",
                       "sum(i, anchors, sum(j, others(i), indicator(j == i) * dot(z[j], x[j])))"],
    "logarithms of exp, products and powers": ["sum(i, anchors, log(tau * exp(cos(z[i], x[i])) * (1 + sqdist(z[i], x[i]))**2))"],
    "exponentials of sums": ["sum(i, anchors, exp(cos(z[i], x[i]) + tau))"],
    "zero weights add nothing": ["sum(i, anchors, sum(j, others(i), W[i, j] * sqdist(z[i], z[j])))"],
    "constants out of logsumexp": ["sum(i, anchors, logsumexp(j, others(i), dot(z[i], x[i]) + cos(z[i], z[j])))"],
    "a sum of positive terms is exp(logsumexp(log ...))": ["sum(i, anchors, log(sum(j, others(i), exp(cos(z[i], z[j]) / tau))))"],
    "a logsumexp out of a logarithm": ["sum(i, anchors, log(exp(logsumexp(k, others(i), cos(z[i], z[k]))) - exp(cos(z[i], x[i]) - 2)))"],
    "cosine from a dot product and norms": ["sum(i, anchors, sum(j, others(i), dot(z[i], z[j]) / (norm(z[i]) * norm(z[j]))))"],
    "anchors with an empty set contribute nothing": ["sum(i, anchors, sum(j, positives(i), cos(z[i], z[j])))"],
}

#: rule name -> formulas where its side condition fails: it must not fire
HOLDS_BACK = {
    "mean = sum / count": ["sum(i, anchors, mean(j, positives(i), cos(z[i], z[j])))"],  # positives(i) may be empty
    "logarithms of exp, products and powers": ["sum(i, anchors, log(alpha * cos(z[i], x[i]) * tau))"],  # signs unknown
    "a sum of positive terms is exp(logsumexp(log ...))": ["sum(i, anchors, sum(j, others(i), cos(z[i], z[j])))"],
    "linearity of sums": ["sum(i, anchors, sum(j, positives(i), log(alpha) * cos(z[i], z[j])))"],  # log(alpha) undefined
    "a term free of the index": ["sum(i, anchors, mean(j, positives(i), dot(z[i], z[i])))"],
}


#: rules that must run first so that the example has the shape the rule rewrites
PREPARE = {"one-point sets": ["an indicator restricts the set"]}


@pytest.mark.parametrize("rule_name,text", [(r, t) for r, texts in FIRES.items() for t in texts])
def test_rule_fires_and_keeps_the_value(rule_name, text):
    before = expression(text)
    for name in PREPARE.get(rule_name, []):
        before, _ = apply_rule(before, Context(), RULES_BY_NAME[name])
    after, count = apply_rule(before, Context(), RULES_BY_NAME[rule_name])
    assert count >= 1, ir.render(before)
    assert_same_value(before, after)


@pytest.mark.parametrize("rule_name,text", [(r, t) for r, texts in HOLDS_BACK.items() for t in texts])
def test_rule_respects_its_side_condition(rule_name, text):
    before = expression(text)
    after, count = apply_rule(before, Context(), RULES_BY_NAME[rule_name])
    assert count == 0, (ir.render(before), ir.render(after))


def test_every_rule_has_an_example():
    assert set(FIRES) | {"a guard over a non-empty set", "anchors_with(S) where S is never empty"} == set(RULES_BY_NAME)


def test_guard_and_clamp_need_a_non_empty_set():
    positives = ir.items(ir.Atom("same", "ids", sympy.Symbol("i")), ir.Atom("not_self", None, sympy.Symbol("i")))
    guarded = ir.Guarded(sympy.Integer(5), positives)
    clamp = sympy.Max(ir.Card(positives), 1)
    rule = RULES_BY_NAME["a guard over a non-empty set"]
    assert rule.apply(guarded, Context()) is None and rule.apply(clamp, Context()) is None
    known = Context(nonempty=(positives,))
    assert rule.apply(guarded, known) == 5 and rule.apply(clamp, known) == ir.Card(positives)
    # anchors_with(others): others(i) is never empty on n >= 2 items, so every anchor
    template = ir.items(ir.Atom("not_self", None, ir.SELF))
    simplified = RULES_BY_NAME["anchors_with(S) where S is never empty"].apply(ir.items(ir.nonempty(template)), Context())
    assert simplified == ir.items()


@pytest.mark.parametrize("left,right", [
    ("-mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j]) / tau - logsumexp(k, others(i), cos(z[i], z[k]) / tau)))",
     "-mean(i, anchors_with(positives), mean(j, positives(i), log(exp(dot(z[i], z[j]) / (norm(z[i]) * norm(z[j])) / tau) / sum(k, others(i), exp(cos(z[i], z[k]) * (1 / tau))))))"),
    ("sum(i, anchors, sum(j, others(i), sqdist(z[i], z[j]) + tau))",
     "sum(a, anchors, sum(b, others(a), tau)) + sum(i, anchors, sum(j, others(i), sqdist(z[i], z[j])))"),
    ("sum(i, anchors_with(same_class), log(count(same_class(i))))",
     "sum(i, anchors_with(same_class), log(sum(j, same_class(i), 1)))"),
])
def test_neutral_rewrites_have_one_normal_form(left, right):
    context = Context()
    a, b = normalize(expression(left), context, "a", Derivation()), normalize(expression(right), context, "b", Derivation())
    assert a == b, (ir.render(a), ir.render(b))


@pytest.mark.parametrize("left,right", [
    ("sum(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j])))",
     "sum(i, anchors_with(positives), sum(j, positives(i), cos(z[i], z[j])))"),  # a mean is not a sum
    ("sum(i, anchors, logsumexp(j, others(i), cos(z[i], z[j]) / tau))",
     "sum(i, anchors, logsumexp(j, all, cos(z[i], z[j]) / tau))"),  # others(i) is not all
])
def test_different_formulas_keep_different_normal_forms(left, right):
    context = Context()
    a, b = normalize(expression(left), context, "a", Derivation()), normalize(expression(right), context, "b", Derivation())
    assert a != b


def test_translation_matches_the_formula_evaluator():
    for texts in FIRES.values():
        for text in texts:
            for batch, formula_batch in BATCHES:
                reference = evaluate_numeric(parse(text, tuple(PARAMETERS)), formula_batch)
                assert np.isclose(value(expression(text), batch), reference, rtol=1e-10), text


def test_limit_expansions_of_logsumexp():
    """The two expansions the limit proofs use, on numbers: lse(t b) = log|S| + t mean(b) + O(t^2)
    and t lse(b / t) = max(b) + t gap with 0 <= gap <= log|S|."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        b = rng.normal(size=int(rng.integers(1, 9))) * 3
        lse = lambda values: float(np.logaddexp.reduce(values))  # noqa: E731
        errors = [abs(lse(t * b) - np.log(b.size) - t * b.mean()) for t in (1e-2, 1e-3)]
        assert errors[1] <= errors[0] / 50 + 1e-15  # second order: 10x smaller t, ~100x smaller error
        for t in (1.0, 0.1, 0.01):
            gap = lse(b / t) - b.max() / t
            assert -1e-12 <= gap <= np.log(b.size) + 1e-12
