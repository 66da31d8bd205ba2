"""Identity: w(i, j) = 1[i = j]. Only meaningful on a support that contains i (PCA)."""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.kernels.base import Kernel, Weights


class Identity(Kernel):
    kind: Literal["identity"]
    indicator: ClassVar[bool] = True
    summary: ClassVar[str] = r"\mathbb{1}[i = j]"

    def weights(self, pairs):
        return Weights(None, pairs.restrict(pairs.is_self()))
