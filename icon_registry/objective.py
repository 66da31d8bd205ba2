"""The I-Con objective, sum_i KL(p(.|i) || q(.|i)), per anchor, on any backend.

Written once against the backend primitives, so the verifier's SymPy evaluation and the
compiled torch loss are the same code.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from icon_registry.backends import cauchy_grid, torch_backend
from icon_registry.deferred import Deferred
from icon_registry.distributions.base import Dist
from icon_registry.errors import IconWarning
from icon_registry.pairs import pairs_on


class SupportMismatch(ValueError):
    """p puts mass where q has none: KL(p || q) is +infinity."""


class AnchorTerms:
    """Per-anchor objective values (n,) and which anchors have a non-empty left-hand
    distribution. Either may be given as a zero-argument callable, computed on first use;
    ``reduced`` (optional) maps 'mean' / 'sum' to the reduced value directly (a fused path
    that needs no per-anchor tensor for them)."""

    values = Deferred()
    has_mass = Deferred()

    def __init__(self, values, has_mass, reduced=None, every_anchor: bool = False):
        self.values, self.has_mass, self._reduced = values, has_mass, reduced
        #: every anchor has mass, by construction (no pass needed to know it)
        self.every_anchor = every_anchor

    def lacks_mass(self) -> bool:
        """No anchor has any mass (the batch carries no supervision)."""
        return not self.every_anchor and not bool(self.has_mass.any())

    def reduce(self, reduction: str):
        """'none': the values; 'sum'; 'mean': over the anchors with mass (torch)."""
        if reduction == "none":
            return self.values
        if self._reduced is not None:
            return self._reduced(reduction)
        if reduction == "sum":
            return self.values.sum()
        return self.values.sum() / self.has_mass.sum().clamp_min(1)


def check_supports(left: Dist, right: Dist, direction: str) -> None:
    """KL(left || right) is finite only if right covers left's support."""
    if left.pairs.layout != right.pairs.layout or left.shape != right.shape:
        raise SupportMismatch(
            f"p lives on '{left.pairs.layout}' candidates and q on '{right.pairs.layout}': they must share a candidate space"
        )
    # every mask lies inside its support: a q over the whole of p's support covers p, no pass needed
    if right.on_whole_support and (right.pairs is left.pairs or right.pairs.support is left.pairs.support):
        return
    fixed = getattr(left, "fixed", None)
    pairs = fixed[1].pairs() if fixed is not None else None
    if pairs is not None:  # a fixed p in index form: check only its pairs
        rows, cols = pairs
        bad = ~right.mask[rows, cols]
        if not bool(bad.any()):
            return
        uncovered_at = (rows[bad][0], cols[bad][0])  # row-major first, as nonzero orders them
    else:
        uncovered = left.mask & ~right.mask
        uncovered_at = _first_true(uncovered) if left.backend.any(uncovered) else None
    if uncovered_at is not None:
        i, j = (int(v) for v in uncovered_at)
        i += left.pairs.inputs.rows[0] if left.pairs.inputs.rows is not None else 0
        side, other = ("p", "q") if direction == "forward" else ("q", "p")
        raise SupportMismatch(
            f"{side} puts mass on the pair ({i}, {j}) but {other} gives it none: the KL divergence is +infinity "
            f"(give {other} a support that contains every pair {side} uses)"
        )


#: ``Dist.covered_by`` of a cached p whose supports were checked against this very batch's q
#: (a chunked block's p, kept from its forward for its backward).
CHECKED = "checked against this batch"


def _check_supports_once(p: Dist, q: Dist, direction: str, reused: bool) -> None:
    """check_supports, skipped for a cached p that already passed against a q whose mask follows
    from the shapes alone (the same p and the same q mask again: three n x m passes saved per call)."""
    left, right = (p, q) if direction == "forward" else (q, p)
    structure = q.pairs.structure if direction == "forward" and q.on_whole_support else None
    if reused and (p.covered_by is CHECKED or (structure is not None and p.covered_by == structure)):
        return
    check_supports(left, right, direction)
    p.covered_by = structure


