"""Proofs that hold for every batch: an entry's objective and its published formula, rewritten
to one normal form.

The objective side is computed by the kernels' own code on an abstract backend
(``prover.abstract``): a batch of n items with symbolic ids, labels, modalities and
representations. The formula side is the parsed ``loss.formula`` (``prover.from_formula``).
Both are rewritten with the same named rules (``prover.rules``) to a normal form
(``prover.normal_form``); the claim is proved when the two normal forms are the same
expression. Every step is recorded: ``Proof.steps`` is the derivation ``icon verify --explain``
prints and the docs site shows.

What the prover cannot represent raises ``ir.Unsupported`` and the claim is left to the
instance checks; two normal forms that differ are NOT a disproof (the rules are not complete),
only "not proved for every batch" — the instance checks decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy

from icon_registry.prover import abstract, ir
from icon_registry.prover.from_formula import translate
from icon_registry.prover.normal_form import Derivation, TooLarge, canonical, normalize
from icon_registry.prover.rules import Context, defined

__all__ = ["Proof", "prove_claim", "prove_formulas_equal", "prove_limit_claim"]


@dataclass
class Proof:
    """The outcome of an attempt: ``proved`` with its derivation, or why not."""

    proved: bool
    steps: list = field(default_factory=list)  # prover.normal_form.Step
    assumptions: list = field(default_factory=list)
    objective: str = ""
    loss: str = ""
    normal_form: str = ""
    residual: Optional[str] = None  # normal form of objective - loss, when they differ
    reason: str = ""

    def to_json(self) -> dict:
        return {
            "proved": self.proved,
            "assumptions": list(self.assumptions),
            "objective": self.objective,
            "loss": self.loss,
            "normal_form": self.normal_form,
            "residual": self.residual,
            "reason": self.reason,
            "steps": [step.to_json() for step in self.steps],
        }

    def lines(self) -> list:
        """The derivation as text, one line per step."""
        out = [f"assume: {a}" for a in self.assumptions]
        out.append(f"objective = {self.objective}")
        out.append(f"loss      = {self.loss}")
        for number, step in enumerate(self.steps, 1):
            out.append(f"{number}. [{step.side}] {step.rule} ({step.count}x): {step.expression}")
        if self.proved:
            out.append(f"both sides have the normal form {self.normal_form}")
        elif self.residual:
            out.append(f"the normal forms differ by: {self.residual}")
        return out


def _parameters(entry) -> dict:
    return {name: ir.parameter(name, spec) for name, spec in entry.parameters.items()}


def _formula(entry, text: str, parameters: dict):
    from icon_registry.static_check import parse_entry_formula

    return translate(parse_entry_formula(entry, text), parameters)


def _assumptions(entry, objective: abstract.AbstractObjective, expressions) -> list:
    text = " ".join(ir.render(e) for e in expressions)
    from icon_registry.prover.rules import rule_always_nonempty

    found = ["a batch of n >= 2 items"]
    if rule_always_nonempty(objective.anchors_with_mass, None) is None:
        found.append(f"some anchor has supervisory mass: {ir.render_set(objective.anchors_with_mass)} is not empty "
                     "(otherwise the loss is undefined on both sides)")
    if "dot(" in text or "cos(" in text:
        found.append("every representation whose cosine or norm is taken is nonzero")
    if "neighbors" in text:
        found.append("each anchor's given neighbours are distinct items other than the anchor")
    given = [name for name, spelled in (("a graph's edge weights W", "W["), ("the teacher's probabilities", "teacher["))
             if spelled in text]
    if given:  # on such weights "not 0" (a teacher support) and "positive" (an edge) are one set
        found.append(f"{' and '.join(given)} are >= 0")
    for left, right in objective.facts:
        i = sympy.Symbol("i")
        left_i, right_i = ir.instantiate(left, i), ir.instantiate(right, i)
        found.append(f"p's support {ir.render_set(left_i)} lies inside q's support {ir.render_set(right_i)} "
                     f"(the KL divergence is finite)")
    return found + objective.assumed


def prove_claim(entry, claim) -> Proof:
    """Try to prove an ``identity``, ``up_to_constant`` or ``decomposition`` claim for every batch."""
    parameters = _parameters(entry)
    try:
        objective = abstract.objective(entry, claim.objective)
        loss = _formula(entry, entry.loss.formula, parameters)
        if claim.kind == "up_to_constant":
            loss = loss + _formula(entry, claim.constant, parameters)
        elif claim.kind == "decomposition":
            loss = loss - _formula(entry, claim.extra, parameters)
    except ir.Unsupported as err:
        return Proof(False, reason=f"not expressible for every batch: {err}")
    except Exception as err:  # noqa: BLE001 - a formula error is reported by the instance checks
        return Proof(False, reason=f"not expressible for every batch: {type(err).__name__}: {err}")
    logged_distances = any(isinstance(node, sympy.log) and isinstance(node.args[0], ir.SqDist)
                           for node in sympy.preorder_traversal(objective.expr))
    context = Context(nonempty=(objective.anchors_with_mass,), positive_distances=logged_distances)
    assumptions = _assumptions(entry, objective, (objective.expr, loss))
    if logged_distances:
        assumptions.append("every squared distance whose logarithm is taken is positive (at least sqrt(tiny) of "
                           "the float type: the compiled loss floors smaller ones, where the formula's log is -inf)")
    return _compare(objective.expr, loss, context, assumptions, ("objective", "loss"))

def prove_formulas_equal(entry, first: str, second: str) -> Proof:
    """Try to prove that two formulas of an entry (e.g. a limit's ``equals`` and ``loss.formula``)
    are the same function of every batch."""
    parameters = _parameters(entry)
    try:
        left_expr, right_expr = _formula(entry, first, parameters), _formula(entry, second, parameters)
    except ir.Unsupported as err:
        return Proof(False, reason=f"not expressible for every batch: {err}")
    except Exception as err:  # noqa: BLE001 - a formula error is reported by the instance checks
        return Proof(False, reason=f"not expressible for every batch: {type(err).__name__}: {err}")
    return _compare(left_expr, right_expr, Context(), ["a batch of n >= 2 items"], ("first", "second"))


def _compare(left_expr, right_expr, context, assumptions, sides) -> Proof:
    derivation = Derivation()
    proof = Proof(False, assumptions=assumptions, objective=ir.render(canonical(left_expr)),
                  loss=ir.render(canonical(right_expr)))
    try:
        left = normalize(left_expr, context, sides[0], derivation)
        right = normalize(right_expr, context, sides[1], derivation)
    except (TooLarge, ir.Unsupported, RecursionError) as err:
        proof.steps, proof.reason = derivation.steps, f"rewriting stopped: {err}"
        return proof
    proof.steps = derivation.steps
    if left == right:
        if not defined(left, context):
            proof.reason = "the normal form may be undefined on some batches (a set that can be empty)"
            return proof
        proof.proved, proof.normal_form = True, ir.render(left)
        return proof
    proof.residual = ir.render(canonical(sympy.expand(left - right, deep=False)))
    proof.reason = "the normal forms differ"
    return proof


def prove_limit_claim(entry, claim) -> Proof:
    """Try to prove a ``limit`` claim for every batch (``prover.limits``)."""
    from icon_registry.prover.limits import prove_limit

    parameters = _parameters(entry)
    return prove_limit(entry, claim, lambda text: _formula(entry, text, parameters))
