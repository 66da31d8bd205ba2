"""Point at the wrong part of a formula that fails its claim.

A failed equality only says "objective and loss differ". Two localizations turn that into
something a user can fix, both computed on the symbolic instance from the same kernel code:

* ``kernel_mismatch``: the loss's softmax, ``A / sum(k, S(i), B)`` or ``logsumexp(k, S(i), B)``,
  carries its own similarity kernel B. It must equal the learned distribution's kernel up to a
  factor per anchor (the normalizer cancels one). When it does not, say so and, where the two
  log-kernels are proportional, name the exponent that differs.
* ``anchor_mismatch``: split ``±sum(i, anchors, body)`` into one term per anchor and compare each
  with that anchor's KL term. Terms that differ only by a factor (beyond a constant) betray a
  per-anchor normalization such as 1/(|P(i)| + 1) instead of 1/|P(i)|.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Optional

import numpy as np
import sympy

from icon_registry.distributions.normalize import Normalize
from icon_registry.formula import FormulaError, evaluate
from icon_registry.formula import nodes as N
from icon_registry.formula.latex import to_source
from icon_registry.verify import algebra as A
from icon_registry.verify.formula_adapter import formula_instance


def _softmax_kernels(root):
    """(anchor variable, candidate variable, log-kernel node or kernel node, is_log) per softmax."""
    found = []
    for node in N.walk(root):
        if isinstance(node, N.BinOp) and node.op == "/":
            denominator = node.right
            if isinstance(denominator, N.Reduce) and denominator.kind == "sum":
                found.append((denominator, False))
        elif isinstance(node, N.Reduce) and node.kind == "logsumexp":
            found.append((node, True))
    result = []
    for reduce, is_log in found:
        anchor = reduce.set.arg
        if isinstance(anchor, N.Index):
            result.append((anchor.name, reduce.var, reduce.body, is_log))
    return result


def _ratio(numerator, denominator, point) -> Optional[sympy.Expr]:
    b = A.at(denominator, point)
    if abs(float(b)) < 1e-12:
        return None
    return A.at(numerator, point) / b


def _as_fraction(value) -> str:
    fraction = Fraction(float(value)).limit_denominator(1000)
    return str(fraction) if abs(float(fraction) - float(value)) < 1e-9 else f"{float(value):.6g}"


def kernel_mismatch(entry, inst, formula, inputs) -> Optional[str]:
    """A sentence naming the loss's similarity term that is not the learned kernel, or None."""
    learned = entry.q if entry.direction == "forward" else entry.p
    if not isinstance(learned, Normalize) or learned.over != "rows":
        return None
    dist = learned.evaluate(inputs)
    env = formula_instance(inst.formula_env())
    symbols = set(inst.learnables) | {v for v in inst.params.values() if isinstance(v, sympy.Symbol)}
    point = A.random_point(symbols, 11)
    for anchor_var, candidate_var, body, is_log in _softmax_kernels(formula.root):
        for a in range(np.shape(dist.mask)[0]):
            logs = _anchor_log_kernels(dist, inst, env, a, body, is_log, anchor_var, candidate_var)
            if logs is None:
                break  # the term reads another bound index: it is not a kernel of (i, k)
            offsets = [A.at(f - k, point) for f, k in logs]
            if all(A.close(o, offsets[0], abs(offsets[0])) for o in offsets[1:]):
                continue  # the learned kernel for this anchor, up to its normalizer
            side = "q" if entry.direction == "forward" else "p"
            return (f"the loss's {'log-similarity' if is_log else 'similarity'} term {to_source(body)} (over "
                    f"{candidate_var}) is not {side}'s kernel '{learned.kernel.kind}' up to a factor per anchor: "
                    f"for anchor {a} their log-ratio changes with the candidate" + _power_words(*logs[0], inst.learnables))
    return None


