"""Gaussian kernel in its similarity/temperature form: w(i, j) = exp(<v_i, v_j> / tau).

On the unit sphere d2 = 2 - 2 <v_i, v_j>, so this equals the distance form with
tau = scale * sigma^2 / 2 up to a factor that cancels in every normalization: the
softmax-over-similarities form of InfoNCE, SupCon, CLIP and cross entropy.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from icon_registry.kernels.base import ParamRef, SpaceKernel, Weights


class GaussianDot(SpaceKernel):
    kind: Literal["gaussian_dot"]
    temperature: ParamRef = 1.0
    cosine: bool = Field(True, description="cosine similarity (L2-normalized vectors) instead of the raw dot product")
    param_fields: ClassVar[tuple[str, ...]] = ("temperature",)
    summary: ClassVar[str] = r"\exp\!\left(\langle v_i, v_j\rangle / \tau\right)"

    def weights(self, pairs):
        return Weights(pairs.dot(self.space, cosine=self.cosine, temperature=pairs.inputs.param(self.temperature)),
                       pairs.support)
