"""Normal forms by rewriting, and the derivation that records how they were reached.

``normalize(expr, ctx)`` applies the rules of ``rules.RULES`` everywhere, one rule at a time,
in rounds, until none applies; each rule that changed something is one derivation step
(rule name, how many places, the expression after it). Bound variables are then renamed by
their depth (i, j, k, ...), so that two normal forms are compared syntactically: the last step
of a proof is that the two sides print (and are) the same expression.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from icon_registry.prover import ir
from icon_registry.prover.rules import RULES, Context, Rule

MAX_ROUNDS = 40
#: expressions past this many nodes are not normalized (an out-of-control expansion)
MAX_NODES = 20000
_NAMES = "ijklmpqrstuvabcdefgh"


@dataclass
class Step:
    side: str
    rule: str
    count: int
    expression: str
    #: the expressions before and after the rule (kept for the tests that evaluate every step)
    before: object = field(default=None, repr=False, compare=False)
    after: object = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        return {"side": self.side, "rule": self.rule, "count": self.count, "expression": self.expression}


@dataclass
class Derivation:
    steps: list = field(default_factory=list)

    def add(self, side, rule, count, before, after):
        self.steps.append(Step(side, rule, count, ir.render(canonical(after)), before, after))


class TooLarge(Exception):
    pass


def _size(expr) -> int:
    return sum(1 for _ in sympy.preorder_traversal(expr))


def apply_rule(expr, ctx: Context, rule: Rule):
    """``rule`` applied at every node, innermost first; returns (expr, places rewritten)."""
    count = [0]

    def visit_set(iset, ctx):
        if not rule.sets:
            return iset
        atoms = []
        for atom in iset.atoms_:
            if atom.kind == "nonempty":
                atom = ir.nonempty(visit_set(atom.arg, ctx))
            atoms.append(atom)
        iset = ir.ISet(iset.domain, *atoms)
        new = rule.apply(iset, ctx)
        if new is not None:
            count[0] += 1
            return new
        return iset

    def visit(e, ctx):
        if isinstance(e, ir.Red):
            iset = visit_set(e.iset, ctx)
            body = visit(e.body, ctx.enter(e.var, iset))
            e = ir.Red(e.kind, body, e.var, iset) if (body is not e.body or iset is not e.iset) else e
        elif isinstance(e, ir.Guarded):
            iset = visit_set(e.args[1], ctx)
            body = visit(e.args[0], ctx.assume(iset))
            e = ir.Guarded(body, iset) if (body is not e.args[0] or iset is not e.args[1]) else e
        elif isinstance(e, ir.Card):
            iset = visit_set(e.iset, ctx)
            e = ir.Card(iset) if iset is not e.iset else e
        elif isinstance(e, ir.Ind):
            e = e  # an indicator's atom is data, not an expression
        elif isinstance(e, sympy.Expr) and e.args and not isinstance(e, (ir.At, ir.Dot, ir.Cos, ir.SqDist)):
            args = [visit(a, ctx) if isinstance(a, sympy.Expr) else a for a in e.args]
            if any(a is not b for a, b in zip(args, e.args)):
                e = e.func(*args)
        if rule.sets or not isinstance(e, sympy.Expr):
            return e
        new = rule.apply(e, ctx)
        if new is not None and new != e:
            count[0] += 1
            return new
        return e

    return visit(expr, ctx), count[0]


def normalize(expr, ctx: Context, side: str, derivation: Derivation, rules=RULES):
    """The normal form of ``expr`` under ``rules``; the rules that applied are added to ``derivation``."""
    for _ in range(MAX_ROUNDS):
        changed = False
        for rule in rules:
            total, before = 0, expr
            for _ in range(MAX_ROUNDS):
                expr, count = apply_rule(expr, ctx, rule)
                total += count
                if not count:
                    break
            if total:
                if _size(expr) > MAX_NODES:
                    raise TooLarge(f"the expression grew past {MAX_NODES} nodes")
                derivation.add(side, rule.name, total, before, expr)
                changed = True
        if not changed:
            return canonical(sympy.expand(expr, deep=False, log=False, power_exp=False, power_base=False))
    raise TooLarge(f"no normal form after {MAX_ROUNDS} rounds")


def canonical(expr):
    """Bound variables renamed by depth (i, j, k, ...), so alpha-equivalent forms are equal."""
    taken = {s.name for s in expr.free_symbols}
    names = [name for name in _NAMES if name not in taken] + [f"v{k}" for k in range(40)]

    def visit(e, depth):
        if isinstance(e, ir.Red):
            var = sympy.Symbol(names[depth])
            body = visit(e.body, depth + 1).xreplace({e.var: var})
            return ir.Red(e.kind, body, var, e.iset.xreplace({e.var: var}))
        if isinstance(e, sympy.Expr) and e.args and not isinstance(e, (ir.At, ir.Dot, ir.Cos, ir.SqDist, ir.Ind, ir.Card)):
            return e.func(*[visit(a, depth) if isinstance(a, sympy.Expr) else a for a in e.args])
        return e

    return visit(expr, 0)
