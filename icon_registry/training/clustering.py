"""The paper's debiased InfoNCE clustering recipe on precomputed features (``icon cluster``).

Recipe (I-Con Sec. 5 / TEMI protocol, in miniature):

1. global kNN on the features, in blocks (:func:`icon_registry.training.knn.knn`): cosine on
   centered, L2-normalized features (``metric='cosine'``, for high-dimensional features such as
   DINO's), or euclidean on centered features divided by their std (``metric='euclidean'``, for
   low-dimensional maps, which the L2 normalization would project onto a sphere);
2. a linear cluster head, logits = W x + b, phi = softmax(logits);
3. batches of anchors plus ``neighbors_per_anchor`` of their kNN neighbours, each source in
   ``views`` noised copies (equal ``ids`` = the same source point), with the batch-local kNN lists;
4. the loss is the compiled catalog entry ``debiased_infonce_clustering``: p uniform over i's
   other views and kNN neighbours in the batch (walk-propagated ``steps`` times), q the
   uniform-on-clusters kernel, both debiased with the same ``alpha``;
5. optional EMA of the head weights (a teacher whose assignments are reported);
6. ``heads`` > 1: several heads from different seeds, the one with the lowest *evaluation loss*
   is kept (an unsupervised selection: labels are never looked at). The evaluation loss is the
   same compiled entry on one fixed, noiseless batch: all n points with their global kNN lists
   when n <= ``eval_rows`` (then the entry's in-batch propagation is the global propagation),
   else a fixed random sample of anchors plus their neighbours. It is a far better selector than
   the last epoch's mean training loss, which is noisy with small batches (on digits the
   correlation with accuracy is about -0.9 against -0.5).

Batch size schedule (``batch_anchors_start``): with a value (the default: 4), the anchors per
batch grow geometrically from ``batch_anchors_start`` in the first epoch to ``batch_anchors`` in
the last; None keeps ``batch_anchors`` throughout (the paper's protocol). Small, noisy batches early act as
an exploration phase: on scikit-learn's digits (linear head on pixels, k = 10) a head reached
0.86 +- 0.02 Hungarian accuracy with 4 -> 64 anchors against 0.72 +- 0.05 with 128 anchors
throughout. ``icon reproduce`` (experiment g) runs the ablation with 4 -> 64 anchors.

What the objective itself prefers (digits, linear head): fine-tuned to convergence on all points
with the global graph, heads at 0.84-0.87 accuracy reach the same or a lower loss than a head
started from a supervised logistic regression (0.98), for every k in 1..20, alpha in 0..0.9 and
steps 1..4 we tried. Better optimization therefore lands at about 0.85 on raw digit pixels; the
remaining gap to the labels is the objective's, not the optimizer's. On features that separate the
digits, as the paper's pretrained features separate its classes, the same recipe goes further:
experiment g measures it on raw pixels and on the 2-D map of all digits by the compiled t-SNE
entry (``metric='euclidean'``, no labels), next to scikit-learn's KMeans on each (on the map
about 0.94 with debiasing, KMeans 0.936; on pixels 0.85, KMeans 0.79, in quick mode).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from icon_registry.errors import UsageError
from icon_registry.training import knn as knn_mod
from icon_registry.training import metrics
from icon_registry.training.progress import Progress
from icon_registry.training.recipe import CLUSTER
from icon_registry.training.trainer import FiniteCheck

CATALOG_ENTRY = "debiased_infonce_clustering"


# ---------------------------------------------------------------------------------------------
# The loss: always the compiled catalog entry
# ---------------------------------------------------------------------------------------------


def cluster_loss(alpha: float, walks: int = 1, knn: int = 3):
    """The compiled catalog entry ``debiased_infonce_clustering`` with the recipe's settings.

    alpha debiases p and q alike; ``walks`` >= 1 is the entry's propagation ``steps`` (walks
    = 0, "views only", is expressed by handing the loss no neighbours, see :func:`fit_clusters`).
    """
    from icon_registry.training.losses import builtin_entry, compiled_loss

    return compiled_loss(builtin_entry(CATALOG_ENTRY), alpha=alpha, steps=max(1, int(walks)), k=int(knn))


# ---------------------------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------------------------


@dataclass
class ClusterConfig:
    """The recipe's settings; the defaults are ``icon_registry.training.recipe.CLUSTER``."""

    clusters: int
    knn: int = CLUSTER["knn"]
    alpha: float = CLUSTER["alpha"]  # debiasing of p and q (the catalog entry's parameter)
    walks: int = CLUSTER["walks"]  # 0: no kNN positives (views only); 1: kNN; W > 1: the entry's propagation steps
    ema: float | None = None  # e.g. 0.99; None: no teacher
    heads: int = CLUSTER["heads"]  # independent heads; the lowest-loss one is kept
    views: int = CLUSTER["views"]
    noise: float = CLUSTER["noise"]  # gaussian noise std of every view (one or more), relative to the features' RMS norm
    neighbors_per_anchor: int = 2
    batch_anchors: int = CLUSTER["batch_anchors"]  # anchors per batch (in the last epoch when batch_anchors_start is set)
    batch_anchors_start: int | None = CLUSTER["batch_anchors_start"]  # first epoch's, growing geometrically; None: constant
    eval_rows: int = 4096  # rows of the fixed evaluation batch that selects among heads
    epochs: int = CLUSTER["epochs"]
    lr: float = CLUSTER["lr"]
    weight_decay: float = 0.0
    metric: str = CLUSTER["metric"]  # the features' geometry (kNN and preprocessing): 'cosine' or 'euclidean', see prepare_features
    seed: int = 0
    device: str = "cpu"

    @property
    def batch_neighbors_per_anchor(self) -> int:
        """kNN neighbours each anchor brings into a batch: none when only views are positives."""
        return self.neighbors_per_anchor if self.walks > 0 else 0

    def validate(self, n: int):
        """The options against each other and the data (UsageError: the CLI exits 2)."""
        if self.metric not in knn_mod.METRICS:
            raise UsageError(f"--metric must be one of {', '.join(knn_mod.METRICS)}, got '{self.metric}'", argument="--metric")
        if self.clusters < 2:
            raise UsageError(f"--clusters must be >= 2, got {self.clusters}", argument="--clusters")
        if self.clusters > n:
            raise UsageError(f"--clusters {self.clusters} exceeds the {n} points", argument="--clusters")
        if not 1 <= self.knn < n:
            raise UsageError(f"--knn must be in 1..{n - 1}, got {self.knn}", argument="--knn")
        if not 0.0 <= self.alpha < 1.0:
            raise UsageError(f"--alpha must be in [0, 1), got {self.alpha}", argument="--alpha")
        if self.heads < 1:
            raise UsageError(f"--heads must be >= 1, got {self.heads}", argument="--heads")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise UsageError(f"--ema must be in (0, 1), got {self.ema}", argument="--ema")
        if self.walks < 0:
            raise UsageError(f"--walks must be >= 0, got {self.walks}", argument="--walks")
        if self.views < 1:
            raise UsageError(f"--views must be >= 1, got {self.views}", argument="--views")
        if self.walks == 0 and self.views < 2:
            raise UsageError("with --walks 0 and one view an anchor has no positives", argument="--walks")
        if self.batch_anchors < 2:
            raise UsageError(f"--batch must be >= 2, got {self.batch_anchors}", argument="--batch")
        if self.batch_anchors_start is not None and not 2 <= self.batch_anchors_start:
            raise UsageError(f"--batch-start must be >= 2, got {self.batch_anchors_start}", argument="--batch-start")
        if self.batch_anchors_start is not None and self.batch_anchors_start > self.batch_anchors:
            raise UsageError(f"--batch-start {self.batch_anchors_start} exceeds --batch {self.batch_anchors}: batches grow "
                             "from --batch-start to --batch (equal: constant)", argument="--batch-start")
        if self.epochs < 1:
            raise UsageError(f"--epochs must be >= 1, got {self.epochs}", argument="--epochs")


