"""Logits over the outputs: w(i, c) = exp((v_ic - center_c) / T), a temperature softmax over the
K entries of z itself (a classifier head, prototype scores) or of a teacher's scores given in
the call (knowledge distillation, DINO: centred and sharpened by a low T).

On the unit basis as prototypes this is the similarity form of the Gaussian kernel
(gaussian_dot with w_c = e_c): <z_i, e_c> / T = z_ic / T.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from icon_registry.kernels.base import Kernel, ParamRef, Weights


class Logits(Kernel):
    kind: Literal["logits"]
    source: Literal["z", "teacher"] = Field(
        "z", description="z: the learned outputs (the student); teacher: the caller's teacher scores (n, K)")
    temperature: ParamRef = 1.0
    center: bool = Field(False, description="subtract the caller's center (K,) first (DINO's centring)")
    param_fields: ClassVar[tuple[str, ...]] = ("temperature",)
    summary: ClassVar[str] = r"\exp\!\left((v_{ic} - c_c) / T\right)"

    def weights(self, pairs):
        values = pairs.outputs(self.source)
        if self.center:
            values = values - pairs.inputs.require("center", "the kernel centres the scores")[None, :]
        return Weights(values / pairs.inputs.param(self.temperature), pairs.support)

    def inputs_used(self):
        return ({"teacher"} if self.source == "teacher" else set()) | ({"center"} if self.center else set())
