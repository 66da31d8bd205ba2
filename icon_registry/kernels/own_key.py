"""The anchor's own key: w(i, j) = 1 for column 0 of support 'key_and_bank' (MoCo's positive)."""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.kernels.base import Kernel, Weights


class OwnKey(Kernel):
    kind: Literal["own_key"]
    indicator: ClassVar[bool] = True
    summary: ClassVar[str] = r"\mathbb{1}[j = k_i]"

    def weights(self, pairs):
        return Weights(None, pairs.own_key())