@dataclass
class ClusterResult:
    assignments: np.ndarray
    probabilities: np.ndarray
    config: dict
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    loss_source: str = ""


def prepare_features(features, metric: str, device) -> torch.Tensor:
    """Centered features, then L2-normalized rows ('cosine') or divided by their std ('euclidean').

    The euclidean scaling is one number for all coordinates, so distances keep their geometry;
    it only makes the head's learning rate independent of the features' units."""
    x = torch.as_tensor(np.asarray(features) if not isinstance(features, torch.Tensor) else features)
    x = x.to(device=device, dtype=torch.float32)
    x = x - x.mean(0, keepdim=True)
    if metric == "cosine":
        return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return x / x.std().clamp_min(1e-12)


def neighbor_graph(features, k: int, metric: str, device="cpu") -> torch.Tensor:
    """(n, k) global kNN lists of the prepared features: the graph :func:`fit_clusters` builds
    when it is given none (pass it to reuse one graph across runs)."""
    return knn_mod.knn(prepare_features(features, metric, device), k, metric=metric)[0]


def sample_batch(anchors: np.ndarray, neighbors: np.ndarray, per_anchor: int, rng: np.random.Generator):
    """Sources of one batch: the anchors, then per_anchor random kNN neighbours of each."""
    if per_anchor <= 0:
        return anchors
    k = neighbors.shape[1]
    pick = rng.integers(0, k, size=(anchors.size, per_anchor))
    extra = neighbors[anchors[:, None], pick].reshape(-1)
    return np.concatenate([anchors, extra])


