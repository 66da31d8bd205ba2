"""k nearest neighbours: w(i, j) = 1[j in kNN(i)], from given ``neighbors`` or from distances."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from icon_registry.kernels.base import ParamRef, SpaceKernel, Weights


class Knn(SpaceKernel):
    kind: Literal["knn"]
    k: ParamRef = 5
    source: Literal["given", "distances"] = Field(
        "given", description="given: the caller's neighbors (n, k) index tensor; distances: kNN of `on` in the batch"
    )
    cosine: bool = False
    space: Literal["x", "z"] = "x"
    param_fields: ClassVar[tuple[str, ...]] = ("k",)
    indicator: ClassVar[bool] = True
    summary: ClassVar[str] = r"\mathbb{1}[j \in \mathrm{kNN}(i)]"

    def weights(self, pairs):
        if pairs.layout != "batch":
            raise ValueError("the knn kernel ranges over the batch (support 'others' or 'all')")
        B = pairs.backend
        if self.source == "given":
            neighbors = pairs.inputs.require("neighbors", "the knn kernel reads the given neighbours")
            return Weights(None, pairs.restrict(B.neighbor_mask(neighbors, pairs.inputs.n)))
        k = int(pairs.inputs.param(self.k))
        return Weights(None, B.knn_mask(pairs.sqdist(self.space, cosine=self.cosine), pairs.support, k))

    def nearest_weights(self, pairs):
        if self.source != "distances" or pairs.layout != "batch":
            return None
        k = int(pairs.inputs.param(self.k))
        found = pairs.backend.nearest_rows(pairs.vectors(self.space), k, self.cosine) if 0 < k < pairs.width else None
        if found is None:
            return None
        neighbors, d2 = found
        return neighbors, Weights(None, pairs.backend.full_mask(d2.shape, d2))

    def inputs_used(self):
        return {"neighbors"} if self.source == "given" else super().inputs_used()