def _first_true(mask):
    if isinstance(mask, torch.Tensor):
        return mask.nonzero()[0].tolist()
    return [int(v[0]) for v in np.nonzero(mask)]


def anchor_terms(p: Dist, q: Dist, *, direction: str = "forward", objective: str = "kl") -> AnchorTerms:
    """Per-anchor KL(left_i || right_i) or cross entropy H(left_i, right_i).

    forward: left = p (fixed), right = q (learned); reverse: left = q, right = p.
    Joint distributions give per-anchor row contributions that sum to the joint KL.
    ``Inputs.exaggeration`` multiplies left in the term sum_j left_ij log-weight_ij only
    (t-SNE's early exaggeration); 1 is the objective itself.
    """
    left, right = (p, q) if direction == "forward" else (q, p)
    B = p.backend
    fast = _fused_terms(left, right, objective)
    if fast is not None:
        return fast
    exaggeration = p.pairs.inputs.exaggeration
    left_prob = left.prob()
    # sum_j left_ij log right_ij = sum_j left_ij logits_ij - log_norm_i sum_j left_ij
    right_logits = B.where(left.mask, right.logits, 0.0) if right.logits is not None else 0.0
    left_mass = B.sum(left_prob, axis=1, keepdims=True)
    dot = B.sum(left_prob * right_logits, axis=1, keepdims=True)
    cross_entropy = right.log_norm * left_mass - (dot if exaggeration == 1 else exaggeration * dot)
    values = cross_entropy
    if objective == "kl":
        values = values + B.sum(B.plogp(left_prob, left.log_prob(), left.mask), axis=1, keepdims=True)
    has_mass = B.count(left.mask, 1) > 0
    return AnchorTerms(values[:, 0], has_mass[:, 0])


#: Index form for a fixed p when its pairs are at most this fraction of the n x m matrix.
_INDEX_FRACTION = 0.25


@dataclass
class FixedP:
    """A fixed p (no gradient) in the cheapest form for sum_j p_ij (lse_i - logits_ij):
    one column per row (``target``: p one-hot, every row), an index form (``index``: rows,
    cols, weights of the pairs with mass), a dense (n, m) matrix, or (compiled) ``uniform``."""

    mass: Any = None  # (n,) sum_j p_ij; None: 1 for every row
    has_mass: Any = None  # (n,) bool; None: every row
    entropy: Any = None  # (n,) sum_j p_ij log p_ij; None: 0
    target: Any = None
    index: Any = None
    dense: Any = None
    #: (mask, per-row weight): p uniform over the mask, as torch.compile sees it (the compiler
    #: fuses the mask into the reductions instead of materializing an n x m p)
    uniform: Any = None
    #: the pairs of ``target`` or ``index`` once each, {a < b} with p_ab and p_ba, in order of a
    #: (``torch_backend.unordered_pairs``; made on first use)
    pairs_once: Any = None

    def pairs(self):
        """(rows, cols) of the pairs with mass, when held in index form (None otherwise)."""
        if self.target is not None:
            return torch.arange(self.target.shape[0], device=self.target.device), self.target
        return self.index[:2] if self.index is not None else None


