"""The I-Con objective, sum_i KL(p(.|i) || q(.|i)), per anchor, on any backend.

Written once against the backend primitives, so the verifier's SymPy evaluation and the
compiled torch loss are the same code.
"""

from __future__ import annotations

import contextlib

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from icon_registry.distributions.base import Dist


class SupportMismatch(ValueError):
    """p puts mass where q has none: KL(p || q) is +infinity."""


@dataclass
class AnchorTerms:
    values: Any  # (n,) per-anchor objective
    has_mass: Any  # (n,) bool: anchors whose left-hand distribution is non-empty


def check_supports(left: Dist, right: Dist, direction: str) -> None:
    """KL(left || right) is finite only if right covers left's support."""
    if left.pairs.layout != right.pairs.layout or tuple(left.mask.shape) != tuple(right.mask.shape):
        raise SupportMismatch(
            f"p lives on '{left.pairs.layout}' candidates and q on '{right.pairs.layout}': they must share a candidate space"
        )
    prep = getattr(left, "_fused_prep", None)  # a cached p in index form: check only its pairs
    if prep is not None and prep[1][3] is not None:
        rows, cols, _ = prep[1][3]
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


def _check_supports_once(p: Dist, q: Dist, direction: str, reused: bool) -> None:
    """check_supports, skipped for a cached p that already passed against a q whose mask follows
    from the shapes alone (the same p and the same q mask again: three n x m passes saved per call)."""
    left, right = (p, q) if direction == "forward" else (q, p)
    structure = q.pairs.structure if direction == "forward" and q.mask is q.pairs.support else None
    if reused and structure is not None and p.covered_by == structure:
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
    """
    left, right = (p, q) if direction == "forward" else (q, p)
    B = p.backend
    fast = _fused_terms(left, right, objective)
    if fast is not None:
        return fast
    left_prob = left.prob()
    # sum_j left_ij log right_ij = sum_j left_ij logits_ij - log_norm_i sum_j left_ij
    right_logits = B.where(left.mask, right.logits, 0.0) if right.logits is not None else 0.0
    left_mass = B.sum(left_prob, axis=1, keepdims=True)
    cross_entropy = right.log_norm * left_mass - B.sum(left_prob * right_logits, axis=1, keepdims=True)
    values = cross_entropy
    if objective == "kl":
        values = values + B.sum(B.plogp(left_prob, left.log_prob(), left.mask), axis=1, keepdims=True)
    has_mass = B.count(left.mask, 1) > 0
    return AnchorTerms(values[:, 0], has_mass[:, 0])


#: Index form for a uniform p when its pairs are at most this fraction of the n x m matrix.
_INDEX_FRACTION = 0.25


def _fused_terms(left: Dist, right: Dist, objective: str):
    """The torch fast path: one fused autograd node for sum_j p_ij (lse_i - logits_ij).

    Taken when p (left) is fixed and q's normalizer came from the backend's masked logsumexp
    of q's logits (so that its masked copy and lse are reused, not recomputed). Same values
    and gradients as the generic expression below; returns None when it does not apply.
    """
    B = left.backend
    if B.symbolic or right.logits is None or not torch.is_grad_enabled():
        return None
    from icon_registry.backends.torch_backend import fused_cross_entropy, normalizer_node

    node = normalizer_node(right.log_norm, right.logits)
    if node is None or left.pairs.layout != right.pairs.layout:
        return None
    prep_key = (objective, right.logits.dtype, right.logits.device)
    prep = getattr(left, "_fused_prep", None)
    if prep is not None and prep[0] == prep_key:
        mass, has_mass, entropy_term, index, dense = prep[1]
        values = fused_cross_entropy(node, right.logits, mass, index=index, dense=dense)
        return AnchorTerms(values + entropy_term if objective == "kl" else values, has_mass)
    with torch.no_grad():
        if left.logits is None and not left.joint:
            # uniform over the mask: p_ij = 1/|mask_i|; log_norm_i = log max(|mask_i|, 1)
            log_count = left.log_norm.reshape(-1)
            if left.log_norm.requires_grad:
                return None
            rows, cols = left.mask.nonzero(as_tuple=True)
            has_mass = torch.zeros(left.mask.shape[0], dtype=torch.bool, device=rows.device)
            has_mass[rows] = True
            mass = has_mass.to(right.logits.dtype)
            entropy_term = -log_count  # sum_j p log p = -log |mask_i| (0 for an empty row)
            if rows.numel() <= _INDEX_FRACTION * left.mask.numel():
                index, dense = (rows, cols, torch.exp(-log_count)[rows]), None
            else:
                index, dense = None, left.mask.to(right.logits.dtype) * torch.exp(-log_count)[:, None]
        else:
            prob = left.prob()
            if prob.requires_grad:
                return None
            prob = prob.to(right.logits.dtype)
            mass = prob.sum(1)
            has_mass = left.mask.any(1)
            entropy_term = B.plogp(prob, left.log_prob(), left.mask).sum(1) if objective == "kl" else None
            index, dense = None, prob
    left._fused_prep = (prep_key, (mass, has_mass, entropy_term, index, dense))
    values = fused_cross_entropy(node, right.logits, mass, index=index, dense=dense)
    if objective == "kl":
        values = values + entropy_term
    return AnchorTerms(values, has_mass)


def entry_terms(entry, inputs, *, objective: str = "kl") -> AnchorTerms:
    """Evaluate an entry's p and q on ``inputs`` and return its per-anchor objective.

    p is supervisory: it is evaluated without gradients.
    """
    B = inputs.backend
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
    """The last p a compiled loss evaluated, reused while its inputs are the SAME tensors.

    p is fixed (no gradient) and depends only on the p-side arguments (x, labels, ids, ...)
    and the parameters, so a loss called again with the same, unmodified tensors (t-SNE's
    x every step; ids built once) skips p entirely: t-SNE's perplexity calibration runs once.
    ``key`` holds the argument tensors themselves (so they cannot be freed and their memory
    reused by a different tensor) with their in-place version counters.
    """

    def __init__(self):
        self.key = None
        self.dist = None

    @staticmethod
    def make_key(tensors: dict, extra: tuple):
        return (tuple((name, t, getattr(t, "_version", None)) for name, t in sorted(tensors.items())), extra)

    @staticmethod
    def _same(a, b):
        if a is None or b is None:
            return False
        (ta, ea), (tb, eb) = a, b
        return ea == eb and len(ta) == len(tb) and all(
            x[0] == y[0] and x[1] is y[1] and x[2] == y[2] for x, y in zip(ta, tb)
        )

    def bind(self, key):
        """A view of the cache for one call with this key."""
        return _BoundCache(self, key)


class _BoundCache:
    def __init__(self, store, key):
        self.store, self.key = store, key

    def get(self):
        if SupervisoryCache._same(self.store.key, self.key):
            return self.store.dist
        return None

    def put(self, dist):
        self.store.key, self.store.dist = self.key, dist

    def clear(self):
        self.store.key = self.store.dist = None

    def release(self, dist):
        """Forget the call's candidate space (it references z and its graph)."""
        if self.store.dist is dist:
            dist.layout = dist.pairs.layout if dist.pairs is not None else getattr(dist, "layout", None)
            dist.pairs = None
