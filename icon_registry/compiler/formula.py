"""``compile_loss(entry, source="formula")``: the entry's published ``loss.formula`` as a
vectorized torch loss.

The formula's tree (definitions written out) is translated, not interpreted per element:
every sub-expression becomes one tensor over the index variables it depends on (an n x n
matrix for ``cos(z[i], z[k])``, an n x C one for ``dot(z[i], w[c])``), a reduction over an
index set becomes a masked reduction along that variable's axis (the set's membership is a
mask: ``others(i)`` is k != i, ``positives(i)`` equal ids, ``neighbors(i)`` the given lists
with their multiplicities), and pairwise functions of vectors are matrix products. Equal
sub-expressions (up to the names of their indices) are computed once per call: SimCLR's
cosine matrix serves both the positives and the normalizer.

Before evaluation the tree is rewritten into equal, cheaper forms: factors and (in a mean)
terms that do not depend on a reduction's index are taken out of it, and a one-point sum
``sum(m, S, indicator(m == X) * f(m))`` becomes ``[X in S] * f(X)`` (an n x n membership table
instead of an n x n x n tensor).

Numerics:
  * Stable forms: ``log(exp(e))`` is ``e``; the log of a product, quotient or power of
    non-negative factors is split into logs; the log of a sum of such terms (``log(exp(a) + sum(m, bank,
    exp(b)))``) is a logaddexp of their logs, and the log of a sum (or a mean
    over a whole domain) of products of exps, indicators and phi (read as log_softmax) become
    log-sum-exps, an indicator narrowing the set (``Where``: a -inf mask, never 0 * inf);
    ``log(sum(k, A, f) - sum(k, B, f))`` with B inside A, and ``log(sum(c, A, f(c)) - f(X))``, are the
    log of the sum over what is left (no cancelling difference); ``log(1 + x)`` is ``log1p(x)``. Where a factor underflows
    (t-SNE's P_ij far from i) its log stays finite, so P log(P / Q) is 0 there, not NaN.
  * Positions outside a reduction's set are computed too (they are masked out), so
    singular functions (log, sqrt, division, powers, exp) are evaluated on a safe value
    there: no NaN or inf reaches a gradient through a masked position (e.g. dist(z_i, z_i)).
  * A mean, max or min over an empty set where the formula needs it is an error naming
    the set (the formula is undefined on that batch), never a silent 0.
  * Half precision runs the math in float32 (as the objective does); the result has z's dtype.

Chunking: a formula ``[c *] sum|mean(i, anchors|anchors_with(S), body)`` is row-separable: the
anchors are evaluated in blocks (``chunk_size``; None: only when the dense n x n evaluation would not fit,
``chunked.automatic_block``), each block recomputed in backward (``torch.utils.checkpoint``), with the parts that
do not depend on the anchor (t-SNE's normalizer, a batch mean) computed once outside.
"""

from __future__ import annotations

import contextvars
import math
from dataclasses import dataclass, replace
from typing import Optional

import torch
from torch.utils.checkpoint import checkpoint

from icon_registry.backends import TorchBackend, torch_backend
from icon_registry.compiler import arguments, chunked
from icon_registry.compiler.module import CompiledLoss, largest_candidate_position, make_prototypes, min_rows
from icon_registry.errors import IconError
from icon_registry.formula import grammar as G
from icon_registry.formula import nodes as N
from icon_registry.formula.latex import to_source
from icon_registry.formula.parser import substitute
from icon_registry.objective import SupervisoryCache
from icon_registry.static_check import ARGUMENT_OF, parse_entry_formula



# ---------------------------------------------------------------------------------------
# compile time: stable rewrites and the plan
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogAddExp:
    """log(exp(a_1) + ... + exp(a_m)), from the log of a sum whose terms each have an exact log
    (``exp(a)``, a sum of exps, a positive constant) (compiler-internal)."""

    args: tuple


@dataclass(frozen=True)
class Log1p:
    """log(1 + x) (compiler-internal)."""

    operand: N.Node


@dataclass(frozen=True)
class Where:
    """The body of a logsumexp taken only over the members where ``condition`` (an indicator's
    comparison) holds, from log(sum(k, S, indicator(c) * exp(e))): the condition joins the set's
    mask, so a left-out member is never 0 * exp(e) (0 * inf = NaN where exp overflows), and the
    body is evaluated on a safe value there (compiler-internal; only directly under a Reduce)."""

    condition: N.Indicator
    body: N.Node


@dataclass(frozen=True)
class LogPhi:
    """log phi[i, c], read from log_softmax (finite where phi itself underflows to 0) (compiler-internal)."""

    entry: N.MatrixAt


@dataclass(frozen=True)
class Member:
    """How often the index ``at`` is in the set (0 or 1; a given list counts repeats), from the
    one-point rule sum(m, S, indicator(m == X) * f(m)) = [X in S] * f(X) (compiler-internal)."""

    set: N.SetRef
    at: N.Node


def _children(node) -> tuple:
    if isinstance(node, Member):
        return (node.set, node.at)
    if isinstance(node, LogAddExp):
        return tuple(node.args)
    if isinstance(node, Log1p):
        return (node.operand,)
    if isinstance(node, Where):
        return (node.condition, node.body)
    if isinstance(node, LogPhi):
        return (node.entry,)
    return N.children(node)


def _nonnegative(node, params: dict) -> bool:
    """Provably >= 0 for every batch (so log(a * b) = log a + log b, with log 0 = -inf)."""
    if isinstance(node, N.Num):
        return node.value >= 0
    if isinstance(node, N.Param):
        low = params[node.name].min
        return low is not None and low >= 0
    if isinstance(node, (N.Builtin, N.Count, N.Indicator, Member)):
        return True
    if isinstance(node, (N.ScalarAt, N.MatrixAt)):
        return True  # beta, phi and graph weights are non-negative (the graph is checked)
    if isinstance(node, N.Call):
        if node.func in ("exp", "sqrt", "softplus", "abs", "norm", "dist", "sqdist"):
            return True
        if node.func in ("max", "min"):
            test = any if node.func == "max" else all
            return test(_nonnegative(arg, params) for arg in node.args)
        return False
    if isinstance(node, N.BinOp):
        if node.op in ("+", "*", "/"):
            return _nonnegative(node.left, params) and _nonnegative(node.right, params)
        if node.op == "**":
            return _nonnegative(node.left, params) or (
                isinstance(node.right, N.Num) and isinstance(node.right.value, int) and node.right.value % 2 == 0)
        return False
    if isinstance(node, N.Reduce):
        return node.kind in ("sum", "mean", "max", "min") and _nonnegative(node.body, params)
    return False


