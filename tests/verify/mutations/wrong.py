"""Operators that make WRONG variants of a catalog entry, each changing one thing.

Formula operators rewrite one site of the parsed AST of one formula field and render it back
(``to_source``); entry operators change one node of the p/q trees or one field of the entry
or a claim (``Entry.model_dump`` -> edit -> ``Entry.model_validate``). Whether a variant is
really wrong is not assumed here: the oracle (``oracle.py``) decides.
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
    parsed,
    parsed_formulas,
    site_rewrites,
    tree_nodes,
    with_value,
)

#: sets over the batch that take an anchor, and the inputs that define them
ANCHORED_SETS = {
    "others": set(),
    "positives": {"ids"},
    "same_class": {"labels"},
    "other_modality": {"modality"},
    "cross_positives": {"ids", "modality"},
    "neighbors": {"neighbors"},
    "candidates": {"neighbors"},
    "adjacent": {"graph"},
}


# ---------------------------------------------------------------------------------------
# formula operators: rule(node, path, parent, root, **context) -> replacement nodes
# ---------------------------------------------------------------------------------------
def mean_to_sum(node, *_, **__):
    if isinstance(node, N.Reduce) and node.kind == "mean":
        yield N.Reduce("sum", node.var, node.set, node.body)


def sum_to_mean(node, *_, **__):
    if isinstance(node, N.Reduce) and node.kind == "sum":
        yield N.Reduce("mean", node.var, node.set, node.body)


def l_out_to_l_in(node, *_, **__):
    """SupCon's L_out -> L_in: mean(j, P(i), log q_ij) -> log(mean(j, P(i), q_ij)), the 1/|P(i)| inside the log."""
    if (isinstance(node, N.Reduce) and node.kind == "mean" and node.set.arg is not None
            and (T.calls(node.body, "log") or _has_logsumexp(node.body))):
        yield N.Call("log", (N.Reduce("mean", node.var, node.set, N.Call("exp", (node.body,))),))


def _has_logsumexp(node) -> bool:
    return any(isinstance(sub, N.Reduce) and sub.kind == "logsumexp" for _, sub, _ in T.sites(node))


def sign_flip(node, path, *_, **__):
    if isinstance(node, N.BinOp) and node.op in "+-":
        yield N.BinOp("-" if node.op == "+" else "+", node.left, node.right)
    if isinstance(node, N.Neg) and path:  # the root's sign is the operator 'negated'
        yield node.operand


def drop_term(node, *_, **__):
    if isinstance(node, N.BinOp) and node.op in "+-":
        yield node.left
        yield node.right if node.op == "+" else N.Neg(node.right)


def scale_factor(node, path, *_, **__):
    if not path:
        yield T.mul(N.Num(2), node)
        yield T.div(node, N.Num(2))
    elif isinstance(node, N.Reduce) and node.kind != "logsumexp":
        yield N.Reduce(node.kind, node.var, node.set, T.mul(N.Num(2), node.body))


def temperature(node, *_, **__):
    """x/tau -> x*tau, x/tau**2, x (dropped); x*tau -> x/tau, x."""
    if isinstance(node, N.BinOp) and isinstance(node.right, N.Param):
        p = node.right
        if node.op == "/":
            yield T.mul(node.left, p)
            yield T.div(node.left, N.BinOp("**", p, N.Num(2)))
            yield node.left
        elif node.op == "*":
            yield T.div(node.left, p)
            yield node.left
    elif isinstance(node, N.BinOp) and node.op == "*" and isinstance(node.left, N.Param):
        yield T.div(node.right, node.left)
        yield node.right


def number(node, path, parent, *_, **__):
    if isinstance(node, N.Num) and not T.in_index_position(path, parent):
        yield N.Num(node.value + 1)
        if node.value not in (0, 1):
            yield N.Num(node.value * 2)


def index_set(node, path, parent, root, *, sets, **__):
    """A set over the batch swapped for another the entry's data defines (others(i) -> positives(i), ...)."""
    if _is_normalizer(node, path, root):
        return
    yield from _swapped_sets(node, sets)


def normalizer_set(node, path, parent, root, *, sets, **__):
    """The set of a logsumexp (or of a sum of exponentials inside a log) swapped: the wrong normalizer."""
    if _is_normalizer(node, path, root):
        yield from _swapped_sets(node, sets)


def anchors_with_dropped(node, *_, **__):
    """mean(i, anchors_with(positives), ...) -> mean(i, anchors, ...): anchors with an empty p counted again."""
    if isinstance(node, N.SetRef) and getattr(node, "of", None) is not None:
        yield N.SetRef("anchors")


def _is_normalizer(node, path, root) -> bool:
    if not isinstance(node, N.SetRef) or not path or path[-1][0] != "set":
        return False
    owner = _at(root, path[:-1])
    return isinstance(owner, N.Reduce) and (owner.kind == "logsumexp" or (owner.kind == "sum" and T.calls(owner.body, "exp")))


def _swapped_sets(node, sets):
    if isinstance(node, N.SetRef) and node.arg is not None and node.name in ANCHORED_SETS:
        for name in sorted(sets - {node.name}):
            yield N.SetRef(name, node.arg)
        yield N.SetRef("all")


