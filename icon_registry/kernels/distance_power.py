"""Inverse distance power: w(i, j) = d(i, j) ^ (-power) (harmonic loss, Baek et al. 2025).

Baek et al. use the Euclidean distance to the power -n; the I-Con paper writes the squared
distance. ``squared: true`` gives the paper's form: (d^2)^(-n) = d^(-2n), i.e. the same
family with the power doubled.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.kernels.base import ParamRef, SpaceKernel, Weights


class DistancePower(SpaceKernel):
    kind: Literal["distance_power"]
    power: ParamRef = 2.0
    squared: bool = False
    param_fields: ClassVar[tuple[str, ...]] = ("power",)
    summary: ClassVar[str] = r"\lVert v_i - v_j\rVert^{-n}"

    def weights(self, pairs):
        power = pairs.inputs.param(self.power)
        log_d2 = pairs.backend.log_sqdist(pairs.sqdist(self.space))
        exponent = power if self.squared else power / 2
        return Weights(-exponent * log_d2, pairs.support)