def _stable_log(arg, params: dict):
    """A tree equal to log(arg), in the most stable form the rules above give."""
    if isinstance(arg, N.Call) and arg.func == "exp":
        return _stable(arg.args[0], params)
    if isinstance(arg, N.MatrixAt) and arg.array == "phi":
        return LogPhi(_stable(arg, params))
    if isinstance(arg, N.BinOp) and arg.op == "-":
        rest = _set_difference(arg.left, arg.right)
        if rest is not None:  # DCL, Proxy-NCA: the difference cancels; the sum over what is left does not
            return _stable_log(rest, params)
    if isinstance(arg, N.Reduce):
        exact = _exact_log(arg, params)
        if exact is not None:
            return exact[0]
    if isinstance(arg, N.BinOp) and arg.op in ("*", "/") and _nonnegative(arg.left, params) and _nonnegative(
            arg.right, params):
        return N.BinOp("+" if arg.op == "*" else "-", _stable_log(arg.left, params), _stable_log(arg.right, params))
    if isinstance(arg, N.BinOp) and arg.op == "**" and _nonnegative(arg.left, params):
        return N.BinOp("*", _stable(arg.right, params), _stable_log(arg.left, params))
    if isinstance(arg, N.BinOp) and arg.op == "+":
        # MoCo's log(exp(a) + sum(m, bank, exp(b))): each term's exact log, then one logsumexp
        logs = [_exact_log(term, params) for term in _terms(arg)]
        if all(log is not None and log[0] is not None and not log[1] for log in logs):
            return LogAddExp(tuple(log[0] for log in logs))
        for one, other in ((arg.left, arg.right), (arg.right, arg.left)):
            if isinstance(one, N.Num) and one.value == 1:
                return Log1p(_stable(other, params))
    return N.Call("log", (_stable(arg, params),))


#: sets B(i) inside A(i) for the same anchor i, by their definitions (grammar.SETS); besides these, every
#: set without repeated members lies inside its whole domain
_INSIDE = {"others": ("positives", "same_class", "cross_positives", "neighbors", "adjacent"),
           "other_modality": ("cross_positives",)}


def _set_difference(total, part):
    """sum(k, A, indicator(k not in B) * f(k)), equal to ``total - part``, when total is sum(k, A, f(k))
    and part is sum(m, B, f(m)) over a set B inside A, or f(X) at one index X of A, a whole domain;
    else None. Written as the difference (the published DCL and Proxy-NCA), the log of it is the
    log of a cancelling difference: -inf or NaN once the removed terms dominate (small temperature)."""
    if not (isinstance(total, N.Reduce) and total.kind == "sum"):
        return None
    var, whole = total.var, total.set.arg is None and total.set.of is None
    if isinstance(part, N.Reduce) and part.kind == "sum":
        inner = part.set
        inside = inner.of is None and inner.name != "candidates" and (  # candidates count repeats
            whole and G.SETS[inner.name].domain == G.SETS[total.set.name].domain
            or inner.arg == total.set.arg and inner.name in _INSIDE.get(total.set.name, ()))
        same = _canonical(total)[0] == _canonical(N.Reduce("sum", part.var, total.set, part.body))[0]
        if not (inside and same):
            return None
        outside = N.Indicator("==", Member(inner, N.Index(var)), N.Num(0))
    else:
        at = next((item for item in N.walk(part) if isinstance(item, (N.Index, N.IndexAt, N.IndexCall))
                   and var not in _free(item) and substitute(total.body, {var: item}, _NAMES.get()) == part), None)
        if not whole or at is None:
            return None
        outside = N.Indicator("!=", N.Index(var), at)
    return N.Reduce("sum", var, total.set, N.BinOp("*", outside, total.body))


def _exact_log(node, params: dict) -> Optional[tuple]:
    """(L, conditions) with node = prod(indicator(c) for c in conditions) * exp(L), L built
    without the log of anything that can underflow to 0 (exp, phi, positive constants, and
    products, quotients, powers, sums and means of these); None for any other node. A sum
    becomes a logsumexp whose indicators restrict its set (``Where``), so
    log(sum(k, S, indicator(c) * exp(e))) is a masked logsumexp and pmi's
    log(sum(c, clusters, phi[i, c] * phi[j, c] / mean(l, all, phi[l, c]))) never sees an underflowed
    product. L is None where node is a product of indicators only (log 1 = 0 where they hold)."""
    if isinstance(node, N.Indicator):
        return None, (_stable(node, params),)
    if isinstance(node, N.Call) and node.func == "exp":
        return _stable(node.args[0], params), ()
    if isinstance(node, N.MatrixAt) and node.array == "phi":
        return LogPhi(_stable(node, params)), ()
    if (isinstance(node, N.Num) and node.value > 0) or (
            isinstance(node, N.Param) and params[node.name].min is not None and params[node.name].min > 0):
        return N.Call("log", (node,)), ()
    if isinstance(node, N.BinOp) and node.op in ("*", "/"):
        left, right = _exact_log(node.left, params), _exact_log(node.right, params)
        if left is None or right is None or (node.op == "/" and right[1]):  # 1 / indicator is not a restriction
            return None
        # a log of None is 0 (indicators only); a divisor has no conditions, so its log is never None
        if right[0] is None:
            log = left[0]
        elif left[0] is None:
            log = right[0] if node.op == "*" else N.Neg(right[0])
        else:
            log = N.BinOp("+" if node.op == "*" else "-", left[0], right[0])
        return log, left[1] + right[1]
    if isinstance(node, N.BinOp) and node.op == "**":
        base = _exact_log(node.left, params)
        if base is None or base[1] or base[0] is None:
            return None
        return N.BinOp("*", _stable(node.right, params), base[0]), ()
    # a mean over a set that may be empty stays an error there (not logsumexp - log 0 = NaN); a whole
    # domain other than the bank (given in the call, possibly with no rows) is never empty
    whole = node.set.arg is None and node.set.of is None and G.SETS[node.set.name].domain != "bank" if isinstance(
        node, N.Reduce) else False
    if isinstance(node, N.Reduce) and (node.kind == "sum" or node.kind == "mean" and whole):
        body = _exact_log(node.body, params)
        if body is None:
            return None
        inner = N.Num(0) if body[0] is None else body[0]
        for condition in reversed(body[1]):
            inner = Where(condition, inner)
        log = N.Reduce("logsumexp", node.var, node.set, inner)
        if node.kind == "mean":
            log = N.BinOp("-", log, N.Call("log", (N.Count(node.set),)))
        return log, ()
    return None


def _terms(node) -> list:
    """[a, b, ...] for node = a + b + ..."""
    if isinstance(node, N.BinOp) and node.op == "+":
        return _terms(node.left) + _terms(node.right)
    return [node]