def _fused_terms(left: Dist, right: Dist, objective: str):
    """The torch fast path: sum_j p_ij (lse_i - logits_ij) fused with q's normalizer.

    Taken when left is fixed (no gradient) and right is a softmax of its logits over its mask
    (by rows or jointly). Same values and gradients as the generic expression of
    ``anchor_terms``; returns None when it does not apply.
    """
    if left.backend.symbolic or right.softmax is None or left.pairs.layout != right.pairs.layout:
        return None
    held = left.entries[2] if left.entries is not None else left.logits  # entries: no n x m logits made
    if held is not None and held.requires_grad:
        return None
    compiling = torch_backend.compiling()
    gradients_only = torch_backend.gradients_only_active()
    # t-SNE's q: the fused Cauchy form reads d2 (or the points themselves, in blocks) and never forms
    # the logits -log(1 + d2)
    fused = not (torch_backend.plain_ops() or gradients_only)
    points = right.points if fused else None
    cauchy = right.cauchy if fused and points is None else None
    logits = points if points is not None else cauchy if cauchy is not None else right.logits
    fixed = prepare_fixed(left, objective, logits, compiling)
    if fixed is None:
        return None
    density = right.grid_density if points is not None else 0.0
    if points is not None and not torch_backend.blocked_cauchy_applies(points, fixed, density):
        if density > 0:
            why = (f"the grid is 1-D or 2-D and the points are {points.shape[1]}-D" if not cauchy_grid.applies(points)
                   else "p is dense here (the grid takes a p held at its pairs: t-SNE's nearest > 0)")
            warnings.warn(IconWarning(f"q's normalizer is summed over every pair, not interpolated: {why}"))
        points, cauchy = None, right.cauchy
        logits = cauchy
    softmax = right.softmax
    exaggeration = left.pairs.inputs.exaggeration
    n = logits.shape[0]
    if points is not None:
        values = torch_backend.blocked_cauchy_cross_entropy(points, fixed, exaggeration, density)
    elif cauchy is not None:
        values = torch_backend.cauchy_cross_entropy(cauchy, right.mask, softmax, fixed, exaggeration)
    elif (fixed.target is not None and softmax.axis == 1 and exaggeration == 1
          and (softmax.full or (softmax.nonempty and logits.numel() <= _TORCH_CROSS_ENTROPY_PAIRS))
          and not (compiling or gradients_only)):
        # p one-hot on every row and q a row softmax over every candidate (a classifier), or with candidates in
        # every row on a small batch (InfoNCE at n = 256)
        return _one_hot_terms(torch_backend.masked_scores(logits, right.mask, softmax), fixed.target)
    else:
        values = torch_backend.softmax_cross_entropy(logits, right.mask, softmax, fixed, exaggeration)
    if objective == "kl" and fixed.entropy is not None:
        values = values + fixed.entropy
    has_mass = fixed.has_mass
    if has_mass is None:  # every anchor has mass: the mean is over all of them
        return AnchorTerms(
            values,
            lambda: torch.ones(n, dtype=torch.bool, device=logits.device),
            lambda reduction: values.sum() if reduction == "sum" else values.mean(),
            every_anchor=True,
        )
    return AnchorTerms(values, has_mass)


#: Up to this many pairs a masked q (SimCLR's 'others') takes torch's cross entropy on a masked copy
#: of its logits: less fixed cost per call than the fused Function, whose one-buffer backward wins
#: above it (measured: 1.22x vs 1.29x of hand-written at n = 256, 1.19x vs 1.13x at n = 1,024).
_TORCH_CROSS_ENTROPY_PAIRS = 1 << 17


def _one_hot_terms(scores, target) -> AnchorTerms:
    """p one-hot at ``target`` on every row and q the row softmax of ``scores`` (-inf off its
    support): torch's own cross entropy is exactly sum_j p_ij (lse_i - scores_ij), its mean included
    (computed class-major for few columns: ``torch_backend.one_hot_cross_entropy``)."""
    return AnchorTerms(
        lambda: torch_backend.one_hot_cross_entropy(scores, target, "none"),
        lambda: torch.ones(scores.shape[0], dtype=torch.bool, device=scores.device),
        lambda reduction: torch_backend.one_hot_cross_entropy(scores, target, reduction),
        every_anchor=True,
    )


def labelled_classes(entry) -> bool:
    """p is the one-hot of each anchor's label over class columns (same_label on prototypes or
    outputs, by rows) and q a distribution of another kernel over the same columns, by rows: a
    classifier, whose terms ``_labelled_class_terms`` reads straight off the labels."""
    p, q = entry.p, entry.q
    return (p.kind == "normalize" == q.kind and p.kernel.kind == "same_label" and p.support == q.support
            and p.support in ("prototypes", "outputs") and p.over == "rows" == q.over and not q.kernel.indicator
            and entry.direction == "forward")


