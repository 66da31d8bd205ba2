"""The batch a loss sees, and the anchor x candidate spaces its distributions live on.

``Inputs`` holds what the caller passed (backend arrays) and the resolved parameters.
``Pairs`` is one candidate space: rows are anchors i, columns are candidates j, which are
the batch itself, each anchor's given candidates (``neighbors``), the class prototypes, the
K outputs of z (a softmax over logits), the rows of a memory bank passed in the call, or the
classes of the batch's labels (item kernels pooled over each class). Kernels ask a ``Pairs`` for pairwise quantities and never care which layout
they are on, so one kernel definition serves every support.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

from icon_registry.errors import IconError

# torch is imported only where the grad mode is read: the catalog's schema imports this module,
# and `icon list` / `show` / `validate` / `table` never need it.

#: Names of the per-batch arguments a compiled loss accepts besides ``z``.
INPUT_NAMES = ("x", "labels", "ids", "modality", "neighbors", "graph", "teacher", "center", "bank", "bank_ids",
               "bank_labels", "keys")


@dataclass
class Inputs:
    backend: Any
    z: Any
    n: int
    params: dict[str, Any]
    x: Any = None
    labels: Any = None
    ids: Any = None
    modality: Any = None
    neighbors: Any = None
    graph: Any = None
    #: (n, K) per-anchor scores over the K outputs given by the caller: a teacher's logits, or
    #: probabilities (codes); ``center`` (K,) is subtracted from them where a kernel asks (DINO).
    teacher: Any = None
    center: Any = None
    #: (m, d) vectors passed in the call (memory bank, queue, support set, the other view's
    #: positives) with their own ids / labels ((m,)); ``keys`` (n, d): each anchor's own key (MoCo).
    bank: Any = None
    bank_ids: Any = None
    bank_labels: Any = None
    keys: Any = None
    prototypes: Any = None
    entry_id: str = "?"
    #: Anchor rows (start, stop) evaluated against all n candidates; None: every row
    #: (chunked and distributed evaluation, icon_registry.compiler.chunked). z, x, labels,
    #: ids and modality always hold all n candidates; the anchor-indexed inputs ``neighbors``,
    #: ``graph``, ``teacher`` and ``keys`` hold only the anchor rows (the columns of neighbors and
    #: graph still index all n candidates). ``center`` and the bank are shared by every row.
    rows: Any = None
    #: Multiplies p in the term sum_j p_ij log w_ij (t-SNE's early exaggeration; 1: the objective).
    exaggeration: float = 1.0
    _cache: dict = field(default_factory=dict, repr=False)
    #: Statistics over ALL candidates (cluster sizes, unit vectors), shared by every row block.
    _global: dict = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return self.n if self.rows is None else self.rows[1] - self.rows[0]

    def anchor_rows(self, array):
        """The anchor rows of a per-item array (n, ...) (all of it when not sliced)."""
        if self.rows is None:
            return array
        return array[self.rows[0] : self.rows[1]]

    def global_cached(self, key, compute):
        """A statistic over all candidates, computed once and shared by every row block."""
        key = (key, self.backend.symbolic or _grad_enabled())
        if key not in self._global:
            self._global[key] = compute()
        return self._global[key]

    def param(self, ref):
        """A parameter reference from an entry: a literal number or a parameter name."""
        value = self.params[ref] if isinstance(ref, str) else ref
        # Symbolic instances keep literals exact: 2.0 would turn every probability into a Float.
        return self.backend.exact(value) if self.backend.symbolic else value

    def require(self, name: str, why: str):
        value = getattr(self, name)
        if value is None:
            raise IconError(f"{self.entry_id}: argument '{name}' is required ({why})", argument=name)
        return value

    def cached(self, key, compute):
        """A per-batch quantity, computed once per grad mode (p, evaluated without gradients,
        must not hand q a detached copy of a pairwise quantity both read)."""
        key = (key, self.backend.symbolic or _grad_enabled())
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


def is_one(value) -> bool:
    """A parameter value that is the number 1 (not a symbol or a tensor): nothing to scale by."""
    return isinstance(value, (int, float)) and value == 1


def _grad_enabled() -> bool:
    import torch

    return torch.is_grad_enabled()


@dataclass
class Pairs:
    """Anchors x candidates. ``layout`` is 'batch', 'candidates', 'prototypes', 'outputs',
    'bank', 'key_and_bank' or 'class_pools' (see ``SUPPORTS``)."""

    inputs: Inputs
    layout: str
    _support: Any  # see ``support``; None: one that follows from ``structure``, made on first use
    #: (support, shape, anchor rows) when the mask follows from the shapes alone (others, all, ...)
    structure: Any = None

    @property
    def support(self):
        """bool mask (n, m): the candidates each anchor's distribution ranges over."""
        if self._support is None:
            if self.structure[0] == "others":
                rows_all = self.inputs.rows is None and not self.backend.symbolic
                self._support = self.backend.others_mask(self.inputs.n, self.inputs.z) if rows_all else ~self.is_self()
            else:
                self._support = self.backend.full_mask(self.structure[1], self.inputs.z)
        return self._support

    @property
    def width(self) -> int:
        """m, the candidates per anchor (from the shapes when they give it: no mask is made)."""
        return self.structure[1][1] if self.structure is not None else self.support.shape[1]

    def restrict(self, mask):
        """``mask & support``; ``mask`` itself when the support holds every pair."""
        return mask if self.full else mask & self.support

    @property
    def backend(self):
        return self.inputs.backend

    @property
    def excluded_diagonal(self):
        """The offset o when the support is every pair but (r, r + o), the anchor itself ('others');
        else None. Backends fill that diagonal instead of applying the mask (it is faster)."""
        if self.structure is None or self.structure[0] != "others":
            return None
        return 0 if self.inputs.rows is None else self.inputs.rows[0]

    @property
    def full(self) -> bool:
        """Every anchor x candidate pair is in the support: nothing needs masking."""
        return self.structure is not None and self.structure[0] in _FULL_SUPPORTS

    @property
    def nonempty_rows(self) -> bool:
        """Every anchor has at least one candidate, by construction (n >= 2, k >= 1, C >= 1)."""
        return self.structure is not None and self.structure[1][1] >= 1 + (self.structure[0] == "others")

    def vectors(self, on: str):
        if on == "z":
            return self.inputs.z
        return self.inputs.require("x", "a kernel on the input space reads x")

    def sqdist(self, on: str, cosine: bool = False):
        key = ("sqdist", self.layout, on, cosine)
        return self.inputs.cached(key, lambda: self._pairwise(on, cosine, "sqdist"))

    def dot(self, on: str, cosine: bool = False, temperature=1.0):
        """<v_i, v_j> / temperature. On the torch backend the temperature divides the anchor rows
        (n x d) instead of the result (n x m): one pass over the pairs less, forward and backward,
        and one n x m buffer less."""
        key = ("dot", self.layout, on, cosine, temperature)
        if not is_one(temperature) and self.backend.symbolic:
            return self.inputs.cached(key, lambda: self._pairwise(on, cosine, "dot") / temperature)
        return self.inputs.cached(key, lambda: self._pairwise(on, cosine, "dot", temperature))

    def _unit(self, name, vectors):
        """Rows of ``vectors`` scaled to unit length, computed once per batch."""
        return self.inputs.global_cached(("unit", name), lambda: self.backend.normalize_rows(vectors))

    def _pairwise(self, on, cosine, quantity, temperature=1.0):
        B = self.backend
        inputs = self.inputs

        def anchors(vectors):
            rows = inputs.anchor_rows(vectors)
            return rows if is_one(temperature) else rows / temperature

        a = self.vectors(on)
        if cosine:
            a = self._unit(on, a)
        if self.layout in ("outputs", "class_pools"):
            raise IconError(f"{inputs.entry_id}: support '{self.layout}' has no candidate vectors: use "
                            + ("the logits or teacher_probabilities kernel" if self.layout == "outputs"
                               else "class_pool around a kernel on the items"))
        if self.layout == "candidates":
            b = a[inputs.neighbors]
            a = anchors(a)
            if quantity == "dot":
                return (a[:, None, :] * b).sum(-1)
            diff = a[:, None, :] - b
            return (diff * diff).sum(-1)
        if on != "z" and self.layout != "batch":
            raise IconError(f"{inputs.entry_id}: the candidates of support '{self.layout}' live in the learned space z")
        b = a
        if self.layout == "prototypes":
            b = B.normalize_rows(inputs.prototypes) if cosine else inputs.prototypes
        elif self.layout in ("bank", "key_and_bank"):
            b = self._unit("bank", inputs.bank) if cosine else inputs.bank
        a = anchors(a)
        if self.layout == "key_and_bank":
            key = inputs.keys
            if cosine:
                key = inputs.cached(("unit", "keys"), lambda: B.normalize_rows(key))
            own = (a * key).sum(-1) if quantity == "dot" else ((a - key) * (a - key)).sum(-1)
            rest = B.dot_products(a, b) if quantity == "dot" else B.sqdist(a, b)
            return B.concat_columns(own[:, None], rest)
        if quantity == "dot":
            return B.dot_products(a, b)
        if self.layout == "batch" and not B.symbolic:  # (symbolic rows minus themselves are 0 already)
            return B.sqdist(a, b, diagonal=0 if inputs.rows is None else inputs.rows[0])
        return B.sqdist(a, b)

    def outputs(self, source: str):
        """The (anchor rows, K) scores over the outputs: z itself, or the caller's teacher."""
        if self.layout != "outputs":
            raise IconError(f"{self.inputs.entry_id}: the logits and teacher_probabilities kernels need support 'outputs'")
        if source == "z":
            return self.backend.output_scores(self.inputs.anchor_rows(self.inputs.z))
        return self.inputs.require("teacher", "the kernel reads the teacher's scores over the outputs")

    def same(self, name: str):
        """Mask of pairs whose ``name`` (ids, labels, modality) agree."""
        if self.layout in ("prototypes", "outputs"):
            anchors, _ = self._class_values(name)
            return self.backend.equal_outer(anchors, self.column_index())
        values = self.inputs.require(name, f"pairs are matched by equal {name}")
        anchors = self.inputs.anchor_rows(values)
        if self.layout == "class_pools":
            return self.backend.equal_outer(anchors, self.column_index())
        if self.layout == "candidates":
            return anchors[:, None] == values[self.inputs.neighbors]
        if self.layout == "bank":
            bank_name = {"ids": "bank_ids", "labels": "bank_labels"}.get(name)
            if bank_name is None:
                raise IconError(f"{self.inputs.entry_id}: bank rows have no {name} (only bank_ids and bank_labels)")
            column = self.inputs.require(bank_name, f"bank rows are matched by equal {name}")
            return self.backend.equal_outer(anchors, column)
        if self.layout == "key_and_bank":
            raise IconError(f"{self.inputs.entry_id}: support 'key_and_bank' matches by position: use the own_key kernel")
        return self.backend.equal_outer(anchors, values)

    def same_pairs(self, name: str):
        """(rows, cols) in row-major order of the pairs whose ``name`` values agree, on the support
        'others' of a whole batch (each item with the other items of its class), found by sorting
        the values (``equal_value_pairs``) instead of comparing all n x n; None elsewhere, on the
        symbolic backends, and where the backend compares instead (a small batch; torch.compile,
        where the number of pairs would be data-dependent)."""
        if self.backend.symbolic or self.excluded_diagonal != 0 or self.inputs.rows is not None:
            return None
        return self.backend.equal_value_pairs(self.inputs.require(name, f"pairs are matched by equal {name}"))

    def matching_column(self, name: str):
        """On the layouts whose m columns are the classes 0..m-1 (prototypes, outputs): ``Weights.column``
        of ``same(name)``, the column each anchor's value names (its only pair), when every value
        names one; None otherwise and on the symbolic backends, which use the mask."""
        if self.layout not in ("prototypes", "outputs") or self.backend.symbolic:
            return None
        values, every_one_named = self._class_values(name)
        return values if every_one_named else None

    def _class_values(self, name: str):
        """The anchors' ``name`` values on a layout whose m columns are the classes 0..m-1
        (prototypes, outputs), and whether each names one. A value m or above is an error (a wrong
        num_classes, or labels counted from 1); a negative one marks an anchor without a class,
        whose row has no pair (torch's ignore_index -100 is one). Checked in eager torch only: the
        symbolic backends and torch.compile, where it would be a data-dependent graph break, take
        the mask as it comes."""
        inputs = self.inputs
        values = inputs.anchor_rows(inputs.require(name, f"pairs are matched by equal {name}"))
        found = None if self.backend.symbolic else self.backend.value_range(values)
        if found is None:
            return values, False
        low, high = found
        classes = self.structure[1][1]
        if high >= classes:
            raise class_range_error(inputs.entry_id, name, classes, high,
                                    per="prototype" if self.layout == "prototypes" else "output of z")
        return values, low >= 0

    def column_index(self):
        """0..m-1 for the m candidates of this layout (classes, outputs, prototypes)."""
        return self.class_index_like(self.support.shape[1])

    def is_self(self):
        if self.layout != "batch":
            raise IconError(f"{self.inputs.entry_id}: the identity kernel needs the batch itself as candidates")
        if self.inputs.rows is None:
            return self.backend.eye_mask(self.inputs.n, self.inputs.z)
        columns = self.class_index_like(self.inputs.n)
        return self.inputs.anchor_rows(columns)[:, None] == columns[None, :]

    def position(self, index: int):
        if self.layout != "candidates":
            raise IconError(f"{self.inputs.entry_id}: candidate_position needs support 'candidates'")
        columns = self.class_index_like(self.structure[1][1])
        return (columns == index)[None, :] & self.support

    def own_key(self):
        """The anchor's own key: column 0 of 'key_and_bank'."""
        if self.layout != "key_and_bank":
            raise IconError(f"{self.inputs.entry_id}: the own_key kernel needs support 'key_and_bank'")
        return (self.column_index() == 0)[None, :] & self.support

    def class_index_like(self, m: int):
        return self.backend.arange(m, self.inputs.z)


