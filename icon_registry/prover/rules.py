"""The named rewrite rules of the prover, and the facts they may use.

Each rule is a function ``(expr, ctx) -> new expr | None`` that rewrites ONE node whose
sub-expressions are already rewritten; ``normal_form`` applies the rules everywhere, in
rounds, and records which rule changed what. Every rule is an identity that holds for every
batch (n >= 2 items) wherever the expression is defined; a rule that needs a fact about the
batch (a set is not empty, a factor is positive) asks the ``Context``, which knows only what
the enclosing reductions and the stated assumptions imply. tests/prover/test_rules.py checks
each rule on random numeric batches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

import sympy

from icon_registry.prover import ir
from icon_registry.prover.from_formula import IndCmp

_ATTRIBUTE = {"id": "ids", "y": "labels", "modality": "modality"}


# ---------------------------------------------------------------------------------------
# what is known where
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """Facts at a point of an expression: sets known to be non-empty and the index sets the
    enclosing reductions' variables range over."""

    nonempty: tuple = ()
    members: tuple = ()  # (var, ISet)
    #: distances whose logarithm is taken are positive (an assumption the derivation states)
    positive_distances: bool = False

    def enter(self, var, iset: ir.ISet) -> "Context":
        facts = list(self.nonempty)
        for atom in iset.atoms_:
            if atom.kind == "nonempty":
                facts.append(ir.instantiate(atom.arg, var))
        return replace(self, nonempty=tuple(facts), members=self.members + ((var, iset),))

    def assume(self, iset: ir.ISet) -> "Context":
        return replace(self, nonempty=self.nonempty + (iset,))

    def member_set(self, var) -> Optional[ir.ISet]:
        for name, iset in reversed(self.members):
            if name == var:
                return iset
        return None

    def is_nonempty(self, iset: ir.ISet) -> bool:
        if iset.is_empty:
            return False
        if intrinsically_nonempty(iset):
            return True
        return any(fact.subset_of(iset) for fact in self.nonempty)


def intrinsically_nonempty(iset: ir.ISet) -> bool:
    """Sets that are never empty on a batch of n >= 2 items: a whole domain, others(i) (n >= 2),
    {i}, {y_i}, the items sharing i's id or label (i itself), neighbors(i) (k >= 1)."""
    atoms = iset.atoms_
    if not atoms:
        return True
    if len(atoms) == 1:
        (atom,) = atoms
        return atom.kind in ("not_self", "self", "same", "label_of")
    return False


def sign(expr, ctx: Context) -> Optional[str]:
    """'pos' (> 0), 'nonneg' (>= 0) or None (unknown), from the structure alone."""
    if isinstance(expr, sympy.Number):
        return "pos" if expr > 0 else "nonneg" if expr == 0 else None
    if isinstance(expr, sympy.Symbol):
        return "pos" if expr.is_positive else "nonneg" if expr.is_nonnegative else None
    if isinstance(expr, sympy.exp):
        return "pos"
    if isinstance(expr, ir.Card):
        return "pos" if ctx.is_nonempty(expr.iset) else "nonneg"
    if isinstance(expr, ir.Dot):
        return "pos" if expr.args[0] == expr.args[1] else None  # |v|^2 of a representation (v != 0)
    if isinstance(expr, ir.SqDist):
        return "pos" if ctx.positive_distances else "nonneg"
    if isinstance(expr, ir.At):
        if expr.name in ("beta", "phi"):
            return "pos"  # a precision; a softmax probability
        if expr.name in ("W", "teacher") and len(expr.args) == 3:  # weights: positive on their edges
            member = ctx.member_set(expr.args[2])
            edge = ir.Atom("edge", None if expr.name == "W" else expr.name, expr.args[1])
            return "pos" if member is not None and edge in member.atoms_ else "nonneg"
        return None
    if isinstance(expr, (ir.Ind, IndCmp)):
        return "nonneg"
    if isinstance(expr, sympy.Add):
        rest = expr - ir.N_ITEMS
        if isinstance(rest, sympy.Number) and rest >= -1:
            return "pos"  # n - 1 >= 1 on a batch of n >= 2 items
        signs = [sign(a, ctx) for a in expr.args]
        if None in signs:
            factored = sympy.factor_terms(expr)  # n |A| - |A| = |A| (n - 1)
            return sign(factored, ctx) if isinstance(factored, sympy.Mul) else None
        return "pos" if "pos" in signs else "nonneg"
    if isinstance(expr, sympy.Mul):
        signs = [sign(a, ctx) for a in expr.args]
        if None in signs:
            return None
        return "pos" if all(s == "pos" for s in signs) else "nonneg"
    if isinstance(expr, sympy.Pow):
        base = sign(expr.base, ctx)
        if base == "pos":
            return "pos"
        if base == "nonneg" and expr.exp.is_positive:
            return "nonneg"
        return None
    if isinstance(expr, ir.Red) and expr.kind == "sum":
        body = sign(expr.body, ctx.enter(expr.var, expr.iset))
        if body == "pos" and ctx.is_nonempty(expr.iset):
            return "pos"
        return "nonneg" if body is not None else None
    if isinstance(expr, ir.Guarded):
        inner = sign(expr.args[0], ctx.assume(expr.args[1]))
        if inner is None:
            return None
        return inner if ctx.is_nonempty(expr.args[1]) else "nonneg"
    if isinstance(expr, sympy.Max):
        signs = [sign(a, ctx) for a in expr.args]
        return "pos" if "pos" in signs else "nonneg" if "nonneg" in signs else None
    return None


