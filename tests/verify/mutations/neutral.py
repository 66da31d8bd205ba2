"""NEUTRAL rewrites: variants equal to the entry by construction, which every claim check must
still pass (a verifier that fails them judges the spelling, not the math).

Each rule is an identity of real arithmetic applied at one site of a formula's AST; the ones
that need a side condition check it (log(a/b) = log(a) - log(b) only for a, b > 0; a mean
is sum/count only where the set is non-empty, which is every batch the entry is defined on).
"""

from __future__ import annotations


from icon_registry.formula import nodes as N
from icon_registry.schema import Entry

from . import ast_tools as T
from .variants import (
    Collected,
    add_formula,
    change_words,
    checked_claims,
    parsed_formulas,
    site_rewrites,
    with_value,
    without_unused_definitions,
)


def logsumexp_expanded(node, *_, **__):
    if isinstance(node, N.Reduce) and node.kind == "logsumexp":
        yield N.Call("log", (N.Reduce("sum", node.var, node.set, N.Call("exp", (node.body,))),))


def logsumexp_folded(node, *_, **__):
    if isinstance(node, N.Call) and node.func == "log":
        (inner,) = node.args
        if (isinstance(inner, N.Reduce) and inner.kind == "sum" and isinstance(inner.body, N.Call)
                and inner.body.func == "exp"):
            yield N.Reduce("logsumexp", inner.var, inner.set, inner.body.args[0])


def mean_as_sum_over_count(node, *_, **__):
    if isinstance(node, N.Reduce) and node.kind == "mean":
        total = N.Reduce("sum", node.var, node.set, node.body)
        size = N.Builtin("n") if node.set.name in ("anchors", "all") and node.set.arg is None else N.Count(node.set)
        yield T.div(total, size)


def minus_as_plus_negative(node, *_, **__):
    if isinstance(node, N.BinOp) and node.op == "-":
        yield N.BinOp("+", node.left, T.mul(N.Num(-1), node.right))


def division_as_product(node, *_, **__):
    if isinstance(node, N.BinOp) and node.op == "/":
        yield T.mul(node.left, T.div(N.Num(1), node.right))


def commuted(node, *_, **__):
    if isinstance(node, N.BinOp) and node.op in "+*":
        yield N.BinOp(node.op, node.right, node.left)


def linearity_split(node, *_, **__):
    """sum(k, S, a +- b) -> sum(k, S, a) +- sum(k, S, b) (and mean, over a non-empty S)."""
    if isinstance(node, N.Reduce) and node.kind in ("sum", "mean") and isinstance(node.body, N.BinOp) \
            and node.body.op in "+-":
        body = node.body
        yield N.BinOp(body.op, N.Reduce(node.kind, node.var, node.set, body.left),
                      N.Reduce(node.kind, node.var, node.set, body.right))


def linearity_merge(node, *_, **__):
    """sum(k, S, a) +- sum(m, S, b) -> sum(k, S, a +- b[m := k]) (and c * sum on the right)."""
    if not (isinstance(node, N.BinOp) and node.op in "+-"):
        return
    left, right = node.left, node.right
    factor = None
    if isinstance(right, N.BinOp) and right.op == "*" and isinstance(right.left, N.Num):
        factor, right = right.left, right.right
    if not (isinstance(left, N.Reduce) and isinstance(right, N.Reduce) and left.kind == right.kind == "sum"
            and left.set == right.set):
        return
    if left.var in T.free_indices(right.body) - {right.var}:
        return  # renaming would capture a free index
    other = T.rename_index(right.body, right.var, left.var) if right.var != left.var else right.body
    if factor is not None:
        other = T.mul(factor, other)
    yield N.Reduce("sum", left.var, left.set, N.BinOp(node.op, left.body, other))


def bound_index_renamed(node, path, parent, root, **__):
    if isinstance(node, N.Reduce):
        new = T.fresh_index(root, node.var)
        yield T.rename_index(node, node.var, new)


def cosine_expanded(node, *_, **__):
    if isinstance(node, N.Call) and node.func == "cos":
        a, b = node.args
        yield T.div(N.Call("dot", (a, b)), T.mul(N.Call("norm", (a,)), N.Call("norm", (b,))))


def symmetric_arguments(node, *_, **__):
    if isinstance(node, N.Call) and node.func in ("dot", "cos", "sqdist", "dist"):
        a, b = node.args
        yield N.Call(node.func, (b, a))


def log_split(node, *_, positive, **__):
    """log(a/b) -> log(a) - log(b), log(a*b) -> log(a) + log(b), for a and b positive."""
    if isinstance(node, N.Call) and node.func == "log":
        (inner,) = node.args
        if isinstance(inner, N.BinOp) and inner.op in "*/" and positive(inner.left) and positive(inner.right):
            yield N.BinOp("+" if inner.op == "*" else "-", N.Call("log", (inner.left,)), N.Call("log", (inner.right,)))


def constants_folded(node, *_, **__):
    if isinstance(node, N.BinOp) and isinstance(node.left, N.Num) and isinstance(node.right, N.Num) \
            and node.op in "+-*":
        value = {"+": node.left.value + node.right.value, "-": node.left.value - node.right.value,
                 "*": node.left.value * node.right.value}[node.op]
        yield N.Num(value)


