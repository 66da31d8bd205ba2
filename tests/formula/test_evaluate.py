"""Evaluator behaviour: peers, instance structure, errors, helpers, LaTeX, grammar reference."""

import numpy as np
import pytest
import sympy
from formula_examples import FORMULAS, PARAM_VALUES, PARAMETERS, make_arrays

from icon_registry.formula import (
    FormulaError,
    FormulaInstance,
    describe,
    evaluate,
    evaluate_numeric,
    evaluate_sympy,
    free_parameters,
    grammar_reference,
    parse,
    requirements,
    to_latex,
    to_source,
)
from icon_registry.formula import grammar as G


def test_tsne_formula_matches_scikit_learn_objective():
    from scipy.spatial.distance import squareform
    from sklearn.manifold._t_sne import _kl_divergence

    rng = np.random.default_rng(7)
    arrays = make_arrays(rng, n=10, d=2)
    n, x, z, sigma = arrays["n"], arrays["x"], arrays["z"], PARAM_VALUES["sigma"]
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    conditional = np.exp(-d2 / (2 * sigma**2))
    np.fill_diagonal(conditional, 0)
    conditional /= conditional.sum(1, keepdims=True)
    joint = squareform((conditional + conditional.T) / (2 * n), checks=False)
    expected, _ = _kl_divergence(z.ravel(), joint, 1, n, 2)
    value = evaluate_numeric(parse(FORMULAS["tsne"], PARAMETERS), FormulaInstance(params=PARAM_VALUES, **arrays))
    assert value == pytest.approx(expected, rel=1e-10)


def test_index_sets_from_structure():
    instance = FormulaInstance(n=6, ids=[0, 1, 2, 0, 1, 2], labels=[0, 0, 1, 1, 0, 1], modality=[0, 0, 0, 1, 1, 1],
                               candidates=[[3, 1]] * 6, neighbors=[[1, 2]] * 6, w=[[0.0]] * 4)
    assert instance.index_set("anchors") == [0, 1, 2, 3, 4, 5]
    assert instance.index_set("others", 2) == [0, 1, 3, 4, 5]
    assert instance.index_set("positives", 0) == [3]
    assert instance.index_set("same_class", 0) == [1, 4]
    assert instance.index_set("other_modality", 0) == [3, 4, 5]
    assert instance.index_set("cross_positives", 4) == [1]
    assert instance.index_set("candidates", 5) == [3, 1]
    assert instance.index_set("neighbors", 5) == [1, 2]
    assert instance.index_set("classes") == [0, 1, 2, 3]
    value = evaluate_numeric(parse("sum(i, anchors, count(positives(i)) + count(same_class(i)))"), instance)
    assert value == 6 + 12  # one positive each; two same-class partners each
    assert evaluate_numeric(parse("count(classes) + n"), instance) == 10


def test_count_and_indicator_agree():
    arrays = make_arrays(np.random.default_rng(0))
    instance = FormulaInstance(**arrays)
    counted = parse("sum(i, anchors, count(same_class(i)))")
    indicated = parse("sum(i, anchors, sum(j, others(i), indicator(y[i] == y[j])))")
    assert evaluate_numeric(counted, instance) == evaluate_numeric(indicated, instance)
    ids = parse("sum(i, anchors, sum(j, all, indicator(id[i] == id[j]) * indicator(i != j)))")
    assert evaluate_numeric(ids, instance) == arrays["n"]
    modality = parse("sum(i, anchors, indicator(modality[i] == 1))")
    assert evaluate_numeric(modality, instance) == arrays["n"] // 2


def test_scalar_indicator_symbolic_and_numeric():
    formula = parse("indicator(a < 1) + indicator(a >= 1)", {"a"})
    assert evaluate_numeric(formula, FormulaInstance(n=1, params={"a": 0.5})) == 1.0
    a = sympy.Symbol("a", real=True)
    expression = evaluate_sympy(formula, FormulaInstance(n=1, params={"a": a}))
    assert expression.has(sympy.Piecewise)
    assert expression.subs(a, 3) == 1 and expression.subs(a, -3) == 1


