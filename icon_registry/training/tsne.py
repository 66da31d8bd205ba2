"""The references' optimizer for joint neighbour embeddings (``icon fit tsne``).

scikit-learn's TSNE and openTSNE minimize KL(P || Q) over free points y by gradient descent with
momentum and per-coordinate adaptive gains, after an early-exaggeration phase that multiplies P in
the attractive term (the gradient 4 sum_j (alpha P_ij - Q_ij) w_ij (y_i - y_j); ``CompiledLoss.
exaggeration``). This module runs that schedule on any compiled entry whose q is a joint
distribution over the points (tsne, tsne_uniform, tsne_graph, ...); the gradient is autograd's of
the compiled entry with reduction 'sum', i.e. d KL / dy, the references' gradient.

Schedule (scikit-learn >= 1.2's defaults; openTSNE has the same phases):

* initialization: PCA, scaled so that the first coordinate has standard deviation 1e-4;
* ``exaggeration_iterations`` (250) iterations with exaggeration 12 and momentum 0.5, then
  exaggeration 1 and momentum 0.8 up to ``iterations`` (default 750, openTSNE's 250 + 500;
  scikit-learn runs 1000);
* learning rate "auto": max(n / exaggeration / 4, 50);
* gains (Jacobs' delta-bar-delta): +0.2 where the step and the gradient have opposite signs,
  x0.8 where they agree, never below 0.01; steps and gains start afresh in each phase.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from icon_registry.training.mappers import pca_init
from icon_registry.training.trainer import FiniteCheck


@dataclass
class Schedule:
    iterations: int = 750
    exaggeration: float = 12.0
    exaggeration_iterations: int = 250
    momentum: float = 0.5  # during early exaggeration
    final_momentum: float = 0.8
    learning_rate: float | None = None  # None: "auto", max(n / exaggeration / 4, 50)
    min_gain: float = 0.01

    def rate(self, n: int) -> float:
        return self.learning_rate if self.learning_rate is not None else max(n / self.exaggeration / 4.0, 50.0)


@dataclass
class Result:
    embedding: np.ndarray
    history: list = field(default_factory=list)  # KL(P || Q) after each iteration past early exaggeration
    seconds: float = 0.0


def uses_joint_q(entry) -> bool:
    """Whether the entry's q is one joint distribution over all pairs (the t-SNE family)."""
    return getattr(entry.q, "over", None) == "joint"


def fit(loss, features, inputs: dict, dim: int = 2, schedule: Schedule | None = None, progress=None,
        init=None) -> Result:
    """Optimize free points y (n, dim) for ``loss(y, **inputs)`` (reduction 'sum') on the schedule,
    from ``init`` or the PCA of ``features``."""
    schedule = schedule or Schedule()
    features = np.asarray(features)
    n = features.shape[0]
    start = pca_init(features, dim, std=1e-4) if init is None else init
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