def defined(expr, ctx: Context) -> bool:
    """Whether the expression has a finite value on every batch where the context holds."""
    if isinstance(expr, ir.Red):
        if expr.kind != "sum" and not ctx.is_nonempty(expr.iset):
            return False
        return defined(expr.body, ctx.enter(expr.var, expr.iset))
    if isinstance(expr, ir.Guarded):
        return defined(expr.args[0], ctx.assume(expr.args[1]))
    if isinstance(expr, sympy.log):
        return sign(expr.args[0], ctx) == "pos" and defined(expr.args[0], ctx)
    if isinstance(expr, sympy.Pow):
        if not (expr.exp.is_integer and expr.exp.is_nonnegative) and sign(expr.base, ctx) != "pos":
            return False
        return defined(expr.base, ctx) and defined(expr.exp, ctx)
    if isinstance(expr, (ir.Card, ir.Dot, ir.Cos, ir.SqDist, ir.At, ir.Ind, IndCmp, sympy.Symbol, sympy.Number)):
        return expr is not sympy.nan and expr not in (sympy.oo, -sympy.oo, sympy.zoo)
    if isinstance(expr, sympy.Basic):
        return all(defined(a, ctx) for a in expr.args if isinstance(a, sympy.Expr))
    return True


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def free_of(expr, var) -> bool:
    return var not in expr.free_symbols


def _atom_for(cmp: IndCmp, var) -> Optional[ir.Atom]:
    """indicator(a op b) as a predicate on ``var`` relative to an anchor free of var."""
    left, right = cmp.args[1], cmp.args[2]
    if not free_of(left, var) and free_of(right, var):
        member_side, anchor_side = left, right
    elif not free_of(right, var) and free_of(left, var):
        member_side, anchor_side = right, left
    else:
        return None
    equal = cmp.op == "=="
    if cmp.op not in ("==", "!="):
        return None
    if member_side == var:
        if isinstance(anchor_side, ir.IdxAt) and anchor_side.args[0].name == "y":
            return ir.Atom("label_of", None, anchor_side.args[1]) if equal else None
        return ir.Atom("self" if equal else "not_self", None, anchor_side)
    if isinstance(member_side, ir.IdxAt) and member_side.args[1] == var and isinstance(anchor_side, ir.IdxAt):
        name = member_side.args[0].name
        if name == anchor_side.args[0].name and name in _ATTRIBUTE:
            return ir.Atom("same" if equal else "differ", _ATTRIBUTE[name], anchor_side.args[1])
    return None


def _holds_at(atom: ir.Atom, member) -> Optional[object]:
    """The atom's truth at a given member: True, False, or an indicator expression."""
    kind, anchor = atom.kind, atom.anchor
    if anchor == member:
        return {"same": True, "self": True, "not_self": False, "differ": False, "in_list": False,
                "listed_by": False}.get(kind)
    if kind == "nonempty":
        return ir.Ind(atom, member)
    return ir.Ind(atom, member)


def _log_expand(expr, ctx):
    """log of a positive expression, split over products, powers and exponentials."""
    rewritten = rule_log(sympy.log(expr, evaluate=False), ctx)
    return rewritten if rewritten is not None else sympy.log(expr)


# ---------------------------------------------------------------------------------------
# the rules
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    name: str
    apply: Callable
    sets: bool = False  # rewrites index sets (applied to every ISet) instead of expressions