def _at(root, path):
    node = root
    for name, position in path:
        node = getattr(node, name) if position is None else getattr(node, name)[position]
    return node


#: operator name -> (rule, which formula fields it applies to: "loss", "equals", "cost", "constant")
FORMULA_OPERATORS = {
    "mean_to_sum": (mean_to_sum, {"loss", "equals", "cost", "constant", "extra"}),
    "sum_to_mean": (sum_to_mean, {"loss", "equals", "cost", "constant", "extra"}),
    "l_out_to_l_in": (l_out_to_l_in, {"loss"}),
    "sign_flip": (sign_flip, {"loss", "equals", "cost", "extra"}),
    "drop_term": (drop_term, {"loss"}),
    "scale_factor": (scale_factor, {"loss"}),
    "temperature": (temperature, {"loss"}),
    "number": (number, {"loss"}),
    "index_set": (index_set, {"loss", "equals", "cost", "constant", "extra"}),
    "normalizer_set": (normalizer_set, {"loss"}),
    "anchors_with_dropped": (anchors_with_dropped, {"loss", "equals", "cost", "constant", "extra", "offset"}),
}
#: at most this many sites per (entry, operator, field), spread over the formula
SITES_PER_FIELD = 4


def _field_role(where: str) -> str:
    if where == "loss.formula":
        return "loss"
    return where.rsplit(".", 1)[1]


def available_sets(entry: Entry) -> set:
    """The anchored sets the entry's batch defines (by the inputs its p, q and formula read)."""
    inputs = set(entry.p.inputs_used() | entry.q.inputs_used())
    formula = parsed(entry, entry.loss.formula)
    if formula is not None:
        inputs |= set(formula.requirements) | ({"graph"} if "W" in formula.requirements else set())
    supports = {_support(entry.p), _support(entry.q)}
    names = set()
    for name, needs in ANCHORED_SETS.items():
        if name == "candidates" and "candidates" not in supports:
            continue
        if name == "neighbors" and "candidates" in supports:
            continue  # a triplet's neighbours are its [pos, neg] candidates
        if needs <= inputs | ({"neighbors"} if "candidates" in inputs else set()):
            names.add(name)
    return names


def _support(node) -> str:
    return node.support_kind() if hasattr(node, "support_kind") else ""


def formula_variants(entry: Entry, out: Collected) -> None:
    data = entry.model_dump(mode="json")
    sets = available_sets(entry)
    for where, path, formula in parsed_formulas(entry):
        role = _field_role(where)
        for operator, (rule, roles) in FORMULA_OPERATORS.items():
            if role in roles:
                for new_root, old, new in site_rewrites(formula.root, rule, SITES_PER_FIELD, sets=sets):
                    add_formula(out, entry, data, operator, where, path, new_root, change_words(old, new), "wrong")
        for operator, new_root in _whole_field_rewrites(entry, role, formula.root, where):
            description = f"{T.short(formula.source, 60)}  ->  {T.short(T.render(new_root), 60)}"
            add_formula(out, entry, data, operator, where, path, new_root, description, "wrong")


def _whole_field_rewrites(entry, role, root, where):
    """Operators on a whole field: negation, zero, doubling, +1; a limit's scale and factor."""
    claim = entry.claims[int(where.split("[")[1].split("]")[0])] if where.startswith("claims[") else None
    negated = root.operand if isinstance(root, N.Neg) else N.Neg(root)
    if role == "loss":
        yield "loss_negated", negated
    elif role in ("constant", "extra"):  # up_to_constant's constant, decomposition's extra term
        yield f"{role}_negated", negated
        yield f"{role}_zero", N.Num(0)
        yield f"{role}_doubled", T.mul(N.Num(2), root)
    elif role == "offset" and claim.kind == "bound":
        yield "bound_offset", N.BinOp("-", root, N.Num(1)) if claim.relation == "<=" else N.BinOp("+", root, N.Num(1))
    elif role == "offset" and claim.to == "infinity":  # as the parameter -> 0 the scale kills any finite offset
        yield "offset_zero", N.Num(0)
        yield "offset_plus_one", N.BinOp("+", root, N.Num(1))
        yield "offset_doubled", T.mul(N.Num(2), root)
    elif role == "scale":
        p = N.Param(claim.parameter)
        yield "limit_scale", T.div(root, p)
        yield "limit_scale", T.mul(root, p)
        yield "limit_scale", T.mul(N.Num(2), root)
    elif role == "factor":
        yield "factor_changed", negated
        yield "factor_changed", T.mul(N.Num(2), root)


# ---------------------------------------------------------------------------------------
# entry operators: one change to p, q, the direction, the reduction or a claim
# ---------------------------------------------------------------------------------------
SPACE_KERNELS = ("gaussian_dot", "student_t", "gaussian")
SWAPPABLE_SUPPORTS = ("others", "all", "other_modality")


def _kernel_parameter(kernel):
    for name in ("temperature", "nu", "sigma"):
        if kernel.get(name) is not None:
            return kernel[name]
    return 1.0


