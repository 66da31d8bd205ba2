"""Gaussian kernel in its distance form: w(i, j) = exp(-d2(i, j) / (scale * sigma^2))."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from icon_registry.kernels.base import ParamRef, SpaceKernel, Weights


class Gaussian(SpaceKernel):
    """The SNE/K-Means kernel. ``scale`` is 2 in the paper's kernels and 1 in Prop. 1.

    With ``perplexity`` instead of ``sigma``, each row gets its own bandwidth, calibrated so
    that the row's conditional distribution has entropy log(perplexity) (t-SNE). ``nearest`` k > 0
    restricts each row to its k nearest candidates before calibrating (the sparse affinities of
    scikit-learn's Barnes-Hut t-SNE and openTSNE, k = 3 perplexity): an approximation of the
    full kernel that drops the far tail; 0 keeps every candidate.
    """

    kind: Literal["gaussian"]
    sigma: ParamRef | None = None
    perplexity: ParamRef | None = None
    scale: float = Field(2.0, gt=0)
    cosine: bool = Field(False, description="use distances between L2-normalized vectors")
    nearest: ParamRef | None = Field(
        None, description="with perplexity: keep each anchor's k nearest candidates only (0 or none: all)"
    )
    param_fields: ClassVar[tuple[str, ...]] = ("sigma", "perplexity", "nearest")
    summary: ClassVar[str] = r"\exp\!\left(-\frac{\lVert v_i - v_j\rVert^2}{s\,\sigma^2}\right)"

    @model_validator(mode="after")
    def _one_bandwidth(self):
        if (self.sigma is None) == (self.perplexity is None):
            raise ValueError("give exactly one of 'sigma' and 'perplexity'")
        if self.nearest is not None and self.perplexity is None:
            raise ValueError("'nearest' restricts a perplexity calibration: give 'perplexity'")
        return self

    def weights(self, pairs):
        d2 = pairs.sqdist(self.space, cosine=self.cosine)
        if self.perplexity is not None:
            B = pairs.backend
            support = pairs.support
            nearest = int(pairs.inputs.param(self.nearest)) if self.nearest is not None else 0
            if 0 < nearest < support.shape[1]:
                support = B.knn_mask(d2, support, nearest)
            precision = B.exp(B.calibrate_log_precision(d2, support, pairs.inputs.param(self.perplexity)))
            return Weights(-d2 * precision, support)
        sigma = pairs.inputs.param(self.sigma)
        return Weights(-d2 / (pairs.inputs.param(self.scale) * sigma**2), pairs.support)
