"""Thin adapter between the verifier and the formula language (``icon_registry.formula``).

Parsing and both evaluators (SymPy and numeric float64) are the formula module's; this file
only turns a verifier instance into a ``FormulaInstance`` and parses an entry's formulas
(with its definitions).
"""

from __future__ import annotations

import numpy as np

from icon_registry.formula import FormulaInstance, evaluate_numeric, evaluate_sympy
from icon_registry.static_check import parse_entry_formula


def parse_formula(entry, source: str):
    """``source`` as a formula of ``entry``: its parameters and its ``loss.where`` definitions
    (written out, so the tree is the formula with every definition inlined); cached."""
    return parse_entry_formula(entry, source)


def formula_instance(env: dict) -> FormulaInstance:
    """The formula module's view of a verifier instance (``Instance.formula_env()``)."""
    def rows(a):
        return None if a is None else list(np.asarray(a, dtype=object))

    def ints(a):
        return None if a is None else [int(v) for v in np.ravel(a)]

    return FormulaInstance(
        n=int(env["n"]),
        z=rows(env["z"]),
        x=rows(env.get("x")),
        g=rows(env.get("g")),
        w=rows(env.get("w")),
        labels=ints(env.get("labels")),
        ids=ints(env.get("ids")),
        modality=ints(env.get("modality")),
        candidates=[[int(v) for v in row] for row in env["candidates"]] if env.get("candidates") is not None else None,
        neighbors=[[int(v) for v in row] for row in env["neighbors"]] if env.get("neighbors") is not None else None,
        phi=rows(env.get("phi")),
        beta=None if env.get("beta") is None else list(env["beta"]),
        W=rows(env.get("W")),
        teacher=rows(env.get("teacher")),
        center=None if env.get("center") is None else list(env["center"]),
        keys=rows(env.get("keys")),
        bank=rows(env.get("bank")),
        bank_ids=ints(env.get("bank_ids")),
        bank_labels=ints(env.get("bank_labels")),
        params=dict(env.get("params", {})),
        num_classes=env.get("num_classes") if env.get("w") is None else None,
    )


def to_sympy(formula, env: dict):
    """The formula as a SymPy expression on a symbolic instance (``Instance.formula_env()``)."""
    return evaluate_sympy(formula, formula_instance(env))


def to_float(formula, env: dict) -> float:
    """The formula's value on a numeric instance (float64)."""
    return float(evaluate_numeric(formula, formula_instance(env)))