def _anchor_log_kernels(dist, inst, env, a, body, is_log, anchor_var, candidate_var):
    """[(log of the loss's term, log of the learned kernel)] over anchor a's support, or None."""
    logs = []
    for c in np.flatnonzero(np.asarray(dist.mask, dtype=bool)[a]):
        item = int(inst.structure.neighbors[a][c]) if dist.pairs.layout == "candidates" else int(c)
        try:
            value = evaluate(body, env, "sympy", {anchor_var: a, candidate_var: item})
        except FormulaError:
            return None
        kernel_log = sympy.Integer(0) if dist.logits is None else A.rationalize(sympy.sympify(dist.logits[a, c]))
        logs.append((A.rationalize(value if is_log else sympy.log(value)), kernel_log))
    return logs


def _power_words(formula_log, kernel_log, learnables) -> str:
    """When log(loss term) = r * log(kernel) with r free of the learnables, name r: an exponent differs."""
    if kernel_log == 0:
        return ""
    ratio = formula_log / kernel_log
    if A.depends_on(ratio, learnables) is not None:
        return ""
    at_a_point = ratio.xreplace(A.random_point(set(learnables) & ratio.free_symbols, 41))
    exponent = sympy.factor(sympy.cancel(sympy.expand_log(at_a_point, force=True)))
    if exponent.has(sympy.log):
        return ""
    return f"; the loss's term is the kernel raised to the power {exponent} (an exponent differs)"


def _anchor_split(root):
    """(sign, kind, var, body, set) for root = [-] sum|mean(var, anchors | anchors_with(S), body), else None."""
    sign = 1
    while isinstance(root, N.Neg):
        sign, root = -sign, root.operand
    if isinstance(root, N.Reduce) and root.kind in ("sum", "mean") and (
            root.set in (N.SetRef("anchors"), N.SetRef("all")) or root.set.of is not None):
        return sign, root.kind, root.var, root.body, root.set
    return None


def _members(anchors: N.SetRef, env) -> list:
    return env.anchors_with(anchors.of) if anchors.of is not None else list(range(env.n))


def anchor_mismatch(entry, inst, formula, anchor_terms, support_sizes) -> Optional[str]:
    """A sentence naming the anchors whose loss term is not their KL term (beyond a constant)."""
    split = _anchor_split(formula.root)
    if split is None:
        return None
    sign, kind, var, body, anchors = split
    if (kind == "mean") != (entry.loss.reduction == "mean"):
        return None  # a global factor, which the ratio diagnosis already names
    env = formula_instance(inst.formula_env())
    members = set(_members(anchors, env))
    learnables = list(inst.learnables)
    symbols = set(learnables) | {v for v in inst.params.values() if isinstance(v, sympy.Symbol)}
    factors, differing = {}, []
    for a, objective_term in enumerate(anchor_terms):
        objective_term = A.rationalize(sympy.sympify(objective_term))
        loss_term = A.rationalize(sign * evaluate(body, env, "sympy", {var: a})) if a in members else sympy.Integer(0)
        moving = A.depends_on(objective_term - loss_term, learnables)
        if moving is None:
            continue
        differing.append(a)
        d_objective, d_loss = sympy.diff(objective_term, moving), sympy.diff(loss_term, moving)
        ratios = [_ratio(d_loss, d_objective, A.random_point(symbols, seed)) for seed in (31, 32)]
        if None not in ratios and A.close(ratios[0], ratios[1], abs(ratios[0])):
            factors[a] = ratios[0]
    if not differing:
        return None
    values = list(factors.values())
    if len(values) == len(anchor_terms) and all(A.close(v, values[0], abs(values[0])) for v in values):
        return None  # one factor for every anchor: a global factor or sign, which the ratio diagnosis names
    if len(factors) == len(differing):
        side = "p" if entry.direction == "forward" else "q"
        listed = ", ".join(f"anchor {a} x {_as_fraction(f)} ({side}_{a} has {support_sizes[a]} "
                           f"target{'s' if support_sizes[a] != 1 else ''})" for a, f in factors.items())
        return (f"per anchor, the loss's term is the KL term times a factor, plus a constant: {listed}; the loss "
                f"normalizes each anchor's sum differently from {side}, whose weights are 1/(number of targets)")
    matching = [a for a in range(len(anchor_terms)) if a not in differing]
    return (f"the loss's terms of anchors {differing} differ from their KL terms by more than a constant"
            + (f" (anchors {matching} match)" if matching else ""))
