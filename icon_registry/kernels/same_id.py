"""Positive pairs: w(i, j) = 1[id_j = id_i], the views of the same source instance."""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.kernels.base import Kernel, equal_value_weights


class SameId(Kernel):
    kind: Literal["same_id"]
    indicator: ClassVar[bool] = True
    summary: ClassVar[str] = r"\mathbb{1}[\mathrm{id}_j = \mathrm{id}_i]"

    def weights(self, pairs):
        return equal_value_weights(pairs, "ids")

    def inputs_used(self):
        return {"ids"}