def test_softplus_numeric_is_stable():
    formula = parse("softplus(a)", {"a"})
    assert evaluate_numeric(formula, FormulaInstance(n=1, params={"a": 1000.0})) == 1000.0
    assert evaluate_numeric(formula, FormulaInstance(n=1, params={"a": -1000.0})) == 0.0
    assert evaluate_sympy(formula, FormulaInstance(n=1, params={"a": 0})) == sympy.log(2)


def test_vector_means_and_variance():
    z = np.random.default_rng(1).normal(size=(5, 3))
    instance = FormulaInstance(n=5, z=z)
    variance = evaluate_numeric(parse("mean(i, anchors, sqdist(z[i], mean(k, all, z[k])))"), instance)
    assert variance == pytest.approx(np.var(z, axis=0).sum(), rel=1e-12)
    norm = evaluate_numeric(parse("norm(sum(k, all, 2 * z[k] - z[k]) / n)"), instance)
    assert norm == pytest.approx(np.linalg.norm(z.mean(0)), rel=1e-12)


def test_max_min_reductions_and_per_item_scalars():
    rng = np.random.default_rng(9)
    z, x, beta = rng.normal(size=(6, 2)), rng.normal(size=(6, 3)), rng.random(6) + 0.5
    labels = [0, 1, 2, 0, 1, 2]
    instance = FormulaInstance(n=6, z=z, x=x, beta=beta, labels=labels)
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    hardest = parse("sum(i, anchors, max(j, same_class(i), sqdist(z[i], z[j])) - min(k, others(i), sqdist(z[i], z[k])))")
    expected = sum(max(d2[i, j] for j in range(6) if j != i and labels[j] == labels[i])
                   - min(d2[i, k] for k in range(6) if k != i) for i in range(6))
    assert evaluate_numeric(hardest, instance) == pytest.approx(expected, rel=1e-12)
    assert evaluate_numeric(parse("max(1, 2) + min(1, 2)"), instance) == 3
    rows = parse("sum(i, anchors, sum(j, others(i), exp(-beta[i] * sqdist(x[i], x[j])"
                 " - logsumexp(k, others(i), -beta[i] * sqdist(x[i], x[k])))))")
    assert evaluate_numeric(rows, instance) == pytest.approx(6.0, rel=1e-12)  # each row sums to 1
    a, b = sympy.symbols("a b", real=True)
    symbolic = evaluate_sympy(parse("max(k, all, beta[k])"), FormulaInstance(n=2, beta=[a, b]))
    assert symbolic == sympy.Max(a, b)
    with pytest.raises(FormulaError, match=r"min over an empty set: others\(0\) has no elements"):
        evaluate_numeric(parse("sum(i, anchors, min(k, others(i), 1))"), FormulaInstance(n=1))


def test_empty_mean_is_an_error_and_empty_sum_is_zero():
    instance = FormulaInstance(n=3, ids=[0, 1, 1], z=np.zeros((3, 2)))
    with pytest.raises(FormulaError, match=r"mean over an empty set: positives\(0\) has no elements"):
        evaluate_numeric(parse("sum(i, anchors, mean(j, positives(i), 1))"), instance)
    assert evaluate_numeric(parse("sum(i, anchors, sum(j, positives(i), 1))"), instance) == 2
    assert evaluate_numeric(parse("sum(i, anchors, logsumexp(j, positives(i), 0))"), instance) == -np.inf


