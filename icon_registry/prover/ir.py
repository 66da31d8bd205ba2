"""The prover's expressions: SymPy expressions over a batch of ANY size.

An expression is an ordinary SymPy expression (so Add and Mul are kept in SymPy's canonical
order and rational coefficients are exact) whose atoms describe a batch abstractly:

* index variables are plain Symbols (``i``, ``j``; bound ones are made unique by ``fresh``);
* data: ``Dot(u, v)`` and ``SqDist(u, v)`` of vector atoms ``Vec('z', i)``, scalars
  ``At('beta', i)``, ``At('W', i, j)``; index-valued ``IdxAt('y', i)``;
* ``n`` (the batch size) and ``C`` (the number of classes) are positive integer Symbols,
  parameters are positive Symbols;
* ``Red(kind, body, var, S)``: a reduction (sum, mean, logsumexp, max, min) of ``body`` over
  ``var`` in the index set ``S``; ``Card(S)`` is |S|;
* ``Guarded(e, S)``: ``e`` when S is non-empty, else 0 (what the torch backend's masked
  logsumexp gives an empty row).

An index set ``ISet(domain, atoms)`` is every element of a domain (items, classes) that
satisfies all of its atoms, each a predicate about the member relative to an anchor: ``same``
id as i, ``not_self`` (member != i), ``differ`` in modality, ``in_list`` (member in
neighbors(i)), ``label_of`` (the class y_i), ``nonempty`` (the member's own set S(member) is
non-empty: ``anchors_with``). Sets are kept in a canonical form: atoms sorted, atoms implied
by others dropped (a member of another modality is not the anchor), contradictions empty.

Semantics follow the formula language: a sum over an empty set is 0; a mean, logsumexp,
max or min over an empty set is undefined, and the rewrite rules only touch one where the
context shows its set is non-empty.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Optional

import sympy
from sympy.core.symbol import Str

N_ITEMS = sympy.Symbol("n", positive=True, integer=True)
N_CLASSES = sympy.Symbol("C", positive=True, integer=True)
N_CLUSTERS = sympy.Symbol("K", positive=True, integer=True)
#: the member of a set template (``nonempty`` atoms): S(member) with member = SELF
SELF = sympy.Symbol("@self")

_counter = itertools.count()


def fresh(name: str) -> sympy.Symbol:
    """A bound index variable no other binder uses (no capture during rewriting)."""
    return sympy.Symbol(f"{name}_{next(_counter)}")


def parameter(name: str, spec) -> sympy.Symbol:
    """An entry parameter: positive when its declared range says so (tau, sigma), real otherwise."""
    if spec.min is not None and spec.min > 0:
        return sympy.Symbol(name, positive=True)
    if spec.min is not None and spec.min >= 0:
        return sympy.Symbol(name, nonnegative=True)
    return sympy.Symbol(name, real=True)


def _key(obj):
    return sympy.default_sort_key(obj)


# ---------------------------------------------------------------------------------------
# index sets
# ---------------------------------------------------------------------------------------
#: atoms that hold whatever the member and the anchor are swapped (mask.T == mask)
SYMMETRIC = {"same", "differ", "not_self", "self"}
#: transposition of the asymmetric atoms: member in list(anchor) <-> anchor in list(member)
TRANSPOSED = {"in_list": "listed_by", "listed_by": "in_list", "edge": "edge_from", "edge_from": "edge"}


class Atom(sympy.Basic):
    """A predicate on a set's member relative to ``anchor``: Atom(kind, arg, anchor).

    kinds: same / differ (arg = ids | labels | modality), not_self, self, in_list /
    listed_by (arg = neighbors), edge / edge_from (W > 0), label_of (the class y[anchor]),
    nonempty (arg = an ISet template in SELF; the anchor is unused), false (the empty set).
    """

    def __new__(cls, kind, arg=None, anchor=None):
        kind = kind if isinstance(kind, Str) else Str(kind)
        arg = Str("") if arg is None else (Str(arg) if isinstance(arg, str) else arg)
        anchor = Str("") if anchor is None else anchor
        return sympy.Basic.__new__(cls, kind, arg, anchor)

    @property
    def kind(self) -> str:
        return self.args[0].name

    @property
    def arg(self):
        arg = self.args[1]
        return arg.name if isinstance(arg, Str) else arg

    @property
    def anchor(self):
        return self.args[2]

    @property
    def free_symbols(self):
        found = set()
        for a in (self.args[1], self.args[2]):
            if not isinstance(a, Str):
                found |= a.free_symbols
        return found - {SELF}

    def transposed(self, member) -> "Atom":
        """The same predicate with member and anchor swapped (member becomes the anchor)."""
        kind = self.kind
        if kind in SYMMETRIC:
            return Atom(kind, self.args[1], member)
        if kind in TRANSPOSED:
            return Atom(TRANSPOSED[kind], self.args[1], member)
        raise Unsupported(f"a mask with the predicate '{kind}' cannot be transposed")

    def _sympystr(self, printer):
        return f"{self.kind}({self.arg}, {printer._print(self.anchor)})"


FALSE = Atom("false")


def _implied(atoms: set) -> set:
    """Atoms that follow from the others (dropped to keep one canonical form)."""
    implied = set()
    for atom in atoms:
        if atom.kind == "not_self":
            # a member of another modality is not the anchor; neighbors(i) leaves i out by definition
            if any(a.kind in ("differ", "in_list") and a.anchor == atom.anchor for a in atoms):
                implied.add(atom)
    return implied


def _contradiction(atoms: set) -> bool:
    for a in atoms:
        for b in atoms:
            if a.anchor != b.anchor:
                continue
            if a.kind == "self" and b.kind in ("not_self", "differ", "in_list"):
                return True
            if a.kind == "same" and b.kind == "differ" and a.arg == b.arg:
                return True
    return False


class ISet(sympy.Basic):
    """Every element of ``domain`` ('item', 'class' or 'cluster') satisfying all ``atoms``."""

    def __new__(cls, domain, *atoms):
        domain = domain if isinstance(domain, Str) else Str(domain)
        found = set(atoms)
        if FALSE in found or _contradiction(found):
            found = {FALSE}
        else:
            found -= _implied(found)
        return sympy.Basic.__new__(cls, domain, *sorted(found, key=_key))

    @property
    def domain(self) -> str:
        return self.args[0].name

    @property
    def atoms_(self) -> frozenset:
        return frozenset(self.args[1:])

    @property
    def is_empty(self) -> bool:
        return FALSE in self.args[1:]

    @property
    def free_symbols(self):
        found = set()
        for atom in self.args[1:]:
            found |= atom.free_symbols
        return found

    def closure(self) -> frozenset:
        """Its atoms and the ones they imply."""
        atoms = set(self.atoms_)
        for atom in list(atoms):
            if atom.kind in ("differ", "in_list"):
                atoms.add(Atom("not_self", None, atom.anchor))
        return frozenset(atoms)

    def subset_of(self, other: "ISet") -> bool:
        """Syntactic inclusion: every atom of ``other`` holds for every member of self."""
        if self.domain != other.domain:
            return False
        return self.is_empty or other.atoms_ <= self.closure()

    def intersect(self, *atoms) -> "ISet":
        return ISet(self.domain, *self.atoms_, *atoms)

    def _sympystr(self, printer):
        return render_set(self)


def items(*atoms) -> ISet:
    return ISet("item", *atoms)


def classes(*atoms) -> ISet:
    return ISet("class", *atoms)


def nonempty(template: ISet) -> Atom:
    """The member m of an anchors_with(S) set: S(m) is not empty (template: S in SELF)."""
    return Atom("nonempty", template)


def instantiate(template: ISet, anchor) -> ISet:
    return template.xreplace({SELF: anchor})


# ---------------------------------------------------------------------------------------
# data atoms
# ---------------------------------------------------------------------------------------
class Vec(sympy.Basic):
    """A vector of the batch: Vec('z', i) is z_i; ``unit`` True is z_i / |z_i|."""

    def __new__(cls, name, index, unit=False):
        name = name if isinstance(name, Str) else Str(name)
        unit = unit if isinstance(unit, sympy.Basic) else (sympy.true if unit else sympy.false)
        return sympy.Basic.__new__(cls, name, index, unit)

    @property
    def name(self) -> str:
        return self.args[0].name

    @property
    def index(self):
        return self.args[1]

    @property
    def unit(self) -> bool:
        return bool(self.args[2])

    @property
    def free_symbols(self):
        return self.args[1].free_symbols

    def base(self) -> "Vec":
        return Vec(self.name, self.index)

    def _sympystr(self, printer):
        return f"{self.name}[{printer._print(self.index)}]"


class _Symmetric(sympy.Expr):
    """A symmetric function of two vector atoms, arguments in canonical order."""

    is_commutative = True
    is_real = True
    #: its value when both vectors are the same (None: no simplification)
    diagonal = None

    def __new__(cls, u, v):
        if u == v and cls.diagonal is not None:
            return sympy.Integer(cls.diagonal)
        u, v = sorted((u, v), key=_key)
        return sympy.Expr.__new__(cls, u, v)

    @property
    def free_symbols(self):
        return self.args[0].free_symbols | self.args[1].free_symbols


class Dot(_Symmetric):
    """<u, v> of two vector atoms (never of unit vectors: see ``dot``)."""

    def _sympystr(self, printer):
        return f"dot({printer._print(self.args[0])}, {printer._print(self.args[1])})"


class Cos(_Symmetric):
    """<u, v> / (|u| |v|) of two vector atoms (nonzero vectors)."""

    diagonal = 1

    def _sympystr(self, printer):
        return f"cos({printer._print(self.args[0])}, {printer._print(self.args[1])})"


class SqDist(_Symmetric):
    """|u - v|^2 of two vector atoms."""

    is_nonnegative = True
    diagonal = 0

    def _sympystr(self, printer):
        return f"sqdist({printer._print(self.args[0])}, {printer._print(self.args[1])})"


class At(sympy.Expr):
    """A scalar datum: At('beta', i) = beta_i, At('W', i, j) = W_ij."""

    is_commutative = True
    is_real = True

    def __new__(cls, name, *indices):
        name = name if isinstance(name, Str) else Str(name)
        return sympy.Expr.__new__(cls, name, *indices)

    @property
    def name(self) -> str:
        return self.args[0].name

    @property
    def free_symbols(self):
        found = set()
        for index in self.args[1:]:
            found |= index.free_symbols
        return found

    def _sympystr(self, printer):
        return f"{self.name}[{', '.join(printer._print(a) for a in self.args[1:])}]"


class IdxAt(sympy.Basic):
    """An index-valued datum: IdxAt('y', i) is the label (class) of item i."""

    def __new__(cls, name, index):
        name = name if isinstance(name, Str) else Str(name)
        return sympy.Basic.__new__(cls, name, index)

    @property
    def free_symbols(self):
        return self.args[1].free_symbols

    def _sympystr(self, printer):
        return f"{self.args[0].name}[{printer._print(self.args[1])}]"


# ---------------------------------------------------------------------------------------
# sets' sizes, reductions, guards, indicators
# ---------------------------------------------------------------------------------------
class Card(sympy.Expr):
    """|S| (a non-negative integer)."""

    is_commutative = True
    is_integer = True
    is_nonnegative = True

    def __new__(cls, iset):
        return sympy.Expr.__new__(cls, iset)

    @property
    def iset(self) -> ISet:
        return self.args[0]

    @property
    def free_symbols(self):
        return self.args[0].free_symbols

    def _sympystr(self, printer):
        return f"count({render_set(self.iset)})"


REDUCTIONS = ("sum", "mean", "lse", "max", "min")


class Red(sympy.Expr):
    """kind over var in iset of body; ``var`` is bound (not a free symbol)."""

    is_commutative = True
    is_real = True

    def __new__(cls, kind, body, var, iset):
        kind = kind if isinstance(kind, Str) else Str(kind)
        return sympy.Expr.__new__(cls, kind, sympy.sympify(body), var, iset)

    @property
    def kind(self) -> str:
        return self.args[0].name

    @property
    def body(self):
        return self.args[1]

    @property
    def var(self):
        return self.args[2]

    @property
    def iset(self) -> ISet:
        return self.args[3]

    @property
    def free_symbols(self):
        return (self.body.free_symbols - {self.var}) | self.iset.free_symbols

    def _sympystr(self, printer):
        name = "logsumexp" if self.kind == "lse" else self.kind
        return f"{name}({printer._print(self.var)}, {render_set(self.iset)}, {printer._print(self.body)})"


class Guarded(sympy.Expr):
    """``e`` when ``iset`` is non-empty, else 0."""

    is_commutative = True
    is_real = True

    def __new__(cls, e, iset):
        return sympy.Expr.__new__(cls, sympy.sympify(e), iset)

    @property
    def free_symbols(self):
        return self.args[0].free_symbols | self.args[1].free_symbols

    def _sympystr(self, printer):
        return f"guarded({printer._print(self.args[0])}, if {render_set(self.args[1])} is not empty)"


class Ind(sympy.Expr):
    """1 if ``atom`` holds for ``member`` (an index expression), else 0."""

    is_commutative = True
    is_nonnegative = True

    def __new__(cls, atom, member):
        return sympy.Expr.__new__(cls, atom, member)

    @property
    def atom(self) -> Atom:
        return self.args[0]

    @property
    def member(self):
        return self.args[1]

    @property
    def free_symbols(self):
        return self.args[0].free_symbols | self.args[1].free_symbols

    def _sympystr(self, printer):
        return f"indicator({render_atom(self.atom, printer._print(self.member))})"


class Unsupported(Exception):
    """The expression (or the kernel code) uses something the prover cannot represent."""


# ---------------------------------------------------------------------------------------
# vector algebra: linear combinations of vector atoms, expanded at construction
# ---------------------------------------------------------------------------------------
class VSum(sympy.Basic):
    """sum over var in iset of a vector linear form (mean(k, all, z[k]) = VSum / n)."""

    def __new__(cls, body: "Linear", var, iset):
        terms = sympy.Tuple(*[sympy.Tuple(atom, coef) for atom, coef in sorted(body.items(), key=_key)])
        return sympy.Basic.__new__(cls, terms, var, iset)

    def linear(self) -> "Linear":
        return {atom: coef for atom, coef in self.args[0].args}

    @property
    def var(self):
        return self.args[1]

    @property
    def iset(self):
        return self.args[2]


Linear = dict  # {Vec | VSum: coefficient}


def vector(atom) -> Linear:
    return {atom: sympy.Integer(1)}


def add_linear(a: Linear, b: Linear, scale=1) -> Linear:
    out = dict(a)
    for atom, coef in b.items():
        out[atom] = out.get(atom, 0) + scale * coef
        if out[atom] == 0:
            del out[atom]
    return out


def scale_linear(a: Linear, factor) -> Linear:
    return {atom: coef * factor for atom, coef in a.items()}


def _pair(u, v, difference: bool):
    """<u, v> (or |u - v|^2) of two vector atoms or VSums."""
    if isinstance(u, VSum) or isinstance(v, VSum):
        if isinstance(v, VSum):
            u, v = v, u
        if difference:
            raise Unsupported("squared distance to a vector sum")  # expanded by the caller
        var = fresh(str(u.var).split("_")[0])  # each copy of the sum gets its own index: no capture
        body = {atom.xreplace({u.var: var}): coef.xreplace({u.var: var}) for atom, coef in u.linear().items()}
        return Red("sum", dot(body, vector(v)), var, u.iset)
    if difference:
        if u == v:
            return sympy.Integer(0)
        if u.unit or v.unit:
            return dot(vector(u), vector(u)) + dot(vector(v), vector(v)) - 2 * dot(vector(u), vector(v))
        return SqDist(u, v)
    if u.unit and v.unit:
        # <u/|u|, v/|v|>: the vectors whose cosine is taken are nonzero
        return sympy.Integer(1) if u.base() == v.base() else Cos(u.base(), v.base())
    factor = sympy.Integer(1)
    if u.unit:
        factor /= norm(u.base())
        u = u.base()
    if v.unit:
        factor /= norm(v.base())
        v = v.base()
    return factor * Dot(u, v)


def norm(u: Vec):
    return sympy.sqrt(Dot(u, u))


def dot(a: Linear, b: Linear):
    """Bilinear expansion of <a, b>."""
    return sympy.Add(*[ca * cb * _pair(u, v, False) for u, ca in a.items() for v, cb in b.items()])


def sqdist(a: Linear, b: Linear):
    """|a - b|^2: SqDist of two plain vector atoms, else the bilinear expansion."""
    if len(a) == 1 and len(b) == 1:
        (u, cu), (v, cv) = next(iter(a.items())), next(iter(b.items()))
        if cu == 1 and cv == 1 and isinstance(u, Vec) and isinstance(v, Vec):
            return _pair(u, v, True)
    difference = add_linear(a, b, -1)
    return dot(difference, difference)


def cosine(a: Linear, b: Linear):
    if len(a) == 1 and len(b) == 1:
        (u, cu), (v, cv) = next(iter(a.items())), next(iter(b.items()))
        if isinstance(u, Vec) and isinstance(v, Vec) and cu.is_positive and cv.is_positive:
            return dot(vector(Vec(u.name, u.index, True)), vector(Vec(v.name, v.index, True)))
    return dot(a, b) / (sympy.sqrt(dot(a, a)) * sympy.sqrt(dot(b, b)))


# ---------------------------------------------------------------------------------------
# rendering (the formula language where it can, readable otherwise)
# ---------------------------------------------------------------------------------------
_NAMED = [
    (lambda a: {k for k, *_ in a} == {("same", "ids"), ("not_self", "")}, "positives"),
    (lambda a: {k for k, *_ in a} == {("same", "labels"), ("not_self", "")}, "same_class"),
    (lambda a: {k for k, *_ in a} == {("differ", "modality")}, "other_modality"),
    (lambda a: {k for k, *_ in a} == {("same", "ids"), ("differ", "modality")}, "cross_positives"),
    (lambda a: {k for k, *_ in a} == {("not_self", "")}, "others"),
    (lambda a: {k for k, *_ in a} == {("in_list", "neighbors")}, "neighbors"),
    (lambda a: {k for k, *_ in a} == {("edge", ""), ("not_self", "")}, "adjacent"),
]


def set_name(iset: ISet) -> Optional[str]:
    """The formula language's name of a per-anchor set (positives, others, ...), if it has one."""
    anchors = {atom.anchor for atom in iset.atoms_}
    if len(anchors) != 1 or iset.domain != "item":
        return None
    described = [((atom.kind, atom.arg if isinstance(atom.arg, str) else ""), atom.anchor) for atom in iset.atoms_]
    for test, name in _NAMED:
        if test(described):
            return name
    return None


