"""Normalize a kernel over a support: p(j|i) = w(i,j) / sum_{k in S(i)} w(i,k), or jointly."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from icon_registry.deferred import once
from icon_registry.distributions.base import Dist, Distribution, Softmax
from icon_registry.kernels import KernelSpec
from icon_registry.pairs import SUPPORT_INPUTS, Support, pairs_on


class Normalize(Distribution):
    kind: Literal["normalize"]
    kernel: KernelSpec
    support: Support = "others"
    over: Literal["rows", "joint"] = Field(
        "rows", description="rows: one conditional distribution per anchor; joint: one over all pairs (t-SNE)"
    )

    def support_kind(self):
        return self.support

    def evaluate(self, inputs):
        pairs = pairs_on(inputs, self.support)
        B = inputs.backend
        if self.over == "joint":
            cauchy = self.kernel.cauchy_sqdist(pairs)  # None but for t-SNE's kernel on a numeric backend
            if cauchy is not None:
                return self._cauchy(pairs, cauchy)
        weights = self.kernel.weights(pairs)
        axis = None if self.over == "joint" else 1
        joint = self.over == "joint"
        if weights.log_weights is None:  # uniform over the mask, which stays deferred if the kernel deferred it
            log_norm = B.deferred(lambda: B.log(B.clamp_min(B.count(weights.mask, axis), 1)))
            column = None if joint else weights.column
            return Dist(pairs, weights.deferred_mask, None, log_norm, joint=joint, column=column)
        mask = weights.mask  # inside pairs.support (the kernel contract)
        whole = mask is pairs.support
        softmax = Softmax(
            axis,
            diagonal=pairs.excluded_diagonal if whole else None,
            nonempty=whole and pairs.nonempty_rows,
            full=whole and pairs.full,
        )
        log_norm = B.deferred(lambda: B.masked_logsumexp(weights.log_weights, mask, axis, softmax.diagonal))
        return Dist(pairs, mask, weights.log_weights, log_norm, joint=joint, softmax=softmax)

    @staticmethod
    def _cauchy(pairs, d2):
        """t-SNE's q: logits -log(1 + d2) over the whole support, jointly; the logits and the
        normalizer are computed only if asked for (the fused objective reads d2 itself)."""
        B = pairs.backend
        mask = pairs.support
        softmax = Softmax(None, diagonal=pairs.excluded_diagonal, nonempty=pairs.nonempty_rows, full=pairs.full)
        logits = once(B.deferred(lambda: -B.log1p(d2)))
        log_norm = B.deferred(lambda: B.masked_logsumexp(logits(), mask, None, softmax.diagonal))
        return Dist(pairs, mask, logits, log_norm, joint=True, softmax=softmax, cauchy=d2)

    def inputs_used(self):
        used = self.kernel.inputs_used() | SUPPORT_INPUTS.get(self.support, set())
        if self.support == "bank":  # the bank's rows are matched by their own ids / labels
            used |= {f"bank_{name}" for name in ("ids", "labels") if name in used}
        return used