def swapped_kernel(kernel: dict, kind: str) -> dict:
    """The same space, cosine flag and parameter under another kernel family."""
    base = {"kind": kind, "space": kernel.get("space", "z"), "cosine": bool(kernel.get("cosine", False))}
    parameter = _kernel_parameter(kernel)
    if kind == "gaussian_dot":
        return {**base, "temperature": parameter}
    if kind == "student_t":
        return {**base, "nu": parameter}
    return {**base, "sigma": parameter, "scale": 1.0}


def _node_edits(side: str, tree: dict, under_symmetrize: bool):
    """(operator, where, description, new subtree) for each one-node change of a p/q tree."""
    for path, node in tree_nodes(tree):
        where = ".".join([side, *map(str, path)])
        kind = node["kind"]
        replace = lambda new, p=path: with_value(tree, p, new) if p else new  # noqa: E731
        if kind in SPACE_KERNELS:
            for other in SPACE_KERNELS:
                if other != kind:
                    yield "kernel_kind", where, f"{kind} -> {other}", replace(swapped_kernel(node, other))
            if "cosine" in node:
                yield "cosine", where, f"cosine {node['cosine']} -> {not node['cosine']}", \
                    replace({**node, "cosine": not node["cosine"]})
            for name in ("temperature", "nu", "sigma"):
                value = node.get(name)
                if isinstance(value, str):
                    yield "temperature_dropped", where, f"{name}: {value} -> 1.0", replace({**node, name: 1.0})
                elif isinstance(value, (int, float)):
                    yield "kernel_constant", where, f"{name}: {value} -> {2 * value}", replace({**node, name: 2 * value})
            if kind in ("gaussian", "student_t") and node.get("perplexity") is None:
                scale = node.get("scale", 1.0)
                other = 1.0 if scale == 2.0 else 2.0
                yield "kernel_scale", where, f"scale {scale} -> {other}", replace({**node, "scale": other})
        if kind == "candidate_position":
            other = 1 - node.get("position", 0)
            yield "p_kernel", where, f"candidate position {node.get('position', 0)} -> {other}", \
                replace({**node, "position": other})
        if kind in ("same_id", "same_label"):
            other = "same_label" if kind == "same_id" else "same_id"
            yield "p_kernel", where, f"{kind} -> {other}", replace({"kind": other})
        if kind == "normalize":
            support = node.get("support")
            if support in SWAPPABLE_SUPPORTS:
                for other in SWAPPABLE_SUPPORTS:
                    if other != support:
                        yield "support", where, f"support {support} -> {other}", replace({**node, "support": other})
            if not under_symmetrize and support in ("others", "all"):
                over = node.get("over", "rows")
                other = "joint" if over == "rows" else "rows"
                yield "joint_rows", where, f"over {over} -> {other}", replace({**node, "over": other})
                if not path and over == "rows":
                    yield "symmetrize", where, "symmetrize added", {"kind": "symmetrize", "of": node}
        if kind == "symmetrize" and not path:
            yield "symmetrize", where, "symmetrize removed", node["of"]


def entry_variants(entry: Entry, out: Collected) -> None:
    data = entry.model_dump(mode="json")
    for side in ("p", "q"):
        tree = data[side]
        for operator, where, description, new in _node_edits(side, tree, tree["kind"] == "symmetrize"):
            out.add(entry, operator, where, description, {**data, side: new}, "wrong")
    flipped = "reverse" if entry.direction == "forward" else "forward"
    out.add(entry, "direction", "direction", f"{entry.direction} -> {flipped}", {**data, "direction": flipped}, "wrong")
    other = "sum" if entry.loss.reduction == "mean" else "mean"
    out.add(entry, "reduction", "loss.reduction", f"{entry.loss.reduction} -> {other}",
            with_value(data, ("loss", "reduction"), other), "wrong")
    for k, claim in enumerate(entry.claims):
        if claim.kind in ("identity", "up_to_constant", "decomposition", "bound"):
            objective = "cross_entropy" if claim.objective == "kl" else "kl"
            out.add(entry, "objective_swap", f"claims[{k}].objective", f"{claim.kind} under {claim.objective} -> "
                    f"under {objective}", with_value(data, ("claims", k, "objective"), objective), "wrong")
        if claim.kind == "up_to_constant":
            identity = {"kind": "identity", "objective": claim.objective, "note": claim.note}
            out.add(entry, "constant_to_identity", f"claims[{k}]",
                    f"up_to_constant ({T.short(claim.constant, 50)}) claimed as an identity",
                    with_value(data, ("claims", k), identity), "wrong")
        if claim.kind == "bound":
            relation = ">=" if claim.relation == "<=" else "<="
            out.add(entry, "bound_relation", f"claims[{k}].relation", f"{claim.relation} -> {relation}",
                    with_value(data, ("claims", k, "relation"), relation), "wrong")


def wrong_variants(entries) -> Collected:
    """Every wrong variant of every entry with at least one checked claim."""
    out = Collected()
    for entry in entries:
        if not checked_claims(entry):
            continue
        formula_variants(entry, out)
        entry_variants(entry, out)
    return out
