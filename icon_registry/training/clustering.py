"""The paper's debiased InfoNCE clustering recipe on precomputed features (``icon cluster``).

Recipe (I-Con Sec. 5 / TEMI protocol, in miniature):

1. global cosine kNN on the features, in blocks (:func:`icon_registry.training.knn.knn`);
2. a linear cluster head, logits = W x + b, phi = softmax(logits);
3. batches of anchors plus ``neighbors_per_anchor`` of their kNN neighbours, each source in
   ``views`` noised copies (equal ``ids`` = the same source point), with the batch-local kNN lists;
4. the loss is the compiled catalog entry ``debiased_infonce_clustering``: p uniform over i's
   other views and kNN neighbours in the batch (walk-propagated ``steps`` times), q the
   uniform-on-clusters kernel, both debiased with the same ``alpha``;
5. optional EMA of the head weights (a teacher whose assignments are reported);
6. ``heads`` > 1: several heads from different seeds, the one with the lowest final loss is kept
   (an unsupervised selection: labels are never looked at).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from icon_registry.training import knn as knn_mod
from icon_registry.training import metrics
from icon_registry.training._errors import IconError
from icon_registry.training.progress import Progress

CATALOG_ENTRY = "debiased_infonce_clustering"


# ---------------------------------------------------------------------------------------------
# The loss: always the compiled catalog entry
# ---------------------------------------------------------------------------------------------


def cluster_loss(alpha: float, walks: int = 1, knn: int = 3):
    """The compiled catalog entry ``debiased_infonce_clustering`` with the recipe's settings.

    alpha debiases p and q alike; ``walks`` >= 1 is the entry's propagation ``steps`` (walks
    = 0, "views only", is expressed by handing the loss no neighbours, see :func:`fit_clusters`).
    """
    from icon_registry.training.losses import compiled_loss

    return compiled_loss(CATALOG_ENTRY, alpha=alpha, steps=max(1, int(walks)), k=int(knn))


# ---------------------------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------------------------


@dataclass
class ClusterConfig:
    clusters: int
    knn: int = 3
    alpha: float = 0.6  # debiasing of p and q (the catalog entry's parameter)
    walks: int = 1  # 0: no kNN positives (views only); 1: kNN; W > 1: the entry's propagation steps
    ema: float | None = None  # e.g. 0.99; None: no teacher
    heads: int = 1  # independent heads; the lowest-loss one is kept
    views: int = 2
    noise: float = 0.1  # gaussian noise std of the views, relative to the features' RMS norm
    neighbors_per_anchor: int = 2
    batch_anchors: int = 256
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    normalize: bool = True  # center + L2-normalize the features (cosine geometry, as for DINO features)
    seed: int = 0
    device: str = "cpu"

    def validate(self, n: int):
        if self.clusters < 2:
            raise IconError(f"--clusters must be >= 2, got {self.clusters}", argument="--clusters")
        if self.clusters > n:
            raise IconError(f"--clusters {self.clusters} exceeds the {n} points", argument="--clusters")
        if not 1 <= self.knn < n:
            raise IconError(f"--knn must be in 1..{n - 1}, got {self.knn}", argument="--knn")
        if not 0.0 <= self.alpha < 1.0:
            raise IconError(f"--alpha must be in [0, 1), got {self.alpha}", argument="--alpha")
        if self.heads < 1:
            raise IconError(f"--heads must be >= 1, got {self.heads}", argument="--heads")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise IconError(f"--ema must be in (0, 1), got {self.ema}", argument="--ema")
        if self.walks < 0:
            raise IconError(f"--walks must be >= 0, got {self.walks}", argument="--walks")
        if self.views < 1:
            raise IconError(f"--views must be >= 1, got {self.views}", argument="--views")
        if self.walks == 0 and self.views < 2:
            raise IconError("with --walks 0 and one view an anchor has no positives", argument="--walks")


@dataclass
class ClusterResult:
    assignments: np.ndarray
    probabilities: np.ndarray
    config: dict
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    loss_source: str = ""


def prepare_features(features, normalize: bool, device) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(features) if not isinstance(features, torch.Tensor) else features)
    x = x.to(device=device, dtype=torch.float32)
    if normalize:
        x = x - x.mean(0, keepdim=True)
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return x


def sample_batch(anchors: np.ndarray, neighbors: np.ndarray, per_anchor: int, rng: np.random.Generator):
    """Sources of one batch: the anchors, then per_anchor random kNN neighbours of each."""
    if per_anchor <= 0:
        return anchors
    k = neighbors.shape[1]
    pick = rng.integers(0, k, size=(anchors.size, per_anchor))
    extra = neighbors[anchors[:, None], pick].reshape(-1)
    return np.concatenate([anchors, extra])


@torch.no_grad()
def assign(head: torch.nn.Module, x: torch.Tensor, block: int = 65536):
    probs = torch.cat([torch.softmax(head(x[i:i + block]), 1) for i in range(0, x.shape[0], block)])
    return probs.argmax(1).cpu().numpy(), probs.cpu().numpy()


def _train_head(x, neighbors, config: ClusterConfig, seed: int, loss_fn, bar):
    device = x.device
    n, d = x.shape
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = torch.nn.Linear(d, config.clusters).to(device)
    teacher = copy.deepcopy(head).requires_grad_(False) if config.ema else None
    opt = torch.optim.Adam(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    noise_std = config.noise * float(x.norm(dim=1).pow(2).mean().sqrt()) / math.sqrt(d)
    steps_per_epoch = max(1, math.ceil(n / config.batch_anchors))
    history = []
    for epoch in range(config.epochs):
        order = rng.permutation(n)
        total, count = 0.0, 0
        for s in range(steps_per_epoch):
            anchors = order[s * config.batch_anchors:(s + 1) * config.batch_anchors]
            if anchors.size < 2:
                continue
            sources = sample_batch(anchors, neighbors, config.neighbors_per_anchor if config.walks > 0 else 0, rng)
            sources = np.tile(sources, config.views)
            src = torch.as_tensor(sources, device=device)
            xb = x[src]
            if config.views > 1 and config.noise > 0:
                xb = xb + noise_std * torch.randn_like(xb)
            if config.walks > 0:
                nb = knn_mod.batch_neighbors(neighbors, sources).to(device)
            else:  # views only: every row's one "neighbour" is itself, which p's support excludes
                nb = torch.arange(src.numel(), device=device)[:, None]
            loss = loss_fn(head(xb), ids=src, neighbors=nb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if teacher is not None:
                with torch.no_grad():
                    for pt, ps in zip(teacher.parameters(), head.parameters()):
                        pt.mul_(config.ema).add_(ps, alpha=1.0 - config.ema)
            total += float(loss.detach())
            count += 1
            bar.update(1, loss=float(loss.detach()))
        history.append(total / max(count, 1))
    return (teacher if teacher is not None else head), history


def fit_clusters(features, config: ClusterConfig, labels=None, neighbors=None, progress: Progress | None = None,
                 loss_fn=None) -> ClusterResult:
    """Run the recipe. ``neighbors`` (n, k) may be passed to reuse a kNN graph across runs.

    ``labels`` are used for the reported metrics only, never for training or head selection."""
    t_start = time.perf_counter()
    device = torch.device(config.device)
    x = prepare_features(features, config.normalize, device)
    n, d = x.shape
    config.validate(n)

    t0 = time.perf_counter()
    if neighbors is None:
        neighbors, _ = knn_mod.knn(x, config.knn, metric="cosine")
    neighbors = np.asarray(torch.as_tensor(neighbors)[:, : config.knn].cpu())
    t_knn = time.perf_counter() - t0

    loss_fn = loss_fn or cluster_loss(config.alpha, config.walks, config.knn)
    steps_per_epoch = max(1, math.ceil(n / config.batch_anchors))
    bar = progress or Progress(config.heads * config.epochs * steps_per_epoch, "cluster", enabled=False)
    t0 = time.perf_counter()
    runs = []
    for h in range(config.heads):
        head, history = _train_head(x, neighbors, config, config.seed * 1000 + h, loss_fn, bar)
        runs.append((history[-1], h, head, history))
    t_train = time.perf_counter() - t0
    bar.close()
    final_loss, best, head, history = min(runs, key=lambda r: (r[0], r[1]))

    pred, probs = assign(head, x)
    result = ClusterResult(pred, probs, asdict(config), history,
                           seconds={"knn": t_knn, "train": t_train, "total": time.perf_counter() - t_start},
                           loss_source=getattr(loss_fn, "source", type(loss_fn).__name__))
    result.metrics["clusters_used"] = int(np.unique(pred).size)
    result.metrics["final_loss"] = float(final_loss)
    result.metrics["head_losses"] = [float(r[0]) for r in runs]
    result.metrics["head_selected"] = int(best)
    if labels is not None:
        result.metrics.update(metrics.clustering_report(pred, labels))
        result.metrics["knn_label_agreement"] = float((np.asarray(labels)[neighbors] == np.asarray(labels)[:, None]).mean())
    return result


def kmeans_baseline(features, k: int, labels=None, seed: int = 0, normalize: bool = False) -> dict:
    from sklearn.cluster import KMeans

    x = np.asarray(features, dtype=np.float64)
    if normalize:
        x = x - x.mean(0)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
    out = {"inertia": float(km.inertia_)}
    if labels is not None:
        out.update(metrics.clustering_report(km.labels_, labels))
    return out