def batch_neighbor_lists(neighbors: np.ndarray, sources: np.ndarray, walks: int) -> torch.Tensor:
    """The batch-local kNN lists of ``sources``; with walks 0 (views only) every row's one
    "neighbour" is itself, which p's support excludes."""
    if walks > 0:
        return knn_mod.batch_neighbors(neighbors, sources)
    return torch.arange(sources.size)[:, None]


def epoch_batches(config: ClusterConfig) -> list[int]:
    """Anchors per batch in each epoch: constant, or geometric from ``batch_anchors_start``."""
    end = int(config.batch_anchors)
    start = config.batch_anchors_start
    if start is None or config.epochs == 1:
        return [end] * config.epochs
    ratio = end / start
    return [max(2, int(round(start * ratio ** (e / (config.epochs - 1))))) for e in range(config.epochs)]


def steps_in_epoch(n: int, batch: int) -> int:
    """Batches of ``batch`` anchors in an epoch over ``n`` points: a last batch of a single anchor is left
    out (too few anchors to contrast; the next epoch's order puts that point in another batch)."""
    return n // batch + (n % batch >= 2)


def total_steps(config: ClusterConfig, n: int) -> int:
    """Optimizer steps of one fit (all heads): the progress bar's length."""
    return config.heads * sum(steps_in_epoch(n, b) for b in epoch_batches(config))


