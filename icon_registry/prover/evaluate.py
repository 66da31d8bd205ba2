"""A prover expression's value on one concrete batch (float64): the check that keeps the
prover honest. Tests evaluate every step of every derivation on random batches against the
compiled torch loss and the formula module's evaluator."""

from __future__ import annotations

import math

import numpy as np
import sympy

from icon_registry.prover import ir
from icon_registry.prover.from_formula import IndCmp

_ARRAYS = {"ids": "ids", "labels": "labels", "modality": "modality", "id": "ids", "y": "labels"}


class Batch:
    """n, the structure (ids, labels, modality, neighbours) and the values (z, x, w, beta, W)."""

    def __init__(self, n, *, z=None, x=None, w=None, ids=None, labels=None, modality=None, neighbors=None,
                 candidates=None, beta=None, W=None, phi=None, params=None):
        self.n = n
        self.vectors = {"z": z, "x": x, "w": w}
        self.index = {"ids": ids, "labels": labels, "modality": modality,
                      "pos": None if candidates is None else [c[0] for c in candidates],
                      "neg": None if candidates is None else [c[1] for c in candidates]}
        self.neighbors = neighbors
        self.scalars = {"beta": beta, "W": W, "phi": phi}
        self.params = dict(params or {})
        self.num_classes = len(w) if w is not None else (max(labels) + 1 if labels is not None else 0)


def evaluate(expr, batch: Batch, env=None) -> float:
    return _Evaluator(batch).value(expr, dict(env or {}))


class _Evaluator:
    def __init__(self, batch: Batch):
        self.b = batch
        self.memo: dict = {}  # (reduction, values of its free index variables) -> value
        self.free: dict = {}

    # indices and sets --------------------------------------------------------------------
    def index(self, node, env) -> int:
        if isinstance(node, sympy.Symbol):
            return env[node]
        if isinstance(node, sympy.Integer):
            return int(node)
        if isinstance(node, ir.IdxAt):
            name = node.args[0].name
            return int(self.b.index[_ARRAYS.get(name, name)][self.index(node.args[1], env)])
        raise TypeError(f"not an index: {node!r}")

    def holds(self, atom: ir.Atom, member: int, env) -> bool:
        kind = atom.kind
        if kind == "false":
            return False
        if kind == "nonempty":
            return bool(self.members(ir.instantiate(atom.arg, sympy.Integer(member)), env))
        anchor = self.index(atom.anchor, env)
        if kind in ("same", "differ"):
            values = self.b.index[atom.arg]
            return (values[member] == values[anchor]) == (kind == "same")
        if kind == "self":
            return member == anchor
        if kind == "not_self":
            return member != anchor
        if kind == "in_list":
            return member in self.b.neighbors[anchor] and member != anchor
        if kind == "listed_by":
            return anchor in self.b.neighbors[member] and anchor != member
        if kind == "edge":
            return self.b.scalars["W"][anchor][member] > 0
        if kind == "edge_from":
            return self.b.scalars["W"][member][anchor] > 0
        if kind == "label_of":
            return member == self.b.index["labels"][anchor]
        raise TypeError(f"unknown atom {kind}")

    def members(self, iset: ir.ISet, env) -> list:
        size = {"item": self.b.n, "class": self.b.num_classes,
                "cluster": len(self.b.scalars["phi"][0]) if self.b.scalars["phi"] is not None else 0}[iset.domain]
        return [m for m in range(size) if all(self.holds(a, m, env) for a in iset.atoms_)]

    def vector(self, vec: ir.Vec, env):
        value = np.asarray(self.b.vectors[vec.name][self.index(vec.index, env)], dtype=np.float64)
        return value / np.linalg.norm(value) if vec.unit else value

    # values --------------------------------------------------------------------------------
    def value(self, e, env) -> float:
        if isinstance(e, sympy.Number):
            return float(e)
        if e is ir.N_ITEMS:
            return float(self.b.n)
        if e is ir.N_CLASSES:
            return float(self.b.num_classes)
        if e is ir.N_CLUSTERS:
            return float(len(self.b.scalars["phi"][0]))
        if isinstance(e, sympy.Symbol):
            return float(self.b.params[e.name])
        if isinstance(e, sympy.Add):
            return math.fsum(self.value(a, env) for a in e.args)
        if isinstance(e, sympy.Mul):
            out = 1.0
            for a in e.args:
                out *= self.value(a, env)
            return out
        if isinstance(e, sympy.Pow):
            return float(np.float64(self.value(e.base, env)) ** self.value(e.exp, env))
        if isinstance(e, sympy.exp):
            return float(np.exp(self.value(e.args[0], env)))
        if isinstance(e, sympy.log):
            return float(np.log(np.float64(self.value(e.args[0], env))))
        if isinstance(e, sympy.Max):
            return max(self.value(a, env) for a in e.args)
        if isinstance(e, sympy.Min):
            return min(self.value(a, env) for a in e.args)
        if isinstance(e, sympy.Abs):
            return abs(self.value(e.args[0], env))
        if isinstance(e, ir.Dot):
            return float(self.vector(e.args[0], env) @ self.vector(e.args[1], env))
        if isinstance(e, ir.Cos):
            u, v = self.vector(e.args[0], env), self.vector(e.args[1], env)
            return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
        if isinstance(e, ir.SqDist):
            d = self.vector(e.args[0], env) - self.vector(e.args[1], env)
            return float(d @ d)
        if isinstance(e, ir.At):
            data = self.b.scalars[e.name]
            for index in e.args[1:]:
                data = data[self.index(index, env)]
            return float(data)
        if isinstance(e, ir.Card):
            return float(len(self.members(e.iset, env)))
        if isinstance(e, ir.Guarded):
            return self.value(e.args[0], env) if self.members(e.args[1], env) else 0.0
        if isinstance(e, ir.Ind):
            return 1.0 if self.holds(e.atom, self.index(e.member, env), env) else 0.0
        if isinstance(e, IndCmp):
            left, right = e.args[1], e.args[2]
            try:
                a, b = self.index(left, env), self.index(right, env)
            except (TypeError, KeyError):
                a, b = self.value(left, env), self.value(right, env)
            return 1.0 if {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                           ">=": a >= b}[e.op] else 0.0
        if isinstance(e, ir.Red):
            return self.reduce(e, env)
        raise TypeError(f"cannot evaluate {type(e).__name__}: {e}")

    def reduce(self, e: ir.Red, env) -> float:
        free = self.free.get(e)
        if free is None:
            free = self.free[e] = tuple(sorted((s for s in e.free_symbols if isinstance(s, sympy.Symbol)), key=str))
        key = (e, tuple(env.get(s) for s in free))
        if key not in self.memo:
            self.memo[key] = self._reduce(e, env)
        return self.memo[key]

    def _reduce(self, e: ir.Red, env) -> float:
        values = [self.value(e.body, {**env, e.var: m}) for m in self.members(e.iset, env)]
        if e.kind == "sum":
            return math.fsum(values)
        if not values:
            return -math.inf if e.kind == "lse" else math.nan
        if e.kind == "mean":
            return math.fsum(values) / len(values)
        if e.kind == "lse":
            top = max(values)
            return top + math.log(math.fsum(math.exp(v - top) for v in values)) if math.isfinite(top) else top
        return max(values) if e.kind == "max" else min(values)
