"""Gaussian kernel in its distance form: w(i, j) = exp(-d2(i, j) / (scale * sigma^2)), or
exp(-d2(i, j) / T) with a temperature (the soft nearest neighbour loss, NCA, Proxy-NCA)."""

from __future__ import annotations

import warnings
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from icon_registry.errors import IconWarning
from icon_registry.kernels.base import ParamRef, SpaceKernel, Weights


class Gaussian(SpaceKernel):
    """The SNE/K-Means kernel. ``scale`` is 2 in the paper's kernels and 1 in Prop. 1.

    With ``perplexity`` instead of ``sigma``, each row gets its own bandwidth, calibrated so
    that the row's conditional distribution has entropy log(perplexity) (t-SNE). ``nearest`` k > 0
    restricts each row to its k nearest candidates before calibrating (the sparse affinities of
    scikit-learn's Barnes-Hut t-SNE and openTSNE, k = 3 perplexity): an approximation of the
    full kernel that drops the far tail; 0 keeps every candidate. With ``temperature`` T the
    exponent is -d2 / T (T = scale * sigma^2), as metric-learning papers write it.
    """

    kind: Literal["gaussian"]
    sigma: ParamRef | None = None
    perplexity: ParamRef | None = None
    temperature: ParamRef | None = None
    scale: float = Field(2.0, gt=0)
    cosine: bool = Field(False, description="use distances between L2-normalized vectors")
    nearest: ParamRef | None = Field(
        None, description="with perplexity: keep each anchor's k nearest candidates only (0 or none: all)"
    )
    param_fields: ClassVar[tuple[str, ...]] = ("sigma", "perplexity", "temperature", "nearest")
    summary: ClassVar[str] = r"\exp\!\left(-\frac{\lVert v_i - v_j\rVert^2}{s\,\sigma^2}\right)"

    @model_validator(mode="after")
    def _one_bandwidth(self):
        given = [name for name in ("sigma", "perplexity", "temperature") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'sigma', 'perplexity' and 'temperature'")
        if self.nearest is not None and self.perplexity is None:
            raise ValueError("'nearest' restricts a perplexity calibration: give 'perplexity'")
        return self

    def weights(self, pairs):
        d2 = pairs.sqdist(self.space, cosine=self.cosine)
        if self.perplexity is not None:
            support = self.calibration_support(pairs, d2)
            return Weights(-d2 * pairs.backend.exp(self.log_precision(pairs, d2, support)), support)
        if self.temperature is not None:
            return Weights(-d2 / pairs.inputs.param(self.temperature), pairs.support)
        sigma = pairs.inputs.param(self.sigma)
        return Weights(-d2 / (pairs.inputs.param(self.scale) * sigma**2), pairs.support)

    def summary_tex(self) -> str:
        if self.temperature is not None:
            return r"\exp\!\left(-\frac{\lVert v_i - v_j\rVert^2}{\tau}\right)"
        return self.summary

    def nearest_weights(self, pairs):
        nearest = self._nearest_count(pairs)
        found = pairs.backend.nearest_rows(pairs.vectors(self.space), nearest, self.cosine) if nearest else None
        if found is None:
            return None
        neighbors, d2 = found
        everywhere = pairs.backend.full_mask(d2.shape, d2)
        return neighbors, Weights(-d2 * pairs.backend.exp(self.log_precision(pairs, d2, everywhere)), everywhere)

    def _nearest_count(self, pairs):
        """``nearest`` when it leaves out some of the support's candidates; else 0."""
        if self.nearest is None:
            return 0
        nearest = int(pairs.backend.concrete(pairs.inputs.param(self.nearest), 0,
                                             "p calibrated on every candidate (the exact P, not its k-nearest approximation)"))
        return nearest if 0 < nearest < pairs.width else 0

    def calibration_support(self, pairs, d2):
        """The candidates the perplexity is calibrated on: the support, or its k nearest (``nearest``)."""
        nearest = self._nearest_count(pairs)
        return pairs.backend.knn_mask(d2, pairs.support, nearest) if nearest else pairs.support

    def log_precision(self, pairs, d2=None, support=None):
        """Per-row log beta_i (beta_i = 1 / (2 sigma_i^2)) calibrated to the perplexity, (rows, 1)."""
        perplexity = pairs.inputs.param(self.perplexity)
        if not pairs.backend.symbolic:
            self._check_reachable(pairs, perplexity)
        d2 = pairs.sqdist(self.space, cosine=self.cosine) if d2 is None else d2
        support = self.calibration_support(pairs, d2) if support is None else support
        return pairs.backend.calibrate_log_precision(d2, support, perplexity)

    def _check_reachable(self, pairs, perplexity) -> None:
        """A row over m candidates has entropy at most log m: a perplexity of m or more is out of
        reach, and the search ends at the uniform p, the same whatever x. A warning, not an error
        (scikit-learn refuses it): the uniform p is the limit the search tends to, and a training
        loop's last, smaller batch must not end the run."""
        others = pairs.width - (pairs.excluded_diagonal is not None)
        nearest = self._nearest_count(pairs)
        candidates = min(nearest, others) if nearest else others
        if perplexity >= candidates:
            where, remedy = ((f"nearest = {nearest}", "raise nearest") if nearest
                             else (f"a batch of n = {pairs.inputs.n}", "pass a larger batch"))
            warnings.warn(IconWarning(
                f"{pairs.inputs.entry_id}: perplexity {perplexity:g} is out of reach: {where} gives each point "
                f"{candidates} candidates, whose distribution has perplexity at most {candidates}, so p is uniform "
                f"over them whatever the data; lower it below {candidates} or {remedy}"), stacklevel=2)
