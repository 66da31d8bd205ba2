"""The formula language's own immutable AST (frozen dataclasses, structural equality).

Expression kinds: scalar, vector (z[i], w[c], sums of them), index (i, y[i], pos(i)) and
index set (others(i), classes). The parser type-checks, so evaluators can trust the shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union


@dataclass(frozen=True)
class Num:
    """A literal number (int or finite float); never folded with other literals."""

    value: Union[int, float]


@dataclass(frozen=True)
class Param:
    """A scalar parameter of the entry (tau, sigma, margin, ...)."""

    name: str


@dataclass(frozen=True)
class Builtin:
    """A scalar the instance provides by itself: ``n`` (number of items)."""

    name: str


@dataclass(frozen=True)
class Index:
    """A bound index variable (bound by sum/mean/logsumexp)."""

    name: str


@dataclass(frozen=True)
class IndexAt:
    """An index-valued array at an index: y[i] (class of item i), id[i], modality[i]."""

    array: str
    index: "IndexExpr"


@dataclass(frozen=True)
class IndexCall:
    """An index-valued function of an item: pos(i), neg(i) (triplet candidates)."""

    func: str
    index: "IndexExpr"


@dataclass(frozen=True)
class VectorAt:
    """A vector array at an index: z[i], x[i], g[i], w[c]."""

    array: str
    index: "IndexExpr"


@dataclass(frozen=True)
class ScalarAt:
    """A per-item scalar: beta[i] (per-row precision 1 / (2 sigma_i^2))."""

    array: str
    index: "IndexExpr"


@dataclass(frozen=True)
class MatrixAt:
    """A scalar matrix entry: phi[i, c] (soft assignment), W[i, j] (graph weight)."""

    array: str
    row: "IndexExpr"
    col: "IndexExpr"


@dataclass(frozen=True)
class SetRef:
    """An index set: anchors, all, classes, clusters, or others(i), positives(i), ...;
    ``anchors_with(positives)`` has ``of="positives"``: the anchors whose positives are non-empty."""

    name: str
    arg: Optional["IndexExpr"] = None
    of: Optional[str] = None


@dataclass(frozen=True)
class BinOp:
    """op is one of '+', '-', '*', '/', '**'. Vectors allow +, - and scalar * / ."""

    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Neg:
    operand: "Node"


@dataclass(frozen=True)
class Call:
    """A scalar function: log, exp, sqrt, softplus, abs, max, min, dot, cos, sqdist, dist, norm."""

    func: str
    args: Tuple["Node", ...]


@dataclass(frozen=True)
class Count:
    """|S|, the size of an index set."""

    set: SetRef


@dataclass(frozen=True)
class Indicator:
    """1[left op right]; op in ==, !=, <, <=, >, >= (indices: == and != only)."""

    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Reduce:
    """kind in sum, mean, logsumexp, max, min: kind over ``var`` in ``set`` of ``body``."""

    kind: str
    var: str
    set: SetRef
    body: "Node"


@dataclass(frozen=True)
class DefRef:
    """A use of a named definition (``loss.where``), e.g. ``P[i, j]``: only in a formula's
    ``display`` tree, for rendering; ``Formula.root`` has every use written out."""

    name: str
    args: Tuple["IndexExpr", ...] = ()


IndexExpr = Union[Index, IndexAt, IndexCall, Num]
Node = Union[Num, Param, Builtin, Index, IndexAt, IndexCall, VectorAt, ScalarAt, MatrixAt, SetRef, BinOp, Neg, Call, Count,
             Indicator, Reduce, DefRef]


def children(node) -> tuple:
    """The direct sub-nodes of a node, in source order."""
    if isinstance(node, (IndexAt, IndexCall, VectorAt, ScalarAt)):
        return (node.index,)
    if isinstance(node, MatrixAt):
        return (node.row, node.col)
    if isinstance(node, SetRef):
        return () if node.arg is None else (node.arg,)
    if isinstance(node, (BinOp, Indicator)):
        return (node.left, node.right)
    if isinstance(node, Neg):
        return (node.operand,)
    if isinstance(node, (Call, DefRef)):
        return tuple(node.args)
    if isinstance(node, Count):
        return (node.set,)
    if isinstance(node, Reduce):
        return (node.set, node.body)
    return ()


def walk(node):
    """All nodes, pre-order, iteratively."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))
