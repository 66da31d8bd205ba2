"""Gaussian kernel in its distance form: w(i, j) = exp(-d2(i, j) / (scale * sigma^2)), or
exp(-d2(i, j) / T) with a temperature (the soft nearest neighbour loss, NCA, Proxy-NCA)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from icon_registry.kernels.base import ParamRef, SpaceKernel, Weights


class Gaussian(SpaceKernel):
    """The SNE/K-Means kernel. ``scale`` is 2 in the paper's kernels and 1 in Prop. 1.

    With ``perplexity`` instead of ``sigma``, each row gets its own bandwidth, calibrated so
    that the row's conditional distribution has entropy log(perplexity) (t-SNE). With
    ``temperature`` T the exponent is -d2 / T (T = scale * sigma^2), as metric-learning papers
    write it.
    """

    kind: Literal["gaussian"]
    sigma: ParamRef | None = None
    perplexity: ParamRef | None = None
    temperature: ParamRef | None = None
    scale: float = Field(2.0, gt=0)
    cosine: bool = Field(False, description="use distances between L2-normalized vectors")
    param_fields: ClassVar[tuple[str, ...]] = ("sigma", "perplexity", "temperature")
    summary: ClassVar[str] = r"\exp\!\left(-\frac{\lVert v_i - v_j\rVert^2}{s\,\sigma^2}\right)"

    @model_validator(mode="after")
    def _one_bandwidth(self):
        given = [name for name in ("sigma", "perplexity", "temperature") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'sigma', 'perplexity' and 'temperature'")
        return self

    def weights(self, pairs):
        d2 = pairs.sqdist(self.space, cosine=self.cosine)
        if self.perplexity is not None:
            return Weights(-d2 * pairs.backend.exp(self.log_precision(pairs, d2)), pairs.support)
        if self.temperature is not None:
            return Weights(-d2 / pairs.inputs.param(self.temperature), pairs.support)
        sigma = pairs.inputs.param(self.sigma)
        return Weights(-d2 / (pairs.inputs.param(self.scale) * sigma**2), pairs.support)

    def log_precision(self, pairs, d2=None):
        """Per-row log beta_i (beta_i = 1 / (2 sigma_i^2)) calibrated to the perplexity, (rows, 1)."""
        d2 = pairs.sqdist(self.space, cosine=self.cosine) if d2 is None else d2
        return pairs.backend.calibrate_log_precision(d2, pairs.support, pairs.inputs.param(self.perplexity))