def _labelled_class_terms(entry, inputs):
    """The terms of a ``labelled_classes`` entry straight from the labels, when q is a softmax
    over all the columns. The generic path would find the same target in an n x C mask and take
    the same cross entropy (``_fused_terms``); this one skips building p. None when the batch is
    not of that form (a q with a mask, an exaggerated p; in eager mode, a label outside the
    classes, whose anchor has no mass)."""
    q = entry.q
    if inputs.exaggeration != 1:
        return None
    pairs = pairs_on(inputs, q.support)
    weights = q.kernel.weights(pairs)
    if weights.mask is not pairs.support:
        return None
    if torch_backend.compiling():
        return _labels_or_ignored_terms(weights.log_weights, inputs.anchor_rows(inputs.labels))
    column = pairs.matching_column("labels")
    if column is None:
        return None
    return _one_hot_terms(weights.log_weights, column)


#: The target of an anchor whose label names no class (torch's own default ``ignore_index``).
_NO_CLASS = -100


def _labels_or_ignored_terms(scores, labels) -> AnchorTerms:
    """``_one_hot_terms`` without a data-dependent range check (torch.compile): an anchor whose
    label lies outside the m columns has no mass, as on the generic path, and adds nothing."""
    has_mass = (labels >= 0) & (labels < scores.shape[1])
    target = torch.where(has_mass, labels, _NO_CLASS)
    return AnchorTerms(F.cross_entropy(scores, target, ignore_index=_NO_CLASS, reduction="none"), has_mass)


def prepare_fixed(left: Dist, objective: str, logits, compiling: bool = False):
    """left as a ``FixedP`` for a cross entropy against ``logits`` (kept on left: prepared once)."""
    dtype = torch.float32 if logits.dtype in (torch.float16, torch.bfloat16) else logits.dtype
    key = (objective, dtype, logits.device)
    if left.fixed is not None and left.fixed[0] == key:
        return left.fixed[1]
    fixed = _fixed_form(left, objective, dtype, compiling)
    if fixed is not None:
        left.fixed = (key, fixed)
    return fixed


#: Up to this many pairs a whole batch's uniform p is prepared dense from its mask: a row sum instead
#: of searching the mask for its pairs (``nonzero``), which costs more on a small batch. Not an anchor
#: block's (chunked evaluation): its backward keeps only a compact p (``chunked._BlockP``).
_DENSE_UNIFORM_PAIRS = 1 << 17


def _uniform_rows(count, kl: bool):
    """p uniform over each row's ``count`` pairs (float (n,)): its ``FixedP`` without the pairs' form (the
    caller sets it), and the counts clamped to at least 1 (p_ij = 1 / safe_i)."""
    has = count > 0
    safe = count.clamp_min(1)
    return FixedP(has.to(count.dtype), has, -safe.log() if kl else None), safe


def _dense_uniform(mask, dtype, kl: bool) -> FixedP:
    """p uniform over ``mask`` (n, m) as a dense matrix; one-hot (``target``) when every row has one pair."""
    dense = torch_backend.mask_as(mask, dtype)
    count = dense.sum(1)  # exact: at most _DENSE_UNIFORM_PAIRS < 2^24 pairs
    if bool((count == 1).all()):
        return FixedP(target=dense.argmax(1))
    fixed, safe = _uniform_rows(count, kl)
    fixed.dense = dense.div_(safe[:, None])
    return fixed


