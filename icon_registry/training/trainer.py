"""A small trainer for any ``loss_fn(z, **inputs)``: batches, Adam, progress, history.

THE SEAM: ``loss_fn`` is any callable. Compiled catalog losses (``icon_registry.compile_loss``)
expose ``requires`` (the per-batch argument names they read) and may own parameters
(prototypes); hand-written losses may set ``requires`` too. The batch builder provides exactly
what is asked: ``x`` (clean inputs of the batch's sources, for data-space kernels), ``labels``,
``ids`` (source index of each view), ``neighbors`` (batch-local kNN lists) and ``modality``
(the view number).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from icon_registry.training import knn as knn_mod
from icon_registry.training._errors import IconError
from icon_registry.training.progress import Progress

KNOWN_INPUTS = ("x", "labels", "ids", "neighbors", "modality", "graph")


def unbuildable(requires) -> set[str]:
    """The inputs among ``requires`` that :class:`BatchBuilder` cannot build."""
    return set(requires) - set(KNOWN_INPUTS) - {"z"}


def loss_requires(loss_fn) -> set[str]:
    req = getattr(loss_fn, "requires", None)
    if req is None:
        return {"x", "labels", "ids"}
    return set(req)


@dataclass
class BatchBuilder:
    """Builds the keyword arguments a loss asks for, for a batch of source indices."""

    x: torch.Tensor  # (n, d) clean inputs
    requires: set
    labels: torch.Tensor | None = None
    views: int = 1
    augment: object = None  # callable(x_batch, generator) -> augmented batch
    neighbors: np.ndarray | None = None  # (n, k) global kNN lists
    generator: torch.Generator | None = None
    graph: object = None  # (n, n) scipy.sparse edge weights over the sources
    _full_neighbors: torch.Tensor | None = None
    _full_graph: torch.Tensor | None = None

    def __post_init__(self):
        unknown = unbuildable(self.requires)
        if unknown:
            raise IconError(f"the loss asks for inputs the trainer cannot build: {', '.join(sorted(unknown))}")
        if "labels" in self.requires and self.labels is None:
            raise IconError("this entry needs labels (a supervised loss); the data has none", argument="--data")
        if "ids" in self.requires and self.views < 2:
            self.views = 2  # positive pairs need at least two views of each source

    def build(self, sources: torch.Tensor):
        """(mapper input, index, loss kwargs) for the batch's sources (views stacked view-major)."""
        v = self.views
        index = sources.repeat(v)
        n = self.x.shape[0]
        full = v == 1 and index.numel() == n and bool((index == torch.arange(n, device=index.device)).all())
        # Full batch in dataset order: hand over the dataset tensor itself, so that losses can
        # cache what they compute from x (t-SNE's calibrated affinities) across steps.
        xb = self.x if full else self.x[index]
        if self.augment is not None and v > 1:
            xb = self.augment(xb, self.generator)
        kwargs = {}
        if "x" in self.requires:
            kwargs["x"] = self.x if full else self.x[index]
        if "labels" in self.requires:
            kwargs["labels"] = self.labels[index]
        if "ids" in self.requires:
            kwargs["ids"] = index
        if "modality" in self.requires:
            kwargs["modality"] = torch.arange(v, device=self.x.device).repeat_interleave(sources.numel())
        if "neighbors" in self.requires:
            if self.neighbors is None:
                raise IconError("this entry needs kNN neighbours but none were computed")
            if full:
                # Full batch in dataset order: the global lists are the batch-local ones.
                if self._full_neighbors is None:
                    self._full_neighbors = torch.as_tensor(self.neighbors, device=self.x.device).long()
                kwargs["neighbors"] = self._full_neighbors
            else:
                kwargs["neighbors"] = knn_mod.batch_neighbors(self.neighbors, index.cpu().numpy()).to(self.x.device)
        if "graph" in self.requires:
            if self.graph is None:
                raise IconError("this entry needs a graph but none was built")
            if full:  # the same dense n x n weights every full-batch step: built once
                if self._full_graph is None:
                    self._full_graph = torch.as_tensor(self.graph.toarray(), dtype=self.x.dtype, device=self.x.device)
                kwargs["graph"] = self._full_graph
            else:
                kwargs["graph"] = torch.as_tensor(knn_mod.batch_graph(self.graph, index.cpu().numpy()),
                                                  dtype=self.x.dtype, device=self.x.device)
        return xb, index, kwargs


@dataclass
class FitResult:
    #: per epoch, the mean of its steps' losses weighted by their batch sizes (the last batch, which
    #: holds the remainder too, counts for its items)
    history: list = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0


