"""Graph kernel weights: w(i, j) = A_ij for a given weighted graph (spectral embedding, SNE graph)."""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.kernels.base import Kernel, Weights


class GraphWeights(Kernel):
    kind: Literal["graph_weights"]
    summary: ClassVar[str] = r"A_{ij}"

    def weights(self, pairs):
        adjacency = pairs.inputs.require("graph", "the graph_weights kernel reads the graph's weights")
        mask = pairs.restrict(adjacency > 0)
        B = pairs.backend
        return Weights(B.log(B.where(mask, adjacency, 1.0)), mask)

    def inputs_used(self):
        return {"graph"}