def _fixed_form(left: Dist, objective: str, dtype, compiling: bool):
    """left as a ``FixedP`` (no gradient): uniform over its mask, or any fixed distribution."""
    if left.column is not None:  # one-hot, read off the labels
        return FixedP(target=left.column)
    kl = objective == "kl"
    if left.entries is not None:  # zero outside the given pairs: their index form, with no n x m pass
        rows, cols, log_prob = left.entries
        with torch.no_grad():
            log_prob = log_prob.to(dtype)
            prob = log_prob.exp()
            mass = torch.zeros(left.shape[0], dtype=dtype, device=prob.device).index_add_(0, rows, prob)
            entropy = None
            if kl:
                plogp = left.backend.plogp(prob, log_prob, torch.ones_like(prob, dtype=torch.bool))
                entropy = torch.zeros_like(mass).index_add_(0, rows, plogp)
        fixed = FixedP(mass, mass > 0, entropy)
        fixed.index = (rows, cols, prob)
        return fixed
    n, m = left.shape
    with torch.no_grad():
        if left.logits is None and not left.joint:  # uniform: p_ij = 1 / |mask_i|
            if compiling:  # no data-dependent shapes in a compiled graph: mask and row weights
                fixed, safe = _uniform_rows(left.mask.sum(1, dtype=dtype), kl)
                fixed.uniform = (left.mask, safe.reciprocal())
                return fixed
            if left.mask_pairs is None and n * m <= _DENSE_UNIFORM_PAIRS and left.pairs.inputs.rows is None:
                return _dense_uniform(left.mask, dtype, kl)
            # the mask's pairs as the kernel found them (then the mask need not exist), else searched for
            rows, cols = left.mask_pairs if left.mask_pairs is not None else left.mask.nonzero(as_tuple=True)
            if rows.numel() == n and torch.equal(rows, torch.arange(n, device=rows.device)):
                return FixedP(target=cols)  # exactly one pair per row: p one-hot (entropy 0)
            fixed, safe = _uniform_rows(torch.bincount(rows, minlength=n).to(dtype), kl)
            if rows.numel() <= _INDEX_FRACTION * n * m:
                fixed.index = (rows, cols, safe.reciprocal()[rows])
            else:
                fixed.dense = torch_backend.mask_as(left.mask, dtype).div_(safe[:, None])
            return fixed
        mask = left.mask
        log_prob = left.log_prob()
        if not isinstance(log_prob, torch.Tensor) or log_prob.dim() != 2:
            return None
        log_prob = log_prob.to(dtype)
        prob = log_prob.exp()
        # 0 log 0 = 0: a pair whose probability underflows to zero (or lies off the mask) adds nothing
        entropy = left.backend.plogp(prob, log_prob, mask).sum(1) if kl else None
        fixed = FixedP(prob.sum(1), torch_backend.mask_any(mask, 1), entropy)
        if compiling:
            fixed.dense = prob
            return fixed
        support = prob != 0
        if int(support.sum()) <= _INDEX_FRACTION * support.numel():
            rows, cols = support.nonzero(as_tuple=True)
            fixed.index = (rows, cols, prob[rows, cols])
        else:
            fixed.dense = prob
        return fixed


def entry_terms(entry, inputs, *, objective: str = "kl") -> AnchorTerms:
    """Evaluate an entry's p and q on ``inputs`` and return its per-anchor objective.

    p is supervisory: it is evaluated without gradients.
    """
    B = inputs.backend
    # before the evaluation context: a classifier's terms evaluate q's kernel alone, which counts nothing
    if not (B.symbolic or torch_backend.gradients_only_active()) and labelled_classes(entry):
        direct = _labelled_class_terms(entry, inputs)
        if direct is not None:
            return direct
    cache = getattr(inputs, "p_cache", None)
    with contextlib.nullcontext() if B.symbolic else B.float_dtype(inputs.z.dtype):
        p = cache.get() if cache is not None else None
        reused = p is not None
        if p is None:
            with B.no_grad():
                p = entry.p.evaluate(inputs)
            if cache is not None:
                cache.put(p)
        q = entry.q.evaluate(inputs)
        if p.pairs is None:  # cached: borrow this call's candidate space (same layout)
            if p.layout != q.pairs.layout:
                cache.clear()
                return entry_terms(entry, inputs, objective=objective)
            p.pairs = q.pairs
        try:
            _check_supports_once(p, q, entry.direction, reused=reused)
            return anchor_terms(p, q, direction=entry.direction, objective=objective)
        finally:
            if cache is not None:
                cache.release(p)