def _stable(node, params: dict):
    """The tree with every log in its stable form (see the module docstring)."""
    if isinstance(node, N.Call) and node.func == "log":
        return _stable_log(node.args[0], params)
    if isinstance(node, N.Reduce):
        return _linear(N.Reduce(node.kind, node.var, node.set, _stable(node.body, params)))
    if isinstance(node, N.BinOp):
        return N.BinOp(node.op, _stable(node.left, params), _stable(node.right, params))
    if isinstance(node, N.Neg):
        return N.Neg(_stable(node.operand, params))
    if isinstance(node, N.Call):
        return N.Call(node.func, tuple(_stable(arg, params) for arg in node.args))
    if isinstance(node, N.Indicator):
        return N.Indicator(node.op, _stable(node.left, params), _stable(node.right, params))
    return node


#: Functions evaluated on a safe value at masked positions (see ``Evaluator.safe``).
_SANITIZED_CALLS = {"log", "sqrt", "exp", "dist", "norm"}


def _sanitized_operand(node):
    """The operand a node evaluates on a safe value at masked positions, or None."""
    if isinstance(node, N.Call) and node.func in _SANITIZED_CALLS:
        return node.args[0] if node.func != "dist" else node
    if isinstance(node, N.BinOp) and node.op == "/":
        return node.right
    if isinstance(node, N.BinOp) and node.op == "**":
        return node.left
    if isinstance(node, Log1p):
        return node.operand
    return None


def _one_point(body, var):
    """(X, f or None) when body is indicator(var == X) [* f] with X free of var."""
    factor = None
    if isinstance(body, N.BinOp) and body.op == "*":
        for indicator, other in ((body.left, body.right), (body.right, body.left)):
            if isinstance(indicator, N.Indicator):
                body, factor = indicator, other
                break
    if not (isinstance(body, N.Indicator) and body.op == "=="):
        return None
    for index, at in ((body.left, body.right), (body.right, body.left)):
        if isinstance(index, N.Index) and index.name == var and var not in _free(at) and not isinstance(at, N.Num):
            return at, factor
    return None


#: The index names of the formula being planned: a renamed index never takes one of them.
_NAMES: contextvars.ContextVar = contextvars.ContextVar("names", default=frozenset())


def _linear(node):
    """A reduction with the factors and (for a mean) the terms that do not depend on its index
    taken out: mean(j, S, a_ij / tau - b_i) = mean(j, S, a_ij) / tau - b_i. Fewer n x n passes;
    a mean over an empty set stays undefined."""
    body, var = node.body, node.var

    def inner(new_body):
        return _linear(N.Reduce(node.kind, var, node.set, new_body))

    if node.kind not in ("sum", "mean"):
        return node
    point = _one_point(body, var) if node.kind == "sum" else None
    if point is not None:  # n x n instead of n x n x n for sum(m, neighbors(i), indicator(m == j))
        at, rest = point
        member = Member(node.set, at)
        return member if rest is None else N.BinOp("*", member, substitute(rest, {var: at}, _NAMES.get()))
    if isinstance(body, N.Neg):
        return N.Neg(inner(body.operand))
    if isinstance(body, N.BinOp):
        left_free, right_free = var in _free(body.left), var in _free(body.right)
        if body.op == "*" and not left_free:
            return N.BinOp("*", body.left, inner(body.right))
        if body.op in ("*", "/") and not right_free:
            return N.BinOp(body.op, inner(body.left), body.right)
        if body.op in ("+", "-") and node.kind == "mean":
            if not right_free:
                return N.BinOp(body.op, inner(body.left), body.right)
            if not left_free and body.op == "+":
                return N.BinOp("+", body.left, inner(body.right))
    return node


class Plan:
    """What compile time knows about a formula: its stable tree, each node's key up to the
    names of its indices (for reuse), whether a node's value depends on the reduction
    context, and the row-separable split (``outer`` ops around an anchor reduction)."""

    def __init__(self, root, params: dict):
        names = frozenset(n.var if isinstance(n, N.Reduce) else n.name for n in N.walk(root)
                          if isinstance(n, (N.Reduce, N.Index)))
        token = _NAMES.set(names)
        try:
            self.root = _stable(root, params)
        finally:
            _NAMES.reset(token)
        self.keys: dict = {}  # id(node) -> (key, free indices in key order)
        self.context: dict = {}  # id(node) -> whether its value depends on the masked positions
        self._index(self.root)
        self.outer, self.anchor = _row_split(self.root)

    def __getstate__(self):
        # keys and context are by id(node): a copy (pickle, deepcopy) has other nodes, and rebuilds them
        return {name: value for name, value in self.__dict__.items() if name not in ("keys", "context")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.keys, self.context = {}, {}
        self._index(self.root)

    def _index(self, root) -> None:
        stack, order = [root], []
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(_children(node))
        for node in reversed(order):  # children first
            operand = _sanitized_operand(node)
            self.keys[id(node)] = _canonical(node)
            sanitized = operand is not None and bool(self.keys[id(operand)][1] if operand is not node else
                                                     self.keys[id(node)][1])
            self.context[id(node)] = sanitized or any(self.context[id(c)] for c in _children(node))


def _canonical(node):
    """(key, free) with bound indices renamed by binding order and free ones by first use, so
    cos(z[i], z[j]) and cos(z[i], z[k]) share a key (free = ('i', 'j') and ('i', 'k'))."""
    free: list = []

    def go(item, bound: dict):
        if isinstance(item, N.Index):
            if item.name in bound:
                return ("b", bound[item.name])
            if item.name not in free:
                free.append(item.name)
            return ("f", free.index(item.name))
        if isinstance(item, N.Reduce):
            inner = {**bound, item.var: len(bound)}
            return ("reduce", item.kind, go(item.set, bound), go(item.body, inner))
        head = (type(item).__name__,) + tuple(
            value for name, value in vars(item).items() if not isinstance(value, (tuple, list)) and not hasattr(
                value, "__dataclass_fields__"))
        return head + tuple(go(child, bound) for child in _children(item))

    key = go(node, {})
    return key, tuple(free)


def _row_split(root):
    """(outer ops, the anchor Reduce) for root = [c *] [-] sum|mean(i, anchors|all|anchors_with(S), body)
    with the factors c free of indices; (None, None) when the formula is not of that form."""
    outer = []
    node = root
    while True:
        if isinstance(node, N.Neg):
            outer.append(("neg", None))
            node = node.operand
        elif isinstance(node, N.BinOp) and node.op in ("*", "/") and not _indices(node.right) and \
                isinstance(node.left, (N.Reduce, N.Neg, N.BinOp)):
            outer.append((node.op, node.right))
            node = node.left
        elif isinstance(node, N.BinOp) and node.op == "*" and not _indices(node.left):
            outer.append(("*", node.left))
            node = node.right
        else:
            break
    if isinstance(node, N.Reduce) and node.kind in ("sum", "mean") and node.set.arg is None and node.set.name in (
            "anchors", "all", "anchors_with"):
        return outer, node
    return None, None


def _indices(node) -> bool:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (N.Index, N.Reduce)):
            return True
        stack.extend(_children(item))
    return False


