"""The safe math language of catalog formulas (``loss.formula``, claims' ``equals``, ...).

    f = parse("-sum(i, anchors, mean(j, positives(i), log(exp(cos(z[i], z[j]) / tau)"
              " / sum(k, others(i), exp(cos(z[i], z[k]) / tau)))))", parameters={"tau"})
    evaluate_numeric(f, FormulaInstance(n=4, z=..., ids=[0, 0, 1, 1], params={"tau": 0.5}))
    evaluate_sympy(f, FormulaInstance(n=4, z=<sympy symbols>, ids=..., params={"tau": tau}))
    to_latex(f)

Parsing uses ``ast.parse(mode="eval")`` with a node whitelist and converts to our own
immutable AST; nothing from a YAML file is ever evaluated as Python. The full reference is
``grammar_reference()`` (Markdown).
"""

from icon_registry.formula.errors import FormulaError
from icon_registry.formula.evaluator import (
    FormulaInstance,
    NumericMath,
    SympyMath,
    evaluate,
    evaluate_numeric,
    evaluate_sympy,
)
from icon_registry.formula.grammar import grammar_reference
from icon_registry.formula.inspect import describe, free_parameters, requirements
from icon_registry.formula.latex import to_latex, to_source
from icon_registry.formula.parser import Formula, parse

__all__ = [
    "Formula",
    "FormulaError",
    "FormulaInstance",
    "NumericMath",
    "SympyMath",
    "describe",
    "evaluate",
    "evaluate_numeric",
    "evaluate_sympy",
    "free_parameters",
    "grammar_reference",
    "parse",
    "requirements",
    "to_latex",
    "to_source",
]