class SupervisoryCache:
    """The last p a compiled loss evaluated, reused while its inputs hold the same VALUES.

    p is fixed (no gradient) and depends only on the p-side arguments (x, labels, ids, ...)
    and the parameters, so a loss called again with equal tensors (t-SNE's x every step; ids
    built once, or anew each step) skips p entirely: t-SNE's perplexity calibration runs once.
    With p the cache keeps each p-side tensor as p was computed from it (``_Kept``): the
    version counter cannot vouch for p, since writes through ``.data``, ``.numpy()`` or a numpy
    array shared by ``torch.from_numpy`` leave it unchanged; only equal values do.
    """

    def __init__(self):
        self.key = None
        self.dist = None

    @staticmethod
    def make_key(tensors: dict, extra: tuple):
        return tuple(sorted(tensors.items())), extra

    def holds(self, key) -> bool:
        """The stored p is the one of this call's key."""
        if self.key is None:
            return False
        (kept, extra), (given, given_extra) = self.key, key
        return extra == given_extra and len(kept) == len(given) and all(
            name == other and stored.holds(t) for (name, stored), (other, t) in zip(kept, given)
        )

    def bind(self, key):
        """A view of the cache for one call with this key (or a zero-argument callable making it,
        called on first use: a call that never reads p never builds it)."""
        return _BoundCache(self, key)


def _version(t):
    """The in-place version counter, None for an inference tensor (it keeps none)."""
    return None if t.is_inference() else t._version


class _Kept:
    """A p-side tensor as p was computed from it: a private copy of its values, a weak reference
    (its identity, without keeping the caller's tensor alive) and its version counter."""

    __slots__ = ("ref", "version", "layout", "values")

    def __init__(self, t):
        self.ref, self.version, self.layout = weakref.ref(t), _version(t), t.layout
        self.values = _comparable(t).clone()

    def holds(self, t) -> bool:
        """``t`` holds the values p was computed from. One comparison per call; on a GPU it costs
        a host sync, paid only for the tensor p was computed from (t-SNE's x, whose p is a
        calibration of many syncs); another tensor there is taken for a new batch and p is
        evaluated afresh."""
        kept = self.values
        if not isinstance(t, torch.Tensor) or (t.layout, t.dtype, t.device, t.shape) != (
                self.layout, kept.dtype, kept.device, kept.shape):
            return False
        if self.ref() is t:
            if self.version is not None and _version(t) != self.version:
                return False  # written in place since: no need to compare
        elif t.device.type != "cpu":
            return False
        t = _comparable(t)
        if t.is_sparse:
            return torch.equal(t.indices(), kept.indices()) and torch.equal(t.values(), kept.values())
        return torch.equal(t, kept)


def _comparable(t):
    """``t`` in a form torch.equal compares: a sparse tensor of any layout (CSR, CSC, ...) as its
    coalesced COO entries, whose indices and values are compared (equal has no sparse kernel)."""
    t = t.detach()
    return t if t.layout == torch.strided else t.to_sparse_coo().coalesce()


class _BoundCache:
    """``SupervisoryCache`` for one call. Its lookup and its store always run eagerly: a compiled
    loss binds it only where its forward runs eagerly, but Dynamo then still traces the frames
    that forward calls (``entry_terms``), and a ``weakref.ref`` made or read in a traced frame is
    replayed as the tensor itself (``_Kept.ref`` would then be a Tensor: 'not callable'). A
    forward falls back to eager this way after a graph break it cannot resume from, as chunked
    evaluation's under its try block."""

    key = Deferred()

    def __init__(self, store, key):
        self.store, self.key = store, key

    @torch.compiler.disable
    def get(self):
        return self.store.dist if self.store.holds(self.key) else None

    @torch.compiler.disable
    def put(self, dist):
        tensors, extra = self.key
        self.store.key, self.store.dist = (tuple((name, _Kept(t)) for name, t in tensors), extra), dist

    def clear(self):
        self.store.key = self.store.dist = None

    def release(self, dist):
        """Forget the call's candidate space (it references z and its graph)."""
        if self.store.dist is dist:
            dist.layout = dist.pairs.layout if dist.pairs is not None else getattr(dist, "layout", None)
            dist.pairs = None
