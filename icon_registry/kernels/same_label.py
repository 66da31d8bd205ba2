"""Same class: w(i, j) = 1[y_j = y_i]; on prototypes, w(i, c) = 1[c = y_i] (data-label pairs)."""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.kernels.base import Kernel, Weights, equal_value_weights


class SameLabel(Kernel):
    kind: Literal["same_label"]
    indicator: ClassVar[bool] = True
    summary: ClassVar[str] = r"\mathbb{1}[y_j = y_i]"

    def weights(self, pairs):
        column = pairs.matching_column("labels")
        if column is not None:  # on prototypes every label names one column (the mask, if asked for: the same pairs)
            return Weights(None, lambda: pairs.restrict(pairs.same("labels")), column)
        return equal_value_weights(pairs, "labels")

    def inputs_used(self):
        return {"labels"}
