"""Student-t kernel: w(i, j) = (1 + d2(i, j) / nu) ^ (-(nu + 1) / 2); nu = 1 is t-SNE's Cauchy."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from icon_registry.kernels.base import ParamRef, SpaceKernel, Weights
from icon_registry.pairs import is_one


class StudentT(SpaceKernel):
    kind: Literal["student_t"]
    nu: ParamRef = 1.0
    scale: float = Field(1.0, gt=0, description="d2 is divided by scale * nu (1 in the paper and scikit-learn)")
    cosine: bool = False
    interpolation: ParamRef | None = Field(
        None, description="t-SNE's joint q with a sparse p: 0 or none sums q's normalizer over every pair; g > 0 "
        "interpolates it on a grid of g nodes per unit length (FIt-SNE's repulsion, an approximation; 1-D and 2-D)")
    param_fields: ClassVar[tuple[str, ...]] = ("nu", "interpolation")
    summary: ClassVar[str] = r"\left(1 + \frac{\lVert v_i - v_j\rVert^2}{\nu}\right)^{-\frac{\nu+1}{2}}"

    def weights(self, pairs):
        nu = pairs.inputs.param(self.nu)
        d2 = pairs.sqdist(self.space, cosine=self.cosine)
        unit = pairs.inputs.param(self.scale) * nu
        # t-SNE's nu = scale = 1: skip a division pass over the n x m matrix (and its backward)
        scaled = d2 if is_one(unit) else d2 / unit
        return Weights(-(nu + 1) / 2 * pairs.backend.log1p(scaled), pairs.support)

    def cauchy_sqdist(self, pairs):
        if not self._cauchy(pairs):
            return None
        return lambda: pairs.sqdist(self.space, cosine=self.cosine)

    def cauchy_points(self, pairs):
        whole_batch = pairs.structure is not None and pairs.structure[0] == "others" and pairs.inputs.rows is None
        return pairs.vectors(self.space) if self._cauchy(pairs) and whole_batch and not self.cosine else None

    def grid_density(self, pairs) -> float:
        """``interpolation`` (read with ``cauchy_points``, on a numeric backend): the grid's nodes per unit length."""
        return 0.0 if self.interpolation is None else float(pairs.inputs.param(self.interpolation))

    def _cauchy(self, pairs) -> bool:
        """nu = 1 and scale 1 (t-SNE's kernel), on a numeric backend."""
        return not pairs.backend.symbolic and is_one(pairs.inputs.param(self.nu)) and is_one(
            pairs.inputs.param(self.scale))
