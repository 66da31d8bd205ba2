"""The language reference: every example it shows parses, evaluates and renders; every limit
it states is enforced; it is generated from the grammar's tables."""

import math
import re

import numpy as np
import pytest

from icon_registry.formula import FormulaError, evaluate_numeric, grammar_reference, parse, to_latex
from icon_registry.formula import grammar as G
from icon_registry.formula.reference import WHERE_EXAMPLE, example_instance, examples

EXAMPLES = examples()


def test_every_name_of_the_grammar_has_an_example():
    named = {(section, name) for section, name, _, _ in EXAMPLES}
    tables = {"operators": G.OPERATORS, "built-ins": G.BUILTINS, "data": G.ARRAYS, "index functions": G.INDEX_FUNCTIONS,
              "functions": G.FUNCTIONS, "index sets": G.SETS}
    for section, table in tables.items():
        assert {(section, name) for name in table} <= named, section
    assert {("reductions", name) for name in {**G.REDUCTIONS, **G.SPECIAL}} <= named


@pytest.mark.parametrize("section, name, source, definitions", EXAMPLES, ids=[f"{s}:{n}" for s, n, _, _ in EXAMPLES])
def test_example_parses_evaluates_and_renders(section, name, source, definitions):
    formula = parse(source, set(G.EXAMPLE_PARAMETERS), definitions)
    value = evaluate_numeric(formula, example_instance())
    assert math.isfinite(value)
    assert to_latex(formula)
    # the example really uses what it illustrates
    word = {"( )": "(", "numbers": "0.5", "where": "P[i, j]"}.get(name, name)
    assert word in source
    assert f"`{source}`" in grammar_reference() or section == "definitions"


def test_examples_evaluate_to_their_numpy_values():
    """A few examples against a hand-written numpy reference on the same instance."""
    inst = example_instance()
    z, w = np.array(inst.z), np.array(inst.w)
    tau = G.EXAMPLE_PARAMETERS["tau"]

    def value(source):
        return evaluate_numeric(parse(source, set(G.EXAMPLE_PARAMETERS)), inst)

    logits = (z @ w.T) / tau
    expected = -np.mean(logits[np.arange(6), inst.labels] - np.log(np.exp(logits).sum(1)))
    assert value(G.SETS["classes"].example) == pytest.approx(expected, rel=1e-12)
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    assert value(G.REDUCTIONS["min"].example) == pytest.approx(d2.min(1).sum(), rel=1e-12)
    candidates = np.array(inst.candidates)
    assert value(G.INDEX_FUNCTIONS["pos"].example) == pytest.approx(((z - z[candidates[:, 0]]) ** 2).sum(), rel=1e-12)
    assert value(G.OPERATORS["/"].example) == pytest.approx(np.linalg.norm(z / tau, axis=1).sum(), rel=1e-12)


def test_where_example_is_the_inline_formula():
    inline = parse("sum(i, anchors, sum(j, others(i), (({p_ij}) + ({p_ji})) / (2*n) * log((({p_ij}) + ({p_ji})) / (2*n)"
                   " / (({q}) ))))".format(
                       p_ij=WHERE_EXAMPLE[1]["p[i, j]"],
                       p_ji="exp(-beta[j]*sqdist(x[j], x[i]) - logsumexp(k, others(j), -beta[j]*sqdist(x[j], x[k])))",
                       q=WHERE_EXAMPLE[1]["Q[i, j]"]))
    assert parse(WHERE_EXAMPLE[0], (), WHERE_EXAMPLE[1]) == inline


@pytest.mark.parametrize("name", list(G.LIMITS))
def test_every_limit_is_enforced(name):
    spec = G.LIMITS[name]
    source, definitions = spec.violation()
    with pytest.raises(FormulaError) as info:
        parse(source, set(G.EXAMPLE_PARAMETERS), definitions)
    assert re.search(rf"\b{spec.value}\b|{re.escape(f'{spec.value:.0e}')}", str(info.value)), str(info.value)