def test_anchors_with_keeps_the_anchors_whose_set_is_not_empty():
    # id 0 has three views, id 1 two, ids 2 and 3 one each: anchors 5 and 6 have no positive
    instance = FormulaInstance(n=7, ids=[0, 0, 0, 1, 1, 2, 3], z=np.zeros((7, 2)))
    assert evaluate_numeric(parse("count(anchors_with(positives))"), instance) == 5
    assert evaluate_numeric(parse("sum(i, anchors_with(positives), mean(j, positives(i), 1))"), instance) == 5
    assert evaluate_numeric(parse("mean(i, anchors_with(positives), count(positives(i)))"), instance) == 8 / 5
    with pytest.raises(FormulaError, match=r"mean over an empty set: positives\(5\) has no elements"):
        evaluate_numeric(parse("mean(i, anchors, mean(j, positives(i), 1))"), instance)
    nobody = FormulaInstance(n=2, ids=[0, 1], z=np.zeros((2, 2)))
    with pytest.raises(FormulaError, match=r"mean over an empty set: anchors_with\(positives\) has no elements"):
        evaluate_numeric(parse("mean(i, anchors_with(positives), 1)"), nobody)
    source = "-mean(i, anchors_with(same_class), mean(j, same_class(i), 1))"
    assert to_source(parse(source)) == source
    assert to_latex(parse("sum(i, anchors_with(positives), 1)")) == (
        r"\sum_{i : \mathcal{P}(i) \neq \emptyset} 1")


def test_missing_data_and_parameters_are_reported():
    instance = FormulaInstance(n=2, z=np.zeros((2, 2)))
    with pytest.raises(FormulaError, match="the formula needs instance field 'ids', which is not set"):
        evaluate_numeric(parse("sum(i, anchors, count(positives(i)))"), instance)
    with pytest.raises(FormulaError, match="parameter 'tau' has no value in the instance"):
        evaluate_numeric(parse("tau", {"tau"}), instance)
    with pytest.raises(FormulaError, match=r"z\[0\] is not a vector of numbers; use evaluate_sympy"):
        evaluate_numeric(parse("sum(i, anchors, norm(z[i]))"),
                         FormulaInstance(n=1, z=[[sympy.Symbol("a")]]))
    with pytest.raises(FormulaError, match=r"w: index 5 is outside 0..1"):
        evaluate_numeric(parse("sum(i, anchors, norm(w[y[i]]))"),
                         FormulaInstance(n=1, labels=[5], w=np.zeros((2, 2))))
    with pytest.raises(FormulaError, match="instance field 'ids' has 3 rows, expected n = 2"):
        FormulaInstance(n=2, ids=[0, 0, 1])
    with pytest.raises(FormulaError, match="holds a string|not a number"):
        evaluate_sympy(parse("tau", {"tau"}), FormulaInstance(n=1, params={"tau": "__import__('os')"}))


def test_numeric_returns_inf_instead_of_raising():
    """PCA as printed (identity p, support k != i) has an infinite KL: evaluation must show inf."""
    formula = parse("sum(i, anchors, sum(j, all, indicator(i == j) * log(indicator(i == j)"
                    " / (exp(-sqdist(z[i], z[j])) / sum(k, others(i), exp(-sqdist(z[i], z[k])))))))")
    value = evaluate_numeric(formula, FormulaInstance(n=3, z=np.eye(3)))
    assert np.isnan(value) or np.isinf(value)


def test_reductions_are_memoized_but_correct():
    """The InfoNCE denominator depends on i only: it is computed n times, not n^2 times."""
    arrays = make_arrays(np.random.default_rng(2), n=40)
    instance = FormulaInstance(params=PARAM_VALUES, **arrays)
    calls = []
    from icon_registry.formula import evaluator as module

    class Counting(module.NumericMath):
        @staticmethod
        def exp(a):
            calls.append(1)
            return np.exp(a)

    evaluate(parse(FORMULAS["infonce"], PARAMETERS), instance, Counting)
    assert len(calls) == 40 * 1 + 40 * 39  # numerators (one positive each) + one denominator per anchor