def rule_cosine(e, ctx):
    """<a, b> |a|^-1 |b|^-1 = cos(a, b)."""
    if not isinstance(e, sympy.Mul):
        return None
    factors = list(e.args)
    inverse_norms = {f.base.args[0] for f in factors if isinstance(f, sympy.Pow) and f.exp == sympy.Rational(-1, 2)
                     and isinstance(f.base, ir.Dot) and f.base.args[0] == f.base.args[1]}
    for f in factors:
        if isinstance(f, ir.Dot) and f.args[0] != f.args[1] and set(f.args) <= inverse_norms:
            a, b = f.args
            rest = [g for g in factors if g is not f and not (isinstance(g, sympy.Pow) and isinstance(g.base, ir.Dot)
                                                              and g.base in (ir.Dot(a, a), ir.Dot(b, b))
                                                              and g.exp == sympy.Rational(-1, 2))]
            return sympy.Mul(*rest) * ir.Cos(a, b)
    return None


def rule_mean(e, ctx):
    """mean(j, S, b) = sum(j, S, b) / |S| where S is not empty."""
    if isinstance(e, ir.Red) and e.kind == "mean" and ctx.is_nonempty(e.iset):
        return ir.Red("sum", e.body, e.var, e.iset) / ir.Card(e.iset)
    return None


def rule_guard(e, ctx):
    """A guard over a set known to be non-empty is its value; so is max(|S|, 1) = |S|."""
    if isinstance(e, ir.Guarded) and ctx.is_nonempty(e.args[1]):
        return e.args[0]
    if isinstance(e, sympy.Max) and len(e.args) == 2 and sympy.Integer(1) in e.args:
        other = e.args[0] if e.args[1] == 1 else e.args[1]
        if isinstance(other, ir.Card) and ctx.is_nonempty(other.iset):
            return other
    return None


def rule_sizes(e, ctx):
    """|all| = n, |others(i)| = n - 1, |classes| = C, |{i}| = |{y_i}| = 1, |{}| = 0."""
    if not isinstance(e, ir.Card):
        return None
    iset = e.iset
    if iset.is_empty:
        return sympy.Integer(0)
    atoms = iset.atoms_
    if not atoms:
        return ir.DOMAIN_SIZES[iset.domain]
    if len(atoms) == 1:
        (atom,) = atoms
        if atom.kind == "not_self":
            return ir.N_ITEMS - 1
        if atom.kind in ("self", "label_of"):
            return sympy.Integer(1)
    return None


def rule_linearity(e, ctx):
    """sum(j, S, a + b) = sum(j, S, a) + sum(j, S, b); sum(j, S, c * b) = c * sum(j, S, b) for c free of j."""
    if not (isinstance(e, ir.Red) and e.kind == "sum"):
        return None
    body = e.body
    if isinstance(body, sympy.Add):
        return sympy.Add(*[ir.Red("sum", term, e.var, e.iset) for term in body.args])
    if isinstance(body, sympy.Mul):
        outside = [f for f in body.args if free_of(f, e.var) and defined(f, ctx)]
        if outside and len(outside) < len(body.args):
            inside = [f for f in body.args if f not in outside]
            return sympy.Mul(*outside) * ir.Red("sum", sympy.Mul(*inside), e.var, e.iset)
    return None


def rule_free_body(e, ctx):
    """A reduction of a term free of its index: sum = |S| c, max = min = c, logsumexp = c + log|S|."""
    if not isinstance(e, ir.Red) or not free_of(e.body, e.var) or not defined(e.body, ctx):
        return None
    if e.kind == "sum":
        return ir.Card(e.iset) * e.body
    if not ctx.is_nonempty(e.iset):
        return None
    if e.kind in ("max", "min", "mean"):
        return e.body
    if e.kind == "lse":
        return e.body + sympy.log(ir.Card(e.iset))
    return None


def rule_lse_shift(e, ctx):
    """logsumexp(j, S, a + b) = a + logsumexp(j, S, b) for a free of j."""
    if isinstance(e, ir.Red) and e.kind in ("lse", "max", "min") and isinstance(e.body, sympy.Add):
        outside = [t for t in e.body.args if free_of(t, e.var) and defined(t, ctx)]
        if outside and len(outside) < len(e.body.args) and ctx.is_nonempty(e.iset):
            inside = [t for t in e.body.args if t not in outside]
            return sympy.Add(*outside) + ir.Red(e.kind, sympy.Add(*inside), e.var, e.iset)
    return None