def render_atom(atom: Atom, member: str) -> str:
    anchor = sympy.sstr(atom.anchor) if not isinstance(atom.anchor, Str) else ""
    kind, arg = atom.kind, atom.arg
    short = {"ids": "id", "labels": "y", "modality": "modality"}
    if kind == "same":
        return f"{short[arg]}[{member}] == {short[arg]}[{anchor}]"
    if kind == "differ":
        return f"{short[arg]}[{member}] != {short[arg]}[{anchor}]"
    if kind == "not_self":
        return f"{member} != {anchor}"
    if kind == "self":
        return f"{member} == {anchor}"
    if kind == "in_list":
        return f"{member} in {arg}({anchor})"
    if kind == "listed_by":
        return f"{anchor} in {arg}({member})"
    if kind == "edge":
        return f"W[{anchor}, {member}] > 0"
    if kind == "edge_from":
        return f"W[{member}, {anchor}] > 0"
    if kind == "label_of":
        return f"{member} == y[{anchor}]"
    if kind == "nonempty":
        return f"{render_set(instantiate(arg, sympy.Symbol(member)))} is not empty"
    return "false"


def render_set(iset: ISet) -> str:
    if iset.is_empty:
        return "{}"
    whole = {"item": "all", "class": "classes", "cluster": "clusters"}[iset.domain]
    if not iset.atoms_:
        return whole
    name = set_name(iset)
    if name is not None:
        return f"{name}({sympy.sstr(next(iter(iset.atoms_)).anchor)})"
    if len(iset.atoms_) == 1 and next(iter(iset.atoms_)).kind in ("label_of", "self"):
        (atom,) = iset.atoms_
        anchor = sympy.sstr(atom.anchor)
        return f"{{y[{anchor}]}}" if atom.kind == "label_of" else f"{{{anchor}}}"
    if iset.domain == "item" and len(iset.atoms_) == 1:
        (atom,) = iset.atoms_
        if atom.kind == "nonempty":
            inner = set_name(instantiate(atom.arg, sympy.Symbol("i")))
            if inner is not None:
                return f"anchors_with({inner})"
    return "{m in " + whole + " : " + ", ".join(render_atom(a, "m") for a in sorted(iset.atoms_, key=_key)) + "}"


def render(expr) -> str:
    """One line, in the formula language's notation."""
    return sympy.sstr(expr, order="none")


def walk(expr) -> Iterable:
    """Every sub-expression (pre-order), sets and atoms included."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, sympy.Basic):
            stack.extend(reversed(node.args))
