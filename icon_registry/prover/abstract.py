"""The abstract backend: the kernels' OWN code, evaluated on a batch of unknown size.

The kernels, distributions and ``objective.entry_terms`` are written against a backend (torch
for the compiled loss, SymPy for instances). This backend's arrays are not n x m tables but
one expression in a row index (the anchor, ``ROW``) and a column index (the candidate,
``COL``), with a mask that is a conjunction of set predicates (``ir.Atom``) and a fill value
off the mask. Summing a masked array over its columns becomes a reduction over an abstract
index set. So the objective the prover starts from is computed by the very code the compiled
loss runs, for every batch at once; nothing is transcribed by hand.

What the kernel code does that this backend cannot represent (a kNN computed from distances,
cluster assignments, candidates gathered per anchor, ...) raises ``ir.Unsupported``: such
entries are checked on instances only.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Optional

import sympy

from icon_registry.prover import ir

ROW = sympy.Symbol("@row")
COL = sympy.Symbol("@col")
_INF = {math.inf: sympy.oo, -math.inf: -sympy.oo}


def _exact(value):
    if isinstance(value, sympy.Basic):
        return value
    if isinstance(value, float) and math.isinf(value):
        return _INF[value]
    return sympy.nsimplify(value, rational=True)


def _swap(expr):
    return expr.xreplace({ROW: COL, COL: ROW}) if isinstance(expr, sympy.Basic) else expr


# ---------------------------------------------------------------------------------------
# masks
# ---------------------------------------------------------------------------------------
_NEGATION = {"self": "not_self", "not_self": "self", "same": "differ", "differ": "same"}


@dataclass(frozen=True)
class AMask:
    """Pairs (ROW, COL) where every atom holds (member COL, anchor ROW); ``negated``: where not."""

    atoms: frozenset
    domain: str
    negated: bool = False
    shape: tuple = (ir.N_ITEMS, ir.N_ITEMS)
    #: the mask this one is the complement of (``~mask``), so that p & ~q can name both supports
    complement_of: Optional["AMask"] = None
    #: (p's mask, q's mask) when this is p & ~q: the pairs p uses that q does not
    difference: Optional[tuple] = None

    def iset(self) -> ir.ISet:
        if self.negated:
            raise ir.Unsupported("a negated mask is not an index set")
        return ir.ISet(self.domain, *self.atoms)

    def _with(self, atoms, negated=False):
        return AMask(frozenset(atoms), self.domain, negated, self.shape)

    def __and__(self, other):
        if isinstance(other, AnchorPredicate) and not self.negated and other.never_false():
            return self  # the rows of anchors whose set is not empty: every row
        if not isinstance(other, AMask) or self.negated:
            raise ir.Unsupported("this combination of masks")
        difference = (self, other.complement_of) if other.complement_of is not None else None
        if other.negated:
            return AMask(self.atoms, self.domain, False, self.shape, difference=difference)
        return AMask(self.atoms | other.atoms, self.domain, False, self.shape, difference=difference)

    def __invert__(self):
        if self.negated:
            return self._with(self.atoms)
        if len(self.atoms) == 1:
            (atom,) = self.atoms
            if atom.kind in _NEGATION:
                negation = self._with({ir.Atom(_NEGATION[atom.kind], atom.args[1], atom.anchor)})
                return AMask(negation.atoms, self.domain, False, self.shape, complement_of=self)
        return AMask(self.atoms, self.domain, True, self.shape, complement_of=self)

    def __or__(self, other):
        if isinstance(other, AMask) and not self.negated and not other.negated:
            mine, theirs = self.iset(), other.iset()
            if mine.subset_of(theirs):
                return other
            if theirs.subset_of(mine):
                return self
        raise ir.Unsupported("a union of masks (e.g. a non-symmetric kNN graph symmetrized)")

    @property
    def T(self):
        return self._with({atom.transposed(ROW) for atom in self.atoms}, self.negated)

    def __getitem__(self, key):
        raise ir.Unsupported("indexing a mask")


@dataclass(frozen=True)
class AnchorPredicate:
    """Per anchor (a column vector): ``template`` (a set in ir.SELF) is non-empty."""

    template: ir.ISet

    def __getitem__(self, key):
        return self

    def never_false(self) -> bool:
        """The set holds one member for every anchor: its label's class {y_i} (labels name classes on
        this backend's batches) or the anchor itself {i}. Any other set may be empty for some anchor."""
        atoms = self.template.atoms_
        return len(atoms) == 1 and next(iter(atoms)).kind in ("label_of", "self")


