"""Named sub-expressions (``loss.where``): written out at parse time, exactly as if inlined."""

import numpy as np
import pytest

from icon_registry.formula import FormulaError, definition_latex, evaluate_numeric, parse, to_latex, to_source
from icon_registry.formula import nodes as N
from icon_registry.formula.reference import example_instance

S_ROW = {"S[i]": "sum(k, others(i), exp(-sqdist(z[i], z[k])))"}


def test_a_use_is_the_definition_written_out():
    assert parse("sum(i, anchors, log(S[i]))", (), S_ROW) == parse(
        "sum(i, anchors, log(sum(k, others(i), exp(-sqdist(z[i], z[k])))))")


def test_bound_indices_are_renamed_where_they_would_capture():
    """S[k] inside sum(k, ...): S's own k would capture the argument; it becomes k1."""
    formula = parse("sum(k, anchors, log(S[k]))", (), S_ROW)
    assert formula == parse("sum(k, anchors, log(sum(k1, others(k), exp(-sqdist(z[k], z[k1])))))")
    # the meaning is kept: the value is the hand-computed one
    inst = example_instance()
    z = np.array(inst.z)
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    expected = sum(np.log(sum(np.exp(-d2[a, b]) for b in range(6) if b != a)) for a in range(6))
    assert evaluate_numeric(formula, inst) == pytest.approx(expected, rel=1e-12)


def test_no_index_shadows_an_enclosing_one():
    """A definition used inside a reduction over its own bound name gets a fresh name too, so the
    result is a formula a user could have written (no shadowing)."""
    formula = parse("sum(k, anchors, sum(j, others(k), S[j]))", (), S_ROW)
    names = [node.var for node in N.walk(formula.root) if isinstance(node, N.Reduce)]
    assert names == ["k", "j", "k1"]
    assert parse(to_source(formula)) == formula


def test_definitions_use_each_other_in_any_order():
    definitions = {"P[i, j]": "(p[i, j] + p[j, i]) / 2", "p[i, j]": "exp(-sqdist(z[i], z[j])) / S[i]", **S_ROW}
    formula = parse("sum(i, anchors, sum(j, others(i), P[i, j]))", (), definitions)
    p = "exp(-sqdist(z[{a}], z[{b}])) / sum(k, others({a}), exp(-sqdist(z[{a}], z[k])))"
    assert formula == parse(f"sum(i, anchors, sum(j, others(i), ({p.format(a='i', b='j')} + "
                            f"{p.format(a='j', b='i')}) / 2))")
    assert [d.name for d in formula.definitions] == ["P", "p", "S"]  # as written


def test_vector_definitions_and_index_domains():
    definitions = {"mu[c]": "sum(k, all, phi[k, c] * x[k]) / sum(k, all, phi[k, c])"}
    formula = parse("sum(i, anchors, sum(c, clusters, phi[i, c] * sqdist(x[i], mu[c])))", (), definitions)
    assert formula.definitions[0].kind == "vector" and formula.definitions[0].domains == ("cluster",)
    with pytest.raises(FormulaError) as info:
        parse("sum(i, anchors, sqdist(x[i], mu[i]))", (), definitions)
    assert str(info.value) == "'mu' expects an index over clusters, but 'i' ranges over items at column 33"
    assert info.value.definition is None


def test_rendering_keeps_the_names():
    definitions = {"P[i, j]": "exp(-sqdist(x[i], x[j]))", "Z": "sum(k, anchors, norm(z[k]))"}
    formula = parse("sum(i, anchors, sum(j, others(i), P[i, j])) / Z", (), definitions)
    assert to_latex(formula) == r"\frac{\sum_{i} \sum_{j \neq i} P_{i j}}{Z}"
    assert [definition_latex(d) for d in formula.definitions] == [
        r"P_{i j} = \exp\left(-\left\lVert x_{i} - x_{j}\right\rVert^{2}\right)",
        r"Z = \sum_{k} \left\lVert z_{k}\right\rVert",
    ]


REJECTED = [
    # (formula, definitions, message, the definition it is in)
    ("P[i]", {"P[i, j]": "lgo(1)"}, "unknown function 'lgo' at column 1; did you mean 'log'? (the functions are: log, "
     "exp, sqrt, softplus, abs, max, min, dot, cos, sqdist, dist, norm, sum, mean, logsumexp, count, indicator)",
     "P[i, j]"),
    ("P", {"P": "Q", "Q": "P + 1"}, "definition 'P' refers to itself (P -> Q -> P)", "P"),
    ("P", {"P": "P + 1"}, "definition 'P' refers to itself (P -> P)", "P"),
    ("sum(i, anchors, P[i])", {"P[i, j]": "1"}, "'P' takes 2 indices, e.g. P[i, j] at column 17", None),
    ("Z[0]", {"Z": "tau"}, "'Z' takes no indices, e.g. Z at column 1", None),
    ("sum(i, anchors, P(i, i))", {"P[i, j]": "1"}, "'P' is a definition: write P[i, j] at column 17", None),
    ("1", {"log": "1"}, "definition name 'log' is reserved by the formula language", "log"),
    ("1", {"tau": "1"}, "definition name 'tau' is already a parameter", "tau"),
    ("1", {"P[i j]": "1"}, "definition 'P[i j]': index 'i j' is not a name", "P[i j]"),
    ("1", {"P(i)": "1"}, "definition name 'P(i)' must be NAME or NAME[i, j] (indices in brackets)", "P(i)"),
    ("1", {"P[i, i]": "1"}, "definition 'P[i, i]' names an index twice", "P[i, i]"),
    ("1", {"P[i]": "1", "P[j]": "2"}, "'P' is defined twice", "P[j]"),
    ("1", {"P[n]": "1"}, "definition 'P[n]': 'n' is reserved and cannot be an index name", "P[n]"),
    ("1", {"P[i]": "sum(i, anchors, 1)"}, "index 'i' is already bound by an enclosing reduction at column 5", "P[i]"),
    ("1", {"P[i]": "z[i]", "Q": "P[0]"},
     "an index must be an index variable (e.g. i), y[i], pos(i) or neg(i), got '0' at column 3", "Q"),
    ("1", {"P[i]": "c\u043es(z[i], z[i])"},
     "non-ASCII character '\u043e' (U+043E CYRILLIC SMALL LETTER O) at column 2; formulas are ASCII only: did you "
     "mean 'o'?", "P[i]"),
    ("1", {"P": "x" * 5000}, "formula is too long (5000 characters; the limit is 4000)", "P"),
    ("d11", {"d0": "tau", **{f"d{k}": f"d{k - 1} + d{k - 1}" for k in range(1, 12)}},
     "definition 'd10' is too large with its definitions written out (more than 2000 nodes)", "d10"),
    ("S", {"S": "sum(a, all, sum(b, all, sum(c, all, 1)))", "T": "sum(d, all, sum(e, all, sum(f, all, S)))",
           "U": "sum(h, all, T)"}, "definition 'U' nests reductions too deeply with its definitions written out; the "
     "limit is 6", "U"),
]


@pytest.mark.parametrize("source, definitions, message, where", REJECTED, ids=[r[2][:40] for r in REJECTED])
def test_rejected_with_exact_message(source, definitions, message, where):
    with pytest.raises(FormulaError) as info:
        parse(source, {"tau"}, definitions)
    assert str(info.value) == message
    assert info.value.definition == where
