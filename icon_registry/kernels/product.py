"""Product of kernels: w(i, j) = prod_k w_k(i, j) (log-weights add, masks intersect), e.g. a
similarity kernel times a label margin (CosFace)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from icon_registry.kernels.base import Kernel, Weights


class Product(Kernel):
    kind: Literal["product"]
    kernels: list["KernelSpec"] = Field(min_length=2)
    summary: ClassVar[str] = r"\prod_k w_k(i, j)"

    def weights(self, pairs):
        log_weights, mask = None, None
        for child in self.kernels:
            weights = child.weights(pairs)
            # the same mask twice (every factor on all of the support) stays the support itself
            mask = weights.mask if mask is None or mask is weights.mask else mask & weights.mask
            if weights.log_weights is not None:
                log_weights = weights.log_weights if log_weights is None else log_weights + weights.log_weights
        return Weights(log_weights, mask)

    def inputs_used(self):
        return set().union(*(child.inputs_used() for child in self.kernels))
