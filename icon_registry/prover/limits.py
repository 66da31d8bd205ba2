"""Limit claims for every batch: sigma -> infinity and sigma -> 0 of scale * (objective - offset).

The objective is the kernels' own (``abstract.objective``) with the limit parameter replaced by
a power of t -> 0+ (sigma = t^(-1/2) for infinity, t^(1/2) for zero). After the identity rules,
two expansions that hold for any index set S (non-empty) finish the job:

* sigma -> infinity: logsumexp(k, S, t b_k) = log|S| + t mean(k, S, b_k) + O(t^2), so that
  scale * (objective - offset) is a Laurent polynomial in t up to O(t): every negative power
  must vanish exactly (a divergent part is never dropped) and the t^0 coefficient is the limit;
* sigma -> 0: t logsumexp(k, S, b_k / t) -> max(k, S, b_k) (the softplus -> max of the triplet
  loss), and every remaining term with a positive power of t vanishes.

Squared distances are then expanded (|a - b|^2 = <a, a> - 2 <a, b> + <b, b>) so that variance
identities such as sum_i mean_k |z_i - z_k|^2 = 2 sum_i |z_i - z_bar|^2 hold syntactically.
"""

from __future__ import annotations

import sympy

from icon_registry.prover import abstract, ir
from icon_registry.prover.normal_form import Derivation, TooLarge, apply_rule, canonical, normalize
from icon_registry.prover.rules import RULES, Context, Rule, defined

T = sympy.Symbol("t", positive=True)


def _expand_sqdist(e, ctx):
    """|a - b|^2 = <a, a> - 2 <a, b> + <b, b>."""
    if isinstance(e, ir.SqDist):
        a, b = e.args
        return ir.Dot(a, a) - 2 * ir.Dot(a, b) + ir.Dot(b, b)
    return None


def _max_of_negation(e, ctx):
    """max(k, S, -b) = -min(k, S, b) (one form for a hardest negative)."""
    if isinstance(e, ir.Red) and e.kind == "max" and sympy.Mul.make_args(e.body)[0] == -1:
        return -ir.Red("min", -e.body, e.var, e.iset)
    return None


EXPAND_SQDIST = Rule("expand squared distances", _expand_sqdist)
MAX_OF_NEGATION = Rule("max of a negation is minus a min", _max_of_negation)
LIMIT_RULES = RULES + (MAX_OF_NEGATION,)
#: the limit's last algebra: squared distances expanded, sums of positive terms left as sums
ALGEBRA_RULES = tuple(r for r in LIMIT_RULES if r.name != "a sum of positive terms is exp(logsumexp(log ...))") + (
    EXPAND_SQDIST,)


def _first_order(e, ctx):
    """logsumexp(k, S, t b) = log|S| + t mean(k, S, b) + O(t^2) (as t -> 0, S not empty)."""
    if isinstance(e, ir.Red) and e.kind == "lse" and T in e.body.free_symbols and ctx.is_nonempty(e.iset):
        rate = sympy.expand(e.body / T)
        if T not in rate.free_symbols:
            return sympy.log(ir.Card(e.iset)) + T * ir.Red("mean", rate, e.var, e.iset)
    return None


def _zero_limit(e, ctx):
    """logsumexp(k, S, b / t) = max(k, S, b) / t + gap, 0 <= gap <= log|S| (S not empty): the gap,
    a bounded term, vanishes once multiplied by a positive power of t."""
    if isinstance(e, ir.Red) and e.kind == "lse" and T in e.body.free_symbols and ctx.is_nonempty(e.iset):
        rate = sympy.expand(e.body * T)
        if T not in rate.free_symbols:
            return ir.Red("max", rate, e.var, e.iset) / T + ir.Red("gap", e.body, e.var, e.iset)
    return None


FIRST_ORDER = Rule("logsumexp(t b) = log|S| + t mean(b) + O(t^2)", _first_order)
ZERO_LIMIT = Rule("logsumexp(b / t) = max(b) / t + a gap in [0, log|S|]", _zero_limit)