# ---------------------------------------------------------------------------------------
# run time: values over named axes
# ---------------------------------------------------------------------------------------
@dataclass
class V:
    """A value over index axes: ``t`` has one dim per name in ``axes`` (then a feature dim
    when ``vector``); ``bad`` (a bool V or None) marks where it is undefined, ``why`` says why."""

    t: torch.Tensor
    axes: tuple = ()
    vector: bool = False
    bad: Optional["V"] = None
    why: str = ""
    #: a membership mask that is exactly "every entry but (r, r + diagonal)" (others(i))
    diagonal: Optional[int] = None


@dataclass(frozen=True)
class Axis:
    domain: str
    start: int
    size: int


_LETTERS = "abcdefghijklmnopqrstuvwxy"  # einsum names of axes ('z' is the feature dim)
_COMPARE = {"==": torch.eq, "!=": torch.ne, "<": torch.lt, "<=": torch.le, ">": torch.gt, ">=": torch.ge}


class Batch:
    """The data of one call (the compute dtype, on z's device) and its domain sizes."""

    def __init__(self, z, data: dict):
        self.z, self.data, self.n = z, data, z.shape[0]
        self.sizes = {"item": self.n, "output": z.shape[1]}
        if data.get("bank") is not None:
            self.sizes["bank"] = data["bank"].shape[0]
        if data.get("w") is not None:
            self.sizes["class"] = data["w"].shape[0]
        elif data.get("labels") is not None:
            self.sizes["class"] = int(data["labels"].max()) + 1
        if data.get("phi") is not None:
            self.sizes["cluster"] = data["phi"].shape[1]
        self._counts: dict = {}

    def list_counts(self, name: str):
        """(n, n) multiplicities of the given lists (neighbors or candidates): row a, column k."""
        if name not in self._counts:
            lists = self.data[name]
            counts = torch.zeros((self.n, self.n), dtype=self.z.dtype, device=self.z.device)
            counts.scatter_add_(1, lists, torch.ones(lists.shape, dtype=self.z.dtype, device=self.z.device))
            self._counts[name] = counts
        return self._counts[name]


