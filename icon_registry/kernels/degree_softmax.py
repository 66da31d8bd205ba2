"""Normalized-cuts weights: w(i, j) = exp(A_ij / deg_j) with deg_j = sum_k A_jk (paper Thm 14)."""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.kernels.base import Kernel, Weights


class DegreeSoftmax(Kernel):
    kind: Literal["degree_softmax"]
    summary: ClassVar[str] = r"\exp\!\left(A_{ij} / d_j\right)"

    def weights(self, pairs):
        adjacency = pairs.inputs.require("graph", "the degree_softmax kernel reads the graph's weights")
        degree = pairs.backend.sum(adjacency, axis=1)
        if not pairs.backend.symbolic:
            # an isolated node j (degree 0) has A_ij = 0 for every i: its weight is exp(0) = 1, not
            # exp(0 / 0), whose NaN would spread to every row
            degree = degree.masked_fill(degree == 0, 1)
        return Weights(adjacency / degree[None, :], pairs.support)

    def inputs_used(self):
        return {"graph"}