Support = Literal["others", "all", "other_modality", "candidates", "prototypes", "outputs", "bank", "key_and_bank",
                  "class_pools"]

#: What each support means, for the docs and ``icon show``.
SUPPORTS: dict[str, str] = {
    "others": "every other item of the batch, k != i",
    "all": "every item of the batch, i included",
    "other_modality": "the items of the other modality (CLIP, CMC)",
    "candidates": "the anchor's given candidates, neighbors[i] (e.g. triplet's positive and negative)",
    "prototypes": "the class prototypes w_c instead of data points",
    "outputs": "the K outputs of z (a softmax over z's entries as logits: classifier heads, prototype scores), "
    "where a teacher's scores can be given over the same K outputs (distillation, DINO, SwAV)",
    "bank": "the rows of a memory bank passed in the call (bank=, with bank_ids / bank_labels): a queue, a support "
    "set, or the positives of the other view (CPC, N-pair)",
    "key_and_bank": "the anchor's own key (keys[i]) followed by the rows of the bank: MoCo's K + 1 logits",
    "class_pools": "the classes of the batch's labels, each standing for the other items of that class: an item "
    "kernel summed over a class's members (class_pool), as NCA's probability of picking a same-class neighbour",
}

#: The caller's arguments a support reads by itself (kernels add their own).
SUPPORT_INPUTS: dict[str, set] = {"other_modality": {"modality"}, "candidates": {"neighbors"}, "bank": {"bank"},
                                  "key_and_bank": {"keys", "bank"}, "class_pools": {"labels"}}