class Evaluator:
    """Evaluates plan nodes over the index variables bound so far (``order``, ``scope``)."""

    def __init__(self, plan: Plan, batch: Batch, params: dict, memo: Optional[dict] = None):
        self.plan, self.batch, self.params = plan, batch, params
        self.memo = {} if memo is None else memo
        self.order: list = []  # bound index names, outermost first
        self.scope: dict = {}  # name -> Axis
        self.domain: list = []  # membership masks of the enclosing reductions (bool V or None)
        self.keep: list = []  # what memo keys refer to by id stays alive for the call
        self.projections: dict = {}

    # -- axes ---------------------------------------------------------------------------------
    def aligned(self, value: V, axes: tuple) -> torch.Tensor:
        """value.t with one dim per name of ``axes`` (size 1 where it does not depend on it)."""
        t = value.t
        present = [a for a in axes if a in value.axes]
        permutation = [value.axes.index(a) for a in present] + ([len(value.axes)] if value.vector else [])
        if permutation != list(range(len(permutation))):
            t = t.permute(permutation)
        shape = iter(t.shape)
        full = [next(shape) if a in value.axes else 1 for a in axes]
        return t.reshape(full + list(shape))

    def union(self, *values) -> tuple:
        names = {a for v in values if v is not None for a in v.axes}
        return tuple(a for a in self.order if a in names)

    def combine(self, fn, *values, vector=False) -> V:
        axes = self.union(*values)
        tensors = [self.aligned(v, axes) for v in values]
        if vector:  # scalars meet vectors along the feature dim
            tensors = [t if v.vector else t[..., None] for t, v in zip(tensors, values)]
        return V(fn(*tensors), axes, vector, *self.merged_bad(values))

    def merged_bad(self, values):
        bads = [v for v in values if v is not None and v.bad is not None]
        if not bads:
            return None, ""
        axes = self.union(*[b.bad for b in bads])
        mask = self.aligned(bads[0].bad, axes)
        for other in bads[1:]:
            mask = mask | self.aligned(other.bad, axes)
        return V(mask, axes), bads[0].why

    def positions(self, name: str) -> V:
        """The values an index variable takes (its axis), as an integer V."""
        axis = self.scope[name]
        return V(torch.arange(axis.start, axis.start + axis.size, device=self.batch.z.device), (name,))

    def safe(self, value: V, fill: float) -> V:
        """``value`` where the enclosing reductions' sets hold and ``fill`` elsewhere, so that a
        singular function never sees a masked position (see the module docstring)."""
        mask = None if not value.axes else self.domain_on(value.axes)
        if mask is None:  # an index-free value is the same at every position
            return value
        condition = self.aligned(mask, value.axes)
        if value.vector:
            condition = condition[..., None]
        fill = torch.as_tensor(fill, dtype=value.t.dtype, device=value.t.device)
        return replace(value, t=torch.where(condition, value.t, fill))

    def domain_on(self, axes: tuple) -> Optional[V]:
        """The conjunction of the enclosing sets' memberships, projected on ``axes``."""
        parts = [part for part in self.domain if part is not None]
        if not parts:
            return None
        key = (tuple(id(part) for part in parts), axes)
        if key not in self.projections:
            mask = None
            for part in parts:
                extra = tuple(part.axes.index(a) for a in part.axes if a not in axes)
                piece = V(part.t.any(dim=extra) if extra else part.t, tuple(a for a in part.axes if a in axes))
                if mask is None:
                    mask = piece
                else:
                    both = self.union(mask, piece)
                    mask = V(self.aligned(mask, both) & self.aligned(piece, both), both)
            self.projections[key] = mask
        return self.projections[key]

    # -- evaluation ---------------------------------------------------------------------------
    def eval(self, node) -> V:
        key, free = self.plan.keys[id(node)]
        context = None
        if self.plan.context[id(node)] and free:  # a closed value does not depend on masked positions
            context = tuple(id(part) for part in self.domain)
        memo_key = (key, tuple(self.scope[name] for name in free), context)
        found = self.memo.get(memo_key)
        if found is not None:
            return _renamed(found, free)
        value = self.compute(node)
        self.memo[memo_key] = _renamed(value, {name: k for k, name in enumerate(free)})
        return value

    def scalar(self, number) -> V:
        return V(torch.as_tensor(number, dtype=self.batch.z.dtype, device=self.batch.z.device))

    def compute(self, node) -> V:
        if isinstance(node, N.Num):
            return self.scalar(node.value)
        if isinstance(node, N.Param):
            return self.scalar(self.params[node.name])
        if isinstance(node, N.Builtin):
            return self.scalar(self.batch.n)
        if isinstance(node, (N.Index, N.IndexAt, N.IndexCall)):
            return self.index(node)
        if isinstance(node, N.VectorAt):
            return self.gather(G.ARRAYS[node.array].field, node.index, vector=True)
        if isinstance(node, N.ScalarAt):
            return self.gather(G.ARRAYS[node.array].field, node.index)
        if isinstance(node, N.MatrixAt):
            return self.matrix(node)
        if isinstance(node, N.BinOp):
            return self.binop(node)
        if isinstance(node, N.Neg):
            return _mapped(torch.neg, self.eval(node.operand))
        if isinstance(node, N.Call):
            return self.call(node)
        if isinstance(node, N.Count):
            var = f"#{len(self.order)}"  # never a formula's name
            membership, weight = self.bind(node.set, var)
            try:
                return self.count(membership, weight, var)
            finally:
                self.unbind(var)
        if isinstance(node, N.Indicator):
            return _mapped(lambda t: t.to(self.batch.z.dtype), self.holds(node))
        if isinstance(node, LogPhi):
            return self.matrix(node.entry, "log_phi")
        if isinstance(node, N.Reduce):
            return self.reduction(node)
        if isinstance(node, Member):
            var = f"#{len(self.order)}"
            membership, weight = self.bind(node.set, var)
            try:
                if membership is None:  # the whole domain: every index is in it once
                    return self.scalar(1.0)
                table = weight if weight is not None else _mapped(lambda t: t.to(self.batch.z.dtype), membership)
                return self.entry_at(table, var, self.eval(node.at))
            finally:
                self.unbind(var)
        if isinstance(node, LogAddExp):
            values = [self.eval(arg) for arg in node.args]
            return self.combine(lambda *ts: torch.logsumexp(torch.stack(torch.broadcast_tensors(*ts)), 0), *values)
        if isinstance(node, Log1p):
            return _mapped(torch.log1p, self.safe(self.eval(node.operand), 0.0))
        raise IconError(f"the formula compiler cannot evaluate {type(node).__name__}")

    def holds(self, node: N.Indicator) -> V:
        """Where the indicator's comparison holds (a bool V)."""
        return self.combine(_COMPARE[node.op], self.eval(node.left), self.eval(node.right))

    def index(self, node) -> V:
        if isinstance(node, N.Index):
            return self.positions(node.name)
        inner = self.eval(node.index)
        if isinstance(node, N.IndexAt):
            return replace(inner, t=self.batch.data[G.ARRAYS[node.array].field][inner.t])
        return replace(inner, t=self.batch.data["candidates"][inner.t, 0 if node.func == "pos" else 1])

    def gather(self, field: str, index, vector=False) -> V:
        array = self.batch.data[field]
        if isinstance(index, N.Index):
            axis = self.scope[index.name]
            part = array if axis.start == 0 and axis.size == array.shape[0] else array[axis.start: axis.start + axis.size]
            return V(part, (index.name,), vector)
        where = self.eval(index)
        return V(array[where.t], where.axes, vector)

    def matrix(self, node, field: Optional[str] = None) -> V:
        array = self.batch.data[field or G.ARRAYS[node.array].field]
        if isinstance(node.row, N.Index) and isinstance(node.col, N.Index) and node.row.name != node.col.name:
            rows, cols = self.scope[node.row.name], self.scope[node.col.name]
            return V(array[rows.start: rows.start + rows.size, cols.start: cols.start + cols.size],
                     (node.row.name, node.col.name))
        row, col = self.eval(node.row), self.eval(node.col)
        axes = self.union(row, col)
        return V(array[self.aligned(row, axes), self.aligned(col, axes)], axes)

    def binop(self, node) -> V:
        left, right = self.eval(node.left), self.eval(node.right)
        vector = left.vector or right.vector
        if node.op == "+":
            return self.combine(torch.add, left, right, vector=vector)
        if node.op == "-":
            return self.combine(torch.sub, left, right, vector=vector)
        if node.op == "*":
            return self.combine(torch.mul, left, right, vector=vector)
        if node.op == "/":
            return self.combine(torch.div, left, self.safe(right, 1.0), vector=vector)
        return self.combine(torch.pow, self.safe(left, 1.0), right)

    def call(self, node) -> V:
        func = node.func
        if func in ("dot", "cos", "sqdist", "dist"):
            for position, arg in enumerate(node.args):
                if isinstance(arg, N.VectorAt) and G.ARRAYS[arg.array].domains[0] == "class" and not isinstance(
                        arg.index, N.Index):
                    return self.at_class(func, node.args[1 - position], arg, position)
            return self.pairwise(func, self.eval(node.args[0]), self.eval(node.args[1]))
        args = [self.eval(arg) for arg in node.args]
        if func == "norm":
            return _mapped(torch.sqrt, self.safe(_squared(args[0]), 1.0))
        if func in ("log", "sqrt"):
            return _mapped(getattr(torch, func), self.safe(args[0], 1.0))
        if func == "exp":
            return _mapped(torch.exp, self.safe(args[0], 0.0))
        if func == "softplus":
            return _mapped(torch.nn.functional.softplus, args[0])
        if func == "abs":
            return _mapped(torch.abs, args[0])
        return self.combine(torch.maximum if func == "max" else torch.minimum, *args)

    def pairwise(self, func, u: V, v: V) -> V:
        """dot, cos, sqdist, dist of two vector values, as matrix products over their axes."""
        if func == "cos":
            u, v = (_mapped(lambda t: torch.nn.functional.normalize(t, dim=-1), w) for w in (u, v))
        if func in ("sqdist", "dist") and set(u.axes) == set(v.axes):
            value = _squared(self.combine(torch.sub, u, v, vector=True))
        elif func in ("sqdist", "dist"):
            # both shifted by one vector, as torch_backend's distances are: a common offset of the
            # data no longer cancels in the expansion (float32 rows near 1000 lost their distances)
            shift = torch_backend.distance_shift(v.t.reshape(-1, v.t.shape[-1]))
            u, v = (_mapped(lambda t: t - shift, w) for w in (u, v))
            value = self.combine(lambda a, b, c: (a + b - 2.0 * c).clamp_min(0.0), _squared(u), _squared(v),
                                 self.dot(u, v))
        else:
            value = self.dot(u, v)
        return _mapped(torch.sqrt, self.safe(value, 1.0)) if func == "dist" else value

    def at_class(self, func, other, at, position) -> V:
        """f(u, w[y[i]]) as the (i, y[i]) entries of the matrix f(u, w[c]) over all classes c, so
        that it is bit for bit the value the formula compares it with (error rate: d(z_i, w_c) <
        d(z_i, w_{y_i}) must be false at c = y_i)."""
        var = f"#{len(self.order)}"
        self.scope[var] = Axis("class", 0, self.batch.sizes["class"])
        self.order.append(var)
        try:
            vectors = [self.eval(other), V(self.batch.data[G.ARRAYS[at.array].field], (var,), True)]
            matrix = self.pairwise(func, *(vectors if position == 1 else vectors[::-1]))
            return self.entry_at(matrix, var, self.eval(at.index))
        finally:
            self.unbind(var)

    def entry_at(self, table: V, var: str, where: V) -> V:
        """``table`` (a V over ``var`` and other axes) at ``var`` = the index values ``where``."""
        axes = tuple(a for a in self.union(table, where) if a != var)
        sizes = [self.scope[a].size for a in axes]
        full = self.aligned(table, axes + (var,))
        full = full.expand(*sizes, full.shape[-1])
        index = self.aligned(where, axes).expand(*sizes)
        bad, why = self.merged_bad((table, where))
        if bad is not None and var in bad.axes:
            bad = _reduced_any(bad, var)
        return V(torch.gather(full, -1, index[..., None]).squeeze(-1), axes, False, bad, why)

    def dot(self, u: V, v: V) -> V:
        axes = self.union(u, v)
        letter = {name: _LETTERS[k] for k, name in enumerate(axes)}
        spec = (f"{''.join(letter[a] for a in u.axes)}z,{''.join(letter[a] for a in v.axes)}z->"
                f"{''.join(letter[a] for a in axes)}")
        return V(torch.einsum(spec, u.t, v.t), axes, False, *self.merged_bad((u, v)))

    # -- sets and reductions ------------------------------------------------------------------
    def bind(self, ref: N.SetRef, var: str, axis: Optional[Axis] = None):
        """Bind ``var`` over the set's domain (or ``axis``); -> (membership: bool V or None for
        the whole domain, multiplicity: V or None). ``unbind`` undoes it."""
        spec = G.SETS[ref.name]
        self.scope[var] = axis or Axis(spec.domain, 0, self.batch.sizes[spec.domain])
        self.order.append(var)
        if ref.of is None and ref.arg is None:
            return None, None
        plain = ref.arg is None or isinstance(ref.arg, N.Index)
        key = ("set", ref.name, ref.of, self.scope[ref.arg.name] if isinstance(ref.arg, N.Index) else None,
               self.scope[var])
        if plain and key in self.memo:
            found = self.memo[key]
            names = (ref.arg.name, var) if isinstance(ref.arg, N.Index) else (var,)
            return tuple(None if v is None else _renamed(v, names) for v in found)
        result = self.members(ref, var)
        if plain:
            position = {ref.arg.name: 0, var: 1} if isinstance(ref.arg, N.Index) else {var: 0}
            self.memo[key] = tuple(None if v is None else _renamed(v, position) for v in result)
        return result

    def members(self, ref: N.SetRef, var: str):
        if ref.of is not None:  # anchors_with(S): the anchors whose S is not empty
            inner = f"#{len(self.order)}"
            membership, weight = self.bind(N.SetRef(ref.of, N.Index(var)), inner)
            self.unbind(inner)
            present = membership if weight is None else _mapped(lambda t: t != 0, weight)
            dim = present.axes.index(inner)
            return V(present.t.any(dim=dim), present.axes[:dim] + present.axes[dim + 1:]), None
        anchor = self.positions(ref.arg.name) if isinstance(ref.arg, N.Index) else self.eval(ref.arg)
        member = self.positions(var)
        if ref.name in ("candidates", "neighbors", "adjacent"):
            axes = self.union(anchor, member)
            rows, cols = self.aligned(anchor, axes), self.aligned(member, axes)
            if ref.name == "candidates":  # the given list, repeats counted
                counts = self.batch.list_counts(ref.name)[rows, cols]
                return V(counts > 0, axes), V(counts, axes)
            # the distinct listed neighbours, or the graph's edges; never the anchor itself
            table = self.batch.list_counts(ref.name) if ref.name == "neighbors" else self.batch.data["W"]
            return V((table[rows, cols] > 0) & (rows != cols), axes), None

        def same(field, member_field=None):
            values, member_values = self.batch.data[field], self.batch.data[member_field or field]
            return self.combine(torch.eq, replace(anchor, t=values[anchor.t]), replace(member, t=member_values[member.t]))

        def teacher_support():
            axes = self.union(anchor, member)
            scores = self.batch.data["teacher"][self.aligned(anchor, axes), self.aligned(member, axes)]
            return V(scores != 0, axes)  # as the kernel's support: a NaN code is not dropped

        def other():
            value = self.combine(torch.ne, anchor, member)
            if isinstance(ref.arg, N.Index) and value.axes == (ref.arg.name, var):  # the entries (r, r + offset)
                value.diagonal = self.scope[ref.arg.name].start - self.scope[var].start
            return value

        def both(a, b):
            return self.combine(torch.logical_and, a, b)

        memberships = {
            "others": other,
            "positives": lambda: both(same("ids"), other()),
            "same_class": lambda: both(same("labels"), other()),
            "other_modality": lambda: _mapped(torch.logical_not, same("modality")),
            "cross_positives": lambda: both(same("ids"), _mapped(torch.logical_not, same("modality"))),
            "teacher_support": teacher_support,
            "bank_positives": lambda: same("ids", "bank_ids"),
        }
        return memberships[ref.name](), None

    def unbind(self, var: str) -> None:
        self.order.remove(var)
        del self.scope[var]

    def reduction(self, node) -> V:
        membership, weight = self.bind(node.set, node.var)
        try:
            body = node.body
            while isinstance(body, Where):  # the condition narrows the set (evaluated on its members)
                self.domain.append(membership)
                try:
                    condition = self.holds(body.condition)
                finally:
                    self.domain.pop()
                membership = condition if membership is None else self.combine(torch.logical_and, membership,
                                                                               condition)
                self.keep.append(membership)
                body = body.body
            self.domain.append(membership)
            self.keep.append(membership)
            try:
                body = self.eval(body)
            finally:
                self.domain.pop()
            return self.reduce(node, body, membership, weight)
        finally:
            self.unbind(node.var)

    def count(self, membership: Optional[V], weight: Optional[V], var: str) -> V:
        """How many members (with multiplicity) the set has, over the other axes."""
        if weight is not None:
            return _summed(weight, var)
        if membership is None:
            return self.scalar(self.scope[var].size)
        return _summed(_mapped(lambda t: t.to(self.batch.z.dtype), membership), var)

    def reduce(self, node, body: V, membership: Optional[V], weight: Optional[V]) -> V:
        var, kind = node.var, node.kind
        names = set(self.union(body, membership, weight)) | {var}
        axes = tuple(a for a in self.order if a in names)
        sizes = [self.scope[a].size for a in axes]
        t = self.aligned(body, axes)
        t = t.expand(*sizes, *t.shape[len(axes):])
        mask = None if membership is None else self.aligned(membership, axes)
        factor = None if weight is None else self.aligned(weight, axes)
        if body.vector:
            mask, factor = (None if m is None else m[..., None] for m in (mask, factor))
        dim = axes.index(var)
        count = self.count(membership, weight, var) if kind in ("mean", "max", "min") else None
        empty = None
        if kind in ("sum", "mean"):
            terms = t if mask is None else torch.where(mask, t, torch.zeros((), dtype=t.dtype, device=t.device))
            out = (terms if factor is None else terms * factor).sum(dim)
            if kind == "mean":
                total = self.aligned(count, axes[:dim] + axes[dim + 1:])
                total = total[..., None] if body.vector else total
                out = out / total.clamp_min(1)
                empty = count
        elif kind == "logsumexp":
            if factor is not None:
                t = t + torch.log(torch.where(mask, factor, torch.ones_like(factor)))
            if mask is None:
                out = torch.logsumexp(t, dim)
            else:
                diagonal = membership.diagonal if axes == membership.axes and t.dim() == 2 else None
                out = TorchBackend.masked_logsumexp(t, mask.expand(t.shape), dim, diagonal).squeeze(dim)
                # the backend gives an empty set 0; the formula's logsumexp over it is -inf
                if diagonal is None:
                    out = torch.where(mask.any(dim), out, torch.full_like(out, -math.inf))
                elif self.scope[var].size < 2:
                    out = torch.full_like(out, -math.inf)
        else:
            fill = -math.inf if kind == "max" else math.inf
            masked = t if mask is None else t.masked_fill(~mask, fill)
            out = masked.amax(dim) if kind == "max" else masked.amin(dim)
            out = torch.where(torch.isfinite(out), out, torch.zeros_like(out))
            empty = count
        result = V(out, axes[:dim] + axes[dim + 1:], body.vector)
        if body.bad is not None:
            bad = body.bad if membership is None else self.combine(torch.logical_and, body.bad, membership)
            result.bad, result.why = (_reduced_any(bad, var) if var in bad.axes else bad), body.why
        if empty is not None:
            hole = _mapped(lambda c: c == 0, empty)
            if bool(hole.t.any()):
                result.bad = hole if result.bad is None else self.combine(torch.logical_or, result.bad, hole)
                result.why = result.why or f"{kind} over an empty set: {to_source(node.set)} has no elements"
        return result