def _laurent(expr, derivation, side):
    """{power: coefficient} of a polynomial in t and 1/t whose coefficients are free of t."""
    expanded = sympy.expand(expr, deep=False, log=False, power_exp=False, power_base=False)
    terms = {}
    for term in sympy.Add.make_args(expanded):
        power, coefficient = 0, []
        for factor in sympy.Mul.make_args(term):
            if factor == T:
                power += 1
            elif isinstance(factor, sympy.Pow) and factor.base == T and factor.exp.is_Integer:
                power += int(factor.exp)
            else:
                coefficient.append(factor)
        coefficient = sympy.Mul(*coefficient)
        if T in coefficient.free_symbols and not (power > 0 and _bounded(coefficient)):
            raise ir.Unsupported(f"t is not a polynomial factor of {ir.render(canonical(term))}")
        terms[power] = terms.get(power, 0) + coefficient
    return terms


def _bounded(coefficient) -> bool:
    """A coefficient whose only t lies in gaps (bounded terms): it vanishes times a positive power of t."""
    gaps = [a for a in sympy.preorder_traversal(coefficient) if isinstance(a, ir.Red) and a.kind == "gap"]
    stripped = coefficient.xreplace({gap: sympy.Integer(1) for gap in gaps})
    return T not in stripped.free_symbols


def prove_limit(entry, claim, formula):
    """A ``prover.Proof`` that the limit holds for every batch (``formula(text)`` translates)."""
    from icon_registry.prover import Proof, _assumptions

    if claim.objective not in ("kl", "cross_entropy"):
        return Proof(False, reason=f"no derivation for the '{claim.objective}' objective (checked on instances)")
    try:
        objective = abstract.objective(entry, claim.objective)
        parameter = ir.parameter(claim.parameter, entry.parameters[claim.parameter])
        scale, offset = formula(claim.scale), formula(claim.offset)
        target = formula(claim.factor) * formula(claim.equals or entry.loss.formula)
    except ir.Unsupported as err:
        return Proof(False, reason=f"not expressible for every batch: {err}")
    except Exception as err:  # noqa: BLE001 - a formula error is reported by the instance checks
        return Proof(False, reason=f"not expressible for every batch: {type(err).__name__}: {err}")
    power = sympy.Rational(-1, 2) if claim.to == "infinity" else sympy.Rational(1, 2)
    sub = {parameter: T**power}
    context = Context(nonempty=(objective.anchors_with_mass,))
    derivation = Derivation()
    expr = sympy.expand(scale.xreplace(sub) * (objective.expr - offset).xreplace(sub), deep=False)
    proof = Proof(False, assumptions=_assumptions(entry, objective, (objective.expr, target))
                  + [f"{claim.parameter} = t^({power}), t -> 0+"],
                  objective=ir.render(canonical(expr)), loss=ir.render(canonical(target)))
    try:
        expr = normalize(expr, context, "limit", derivation, LIMIT_RULES)
        series = FIRST_ORDER if claim.to == "infinity" else ZERO_LIMIT
        before = expr
        expr, count = apply_rule(expr, context, series)
        if count:
            derivation.add("limit", series.name, count, before, expr)
        expr = normalize(expr, context, "limit", derivation, LIMIT_RULES)
        terms = {k: c for k, c in _laurent(expr, derivation, "limit").items() if k <= 0}  # t^k -> 0 for k > 0
        divergent = {k: c for k, c in terms.items() if k < 0}
        for k, coefficient in sorted(divergent.items()):
            zero = normalize(coefficient, context, f"t^{k} term", derivation, ALGEBRA_RULES)
            if zero != 0:
                proof.steps = derivation.steps
                proof.residual = ir.render(zero)
                proof.reason = f"the t^{k} term does not vanish"
                return proof
        if any(T in c.free_symbols for c in terms.values()):
            raise ir.Unsupported("t left inside a coefficient that does not vanish")
        limit = normalize(terms.get(0, sympy.Integer(0)), context, "limit", derivation, ALGEBRA_RULES)
        right = normalize(target, context, "loss", derivation, ALGEBRA_RULES)
    except (TooLarge, ir.Unsupported, RecursionError) as err:
        proof.steps, proof.reason = derivation.steps, f"rewriting stopped: {err}"
        return proof
    proof.steps = derivation.steps
    if limit == right:
        if not defined(limit, context):
            proof.reason = "the normal form may be undefined on some batches"
            return proof
        proof.proved, proof.normal_form = True, ir.render(limit)
        return proof
    proof.residual = ir.render(canonical(sympy.expand(limit - right, deep=False)))
    proof.reason = "the limit and factor*equals have different normal forms"
    return proof