#: Supports that contain every anchor x candidate pair.
_FULL_SUPPORTS = frozenset(("all", "candidates", "prototypes", "outputs", "bank", "key_and_bank"))


def pairs_on(inputs: Inputs, support: str) -> Pairs:
    """The candidate space a distribution with this support lives on (one object per batch and
    support while a distribution holds it: p and q on the same support share it, mask included)."""
    key = ("pairs", support)
    held = inputs._cache.get(key)
    pairs = held() if held is not None else None
    if pairs is None:
        pairs = _build_pairs(inputs, support)
        # held weakly: the candidate space references the batch, and a strong reference back would
        # be a cycle keeping this call's n x m tensors alive until the garbage collector runs
        inputs._cache[key] = weakref.ref(pairs)
    return pairs


def shape_width(inputs: Inputs, support: str):
    """m, the candidates per anchor of a support whose candidates are not the batch's items
    (k given candidates, C prototypes, K outputs, m bank rows, 1 + m for key_and_bank), read off
    the shapes; None for the supports over the batch (n candidates, or its classes for
    class_pools)."""
    if support == "candidates":
        return inputs.require("neighbors", "support 'candidates' reads each anchor's candidates").shape[1]
    if support == "prototypes":
        return inputs.require("prototypes", "support 'prototypes' needs class prototypes").shape[0]
    if support == "outputs":
        return inputs.z.shape[1]
    if support in ("bank", "key_and_bank"):
        bank = inputs.require("bank", f"support '{support}' reads the bank's rows")
        if support == "bank":
            return bank.shape[0]
        inputs.require("keys", "support 'key_and_bank' reads each anchor's own key")
        return 1 + bank.shape[0]
    return None