def _renamed(value: V, names) -> V:
    """value with its axes renamed through ``names`` (a dict, or a tuple indexed by position)."""
    rename = names.__getitem__
    bad = None if value.bad is None else replace(value.bad, axes=tuple(rename(a) for a in value.bad.axes))
    return replace(value, axes=tuple(rename(a) for a in value.axes), bad=bad)


def _mapped(fn, value: V) -> V:
    return replace(value, t=fn(value.t))


def _squared(value: V) -> V:
    return replace(value, t=(value.t * value.t).sum(-1), vector=False)


def _summed(value: V, var: str) -> V:
    if var not in value.axes:
        return value
    dim = value.axes.index(var)
    return replace(value, t=value.t.sum(dim), axes=value.axes[:dim] + value.axes[dim + 1:])


def _reduced_any(value: V, var: str) -> V:
    dim = value.axes.index(var)
    return replace(value, t=value.t.any(dim), axes=value.axes[:dim] + value.axes[dim + 1:])



# ---------------------------------------------------------------------------------------
# the module
# ---------------------------------------------------------------------------------------
def _check_prototype_labels(entry_id, labels, classes: int) -> None:
    """The formula indexes the prototypes by each label (w[y[i]]): every label must name one, a
    negative one included (the objective's anchors without a class have no formula counterpart).
    Eager only: under torch.compile the check would be a data-dependent graph break."""
    found = TorchBackend.value_range(labels)
    if found is None:
        return
    low, high = found
    if low < 0 or high >= classes:
        raise IconError(f"{entry_id}: argument 'labels' must name the classes 0..{classes - 1} (one per prototype), "
                        f"found {low if low < 0 else high} (the formula indexes the prototypes by each label)",
                        entry=entry_id, argument="labels")


