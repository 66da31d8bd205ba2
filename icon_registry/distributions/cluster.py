"""Uniform on clusters: q(j|i) = sum_c phi_ic phi_jc / sum_k phi_kc, phi = softmax(z / T).

"Pick a cluster of i, then a uniform member of it." z are the cluster head's logits.
Rows and columns of q both sum to one.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.distributions.base import Dist, Distribution
from icon_registry.kernels.base import ParamRef
from icon_registry.pairs import pairs_on


class ClusterAssignments(Distribution):
    kind: Literal["cluster"]
    temperature: ParamRef = 1.0
    param_fields: ClassVar[tuple[str, ...]] = ("temperature",)

    def support_kind(self):
        return "all"

    def evaluate(self, inputs):
        B = inputs.backend
        pairs = pairs_on(inputs, "all")

        def assignments():  # over ALL candidates: the cluster sizes are column sums
            log_phi = B.log_softmax(inputs.z / inputs.param(self.temperature), 1)
            # log-space: a cluster no candidate is confident about has sizes that underflow to 0
            return log_phi, B.logsumexp(log_phi, axis=0)

        log_phi, log_cluster_size = inputs.global_cached(("cluster", inputs.param(self.temperature)), assignments)
        log_q = B.log_matmul_exp(inputs.anchor_rows(log_phi) - log_cluster_size, log_phi.T)
        return Dist(pairs, pairs.support, log_q, 0.0)

    def inputs_used(self):
        return set()