def steps_per_epoch(n: int, batch_size: int | None) -> int:
    """Optimizer steps in one epoch of :func:`train`. The remainder of an epoch joins its last batch:
    a short batch of a few items may hold no supervised pair at all (kNN lists are batch-local: digits
    in batches of 256 left 5 items whose neighbours all lay in other batches, and the loss refused the
    step)."""
    return 1 if batch_size is None or batch_size >= n else n // int(batch_size)


def train(
    loss_fn,
    mapper: nn.Module,
    builder: BatchBuilder,
    *,
    n: int,
    epochs: int,
    batch_size: int | None = None,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    progress: Progress | None = None,
    extra_parameters=(),
    schedule: str | None = None,
    grad_clip: float | None = None,
) -> FitResult:
    """Adam on mapper (+ loss) parameters; ``batch_size`` None = full batch.

    ``schedule``: None (constant lr) or 'cosine'.
    """
    rng = np.random.default_rng(seed)
    named = [(f"mapper.{name}", p) for name, p in mapper.named_parameters()]
    named += [(f"extra parameter {k}", p) for k, p in enumerate(extra_parameters)]
    if isinstance(loss_fn, nn.Module):
        named += [(f"loss.{name}", p) for name, p in loss_fn.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    if not params:
        raise IconError("nothing to train: the mapper and loss have no parameters")
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    bs = n if batch_size is None or batch_size >= n else int(batch_size)
    steps = steps_per_epoch(n, batch_size)
    total_steps = max(1, epochs * steps)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total_steps) if schedule == "cosine" else None
    bar = progress or Progress(total_steps, "fit", enabled=False)
    device = builder.x.device
    result = FitResult()
    check = FiniteCheck(named, lr)
    start = time.perf_counter()
    for epoch in range(epochs):
        order = torch.as_tensor(rng.permutation(n) if bs < n else np.arange(n), device=device)
        running = 0.0
        items = 0
        for s in range(steps):
            sources = order[s * bs:(s + 1) * bs if s + 1 < steps else n]
            if sources.numel() < 2:
                continue
            xb, index, kwargs = builder.build(sources)
            z = mapper(xb, index)
            loss = loss_fn(z, **kwargs)
            if loss.ndim:
                loss = loss.mean()
            where = f"at epoch {epoch + 1}, step {s + 1}"
            check.loss(loss, where, result.steps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            check.gradients(loss, where, result.steps)
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            opt.step()
            if hasattr(mapper, "post_step"):
                mapper.post_step()
            if sched is not None:
                sched.step()
            value = float(loss.detach())
            running += value * sources.numel()
            items += sources.numel()
            result.steps += 1
            bar.update(1, epoch=epoch + 1, loss=value)
        result.history.append(running / max(items, 1))
    bar.close()
    result.seconds = time.perf_counter() - start
    return result


class FiniteCheck:
    """Stops training at the first non-finite loss or gradient (before the optimizer sees it) with
    a message that says which it was, which parameter, and whether the learning rate can be the
    cause: only once updates were applied AND moved the parameters far from where they started."""

    def __init__(self, named_parameters, lr: float):
        self.named = list(named_parameters)
        self.lr = lr
        self.start_size = self._largest()

    def _largest(self) -> float:
        return max((float(p.detach().abs().max()) for _, p in self.named if p.numel()), default=0.0)

    def loss(self, loss, where: str, updates: int) -> None:
        if not bool(torch.isfinite(loss)):
            # detached: float() of a tensor that requires grad warns (a torch UserWarning with our source line)
            raise IconError(self._explain(f"the loss is {float(loss.detach())} {where}", updates))

    def gradients(self, loss, where: str, updates: int) -> None:
        for name, p in self.named:
            if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
                raise IconError(self._explain(
                    f"the gradient of {name} has NaN or inf entries {where} (the loss is finite: "
                    f"{float(loss.detach()):.6g}; no update was applied)", updates))

    def _explain(self, what: str, updates: int) -> str:
        if updates == 0:
            return (f"{what}, before any update: the loss is not finite on this data with these parameters "
                    "(not a learning-rate problem: check the data and the entry's parameters)")
        size = self._largest()
        if size > 100 * max(self.start_size, 1.0):
            return (f"{what}, after {updates} updates that grew the largest parameter from {self.start_size:.3g} to "
                    f"{size:.3g}: the steps are too large; lower the learning rate (now {self.lr:g}, --lr)")
        return (f"{what}, after {updates} updates, with parameters still in range (largest {size:.3g}, "
                f"{self.start_size:.3g} at the start): a numerical problem of the loss on this batch, not the step size")


@torch.no_grad()
def embed(mapper: nn.Module, x: torch.Tensor, index: torch.Tensor | None = None, block: int = 8192) -> np.ndarray:
    n = x.shape[0]
    index = torch.arange(n, device=x.device) if index is None else index
    out = [mapper(x[i:i + block], index[i:i + block]) for i in range(0, n, block)]
    return torch.cat(out).cpu().numpy()