def rule_indicator(e, ctx):
    """sum(j, S, [P(j)] * b) = sum(j, S ∩ P, b): an indicator restricts the set it is summed over."""
    if not (isinstance(e, ir.Red) and e.kind == "sum"):
        return None
    factors = sympy.Mul.make_args(e.body)
    for factor in factors:
        atom = None
        if isinstance(factor, IndCmp):
            atom = _atom_for(factor, e.var)
        elif isinstance(factor, ir.Ind) and factor.member == e.var and free_of(factor.atom, e.var):
            atom = factor.atom
        if atom is not None:
            rest = sympy.Mul(*[f for f in factors if f is not factor])
            return ir.Red("sum", rest, e.var, e.iset.intersect(atom))
    return None


def rule_label_indicator(e, ctx):
    """indicator(c == y[a]) = 1[c is the class of a]: a comparison with a label is the label_of predicate
    (so that the formula's indicator and the kernels' label mask are one expression)."""
    if not (isinstance(e, IndCmp) and e.op == "=="):
        return None
    left, right = e.args[1], e.args[2]
    for member, label in ((left, right), (right, left)):
        if isinstance(member, sympy.Symbol) and isinstance(label, ir.IdxAt) and label.args[0].name == "y":
            return ir.Ind(ir.Atom("label_of", None, label.args[1]), member)
    return None


def rule_point(e, ctx):
    """A reduction over a one-point set {a} (or {y_a}) is its body at a; over {} a sum is 0."""
    if not isinstance(e, ir.Red):
        return None
    if e.iset.is_empty:
        return sympy.Integer(0) if e.kind == "sum" else None
    for atom in e.iset.atoms_:
        if atom.kind == "self" or atom.kind == "label_of":
            point = atom.anchor if atom.kind == "self" else ir.IdxAt("y", atom.anchor)
            if not free_of(point, e.var):
                continue
            factors = []
            for other in e.iset.atoms_ - {atom}:
                if atom.kind == "label_of":
                    return None
                truth = _holds_at(other, point)
                if truth is False:
                    return sympy.Integer(0) if e.kind == "sum" else None
                if truth is not True:
                    if e.kind != "sum":
                        return None
                    factors.append(truth)
            return sympy.Mul(*factors) * e.body.xreplace({e.var: point})
    return None


def rule_log(e, ctx):
    """log(exp(a)) = a; log(a b) = log a + log b and log(a^p) = p log a for positive a, b."""
    if not isinstance(e, sympy.log):
        return None
    arg = e.args[0]
    if isinstance(arg, sympy.exp):
        return arg.args[0]
    if isinstance(arg, sympy.Mul):
        factors = arg.args
        if all(sign(f, ctx) == "pos" for f in factors):
            return sympy.Add(*[_log_expand(f, ctx) for f in factors])
    if isinstance(arg, sympy.Pow) and arg.base != sympy.E:
        base = sign(arg.base, ctx)
        if base == "pos" or (base == "nonneg" and arg.exp.is_positive):
            return arg.exp * _log_expand(arg.base, ctx)
    return None


def rule_positive_sum(e, ctx):
    """sum(j, S, b) = exp(logsumexp(j, S, log b)) for b > 0 and S not empty."""
    if not (isinstance(e, ir.Red) and e.kind == "sum") or not ctx.is_nonempty(e.iset):
        return None
    inner = ctx.enter(e.var, e.iset)
    if sign(e.body, inner) != "pos" or free_of(e.body, e.var):
        return None
    return sympy.exp(ir.Red("lse", _log_expand(e.body, inner), e.var, e.iset))


def rule_lse_out_of_log(e, ctx):
    """log(exp(L) + r) = L + log(1 + r exp(-L)) for a logsumexp L (both sides defined where the
    left one is): a sum's normalizer leaves a logarithm of a difference, e.g. log(sum_k e^s_k - e^s_j)."""
    if not (isinstance(e, sympy.log) and isinstance(e.args[0], sympy.Add)):
        return None
    for term in e.args[0].args:
        if isinstance(term, sympy.exp) and isinstance(term.args[0], ir.Red) and term.args[0].kind == "lse":
            rest = e.args[0] - term
            return term.args[0] + sympy.log(1 + sympy.expand(rest * sympy.exp(-term.args[0]), deep=False))
    return None


def rule_exp_split(e, ctx):
    """exp(a + b) = exp(a) exp(b); exp(a)^p = exp(p a): factors free of an index can leave its sum."""
    if isinstance(e, sympy.exp) and isinstance(e.args[0], sympy.Add):
        return sympy.Mul(*[sympy.exp(term) for term in e.args[0].args])
    if isinstance(e, sympy.Pow) and isinstance(e.base, sympy.exp):
        return sympy.exp(e.exp * e.base.args[0])
    return None