# ---------------------------------------------------------------------------------------
# arrays
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AArray:
    """value(ROW, COL) where ``mask`` holds (None: everywhere), ``fill`` elsewhere.

    ``axes``: ('r', 'c') for anchors x candidates, ('r', 1) a column, (1, 'c') a row, ('r',)
    one value per anchor, () a scalar. ``domain``: what the columns range over.
    """

    value: sympy.Expr
    axes: tuple = ("r", "c")
    mask: Optional[AMask] = None
    fill: object = None
    domain: str = "item"

    @property
    def shape(self):
        sizes = {"r": ir.N_ITEMS, "c": ir.DOMAIN_SIZES[self.domain], 1: 1}
        return tuple(sizes[a] for a in self.axes)

    @property
    def T(self):
        if self.axes != ("r", "c"):
            raise ir.Unsupported("transposing anything but an anchors x candidates array")
        if self.domain == "cluster":
            return Transposed(self)
        return AArray(_swap(self.value), self.axes, self.mask.T if self.mask else None, self.fill, self.domain)

    def __getitem__(self, key):
        if key == (slice(None), 0) and len(self.axes) == 2 and self.axes[1] == 1:
            return AArray(self.value, ("r",), None, None, self.domain)
        if key == (None, slice(None)) and self.axes == (1, "c"):  # a row over the candidates, e.g. a centre
            return self
        raise ir.Unsupported(f"indexing an array with {key!r}")

    def reshape(self, *shape):
        return self

    # arithmetic --------------------------------------------------------------------------
    def _binary(self, other, op):
        other = lift(other)
        if op(1, 2) in (3, -1):  # a sum: a masked array that is 0 off its mask is value * 1[mask]
            self, other = _as_product(self, other), _as_product(other, self)
        axes = _broadcast(self.axes, other.axes)
        value = op(self.value, other.value)
        mask, fill = _combine_masks(self, other, op)
        domain = self.domain if "c" in self.axes else other.domain
        return AArray(value, axes, mask, fill, domain)

    def __add__(self, other):
        return self._binary(other, lambda a, b: a + b)

    def __radd__(self, other):
        return lift(other)._binary(self, lambda a, b: a + b)

    def __sub__(self, other):
        return self._binary(other, lambda a, b: a - b)

    def __rsub__(self, other):
        return lift(other)._binary(self, lambda a, b: a - b)

    def __mul__(self, other):
        return self._binary(other, lambda a, b: a * b)

    def __rmul__(self, other):
        return lift(other)._binary(self, lambda a, b: a * b)

    def __truediv__(self, other):
        return self._binary(other, lambda a, b: a / b)

    def __rtruediv__(self, other):
        return lift(other)._binary(self, lambda a, b: a / b)

    def __pow__(self, other):
        return self._binary(other, lambda a, b: a**b)

    def __neg__(self):
        return AArray(-self.value, self.axes, self.mask, _apply(lambda v: -v, self.fill), self.domain)

    def __gt__(self, other):
        if other == 0 and isinstance(self.value, ir.Card) and self.axes == ("r", 1):
            return AnchorPredicate(self.value.iset.xreplace({ROW: ir.SELF}))
        return self._edges(other)

    def __ne__(self, other):
        # The batch's weights are >= 0 (a graph's, a teacher's probabilities): not 0 is positive there
        return self._edges(other)

    def _edges(self, other):
        if (other == 0 and self.axes == ("r", "c") and isinstance(self.value, ir.At)
                and self.value.name in ("W", "teacher") and self.value.args[1:] == (ROW, COL)):
            weights = None if self.value.name == "W" else self.value.name
            return AMask(frozenset({ir.Atom("edge", weights, ROW)}), self.domain, shape=self.shape)
        raise ir.Unsupported("comparing arrays")

    def map(self, function):
        return AArray(function(self.value), self.axes, self.mask, _apply(function, self.fill), self.domain)