def test_helpers():
    formula = parse(FORMULAS["harmonic"], PARAMETERS)
    assert free_parameters(formula) == {"power"} == formula.free_parameters
    assert requirements(formula) == {"z", "w", "labels"}
    assert requirements(parse("sum(c, classes, 1)")) == {"num_classes"}
    assert describe(formula) == ("parameters: power; data: labels, w, z; index sets: anchors, classes; "
                                 "nested reductions: 2")


def test_latex_exact():
    formula = parse(FORMULAS["infonce"], PARAMETERS)
    assert to_latex(formula) == (
        r"-\sum_{i} \frac{1}{\left|\mathcal{P}(i)\right|} \sum_{j \in \mathcal{P}(i)} "
        r"\log\left(\frac{\exp\left(\frac{\cos\left(z_{i}, z_{j}\right)}{\tau}\right)}"
        r"{\sum_{k \neq i} \exp\left(\frac{\cos\left(z_{i}, z_{k}\right)}{\tau}\right)}\right)"
    )
    assert to_latex(parse(FORMULAS["triplet"], PARAMETERS)) == (
        r"\sum_{i} \max\left(\left\lVert z_{i} - z_{i^{+}}\right\rVert^{2} - "
        r"\left\lVert z_{i} - z_{i^{-}}\right\rVert^{2} + \mathrm{margin}, 0\right)"
    )
    assert to_latex(parse("-2 * mean(i, anchors, sqdist(z[i], mean(k, all, z[k])))")) == (
        r"-2 \, \frac{1}{n} \sum_{i} \left\lVert z_{i} - \frac{1}{n} \sum_{k} z_{k}\right\rVert^{2}"
    )
    assert to_latex(parse("(tau + 1)**2 - (a - b) * sigma_x", {"tau", "a", "b", "sigma_x"})) == (
        r"\left(\tau + 1\right)^{2} - \left(a - b\right) \, \sigma_{x}"
    )
    assert to_latex(parse("sum(i, anchors, sum(c, clusters, phi[i, c] * indicator(y[i] != y[pos(i)])))")) == (
        r"\sum_{i} \sum_{c} \phi_{i,c} \, \mathbb{1}\left[y_{i} \neq y_{i^{+}}\right]"
    )


def test_grammar_reference_lists_every_name():
    reference = grammar_reference()
    for name in list(G.FUNCTIONS) + list(G.REDUCTIONS) + list(G.SPECIAL) + list(G.SETS) + list(G.ARRAYS) + list(
            G.INDEX_FUNCTIONS) + list(G.BUILTINS):
        assert f"`{name}" in reference, name
    for spec in G.OPERATORS.values():
        assert f"`{spec.symbol}`" in reference
    for spec in G.LIMITS.values():
        assert f"at most {spec.value:,}" in reference


def test_sympy_guards_exact_big_powers():
    with pytest.raises(FormulaError, match="exponent 1000 is too large for exact evaluation"):
        evaluate_sympy(parse("2**p", {"p"}), FormulaInstance(n=1, params={"p": 1000}))
    p = sympy.Symbol("p")
    assert evaluate_sympy(parse("2**p", {"p"}), FormulaInstance(n=1, params={"p": p})) == 2**p


def test_sub_formula_with_bound_indices_is_one_summand():
    """A Reduce's body evaluated with its index bound is that summand: the anchor terms add up to the sum."""
    arrays = make_arrays(np.random.default_rng(3), n=6)
    instance = FormulaInstance(params=PARAM_VALUES, **arrays)
    formula = parse(FORMULAS["infonce"], PARAMETERS)
    root = formula.root
    while not hasattr(root, "body"):  # peel the leading minus
        root = root.operand
    per_anchor = [evaluate(root.body, instance, "numeric", {root.var: a}) for a in range(6)]
    assert -sum(per_anchor) == pytest.approx(evaluate_numeric(formula, instance), rel=1e-12)
    with pytest.raises(FormulaError, match=r"index 'i' is free here: bind it with indices=\{'i': \.\.\.\}"):
        evaluate(root.body, instance)
