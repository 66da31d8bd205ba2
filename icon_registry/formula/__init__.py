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

import importlib

#: public name -> the submodule that defines it (imported on first use: the evaluators pull
#: in numpy and SymPy, which parsing a catalog does not need)
_WHERE = {
    "FormulaError": "errors",
    "FormulaInstance": "evaluator",
    "NumericMath": "evaluator",
    "SympyMath": "evaluator",
    "evaluate": "evaluator",
    "evaluate_numeric": "evaluator",
    "evaluate_sympy": "evaluator",
    "grammar_reference": "reference",
    "describe": "inspect",
    "free_parameters": "inspect",
    "requirements": "inspect",
    "definition_latex": "latex",
    "to_latex": "latex",
    "to_source": "latex",
    "Definition": "parser",
    "Formula": "parser",
    "parse": "parser",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"icon_registry.formula.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'icon_registry.formula' has no attribute {name!r}")
