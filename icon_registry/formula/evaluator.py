"""One evaluator over our AST, parametrized by a math namespace (numeric float64 or SymPy).

``FormulaInstance`` is the concrete batch: n, the structural arrays (ids, labels, modality,
candidates, neighbors) as Python ints, and the value arrays (z, x, g, w, phi, W) whose entries
are floats or SymPy expressions. Index sets are plain lists of ints computed from the
structure. Reductions are memoized on the values of their free index variables, so e.g. the
InfoNCE denominator is computed once per anchor, not once per (anchor, positive).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import sympy

from icon_registry.formula import grammar as G
from icon_registry.formula import nodes as N
from icon_registry.formula.errors import FormulaError


@dataclass
class FormulaInstance:
    """A batch to evaluate a formula on.

    Structure (plain ints): ``ids``/``labels``/``modality`` (length n), ``candidates`` (n rows
    of [pos, neg]), ``neighbors`` (n rows of neighbour indices), ``num_classes`` (default:
    ``len(w)``, else ``max(labels) + 1``).
    Values (floats or SymPy expressions): ``z``, ``x``, ``g`` (n vectors), ``w`` (C vectors),
    ``beta`` (n scalars), ``phi`` (n x K soft assignments), ``W`` (n x n graph weights),
    ``teacher`` (n x K scores over z's K outputs), ``center`` (K scalars), ``keys`` (n vectors),
    ``bank`` (M vectors) with ``bank_ids`` / ``bank_labels`` (M ints),
    ``params`` (name -> scalar). Index sets are cached: do not mutate the structure afterwards.
    """

    n: int
    z: Optional[Sequence[Sequence[Any]]] = None
    x: Optional[Sequence[Sequence[Any]]] = None
    g: Optional[Sequence[Sequence[Any]]] = None
    w: Optional[Sequence[Sequence[Any]]] = None
    labels: Optional[Sequence[int]] = None
    ids: Optional[Sequence[int]] = None
    modality: Optional[Sequence[int]] = None
    candidates: Optional[Sequence[Sequence[int]]] = None
    neighbors: Optional[Sequence[Sequence[int]]] = None
    beta: Optional[Sequence[Any]] = None
    phi: Optional[Sequence[Sequence[Any]]] = None
    W: Optional[Sequence[Sequence[Any]]] = None
    teacher: Optional[Sequence[Sequence[Any]]] = None
    center: Optional[Sequence[Any]] = None
    keys: Optional[Sequence[Sequence[Any]]] = None
    bank: Optional[Sequence[Sequence[Any]]] = None
    bank_ids: Optional[Sequence[int]] = None
    bank_labels: Optional[Sequence[int]] = None
    params: Mapping[str, Any] = field(default_factory=dict)
    num_classes: Optional[int] = None
    _sets: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if isinstance(self.n, bool) or int(self.n) != self.n or self.n < 1:
            raise FormulaError(f"instance size n must be a positive integer, got {self.n!r}")
        self.n = int(self.n)
        for name in ("z", "x", "g", "beta", "labels", "ids", "modality", "candidates", "neighbors", "phi", "W",
                     "teacher", "keys"):
            value = getattr(self, name)
            if value is not None and len(value) != self.n:
                raise FormulaError(f"instance field '{name}' has {len(value)} rows, expected n = {self.n}")
        for name in ("bank_ids", "bank_labels"):
            value = getattr(self, name)
            if value is not None and (self.bank is None or len(value) != len(self.bank)):
                raise FormulaError(f"instance field '{name}' must have one entry per bank row")
        for name in ("labels", "ids", "modality", "bank_ids", "bank_labels"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, [_as_int(v, name) for v in value])
        for name in ("candidates", "neighbors"):
            value = getattr(self, name)
            if value is not None:
                rows = [[_as_int(v, name) for v in row] for row in value]
                for row in rows:
                    if any(not 0 <= v < self.n for v in row):
                        raise FormulaError(f"instance field '{name}' has an index outside 0..{self.n - 1}")
                if name == "candidates" and any(len(row) != 2 for row in rows):
                    raise FormulaError("instance field 'candidates' must have rows [pos, neg]")
                setattr(self, name, rows)

    # -- structure ------------------------------------------------------------------------
    def require(self, name: str):
        value = getattr(self, name)
        if value is None:
            raise FormulaError(f"the formula needs instance field '{name}', which is not set")
        return value

    @property
    def classes(self) -> int:
        if self.num_classes is not None:
            return int(self.num_classes)
        if self.w is not None:
            return len(self.w)
        labels = self.require("labels")
        return max(labels) + 1

    @property
    def clusters(self) -> int:
        phi = self.require("phi")
        return len(phi[0])

    def index_set(self, name: str, anchor: Optional[int] = None) -> list:
        """The elements of set ``name`` (for anchor ``anchor``), as a list of ints."""
        key = (name, anchor)
        cached = self._sets.get(key)
        if cached is None:
            cached = self._sets[key] = self._compute_set(name, anchor)
        return cached

    def anchors_with(self, name: str) -> list:
        """The anchors i whose set ``name`` (i) is non-empty."""
        key = ("anchors_with", name)
        cached = self._sets.get(key)
        if cached is None:
            cached = self._sets[key] = [i for i in range(self.n) if self.index_set(name, i)]
        return cached

    def _compute_set(self, name, i):
        n = range(self.n)
        if name in ("anchors", "all"):
            return list(n)
        if name == "classes":
            return list(range(self.classes))
        if name == "clusters":
            return list(range(self.clusters))
        if name == "outputs":
            return list(range(len(self.require("z")[0])))
        if name == "bank":
            return list(range(len(self.require("bank"))))
        if name == "teacher_support":
            return [c for c, value in enumerate(self.require("teacher")[i]) if value != 0]
        if name == "bank_positives":
            ids, bank_ids = self.require("ids"), self.require("bank_ids")
            return [m for m in range(len(bank_ids)) if bank_ids[m] == ids[i]]
        if name == "others":
            return [k for k in n if k != i]
        if name == "positives":
            ids = self.require("ids")
            return [k for k in n if k != i and ids[k] == ids[i]]
        if name == "same_class":
            labels = self.require("labels")
            return [k for k in n if k != i and labels[k] == labels[i]]
        if name == "other_modality":
            modality = self.require("modality")
            return [k for k in n if modality[k] != modality[i]]
        if name == "cross_positives":
            ids, modality = self.require("ids"), self.require("modality")
            return [k for k in n if ids[k] == ids[i] and modality[k] != modality[i]]
        if name == "candidates":
            return list(self.require("candidates")[i])
        if name == "neighbors":
            return sorted(set(self.require("neighbors")[i]) - {i})
        if name == "adjacent":
            weights = self.require("W")[i]
            return [k for k in n if k != i and weights[k] > 0]
        raise FormulaError(f"unknown index set '{name}'")


def _as_int(value, name):
    if isinstance(value, (bool, str)) or int(value) != value:
        raise FormulaError(f"instance field '{name}' must hold integers, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------
# math namespaces
# ---------------------------------------------------------------------------------------
class NumericMath:
    """numpy float64; softplus and logsumexp in their stable forms."""

    name = "numeric"

    @staticmethod
    def number(value):
        return np.float64(value)

    @staticmethod
    def value(value, where):
        if isinstance(value, str):
            raise FormulaError(f"{where} holds a string, not a number")
        try:
            return np.float64(value)
        except (TypeError, ValueError):
            raise FormulaError(f"{where} is not a number ({type(value).__name__}); use evaluate_sympy") from None

    @classmethod
    def vector(cls, values, where):
        try:
            out = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise FormulaError(f"{where} is not a vector of numbers; use evaluate_sympy") from None
        if out.ndim != 1:
            raise FormulaError(f"{where} is not a vector")
        return out

    log = staticmethod(np.log)
    exp = staticmethod(np.exp)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    max = staticmethod(np.maximum)
    min = staticmethod(np.minimum)

    @staticmethod
    def softplus(a):
        return np.logaddexp(np.float64(0.0), a)

    @staticmethod
    def pow(a, b):
        return np.power(a, b)

    @staticmethod
    def dot(u, v):
        return np.float64(np.dot(u, v))

    @staticmethod
    def total(values):
        if not values:
            return np.float64(0.0)
        return functools.reduce(operator.add, values)

    @staticmethod
    def logsumexp(values):
        if not values:
            return np.float64(-np.inf)
        array = np.asarray(values, dtype=np.float64)
        top = np.max(array)
        if not np.isfinite(top):
            return np.float64(top) if top > 0 or np.isnan(top) else np.float64(-np.inf)
        return np.float64(top + np.log(np.sum(np.exp(array - top))))

    @staticmethod
    def compare(op, a, b):
        return np.float64(1.0 if _COMPARE[op](a, b) else 0.0)

    @staticmethod
    def extreme(kind, values):
        array = np.asarray(values, dtype=np.float64)
        return np.float64(np.max(array) if kind == "max" else np.min(array))


class SympyMath:
    """SymPy: exact constants (decimal literals become Rationals), Max/Min, Piecewise indicators."""

    name = "sympy"

    @staticmethod
    def number(value):
        if isinstance(value, int):
            return sympy.Integer(value)
        return sympy.Rational(repr(value))  # the exact decimal that was written

    @staticmethod
    def value(value, where):
        if isinstance(value, sympy.Basic):
            return value
        if isinstance(value, (bool, np.bool_)) or isinstance(value, str):
            raise FormulaError(f"{where} is not a number or a SymPy expression")
        if isinstance(value, (int, np.integer)):
            return sympy.Integer(int(value))
        if isinstance(value, (float, np.floating)):
            return sympy.Float(float(value))
        raise FormulaError(f"{where} is not a number or a SymPy expression ({type(value).__name__})")

    @classmethod
    def vector(cls, values, where):
        if isinstance(values, str):
            raise FormulaError(f"{where} is not a vector")
        entries = [cls.value(v, where) for v in values]
        out = np.empty(len(entries), dtype=object)
        out[:] = entries
        return out

    log = staticmethod(sympy.log)
    exp = staticmethod(sympy.exp)
    sqrt = staticmethod(sympy.sqrt)
    abs = staticmethod(sympy.Abs)
    max = staticmethod(sympy.Max)
    min = staticmethod(sympy.Min)

    @staticmethod
    def softplus(a):
        return sympy.log(1 + sympy.exp(a))

    @staticmethod
    def pow(a, b):
        if isinstance(a, sympy.Basic) and isinstance(b, sympy.Basic) and a.is_Rational and b.is_Rational:
            if abs(b) > G.MAX_CONSTANT_EXPONENT:  # guard exact big-number towers
                raise FormulaError(f"exponent {b} is too large for exact evaluation")
        return a ** b

    @staticmethod
    def dot(u, v):
        return sympy.Add(*[a * b for a, b in zip(u, v)])

    @staticmethod
    def total(values):
        if not values:
            return sympy.Integer(0)
        if isinstance(values[0], np.ndarray):
            return functools.reduce(operator.add, values)
        return sympy.Add(*values)

    @staticmethod
    def logsumexp(values):
        return sympy.log(sympy.Add(*[sympy.exp(v) for v in values]))

    @staticmethod
    def extreme(kind, values):
        return (sympy.Max if kind == "max" else sympy.Min)(*values)

    @staticmethod
    def compare(op, a, b):
        relation = {"==": sympy.Eq, "!=": sympy.Ne, "<": sympy.Lt, "<=": sympy.Le, ">": sympy.Gt,
                    ">=": sympy.Ge}[op](a, b)
        if relation is sympy.true:
            return sympy.Integer(1)
        if relation is sympy.false:
            return sympy.Integer(0)
        return sympy.Piecewise((sympy.Integer(1), relation), (sympy.Integer(0), True))


_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}

MATH = {"numeric": NumericMath, "sympy": SympyMath}


# ---------------------------------------------------------------------------------------
# the evaluator
# ---------------------------------------------------------------------------------------
def evaluate(formula, instance: FormulaInstance, math_namespace="numeric", indices: Optional[Mapping[str, int]] = None):
    """Evaluate a parsed formula (``Formula`` or any sub-node of its AST) on ``instance``;
    ``indices`` binds the index variables a sub-node leaves free (e.g. ``{"i": 0, "k": 2}``)."""
    namespace = MATH[math_namespace] if isinstance(math_namespace, str) else math_namespace
    root = getattr(formula, "root", formula)
    evaluator = _Evaluator(instance, namespace)
    env = dict(indices or {})
    free = [name for name in evaluator.free_vars(root) if name not in env]
    if free:
        raise FormulaError(f"index '{free[0]}' is free here: bind it with indices={{'{free[0]}': ...}}")
    if namespace is NumericMath:
        with np.errstate(all="ignore"):
            return np.float64(evaluator.eval(root, env))
    return evaluator.eval(root, env)


def evaluate_numeric(formula, instance: FormulaInstance) -> np.float64:
    """float64 value (inf/nan are returned, not raised: e.g. an infinite KL)."""
    return evaluate(formula, instance, "numeric")


def evaluate_sympy(formula, instance: FormulaInstance):
    """A SymPy expression (unsimplified) in the instance's symbols."""
    return evaluate(formula, instance, "sympy")


class _Evaluator:
    def __init__(self, instance: FormulaInstance, namespace):
        if not isinstance(instance, FormulaInstance):
            raise FormulaError(f"expected a FormulaInstance, got {type(instance).__name__}")
        self.inst = instance
        self.m = namespace
        self.memo: dict = {}
        self.free: dict = {}
        self.arrays: dict = {}
        self.params: dict = {}

    # free index variables of a node (memoized by identity; nodes live during evaluation)
    def free_vars(self, node) -> tuple:
        key = id(node)
        found = self.free.get(key)
        if found is None:
            if isinstance(node, N.Index):
                names = {node.name}
            else:
                names = set()
                for child in N.children(node):
                    names.update(self.free_vars(child))
                if isinstance(node, N.Reduce):
                    names = (set(self.free_vars(node.body)) - {node.var}) | set(self.free_vars(node.set))
            found = self.free[key] = tuple(sorted(names))
        return found

    def array(self, name):
        cached = self.arrays.get(name)
        if cached is None:
            spec = G.ARRAYS[name]
            rows = self.inst.require(spec.field)
            if spec.kind == "vector":
                cached = [self.m.vector(row, f"{name}[{r}]") for r, row in enumerate(rows)]
            elif spec.kind == "scalar":
                cached = [self.m.value(v, f"{name}[{r}]") for r, v in enumerate(rows)]
            elif spec.kind == "matrix":
                cached = [[self.m.value(v, f"{name}[{r}, {c}]") for c, v in enumerate(row)]
                          for r, row in enumerate(rows)]
            else:
                cached = list(rows)
            self.arrays[name] = cached
        return cached

    def param(self, name):
        if name not in self.params:
            if name not in self.inst.params:
                raise FormulaError(f"parameter '{name}' has no value in the instance")
            self.params[name] = self.m.value(self.inst.params[name], f"parameter '{name}'")
        return self.params[name]

    @staticmethod
    def at(rows, position, what):
        if not 0 <= position < len(rows):
            raise FormulaError(f"{what}: index {position} is outside 0..{len(rows) - 1}")
        return rows[position]

    def index(self, node, env) -> int:
        if isinstance(node, N.Index):
            return env[node.name]
        if isinstance(node, N.Num):
            return int(node.value)
        if isinstance(node, N.IndexAt):
            return self.at(self.array(node.array), self.index(node.index, env), node.array)
        if isinstance(node, N.IndexCall):
            candidates = self.inst.require("candidates")
            row = self.at(candidates, self.index(node.index, env), node.func)
            return row[0 if node.func == "pos" else 1]
        raise FormulaError(f"not an index: {type(node).__name__}")

    def elements(self, ref: N.SetRef, env) -> list:
        if ref.of is not None:
            return self.inst.anchors_with(ref.of)
        anchor = None if ref.arg is None else self.index(ref.arg, env)
        if anchor is not None and not 0 <= anchor < self.inst.n:
            raise FormulaError(f"{ref.name}(): anchor {anchor} is outside 0..{self.inst.n - 1}")
        return self.inst.index_set(ref.name, anchor)

    def eval(self, node, env):
        m = self.m
        if isinstance(node, N.Num):
            return m.number(node.value)
        if isinstance(node, N.Param):
            return self.param(node.name)
        if isinstance(node, N.Builtin):
            return m.number(self.inst.n)
        if isinstance(node, N.BinOp):
            left = self.eval(node.left, env)
            right = self.eval(node.right, env)
            if node.op == "+":
                return left + right
            if node.op == "-":
                return left - right
            if node.op == "*":
                return left * right
            if node.op == "/":
                return left / right
            return m.pow(left, right)
        if isinstance(node, N.Neg):
            return -self.eval(node.operand, env)
        if isinstance(node, (N.VectorAt, N.ScalarAt)):
            return self.at(self.array(node.array), self.index(node.index, env), node.array)
        if isinstance(node, N.MatrixAt):
            rows = self.array(node.array)
            row = self.at(rows, self.index(node.row, env), node.array)
            return self.at(row, self.index(node.col, env), node.array)
        if isinstance(node, N.Call):
            return self.call(node, env)
        if isinstance(node, N.Count):
            return m.number(len(self.elements(node.set, env)))
        if isinstance(node, N.Indicator):
            if _is_index(node.left) or _is_index(node.right):
                equal = self.index(node.left, env) == self.index(node.right, env)
                return m.number(int(equal if node.op == "==" else not equal))
            return m.compare(node.op, self.eval(node.left, env), self.eval(node.right, env))
        if isinstance(node, N.Reduce):
            key = (id(node),) + tuple(env[v] for v in self.free_vars(node))
            if key not in self.memo:
                self.memo[key] = self.reduce(node, env)
            return self.memo[key]
        raise FormulaError(f"cannot evaluate {type(node).__name__} as a number")

    def call(self, node, env):
        m = self.m
        args = [self.eval(arg, env) for arg in node.args]
        func = node.func
        if func in ("log", "exp", "sqrt", "softplus", "abs"):
            return getattr(m, func)(args[0])
        if func in ("max", "min"):
            return getattr(m, func)(args[0], args[1])
        if func == "dot":
            return m.dot(args[0], args[1])
        if func == "cos":
            u, v = args
            return m.dot(u, v) / (m.sqrt(m.dot(u, u)) * m.sqrt(m.dot(v, v)))
        if func == "norm":
            return m.sqrt(m.dot(args[0], args[0]))
        difference = args[0] - args[1]
        if func == "sqdist":
            return m.dot(difference, difference)
        if func == "dist":
            return m.sqrt(m.dot(difference, difference))
        raise FormulaError(f"unknown function '{func}'")

    def reduce(self, node: N.Reduce, env):
        members = self.elements(node.set, env)
        values = []
        inner = dict(env)
        for member in members:
            inner[node.var] = member
            values.append(self.eval(node.body, inner))
        if node.kind == "sum":
            return self.m.total(values)
        if node.kind == "logsumexp":
            return self.m.logsumexp(values)
        if not members:
            where = node.set.name if node.set.arg is None else f"{node.set.name}({self.index(node.set.arg, env)})"
            where = f"{where}({node.set.of})" if node.set.of is not None else where
            raise FormulaError(f"{node.kind} over an empty set: {where} has no elements")
        if node.kind in ("max", "min"):
            return self.m.extreme(node.kind, values)
        return self.m.total(values) / self.m.number(len(members))


def _is_index(node) -> bool:
    return isinstance(node, (N.Index, N.IndexAt, N.IndexCall))
