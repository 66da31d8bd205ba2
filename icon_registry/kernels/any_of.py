"""Union of indicator kernels: w(i, j) = 1 if any child says so (augmentations OR kNN)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from icon_registry.kernels.base import Kernel, Weights


class AnyOf(Kernel):
    kind: Literal["any_of"]
    kernels: list["KernelSpec"] = Field(min_length=1)
    indicator: ClassVar[bool] = True
    summary: ClassVar[str] = r"\max_k \mathbb{1}_k(i, j)"

    @field_validator("kernels")
    @classmethod
    def _indicators_only(cls, kernels):
        for child in kernels:
            if not child.indicator:
                raise ValueError(f"any_of combines indicator kernels only; '{child.kind}' has real weights")
        return kernels

    def weights(self, pairs):
        mask = None
        for child in self.kernels:
            child_mask = child.weights(pairs).mask
            mask = child_mask if mask is None else mask | child_mask
        return Weights(None, mask)

    def inputs_used(self):
        return set().union(*(child.inputs_used() for child in self.kernels))