def _build_pairs(inputs: Inputs, support: str) -> Pairs:
    rows = inputs.n_rows
    width = shape_width(inputs, support)
    if width is not None:
        return Pairs(inputs, support, None, (support, (rows, width), inputs.rows))
    if support == "class_pools":
        return _class_pools(inputs)
    pairs = Pairs(inputs, "batch", None)
    if support == "other_modality":
        pairs._support = ~pairs.same("modality")
        return pairs
    pairs.structure = (support, (rows, inputs.n), inputs.rows)
    return pairs


def class_members(inputs: Inputs):
    """(n, C) bool: item j has label c, for the C = max label + 1 classes of the whole batch."""
    labels = inputs.require("labels", "support 'class_pools' groups the items by label")

    def members():
        classes = inputs.backend.arange(int(labels.max()) + 1, inputs.z)
        return inputs.backend.equal_outer(labels, classes)

    return inputs.global_cached("class_members", members)


def _class_pools(inputs: Inputs) -> Pairs:
    """Class c is a candidate of anchor i when some OTHER item has label c."""
    members = class_members(inputs)
    others = pairs_on(inputs, "others")
    support = inputs.backend.bool_matmul(others.support, members)
    return Pairs(inputs, "class_pools", support)


def class_range_error(entry_id, name: str, classes: int, found: int, per: str = "prototype",
                      where: str = "") -> IconError:
    """The error for a ``name`` value (labels) ``found`` past the last of ``classes`` classes
    (``where``: which rank holds it, in a distributed batch)."""
    return IconError(f"{entry_id}: argument '{name}' must name the classes 0..{classes - 1} (one per {per}), found "
                     f"{found}{where}; a negative value marks an anchor without a class (it adds nothing)",
                     entry=entry_id, argument=name)