class FormulaLoss(torch.nn.Module):
    """``loss(z, *, x=None, labels=None, ids=None, modality=None, neighbors=None, graph=None,
    teacher=None, center=None, bank=None, bank_ids=None, bank_labels=None, keys=None)``: the
    entry's ``loss.formula``, vectorized. ``requires`` names the arguments the formula
    reads; an entry with class prototypes owns them as ``prototypes`` (num_classes, dim)."""

    def __init__(self, entry, params: dict, num_classes=None, dim=None, chunk_size=None, second_order=False):
        super().__init__()
        self.entry, self.params, self.source = entry, params, "formula"
        self.second_order = second_order  # as CompiledLoss.second_order
        formula = parse_entry_formula(entry, entry.loss.formula)
        self.plan = Plan(formula.root, entry.parameters)
        self.fields = formula.requirements
        needs = {ARGUMENT_OF[field] for field in self.fields if field in ARGUMENT_OF}
        if "num_classes" in self.fields:
            needs.add("labels")
        self.requires = frozenset(needs)
        self._required = tuple(sorted(self.requires))
        self._candidate_position = largest_candidate_position(entry)
        self._min_rows = min_rows(entry)
        self.prototypes = make_prototypes(entry, num_classes, dim) if "w" in self.fields else None
        nodes = [*entry.p.nodes(), *entry.q.nodes()]
        self._cluster = next((node for node in nodes if node.kind == "cluster"), None)
        self._calibrated = next((node for node in nodes if node.kind == "normalize"
                                 and getattr(node.kernel, "perplexity", None) is not None), None)
        self._beta_cache = SupervisoryCache()
        chunk_size = chunked.chunk_size_option(entry, chunk_size)
        if chunk_size and self.plan.anchor is None:
            raise IconError(f"{entry.id}: cannot evaluate this formula in anchor-row blocks (chunk_size): only "
                            f"[c *] sum|mean(i, anchors|anchors_with(S), ...) is row-separable", entry=entry.id,
                            argument="chunk_size")
        self.chunk_size = chunk_size

    def extra_repr(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"entry={self.entry.id!r}, source='formula', {shown}"

    # the arguments are checked and converted as for the objective (same call signature); a
    # formula runs on one process's batch
    _inputs = CompiledLoss._inputs
    _batch = CompiledLoss._batch
    distributed = False
    # the beta cache, like the objective's p cache, is this process's state: not pickled
    __getstate__ = CompiledLoss.__getstate__

    def forward(self, z=None, *positional, x=None, labels=None, ids=None, modality=None, neighbors=None, graph=None,
                teacher=None, center=None, bank=None, bank_ids=None, bank_labels=None, keys=None, **unknown):
        if positional or unknown:
            raise arguments.call_error(self.entry.id, self._required, positional, unknown)
        inputs = self._inputs(z, x, labels, ids, modality, neighbors, graph, teacher, center, bank, bank_ids,
                              bank_labels, keys)
        data = {"x": inputs.x, "g": inputs.x, "labels": inputs.labels, "ids": inputs.ids, "modality": inputs.modality,
                "candidates": inputs.neighbors, "neighbors": inputs.neighbors, "W": inputs.graph, "z": inputs.z,
                "teacher": inputs.teacher, "center": inputs.center, "keys": inputs.keys, "bank": inputs.bank,
                "bank_ids": inputs.bank_ids, "bank_labels": inputs.bank_labels}
        if inputs.prototypes is not None:  # in the call's dtype (CompiledLoss._batch)
            data["w"] = inputs.prototypes
            if inputs.labels is not None:
                _check_prototype_labels(self.entry.id, inputs.labels, inputs.prototypes.shape[0])
        if "phi" in self.fields:
            temperature = inputs.param(self._cluster.temperature)
            data["phi"] = torch.softmax(inputs.z / temperature, dim=1)
            data["log_phi"] = torch.log_softmax(inputs.z / temperature, dim=1)  # LogPhi
        if "beta" in self.fields:
            data["beta"] = self._beta(inputs, x)
        if self.second_order and not torch.compiler.is_compiling():  # (traced: plain ops already)
            with torch_backend.plain_ops_only():
                return self._evaluate(Batch(inputs.z, data)).to(z.dtype)
        return self._evaluate(Batch(inputs.z, data)).to(z.dtype)

    def _beta(self, inputs, x):
        """beta_i of the perplexity-calibrated kernel (the objective's own calibration), cached
        while x holds the same values (objective.SupervisoryCache)."""
        from icon_registry.pairs import pairs_on

        key = SupervisoryCache.make_key({"x": x} if isinstance(x, torch.Tensor) else {}, (
            inputs.n, inputs.z.dtype, inputs.z.device, tuple(sorted(self.params.items()))))
        cache = self._beta_cache.bind(key)
        beta = cache.get() if isinstance(x, torch.Tensor) else None
        if beta is None:
            with torch.no_grad():
                beta = self._calibrated.kernel.log_precision(pairs_on(inputs, self._calibrated.support)).exp()[:, 0]
            cache.put(beta)
        return beta

    def _block(self, batch: Batch) -> int:
        if self.plan.anchor is None or self.chunk_size == 0:
            return 0
        n = batch.n
        if self.chunk_size is None:
            need = n * n * batch.z.element_size() * chunked.DENSE_BUFFERS
            return chunked.automatic_block(n, need, batch.z.device)
        return 0 if self.chunk_size >= n else self.chunk_size

    def _evaluate(self, batch: Batch) -> torch.Tensor:
        size = self._block(batch)
        evaluator = Evaluator(self.plan, batch, self.params)
        if not size:
            return self._checked(evaluator.eval(self.plan.root)).t
        anchor = self.plan.anchor
        # what does not depend on the anchor (a normalizer over all pairs, a batch mean) is
        # computed once, with its gradient, and shared by every block
        for node in _closed_parts(anchor.body):
            evaluator.eval(node)
        shared = dict(evaluator.memo)
        membership, _ = evaluator.bind(anchor.set, anchor.var)
        count = evaluator.count(membership, None, anchor.var).t
        evaluator.unbind(anchor.var)
        total = 0.0
        for start in range(0, batch.n, size):
            stop = min(start + size, batch.n)
            part, bad = checkpoint(self._rows, batch, shared, start, stop, use_reentrant=False)
            if bool(bad):
                self._checked(self._rows_value(batch, shared, start, stop))
            total = total + part
        if anchor.kind == "mean":
            total = total / count.clamp_min(1)
        for op, factor in reversed(self.plan.outer):
            if op == "neg":
                total = -total
            else:
                value = evaluator.eval(factor).t
                total = total * value if op == "*" else total / value
        return total

    def _rows(self, batch, shared, start, stop):
        value = self._rows_value(batch, shared, start, stop)
        bad = torch.zeros((), dtype=torch.bool) if value.bad is None else value.bad.t.any()
        return value.t, bad

    def _rows_value(self, batch, shared, start, stop) -> V:
        """sum over the anchors start:stop of the anchor reduction's body (masked by its set)."""
        anchor = self.plan.anchor
        evaluator = Evaluator(self.plan, batch, self.params, memo=dict(shared))
        membership, _ = evaluator.bind(anchor.set, anchor.var, Axis("item", start, stop - start))
        try:
            evaluator.domain.append(membership)
            evaluator.keep.append(membership)
            body = evaluator.eval(anchor.body)
            evaluator.domain.pop()
            return evaluator.reduce(replace(anchor, kind="sum"), body, membership, None)
        finally:
            evaluator.unbind(anchor.var)

    def _checked(self, value: V) -> V:
        if value.bad is not None and bool(value.bad.t.any()):
            raise IconError(f"{self.entry.id}: loss.formula is undefined on this batch: {value.why} for some "
                            "index (write the reduction over anchors_with(S), the anchors with a non-empty S)",
                            entry=self.entry.id)
        return value


def _closed_parts(node) -> list:
    """The largest sub-trees of ``node`` with no free index that contain a reduction."""
    found, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, N.Reduce) and not _free(item):
            found.append(item)
            continue
        stack.extend(_children(item))
    return found


def _free(node) -> set:
    if isinstance(node, N.Index):
        return {node.name}
    names = set().union(*(_free(child) for child in _children(node))) if _children(node) else set()
    if isinstance(node, N.Reduce):
        names = (_free(node.body) - {node.var}) | _free(node.set)
    return names
