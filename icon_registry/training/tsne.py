"""The references' optimizer for joint neighbour embeddings (``icon fit tsne``).

scikit-learn's TSNE and openTSNE minimize KL(P || Q) over free points y by gradient descent with
momentum and per-coordinate adaptive gains, after an early-exaggeration phase that multiplies P in
the attractive term (the gradient 4 sum_j (alpha P_ij - Q_ij) w_ij (y_i - y_j); ``CompiledLoss.
exaggeration``). This module runs that schedule on any compiled entry whose q is a joint
distribution over the points (tsne, tsne_uniform, tsne_graph, ...); the gradient is autograd's of
the compiled entry with reduction 'sum', i.e. d KL / dy, the references' gradient.

Schedule (scikit-learn >= 1.2's defaults; openTSNE has the same phases):

* initialization: PCA, scaled so that the first coordinate has standard deviation 1e-4;
* ``exaggeration_iterations`` (250; in a run shorter than 1000, a quarter of it: ``Schedule.for_iterations``)
  iterations with exaggeration 12 and momentum 0.5, then
  exaggeration 1 and momentum 0.8 up to ``iterations`` (default 1000, scikit-learn's; openTSNE
  runs 250 + 500);
* learning rate "auto": max(n / exaggeration / 4, 50);
* gains (Jacobs' delta-bar-delta): +0.2 where the step and the gradient have opposite signs,
  x0.8 where they agree, never below 0.01; steps and gains start afresh in each phase.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from icon_registry.backends import cauchy_grid
from icon_registry.training.mappers import pca_init
from icon_registry.training.trainer import FiniteCheck


@dataclass
class Schedule:
    iterations: int = 1000
    exaggeration: float = 12.0
    exaggeration_iterations: int = 250
    momentum: float = 0.5  # during early exaggeration
    final_momentum: float = 0.8
    learning_rate: float | None = None  # None: "auto", max(n / exaggeration / 4, 50)
    min_gain: float = 0.01

    def rate(self, n: int) -> float:
        return self.learning_rate if self.learning_rate is not None else max(n / self.exaggeration / 4.0, 50.0)

    @classmethod
    def for_iterations(cls, iterations: int, learning_rate: float | None = None) -> "Schedule":
        """The references' schedule over ``iterations``: early exaggeration for the default 250, or for the first
        quarter of a shorter run (the references' 250 of 1000), so that every run ends unexaggerated."""
        early = min(cls.exaggeration_iterations, iterations // 4)
        return cls(iterations=iterations, exaggeration_iterations=early, learning_rate=learning_rate)


@dataclass
class Result:
    embedding: np.ndarray
    history: list = field(default_factory=list)  # KL(P || Q) after each iteration past early exaggeration
    seconds: float = 0.0


def uses_joint_q(entry) -> bool:
    """Whether the entry's q is one joint distribution over all pairs (the t-SNE family)."""
    return getattr(entry.q, "over", None) == "joint"


#: scikit-learn's Barnes-Hut t-SNE and openTSNE calibrate each row of P on its 3 perplexity nearest neighbours.
NEIGHBOURS_PER_PERPLEXITY = 3
#: From this many points q's normalizer is interpolated on a grid (FIt-SNE's repulsion, which openTSNE runs
#: from 10,000 points, below which it runs Barnes-Hut; our alternative there is the exact sum over every pair).
#: Measured (one thread, 10-cluster mixture in 50-D, 1,000 iterations, k = 90 nearest P): the grid takes
#: 8.8 s against 10.0 s at 2,000 points, 12.5 s against 17.1 s at 3,000, 18.5 s against 40.7 s at 5,000, with
#: the same trustworthiness@10 to 1e-3.
GRID_FROM_POINTS = 3_000
#: Nodes per unit length of the map (openTSNE's and FIt-SNE's default).
GRID_DENSITY = 3


def references_settings(entry, params: dict, n: int, dim: int) -> dict:
    """What scikit-learn's Barnes-Hut t-SNE and openTSNE do by default, for the parameters of the
    entry the caller left unset (``params``: the overrides), at n points in ``dim`` dimensions:
    ``nearest`` = 3 perplexity when that leaves some of the n - 1 others out (else the exact P is
    the same P), and from ``GRID_FROM_POINTS``, with P at its nearest in 1-D or 2-D, ``interpolation`` 3."""
    known = set(entry.parameters)
    settings = {}
    if "nearest" not in params and {"nearest", "perplexity"} <= known:
        k = int(NEIGHBOURS_PER_PERPLEXITY * params.get("perplexity", entry.parameters["perplexity"].default))
        if k < n - 1:
            settings["nearest"] = k
    sparse = {**params, **settings}.get("nearest", 0) > 0
    grid = n >= GRID_FROM_POINTS and sparse and dim in cauchy_grid.DIMENSIONS
    if "interpolation" not in params and "interpolation" in known and grid:
        settings["interpolation"] = GRID_DENSITY
    return settings


def fit(loss, features, inputs: dict, dim: int = 2, schedule: Schedule | None = None, progress=None,
        init=None, seed: int = 0) -> Result:
    """Optimize free points y (n, dim) for ``loss(y, **inputs)`` (reduction 'sum') on the schedule,
    from ``init`` or the PCA of ``features`` (``mappers.pca_init``: random columns past its components, from ``seed``)."""
    schedule = schedule or Schedule()
    features = np.asarray(features)
    n = features.shape[0]
    start = pca_init(features, dim, std=1e-4, seed=seed) if init is None else init
    y = torch.tensor(np.asarray(start), requires_grad=True)
    update = torch.zeros_like(y)
    gains = torch.ones_like(y)
    rate = schedule.rate(n)
    check = FiniteCheck([("the embedding", y)], rate)
    history = []
    began = time.perf_counter()
    previous = loss.exaggeration
    try:
        for it in range(schedule.iterations):
            early = it < schedule.exaggeration_iterations
            if it == schedule.exaggeration_iterations:  # a new phase starts afresh, as scikit-learn's
                update.zero_()
                gains.fill_(1.0)
            loss.exaggeration = schedule.exaggeration if early else 1.0
            momentum = schedule.momentum if early else schedule.final_momentum
            y.grad = None
            value = loss(y, **inputs)
            check.loss(value, f"at iteration {it + 1}", it)
            value.backward()
            check.gradients(value, f"at iteration {it + 1}", it)
            with torch.no_grad():
                grad = y.grad
                grows = (update * grad) < 0  # the last step went against the gradient
                gains.copy_(torch.where(grows, gains + 0.2, gains * 0.8)).clamp_(min=schedule.min_gain)
                update.mul_(momentum).addcmul_(gains, grad, value=-rate)
                y.add_(update)
            if not early:
                history.append(float(value.detach()))
            if progress is not None:
                progress.update(1, **({} if early else {"kl": history[-1]}))
    finally:
        loss.exaggeration = previous
    if progress is not None:
        progress.close()
    return Result(y.detach().cpu().numpy(), history, time.perf_counter() - began)
