"""The published losses parse, match numpy references (float64, 1e-12 rel) and SymPy agrees."""

import numpy as np
import pytest
import sympy

from icon_registry.formula import FormulaInstance, evaluate_numeric, evaluate_sympy, parse, to_latex, to_source

from formula_examples import FORMULAS, PARAM_VALUES, PARAMETERS, make_arrays, reference

NAMES = sorted(FORMULAS)


def numeric_instance(arrays, params=PARAM_VALUES):
    return FormulaInstance(params=dict(params), **arrays)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numeric_matches_reference(name, seed):
    rng = np.random.default_rng(seed)
    arrays = make_arrays(rng)
    formula = parse(FORMULAS[name], PARAMETERS)
    value = evaluate_numeric(formula, numeric_instance(arrays))
    expected = reference(name, arrays, PARAM_VALUES)
    assert isinstance(value, np.float64)
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-13)


def test_logsumexp_form_equals_log_form():
    arrays = make_arrays(np.random.default_rng(5))
    a = evaluate_numeric(parse(FORMULAS["infonce"], PARAMETERS), numeric_instance(arrays))
    b = evaluate_numeric(parse(FORMULAS["infonce_logsumexp"], PARAMETERS), numeric_instance(arrays))
    assert a == pytest.approx(b, rel=1e-12)


def test_kmeans_pairwise_is_twice_the_cost():
    """Cor 3 with the sign corrected: sum_ij d2(x_i, x_j) q(j|i) = 2 x (soft K-Means cost)."""
    arrays = make_arrays(np.random.default_rng(3))
    cost = evaluate_numeric(parse(FORMULAS["kmeans"]), numeric_instance(arrays))
    pairwise = evaluate_numeric(parse(FORMULAS["kmeans_pairwise"]), numeric_instance(arrays))
    assert pairwise == pytest.approx(2 * cost, rel=1e-12)


def test_triplet_sandwich():
    """Thm 5: L_sigma - sigma^2 log 2 <= triplet(margin 0) <= L_sigma (per anchor, summed: n log 2)."""
    arrays = make_arrays(np.random.default_rng(4))
    n = arrays["n"]
    params = dict(PARAM_VALUES, margin=0.0)
    for sigma in (2.0, 0.5, 0.05, 1e-3):
        params["sigma"] = sigma
        # the literal log(exp(a) / sum exp) underflows to 0/0 for small sigma: use logsumexp there
        name = "triplet_icon" if sigma >= 0.5 else "triplet_icon_stable"
        icon = evaluate_numeric(parse(FORMULAS[name], PARAMETERS), numeric_instance(arrays, params))
        hinge = evaluate_numeric(parse(FORMULAS["triplet"], PARAMETERS), numeric_instance(arrays, params))
        assert icon - n * sigma**2 * np.log(2) - 1e-12 <= hinge <= icon + 1e-12
    assert np.isnan(evaluate_numeric(parse(FORMULAS["triplet_icon"], PARAMETERS), numeric_instance(arrays, params)))


def symbolic_instance(arrays):
    """The same batch with z, x, w, phi entries and parameters replaced by SymPy symbols."""
    subs = {}

    def symbols(name, values):
        table = []
        for r, row in enumerate(np.asarray(values)):
            entries = []
            for c, v in enumerate(row):
                s = sympy.Symbol(f"{name}_{r}_{c}", real=True)
                subs[s] = float(v)
                entries.append(s)
            table.append(entries)
        return table

    params = {}
    for key, value in PARAM_VALUES.items():
        s = sympy.Symbol(key, positive=True)
        subs[s] = value
        params[key] = s
    fields = dict(arrays)
    for key in ("z", "x", "w", "phi"):
        fields[key] = symbols(key, arrays[key])
    return FormulaInstance(params=params, **fields), subs


@pytest.mark.parametrize("name", NAMES)
def test_sympy_agrees_with_numeric(name):
    arrays = make_arrays(np.random.default_rng(11), n=4, d=2, classes=2, clusters=2)
    formula = parse(FORMULAS[name], PARAMETERS)
    numeric = evaluate_numeric(formula, numeric_instance(arrays))
    instance, subs = symbolic_instance(arrays)
    expression = evaluate_sympy(formula, instance)
    assert isinstance(expression, sympy.Basic)
    assert expression.free_symbols <= set(subs)
    value = complex(expression.xreplace({k: sympy.Float(v, 30) for k, v in subs.items()}).evalf(30))
    assert value.imag == 0
    assert value.real == pytest.approx(float(numeric), rel=1e-12, abs=1e-13)


@pytest.mark.parametrize("name", NAMES)
def test_examples_round_trip_and_render(name):
    formula = parse(FORMULAS[name], PARAMETERS)
    assert parse(to_source(formula), PARAMETERS) == formula
    latex = to_latex(formula)
    assert latex.count("{") == latex.count("}")
    assert latex.count(r"\left") == latex.count(r"\right")


def test_sympy_constants_are_exact():
    instance = FormulaInstance(n=2, params={"tau": sympy.Symbol("tau")})
    expression = evaluate_sympy(parse("0.1 * tau + 1/2", {"tau"}), instance)
    assert expression == sympy.Rational(1, 10) * sympy.Symbol("tau") + sympy.Rational(1, 2)


def test_sympy_limit_of_pca_form_is_symbolic_in_sigma():
    """The symbolic evaluator yields expressions SymPy can take limits of (verifier use)."""
    sigma = sympy.Symbol("sigma", positive=True)
    instance = FormulaInstance(n=2, z=[[0.0], [1.0]], params={"sigma": sigma})
    formula = parse("sigma**2 * sum(i, anchors, logsumexp(k, all, -sqdist(z[i], z[k]) / sigma**2))", {"sigma"})
    expression = evaluate_sympy(formula, instance)
    assert sympy.limit(expression, sigma, 0) == 0  # sigma -> 0: only k = i survives, log 1 = 0
    assert sympy.limit(expression - 2 * sigma**2 * sympy.log(2), sigma, sympy.oo) == -1  # -sum_ik d2 / n
