"""Symmetrize conditionals into one joint distribution: P_ij = (p(j|i) + p(i|j)) / 2n (t-SNE)."""

from __future__ import annotations

from typing import Literal

from icon_registry.distributions.base import Dist, Distribution


class Symmetrize(Distribution):
    kind: Literal["symmetrize"]
    of: "DistributionSpec"

    def support_kind(self):
        return self.of.support_kind()

    def evaluate(self, inputs):
        inner = self.of.evaluate(inputs)
        if inner.pairs.layout != "batch" or inner.joint:
            raise ValueError("symmetrize needs per-anchor conditionals over the batch")
        B = inputs.backend
        if inner.entries is not None:
            return Dist.from_entries(inner.pairs, *B.symmetrize_entries(*inner.entries, inputs.n), joint=True)
        log_prob = inner.log_prob()
        mask = inner.mask | inner.mask.T
        # In log space: conditionals that underflow in both directions (a narrow kernel, a
        # perplexity of 1) keep a finite log P instead of log 0 inside the support.
        log_joint = B.log_add_exp(log_prob, log_prob.T, divide_by=2 * inputs.n)
        return Dist(inner.pairs, mask, B.where(mask, log_joint, 0.0), 0.0, joint=True)

    def inputs_used(self):
        return self.of.inputs_used()
