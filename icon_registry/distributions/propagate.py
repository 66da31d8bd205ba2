"""Neighbour propagation: p ~ P + P^2 + ... + P^k (walks), or uniform over what k steps reach."""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.distributions.base import Dist, Distribution
from icon_registry.kernels.base import ParamRef


class Propagate(Distribution):
    kind: Literal["propagate"]
    of: "DistributionSpec"
    steps: ParamRef = 2
    mode: Literal["walks", "reachable"] = "walks"
    param_fields: ClassVar[tuple[str, ...]] = ("steps",)

    def support_kind(self):
        return self.of.support_kind()

    def evaluate(self, inputs):
        inner = self.of.evaluate(inputs)
        if inner.pairs.layout != "batch" or inner.joint:
            raise ValueError("propagate walks on the batch graph: it needs a per-anchor distribution over the batch")
        B = inputs.backend
        steps = int(inputs.param(self.steps))
        support = inner.pairs.support
        step = inner.prob()
        walk, total = step, step
        reach = inner.mask
        for _ in range(steps - 1):
            walk = walk @ step
            total = total + walk
            reach = B.bool_matmul(reach, inner.mask) | reach
        mask = reach & support
        if self.mode == "reachable":
            return Dist(inner.pairs, mask, None, B.log(B.clamp_min(B.count(mask, 1), 1)))
        log_total = B.log(B.where(mask, total, 1.0))
        return Dist(inner.pairs, mask, log_total, B.masked_logsumexp(log_total, mask, 1))

    def inputs_used(self):
        return self.of.inputs_used()
