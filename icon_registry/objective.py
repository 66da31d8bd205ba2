"""The I-Con objective, sum_i KL(p(.|i) || q(.|i)), per anchor, on any backend.

Written once against the backend primitives, so the verifier's SymPy evaluation and the
compiled torch loss are the same code.
"""

from __future__ import annotations

import contextlib

from dataclasses import dataclass
from typing import Any

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
    uncovered = left.mask & ~right.mask
    if left.backend.any(uncovered):
        i, j = (int(v) for v in _first_true(uncovered))
        i += left.pairs.inputs.rows[0] if left.pairs.inputs.rows is not None else 0
        side, other = ("p", "q") if direction == "forward" else ("q", "p")
        raise SupportMismatch(
            f"{side} puts mass on the pair ({i}, {j}) but {other} gives it none: the KL divergence is +infinity "
            f"(give {other} a support that contains every pair {side} uses)"
        )


def _first_true(mask):
    if hasattr(mask, "nonzero") and hasattr(mask, "device"):
        return mask.nonzero()[0].tolist()
    import numpy as np

    return [int(v[0]) for v in np.nonzero(mask)]


def anchor_terms(p: Dist, q: Dist, *, direction: str = "forward", objective: str = "kl") -> AnchorTerms:
    """Per-anchor KL(left_i || right_i) or cross entropy H(left_i, right_i).

    forward: left = p (fixed), right = q (learned); reverse: left = q, right = p.
    Joint distributions give per-anchor row contributions that sum to the joint KL.
    """
    left, right = (p, q) if direction == "forward" else (q, p)
    B = p.backend
    left_prob = left.prob()
    # sum_j left_ij log right_ij = sum_j left_ij logits_ij - log_norm_i sum_j left_ij
    right_logits = B.where(left.mask, right.logits, 0.0) if right.logits is not None else 0.0
    left_mass = B.sum(left_prob, axis=1, keepdims=True)
    cross_entropy = right.log_norm * left_mass - B.sum(left_prob * right_logits, axis=1, keepdims=True)
    values = cross_entropy
    if objective == "kl":
        values = values + B.sum(left_prob * B.where(left.mask, left.log_prob(), 0.0), axis=1, keepdims=True)
    has_mass = B.count(left.mask, 1) > 0
    return AnchorTerms(values[:, 0], has_mass[:, 0])


def entry_terms(entry, inputs, *, objective: str = "kl") -> AnchorTerms:
    """Evaluate an entry's p and q on ``inputs`` and return its per-anchor objective.

    p is supervisory: it is evaluated without gradients.
    """
    B = inputs.backend
    with contextlib.nullcontext() if B.symbolic else B.float_dtype(inputs.z.dtype):
        with B.no_grad():
            p = entry.p.evaluate(inputs)
        q = entry.q.evaluate(inputs)
        left, right = (p, q) if entry.direction == "forward" else (q, p)
        check_supports(left, right, entry.direction)
        return anchor_terms(p, q, direction=entry.direction, objective=objective)
