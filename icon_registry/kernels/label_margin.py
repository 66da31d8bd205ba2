"""An additive margin on the anchor's own class: w(i, c) = exp(-m / T) when y_i = c, else 1.

Times the similarity kernel exp(cos(z_i, w_c) / T) it gives CosFace's logits
(cos - m 1[c = y_i]) / T. The margin reads the label, so a q with it is not a function of the
representations alone: it is a training-time distribution (at test time the margin is dropped).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.kernels.base import Kernel, ParamRef, Weights


class LabelMargin(Kernel):
    kind: Literal["label_margin"]
    margin: ParamRef = 0.35
    temperature: ParamRef = 1.0
    param_fields: ClassVar[tuple[str, ...]] = ("margin", "temperature")
    summary: ClassVar[str] = r"\exp\!\left(-m\,\mathbb{1}[c = y_i] / T\right)"

    def weights(self, pairs):
        inputs = pairs.inputs
        own = pairs.same("labels")
        shift = inputs.param(self.margin) / inputs.param(self.temperature)
        return Weights(-shift * pairs.backend.indicator(own, inputs.z), pairs.support)

    def inputs_used(self):
        return {"labels"}
