"""The candidate at a fixed position of ``neighbors[i]``: triplet's positive is position 0."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from icon_registry.kernels.base import Kernel, Weights


class CandidatePosition(Kernel):
    kind: Literal["candidate_position"]
    position: int = Field(0, ge=0)
    indicator: ClassVar[bool] = True
    summary: ClassVar[str] = r"\mathbb{1}[j = \mathrm{neighbors}_{i,0}]"

    def weights(self, pairs):
        return Weights(None, pairs.position(self.position))

    def inputs_used(self):
        return {"neighbors"}