def constant_split(node, path, parent, *_, **__):
    if isinstance(node, N.Num) and not T.in_index_position(path, parent) and isinstance(node.value, int) \
            and node.value >= 1:
        yield N.BinOp("+", N.Num(node.value - 1) if node.value > 1 else N.Num(0.5),
                      N.Num(1) if node.value > 1 else N.Num(0.5))


def double_negation(node, path, *_, **__):
    if isinstance(node, N.Neg) and isinstance(node.operand, N.BinOp) and node.operand.op == "-":
        yield N.BinOp("-", node.operand.right, node.operand.left)
    elif not path:
        yield N.Neg(N.Neg(node))


def division_distributed(node, *_, **__):
    if isinstance(node, N.BinOp) and node.op == "/" and isinstance(node.left, N.BinOp) and node.left.op in "+-":
        yield N.BinOp(node.left.op, T.div(node.left.left, node.right), T.div(node.left.right, node.right))


def anchors_as_all(node, path, *_, **__):
    """'anchors' and 'all' are the same index set (every item of the batch)."""
    if isinstance(node, N.SetRef) and node.arg is None and node.name in ("anchors", "all"):
        yield N.SetRef("all" if node.name == "anchors" else "anchors")


#: at most this many sites per (entry, rule, field), spread over the formula
SITES_PER_FIELD = 2

RULES = {
    "logsumexp_expanded": logsumexp_expanded,
    "logsumexp_folded": logsumexp_folded,
    "mean_as_sum_over_count": mean_as_sum_over_count,
    "minus_as_plus_negative": minus_as_plus_negative,
    "division_as_product": division_as_product,
    "commuted": commuted,
    "linearity_split": linearity_split,
    "linearity_merge": linearity_merge,
    "bound_index_renamed": bound_index_renamed,
    "cosine_expanded": cosine_expanded,
    "symmetric_arguments": symmetric_arguments,
    "log_split": log_split,
    "constants_folded": constants_folded,
    "constant_split": constant_split,
    "double_negation": double_negation,
    "division_distributed": division_distributed,
    "anchors_as_all": anchors_as_all,
}


def positivity(entry: Entry):
    """A conservative test that an expression is > 0 on every batch the entry is defined on."""
    positive_params = {name for name, spec in entry.parameters.items() if spec.min is not None and spec.min > 0}

    def positive(node) -> bool:
        if isinstance(node, N.Num):
            return node.value > 0
        if isinstance(node, N.Param):
            return node.name in positive_params
        if isinstance(node, N.Builtin):
            return True
        if isinstance(node, N.Call):
            return node.func == "exp"
        if isinstance(node, N.Count):
            return True  # a normalizer's set is non-empty wherever the entry is defined
        if isinstance(node, N.BinOp):
            if node.op in "*/":
                return positive(node.left) and positive(node.right)
            if node.op == "+":
                return (positive(node.left) and nonnegative(node.right)) or (nonnegative(node.left)
                                                                            and positive(node.right))
            if node.op == "**":
                return positive(node.left)
        if isinstance(node, N.Reduce) and node.kind in ("sum", "mean"):
            return positive(node.body)
        return False

    def nonnegative(node) -> bool:
        if positive(node):
            return True
        if isinstance(node, N.Call) and node.func in ("sqdist", "dist", "norm", "abs", "softplus", "sqrt"):
            return True
        if isinstance(node, N.BinOp) and node.op in "*/":
            return nonnegative(node.left) and nonnegative(node.right)
        if isinstance(node, N.BinOp) and node.op == "+":
            return nonnegative(node.left) and nonnegative(node.right)
        return False

    return positive


def parameter_renamed(entry: Entry, out: Collected) -> None:
    """Every parameter renamed everywhere (parameters, kernels, limit, claims, formulas)."""
    for old in sorted(entry.parameters):
        new = f"{old}_renamed"
        data = entry.model_dump(mode="json")
        data["parameters"] = {(new if k == old else k): v for k, v in data["parameters"].items()}
        _rename_refs(data["p"], old, new)
        _rename_refs(data["q"], old, new)
        for scaled in ("limit", "prefactor"):
            if data.get(scaled) and data[scaled]["parameter"] == old:
                data[scaled]["parameter"] = new
        for _, path, formula in parsed_formulas(entry):
            data = with_value(data, path, T.render(T.rename_param(formula.root, old, new)))
        for claim in data["claims"]:
            if claim.get("parameter") == old:
                claim["parameter"] = new
        out.add(entry, "parameter_renamed", "parameters", f"{old} -> {new} everywhere", without_unused_definitions(data),
                "neutral")


def _rename_refs(tree, old, new):
    for name, value in list(tree.items()):
        if isinstance(value, str) and value == old and name not in ("kind", "space", "support", "over", "mode",
                                                                      "source"):
            tree[name] = new
        elif isinstance(value, dict):
            _rename_refs(value, old, new)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _rename_refs(item, old, new)


def neutral_rewrites(entries) -> Collected:
    """Every neutral rewrite of every entry with at least one checked claim."""
    out = Collected()
    for entry in entries:
        if not checked_claims(entry):
            continue
        data = entry.model_dump(mode="json")
        positive = positivity(entry)
        for where, path, formula in parsed_formulas(entry):
            for operator, rule in RULES.items():
                for new_root, old, new in site_rewrites(formula.root, rule, SITES_PER_FIELD, positive=positive):
                    add_formula(out, entry, data, operator, where, path, new_root, change_words(old, new), "neutral")
        parameter_renamed(entry, out)
    return out