def rule_zero_weights(e, ctx):
    """sum(j, S, W[a, j] * b) = sum(j, S ∩ {j : W[a, j] > 0}, W[a, j] * b): zero weights add nothing
    (graph weights W, or a teacher's probabilities teacher[a, j])."""
    if not (isinstance(e, ir.Red) and e.kind == "sum"):
        return None
    inner = ctx.enter(e.var, e.iset)
    factors = sympy.Mul.make_args(e.body)
    for factor in factors:
        if (isinstance(factor, ir.At) and factor.name in ("W", "teacher") and len(factor.args) == 3
                and factor.args[2] == e.var and free_of(factor.args[1], e.var)):
            edge = ir.Atom("edge", None if factor.name == "W" else factor.name, factor.args[1])
            rest = [f for f in factors if f is not factor]
            if edge not in e.iset.atoms_ and all(defined(f, inner) for f in rest):
                return ir.Red("sum", e.body, e.var, e.iset.intersect(edge))
    return None


def _vanishing_set(factor, var) -> Optional[ir.ISet]:
    """A set U anchored at ``var`` such that ``factor`` is 0 whenever U is empty."""
    if isinstance(factor, ir.Card):
        return factor.iset
    if isinstance(factor, ir.Red) and factor.kind == "sum":
        return factor.iset
    if isinstance(factor, sympy.Pow) and factor.exp.is_positive and factor.exp.is_integer:
        return _vanishing_set(factor.base, var)
    return None


def rule_restrict(e, ctx):
    """sum(i, A, t) = sum(i, {i in A : U(i) is not empty}, t) when t vanishes for an empty U(i):
    the anchors whose set is empty contribute nothing."""
    if not (isinstance(e, ir.Red) and e.kind == "sum"):
        return None
    inner = ctx.enter(e.var, e.iset)
    factors = sympy.Mul.make_args(e.body)
    for factor in factors:
        vanish = _vanishing_set(factor, e.var)
        if vanish is None or e.var not in vanish.free_symbols or inner.is_nonempty(vanish):
            continue
        if not all(defined(f, inner) for f in factors if f is not factor):
            continue
        template = vanish.xreplace({e.var: ir.SELF})
        if e.var in template.free_symbols or template.free_symbols - (set(vanish.free_symbols) - {e.var}):
            continue
        return ir.Red("sum", e.body, e.var, e.iset.intersect(ir.nonempty(template)))
    return None


def rule_always_nonempty(iset: ir.ISet, ctx) -> Optional[ir.ISet]:
    """anchors_with(S) is every anchor when S(i) is never empty (others(i) on n >= 2 items)."""
    drop = [a for a in iset.atoms_ if a.kind == "nonempty" and intrinsically_nonempty(a.arg)]
    if drop:
        return ir.ISet(iset.domain, *(iset.atoms_ - set(drop)))
    return None


def rule_expand(e, ctx):
    """Distribute products over sums (SymPy's expand, without touching logs or powers)."""
    if isinstance(e, (sympy.Mul, sympy.Pow)) and any(isinstance(a, sympy.Add) for a in e.args):
        expanded = sympy.expand(e, deep=False, log=False, power_exp=False, power_base=False, multinomial=True)
        return expanded if expanded != e else None
    return None


RULES = (
    Rule("cosine from a dot product and norms", rule_cosine),
    Rule("mean = sum / count", rule_mean),
    Rule("a guard over a non-empty set", rule_guard),
    Rule("anchors_with(S) where S is never empty", rule_always_nonempty, sets=True),
    Rule("sizes of index sets", rule_sizes),
    Rule("logarithms of exp, products and powers", rule_log),
    Rule("exponentials of sums", rule_exp_split),
    Rule("distributivity", rule_expand),
    Rule("linearity of sums", rule_linearity),
    Rule("a term free of the index", rule_free_body),
    Rule("an indicator restricts the set", rule_indicator),
    Rule("a label comparison is the label predicate", rule_label_indicator),
    Rule("one-point sets", rule_point),
    Rule("zero weights add nothing", rule_zero_weights),
    Rule("constants out of logsumexp", rule_lse_shift),
    Rule("a sum of positive terms is exp(logsumexp(log ...))", rule_positive_sum),
    Rule("a logsumexp out of a logarithm", rule_lse_out_of_log),
    Rule("anchors with an empty set contribute nothing", rule_restrict),
)
RULES_BY_NAME = {rule.name: rule for rule in RULES}
