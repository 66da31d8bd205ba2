"""Debiasing by uniform mixing: (1 - alpha) p(j|i) + alpha / |S(i)| (paper Sec. 3.3).

The mixture is of PROBABILITIES. Mixing log-probabilities with alpha / N, as the paper's
public code does, is a different (and unnormalized) distribution.

An anchor whose inner row is empty (no positive in the batch, a label outside the classes) stays
empty: it carries no supervision, as everywhere else (no mass, skipped by the mean), instead of
the uniform part alone, a row of total mass alpha that is no distribution (its KL can be negative).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.distributions.base import Dist, Distribution
from icon_registry.kernels.base import ParamRef


class MixUniform(Distribution):
    kind: Literal["mix_uniform"]
    of: "DistributionSpec"
    alpha: ParamRef = 0.5
    param_fields: ClassVar[tuple[str, ...]] = ("alpha",)

    def support_kind(self):
        return self.of.support_kind()

    def evaluate(self, inputs):
        inner = self.of.evaluate(inputs)
        if inner.joint:
            raise ValueError("mix_uniform applies to per-anchor distributions")
        B = inputs.backend
        alpha = inputs.param(self.alpha)
        if alpha == 0:  # the inner distribution as it is, in log space (its mask, its zeros)
            return inner
        support = inner.pairs.support
        # the anchors with an inner row (see the module docstring); on the abstract prover's
        # backend this row restriction of a mask is not expressible (it raises Unsupported)
        mask = support & (B.count(inner.mask, 1) > 0)
        size = B.clamp_min(B.count(support, 1), 1)
        # Inner probabilities that underflow to 0 here are far below alpha / size: the mixture
        # and its gradient lose only their own (negligible) size.
        mixed = (1 - alpha) * inner.prob() + alpha / size
        return Dist(inner.pairs, mask, B.log(B.where(mask, mixed, 1.0)), 0.0)

    def inputs_used(self):
        return self.of.inputs_used()