def lift(value) -> AArray:
    if isinstance(value, AArray):
        return value
    if isinstance(value, (AMask, AVec)):
        raise ir.Unsupported(f"arithmetic with a {type(value).__name__}")
    return AArray(_exact(value), ())


def indicator_of(mask: "AMask"):
    """1[mask] at (ROW, COL) as an expression, for a mask of one predicate (else None)."""
    if mask.negated or len(mask.atoms) != 1:
        return None
    (atom,) = mask.atoms
    return ir.Ind(atom, COL)


def _as_product(a: "AArray", other: "AArray") -> "AArray":
    """``a`` unmasked as value * 1[mask] when it is 0 off its one-predicate mask and ``other`` has
    no mask (their sum is then defined everywhere); else ``a`` itself."""
    if a.mask is None or other.mask is not None or a.fill != 0 or a.axes != ("r", "c"):
        return a
    indicator = indicator_of(a.mask)
    return a if indicator is None else AArray(a.value * indicator, a.axes, None, None, a.domain)


def _broadcast(a: tuple, b: tuple) -> tuple:
    length = max(len(a), len(b))
    a, b = (1,) * (length - len(a)) + a, (1,) * (length - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1 or x == y:
            out.append(x)
        else:
            raise ir.Unsupported(f"broadcasting {a} with {b}")
    return tuple(out)


def _apply(function, fill):
    if fill is None or fill == "any":
        return fill
    with contextlib.suppress(TypeError, ValueError):
        result = function(fill)
        if result is sympy.nan:
            return "any"
        return result
    return "any"


def _combine_masks(a: AArray, b: AArray, op):
    """The mask and off-mask value of op(a, b)."""
    if a.mask is None and b.mask is None:
        return None, None
    if a.mask is not None and b.mask is not None:
        if a.mask.atoms != b.mask.atoms or a.mask.negated != b.mask.negated:
            raise ir.Unsupported("combining arrays with different masks")
        return a.mask, _fill_op(a.fill, b.fill, op)
    masked, other, masked_first = (a, b, True) if a.mask is not None else (b, a, False)
    fill = masked.fill
    if fill in (sympy.oo, -sympy.oo) and op(1, 2) in (3, -1, 1 - 2):  # +, - with a finite value
        return masked.mask, _fill_op(fill, 0, op) if masked_first else _fill_op(0, fill, op)
    if fill == 0 and op(2, 3) == 6:  # 0 * finite
        return masked.mask, sympy.Integer(0)
    return masked.mask, "any"


def _fill_op(x, y, op):
    if x in (None, "any") or y in (None, "any"):
        return "any"
    try:
        result = op(x, y)
    except (TypeError, ZeroDivisionError):
        return "any"
    return "any" if result is sympy.nan else result


@dataclass(frozen=True)
class AVec:
    """The rows of a vector-valued input (z, x, prototypes w), as the row or column index."""

    name: str
    role: str = "r"
    unit: bool = False
    domain: str = "item"

    @property
    def shape(self):
        # the width of z is its number of outputs d (a softmax over z's entries ranges over them)
        return (ir.DOMAIN_SIZES[self.domain], ir.N_OUTPUTS)

    @property
    def T(self):
        return AVec(self.name, "c" if self.role == "r" else "r", self.unit, self.domain)

    def atom(self):
        return ir.Vec(self.name, ROW if self.role == "r" else COL, self.unit)

    def __matmul__(self, other):
        if not isinstance(other, AVec) or self.role != "r" or other.role != "c":
            raise ir.Unsupported("this matrix product")
        return AArray(ir.dot(ir.vector(self.atom()), ir.vector(other.atom())), ("r", "c"), domain=other.domain)

    def __getitem__(self, key):
        raise ir.Unsupported("candidates gathered per anchor")

    def __truediv__(self, temperature):
        return ClusterLogits(self.name)


@dataclass(frozen=True)
class ClusterLogits:
    """z / T for a cluster head: its row softmax is the datum phi[i, c] (the formula's phi)."""

    name: str


@dataclass(frozen=True)
class Transposed:
    """items x clusters seen as clusters x items (the right operand of log_matmul_exp)."""

    array: "AArray"


@dataclass(frozen=True)
class AIdx:
    """An index-valued input (ids, labels, modality) or the column range, as row or column."""

    name: str
    role: str = "r"

    def __getitem__(self, key):
        if key == (slice(None), None):
            return AIdx(self.name, "r")
        if key == (None, slice(None)):
            return AIdx(self.name, "c")
        raise ir.Unsupported(f"indexing {self.name} with {key!r}")

    def __eq__(self, other):
        if not isinstance(other, AIdx) or {self.role, other.role} != {"r", "c"}:
            raise ir.Unsupported("comparing these indices")
        row, col = (self, other) if self.role == "r" else (other, self)
        if row.name == col.name:
            return AMask(frozenset({ir.Atom("same", row.name, ROW)}), "item")
        if col.name == f"bank_{row.name}":  # a bank row with the anchor's id (or label)
            return AMask(frozenset({ir.Atom("bank_same", row.name, ROW)}), "bank", shape=(ir.N_ITEMS, ir.N_BANK))
        if row.name == "labels" and col.name == "classes":
            return AMask(frozenset({ir.Atom("label_of", None, ROW)}), "class", shape=(ir.N_ITEMS, ir.N_CLASSES))
        raise ir.Unsupported(f"comparing {row.name} with {col.name}")

    __hash__ = object.__hash__

    def max(self):
        raise ir.Unsupported("classes pooled from the items (support 'class_pools')")


# ---------------------------------------------------------------------------------------
# the backend
# ---------------------------------------------------------------------------------------
def _elementwise(function):
    def apply(a):
        if isinstance(a, AArray):
            return a.map(function)
        return function(_exact(a))

    return apply


def _domain_of(size) -> str:
    for domain, domain_size in ir.DOMAIN_SIZES.items():
        if size == domain_size:
            return domain
    if size == ir.N_BANK + 1:
        raise ir.Unsupported("the own key beside the bank (support 'key_and_bank')")
    raise ir.Unsupported(f"a candidate space of size {size}")


def _reduce_columns(kind, a: AArray, mask: Optional[AMask], anchor, var):
    """kind over the columns of ``a`` restricted to ``mask``, for the anchor ``anchor``."""
    iset = (mask.iset() if mask is not None else ir.ISet(a.domain)).xreplace({ROW: anchor})
    body = a.value.xreplace({ROW: anchor, COL: var})
    return ir.Red(kind, body, var, iset), iset


class AbstractBackend:
    name = "abstract"
    symbolic = True

    no_grad = staticmethod(contextlib.nullcontext)
    log = staticmethod(_elementwise(sympy.log))
    exp = staticmethod(_elementwise(sympy.exp))
    log1p = staticmethod(_elementwise(lambda v: sympy.log(1 + v)))
    sqrt = staticmethod(_elementwise(sympy.sqrt))
    exact = staticmethod(_exact)

    @staticmethod
    def deferred(compute):
        """Array backends may compute a quantity on first use; a derivation needs it now."""
        return compute()

    @classmethod
    def concrete(cls, value, fallback, why):
        """A parameter that shapes a support is a symbol here: the derivation takes ``fallback``
        and states it (``why``) as an assumption."""
        if isinstance(value, sympy.Basic) and not value.is_number:
            cls.assumed.append(f"{value} = {fallback}: {why}")
            return fallback
        return value

    #: what the kernel code showed while it ran (support inclusions), for the derivation
    facts: list = []
    #: parameter values the derivation fixed (``concrete``), stated as assumptions
    assumed: list = []

    @staticmethod
    def sum(a, axis=None, keepdims=False):
        if isinstance(a, AMask):
            a = AbstractBackend.as_float(a, None)
        if not isinstance(a, AArray):
            raise ir.Unsupported("summing a non-array")
        if a.mask is not None and a.fill != 0:
            raise ir.Unsupported("a sum over a masked array whose off-mask value is not 0")
        if a.axes == ("r", "c") and axis in (1, -1):
            total, _ = _reduce_columns("sum", a, a.mask, ROW, ir.fresh("j"))
            return AArray(total, ("r", 1) if keepdims else ("r",), domain=a.domain)
        if a.axes == ("r", "c") and axis is None:
            k = ir.fresh("k")
            inner, _ = _reduce_columns("sum", a, a.mask, k, ir.fresh("l"))
            return AArray(ir.Red("sum", inner, k, ir.items()), ())
        if a.axes in (("r",), ("r", 1)) and axis in (None, 0):
            k = ir.fresh("k")
            return AArray(ir.Red("sum", a.value.xreplace({ROW: k}), k, ir.items()), ())
        if a.axes == ("r", "c") and axis == 0 and a.mask is None:
            k = ir.fresh("k")
            return AArray(ir.Red("sum", a.value.xreplace({ROW: k}), k, ir.items()), (1, "c") if keepdims else ("c",),
                          domain=a.domain)
        raise ir.Unsupported(f"a sum over axis {axis} of an array with axes {a.axes}")

    @staticmethod
    def where(mask, a, fill):
        if not isinstance(mask, AMask) or mask.negated:
            raise ir.Unsupported("where() with this mask")
        a = lift(a)
        if a.mask is not None and not mask.iset().subset_of(a.mask.iset()):
            raise ir.Unsupported("where() on an array masked differently")
        axes = _broadcast(a.axes, ("r", "c"))
        return AArray(a.value, axes, mask, _exact(fill), mask.domain)

    @staticmethod
    def masked_logsumexp(a, mask, axis, diagonal=None):
        # the torch backend gives an empty row 0: Guarded says exactly that
        a = lift(a)
        if a.mask is not None and not (isinstance(mask, AMask) and mask.iset().subset_of(a.mask.iset())):
            raise ir.Unsupported("a logsumexp over entries outside its array's mask")
        if axis in (1, -1):
            lse, iset = _reduce_columns("lse", a, mask, ROW, ir.fresh("k"))
            return AArray(ir.Guarded(lse, iset), ("r", 1), domain=a.domain)
        if axis is None:
            k = ir.fresh("k")
            inner, inner_set = _reduce_columns("lse", a, mask, k, ir.fresh("l"))
            outer = ir.Red("lse", inner, k, ir.items(ir.nonempty(inner_set.xreplace({k: ir.SELF}))))
            return AArray(ir.Guarded(outer, ir.items(ir.nonempty(inner_set.xreplace({k: ir.SELF})))), ())
        raise ir.Unsupported(f"a logsumexp over axis {axis}")

    @staticmethod
    def normalize_rows(a):
        if not isinstance(a, AVec):
            raise ir.Unsupported("normalizing a non-vector")
        return AVec(a.name, a.role, True, a.domain)

    @staticmethod
    def dot_products(a, b):
        return a @ b.T

    @staticmethod
    def sqdist(a, b):
        if not (isinstance(a, AVec) and isinstance(b, AVec)):
            raise ir.Unsupported("distances between non-vectors")
        u, v = a.atom(), AVec(b.name, "c", b.unit, b.domain).atom()
        return AArray(ir.sqdist(ir.vector(u), ir.vector(v)), ("r", "c"), domain=b.domain)

    @staticmethod
    def clamp_min(a, value):
        return _elementwise(lambda v: sympy.Max(v, _exact(value)))(a)

    @staticmethod
    def indicator(mask, like):
        value = indicator_of(mask) if isinstance(mask, AMask) else None
        if value is None:
            raise ir.Unsupported("the indicator of a mask of several predicates")
        return AArray(value, ("r", "c"), None, None, mask.domain)

    @staticmethod
    def output_scores(vectors):
        if not isinstance(vectors, AVec) or vectors.name != "z":
            raise ir.Unsupported("scores over the outputs of anything but z")
        return AArray(ir.At("logit", ROW, COL), ("r", "c"), domain="output")

    @staticmethod
    def concat_columns(a, b):
        raise ir.Unsupported("the own key beside the bank (support 'key_and_bank')")

    @staticmethod
    def pool_logsumexp(a, mask, groups):
        raise ir.Unsupported("classes pooled from the items (support 'class_pools')")

    @staticmethod
    def eye_mask(n, like):
        return AMask(frozenset({ir.Atom("self", None, ROW)}), "item")

    @staticmethod
    def full_mask(shape, like):
        return AMask(frozenset(), _domain_of(shape[1]), shape=tuple(shape))

    @staticmethod
    def count(mask, axis):
        if not isinstance(mask, AMask) or axis != 1:
            raise ir.Unsupported("counting this mask")
        return AArray(ir.Card(mask.iset()), ("r", 1), domain=mask.domain)

    @classmethod
    def any(cls, mask):
        if isinstance(mask, AMask) and mask.difference is not None:
            left, right = (m.iset() for m in mask.difference)
            if left.subset_of(right):
                cls.facts.append((left, right))
                return False
            where = {ROW: sympy.Symbol("i")}
            raise ir.Unsupported(f"cannot show that p's support {ir.render_set(left.xreplace(where))} "
                                 f"lies inside q's {ir.render_set(right.xreplace(where))}")
        if isinstance(mask, AMask) and not mask.negated and mask.iset().is_empty:
            return False
        raise ir.Unsupported("any() of this mask")

    @staticmethod
    def as_float(a, like):
        if isinstance(a, AMask):
            return AArray(sympy.Integer(1), ("r", "c"), a, sympy.Integer(0), a.domain)
        return lift(a)

    @staticmethod
    def calibrate_log_precision(sqdist, mask, perplexity):
        # the calibration's result is data: one free precision beta_i per row
        return AArray(sympy.log(ir.At("beta", ROW)), ("r", 1))

    @staticmethod
    def neighbor_mask(neighbors, n):
        return AMask(frozenset({ir.Atom("in_list", "neighbors", ROW)}), "item")

    @staticmethod
    def arange(m, like):
        return AIdx("classes")

    @staticmethod
    def equal_outer(a, b):
        return a[:, None] == b[None, :]

    @staticmethod
    def knn_mask(sqdist, candidates, k):
        raise ir.Unsupported("a kNN graph computed from distances")

    @classmethod
    def plogp(cls, prob, log_prob, mask):
        return prob * cls.where(mask, log_prob, 0)

    @classmethod
    def log_sqdist(cls, d2):
        return cls.log(d2)

    @classmethod
    def log_add_exp(cls, a, b, divide_by=1):
        return cls.log((cls.exp(a) + cls.exp(b)) / _exact(divide_by))

    @staticmethod
    def logsumexp(a, axis):
        """log sum over the rows (axis 0) of an unmasked anchors x columns array: e.g. a cluster's size."""
        if not isinstance(a, AArray) or a.axes != ("r", "c") or axis != 0 or a.mask is not None:
            raise ir.Unsupported(f"a logsumexp over axis {axis} of this array")
        k = ir.fresh("k")
        return AArray(ir.Red("lse", a.value.xreplace({ROW: k}), k, ir.items()), ("c",), domain=a.domain)

    @staticmethod
    def log_softmax(a, axis):
        if not isinstance(a, ClusterLogits) or axis != 1:
            raise ir.Unsupported("a log-softmax of anything but a cluster head's logits")
        return AArray(sympy.log(ir.At("phi", ROW, COL)), ("r", "c"), domain="cluster")

    @staticmethod
    def log_matmul_exp(a, b):
        """log sum_m exp(a[i, m] + b[m, j]) over the clusters m (the cluster kernel)."""
        if not (isinstance(a, AArray) and isinstance(b, Transposed) and a.domain == b.array.domain == "cluster"):
            raise ir.Unsupported("this log-matrix product")
        m = ir.fresh("m")
        left = a.value.xreplace({COL: m})
        right = b.array.value.xreplace({ROW: COL, COL: m})  # b[m, j] = the array's entry (j, m)
        return AArray(sympy.log(ir.Red("sum", sympy.exp(left) * sympy.exp(right), m, ir.ISet("cluster"))),
                      ("r", "c"), domain="item")

    @staticmethod
    def bool_matmul(a, b):
        raise ir.Unsupported("neighbour propagation")


# ---------------------------------------------------------------------------------------
# the objective of an entry, for every batch
# ---------------------------------------------------------------------------------------
@dataclass
class AbstractObjective:
    """The entry's objective as one expression, and what the kernel code showed on the way."""

    expr: sympy.Expr
    anchors_with_mass: ir.ISet  # the anchors whose left distribution is non-empty
    facts: list = field(default_factory=list)  # (p's support, q's support) inclusions shown
    assumed: list = field(default_factory=list)  # parameter values fixed (AbstractBackend.concrete)


def abstract_inputs(entry):
    from icon_registry.pairs import Inputs

    params = {name: ir.parameter(name, spec) for name, spec in entry.parameters.items()}
    graph = AArray(ir.At("W", ROW, COL), ("r", "c"))
    return Inputs(
        AbstractBackend,
        AVec("z"),
        ir.N_ITEMS,
        params,
        x=AVec("x"),
        labels=AIdx("labels"),
        ids=AIdx("ids"),
        modality=AIdx("modality"),
        neighbors=AIdx("neighbors"),
        graph=graph,
        teacher=AArray(ir.At("teacher", ROW, COL), ("r", "c"), domain="output"),
        center=AArray(ir.At("center", COL), (1, "c"), domain="output"),
        bank=AVec("memory", domain="bank"),
        bank_ids=AIdx("bank_ids"),
        bank_labels=AIdx("bank_labels"),
        keys=AVec("key"),
        prototypes=AVec("w", domain="class"),
        entry_id=entry.id,
    )


def objective(entry, objective_kind: str) -> AbstractObjective:
    """sum_i (or the mean over anchors with mass of) the entry's per-anchor objective,
    computed by ``objective.entry_terms`` on the abstract backend."""
    from icon_registry.objective import entry_terms

    AbstractBackend.facts, AbstractBackend.assumed = [], []
    try:
        terms = entry_terms(entry, abstract_inputs(entry), objective=objective_kind)
    except (TypeError, AttributeError, IndexError, KeyError, NotImplementedError) as err:
        raise ir.Unsupported(f"the kernel code did something the abstract backend cannot follow ({err})") from None
    values, has_mass = terms.values, terms.has_mass
    if not isinstance(values, AArray) or values.axes != ("r",) or not isinstance(has_mass, AnchorPredicate):
        raise ir.Unsupported("per-anchor terms of an unexpected shape")
    i = ir.fresh("i")
    total = ir.Red("sum", values.value.xreplace({ROW: i}), i, ir.items())
    with_mass = ir.items(ir.nonempty(has_mass.template))
    if entry.loss.reduction == "mean":
        total = total / sympy.Max(ir.Card(with_mass), 1)
    if entry.prefactor is not None:
        parameter = ir.parameter(entry.prefactor.parameter, entry.parameters[entry.prefactor.parameter])
        total = total * parameter**entry.prefactor.power
    facts = [(a.xreplace({ROW: ir.SELF}), b.xreplace({ROW: ir.SELF})) for a, b in AbstractBackend.facts]
    return AbstractObjective(total, with_mass, facts, list(dict.fromkeys(AbstractBackend.assumed)))
