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
        prob = inner.prob()
        joint = (prob + prob.T) / (2 * inputs.n)
        mask = inner.mask | inner.mask.T
        if not B.symbolic:
            # a pair whose P_ij underflows to 0 (far apart in clustered data) carries no mass:
            # outside the support, so that no 0 * log 0 enters the objective
            mask = mask & (joint > 0)
        return Dist(inner.pairs, mask, B.log(B.where(mask, joint, 1.0)), 0.0, joint=True)

    def inputs_used(self):
        return self.of.inputs_used()