def evaluation_batch(n: int, neighbors: np.ndarray, config: ClusterConfig, seed: int):
    """The fixed, noiseless batch on which heads are compared: (sources, batch neighbour lists).

    All points with their global kNN lists when n <= ``eval_rows`` (then p is the global,
    globally propagated p); else a fixed sample of anchors with ``neighbors_per_anchor`` kNN
    neighbours each. Two copies of each source (the views, without noise) where an anchor could
    otherwise be left without positives (walks 0, or a sampled batch)."""
    copies = 1 if (config.walks > 0 and n <= config.eval_rows) else 2
    if n * copies <= config.eval_rows:
        sources = np.arange(n)
    else:
        per = config.batch_neighbors_per_anchor
        m = max(2, config.eval_rows // (copies * (1 + per)))
        anchors = np.random.default_rng(seed).choice(n, size=min(m, n), replace=False)
        sources = sample_batch(anchors, neighbors, per, np.random.default_rng(seed + 1))
    sources = np.tile(sources, copies)
    return sources, batch_neighbor_lists(neighbors, sources, config.walks)


@torch.no_grad()
def evaluation_loss(head: torch.nn.Module, x: torch.Tensor, batch, loss_fn) -> float:
    sources, nb = batch
    src = torch.as_tensor(sources, device=x.device)
    return float(loss_fn(head(x[src]), ids=src, neighbors=nb.to(x.device)))


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
    history, seconds = [], []
    check, updates = FiniteCheck([(f"head.{name}", p) for name, p in head.named_parameters()], config.lr), 0
    for epoch, batch in enumerate(epoch_batches(config), 1):
        began = time.perf_counter()
        order = rng.permutation(n)
        total, count = 0.0, 0
        for s in range(steps_in_epoch(n, batch)):
            anchors = order[s * batch:(s + 1) * batch]
            sources = sample_batch(anchors, neighbors, config.batch_neighbors_per_anchor, rng)
            sources = np.tile(sources, config.views)
            src = torch.as_tensor(sources, device=device)
            xb = x[src]
            if config.noise > 0:  # every view, the one of --views 1 too
                xb = xb + noise_std * torch.randn_like(xb)
            nb = batch_neighbor_lists(neighbors, sources, config.walks).to(device)
            loss = loss_fn(head(xb), ids=src, neighbors=nb)
            where = f"at epoch {epoch}, step {s + 1} (seed {seed})"
            check.loss(loss, where, updates)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            check.gradients(loss, where, updates)
            opt.step()
            updates += 1
            if teacher is not None:
                with torch.no_grad():
                    for pt, ps in zip(teacher.parameters(), head.parameters()):
                        pt.mul_(config.ema).add_(ps, alpha=1.0 - config.ema)
            value = float(loss.detach())
            total += value
            count += 1
            bar.update(1, loss=value)
        history.append(total / max(count, 1))
        seconds.append(time.perf_counter() - began)
    return (teacher if teacher is not None else head), history, seconds


def fit_clusters(features, config: ClusterConfig, labels=None, neighbors=None, progress: Progress | None = None,
                 loss_fn=None) -> ClusterResult:
    """Run the recipe. ``neighbors`` (n, k) may be passed to reuse a kNN graph across runs
    (:func:`neighbor_graph`).

    ``labels`` are used for the reported metrics only, never for training or head selection."""
    t_start = time.perf_counter()
    device = torch.device(config.device)
    config.validate(len(features))
    x = prepare_features(features, config.metric, device)
    n = x.shape[0]

    t0 = time.perf_counter()
    if neighbors is None:
        neighbors = knn_mod.knn(x, config.knn, metric=config.metric)[0]
    neighbors = np.asarray(torch.as_tensor(neighbors)[:, : config.knn].cpu())
    t_knn = time.perf_counter() - t0

    loss_fn = loss_fn or cluster_loss(config.alpha, config.walks, config.knn)
    bar = progress or Progress(total_steps(config, n), "cluster", enabled=False)
    t0 = time.perf_counter()
    eval_batch = evaluation_batch(n, neighbors, config, config.seed)
    runs, epoch_seconds = [], []
    for h in range(config.heads):
        head, history, seconds = _train_head(x, neighbors, config, config.seed * 1000 + h, loss_fn, bar)
        runs.append((evaluation_loss(head, x, eval_batch, loss_fn), h, head, history))
        epoch_seconds.append(seconds)
    t_train = time.perf_counter() - t0
    bar.close()
    final_loss, best, head, history = min(runs, key=lambda r: (r[0], r[1]))

    pred, probs = assign(head, x)
    result = ClusterResult(pred, probs, asdict(config), history,
                           seconds={"knn": t_knn, "train": t_train, "total": time.perf_counter() - t_start,
                                    # each epoch of one head, averaged over the heads (epochs differ by batch size)
                                    "per_epoch": [float(np.mean(s)) for s in zip(*epoch_seconds)]},
                           loss_source=getattr(loss_fn, "source", type(loss_fn).__name__))
    result.metrics["clusters_used"] = int(np.unique(pred).size)
    result.metrics["final_loss"] = float(final_loss)
    result.metrics["head_losses"] = [float(r[0]) for r in runs]  # evaluation losses (the selection)
    result.metrics["head_train_losses"] = [float(r[3][-1]) for r in runs]  # last epoch's mean training loss
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
