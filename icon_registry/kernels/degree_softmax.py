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
        return Weights(adjacency / degree[None, :], pairs.support)

    def inputs_used(self):
        return {"graph"}
