"""The paper's debiased InfoNCE clustering recipe on precomputed features (``icon cluster``).

Recipe (I-Con Sec. 5 / TEMI protocol, in miniature):

1. global cosine kNN on the features, in blocks (:func:`icon_registry.training.knn.knn`);
2. optional k-step propagation of the kNN graph (uniform over the points reachable in W
   steps, or the sum of walks);
3. a linear cluster head, logits = W x + b, phi = softmax(logits);
4. batches of anchors plus ``neighbors_per_anchor`` of their kNN neighbours, each source in
   ``views`` noised copies (equal ``ids`` = the same source point);
5. the loss sum_i KL(p~(.|i) || q~(.|i)) over the batch, where
   p(j|i) = uniform over i's positives (other views of the same point, its propagated kNN
   neighbours), q(j|i) = sum_c phi_ic phi_jc / sum_k phi_kc (uniform on clusters), and the
   debiasing mixes PROBABILITIES: p~ = (1 - alpha) p + alpha / N, q~ = (1 - alpha_q) q + alpha_q / N;
6. optional EMA of the head weights (a teacher whose assignments are reported).

THE SEAM: the loss is any callable ``loss_fn(z, *, ids, graph)`` with z the head's logits and
graph the (B, B) positive weights of the batch. :func:`reference_loss` below is the direct
implementation; :func:`resolve_cluster_loss` swaps in the compiled catalog entry
``debiased_infonce_clustering`` when ``icon_registry.compile_loss`` is available and asked for.
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
# The loss (direct implementation; the catalog entry replaces it once compile_loss exists)
# ---------------------------------------------------------------------------------------------


def positive_weights(ids: torch.Tensor, graph: torch.Tensor | None) -> torch.Tensor:
    """Unnormalized positive weights w_ij >= 0 of the batch, w_ii = 0.

    w_ij = max(1[id_j = id_i], graph_ij / max_k graph_ik): in 'reach' mode every positive
    weighs 1 (p uniform over positives); in 'walks' mode the most-walked neighbour weighs as
    much as another view of the same point.
    """
    same = (ids[:, None] == ids[None, :]).to(torch.float64 if graph is None else graph.dtype)
    w = same
    if graph is not None:
        g = graph / graph.amax(dim=1, keepdim=True).clamp_min(1e-30)
        w = torch.maximum(w, g)
    return w.fill_diagonal_(0.0)


def log_cluster_kernel(logits: torch.Tensor) -> torch.Tensor:
    """log q(j|i) = log sum_c phi_ic phi_jc / sum_k phi_kc over the batch (i included), stably."""
    log_phi = torch.log_softmax(logits, dim=1)  # (B, K)
    log_size = torch.logsumexp(log_phi, dim=0, keepdim=True)  # (1, K): log sum_k phi_kc
    a = log_phi  # (B, K)
    b = (log_phi - log_size).T  # (K, B)
    a_max = a.amax(dim=1, keepdim=True).detach()
    b_max = b.amax(dim=0, keepdim=True).detach()
    return torch.log((torch.exp(a - a_max) @ torch.exp(b - b_max)).clamp_min(1e-38)) + a_max + b_max


def reference_loss(
    logits: torch.Tensor,
    *,
    ids: torch.Tensor,
    graph: torch.Tensor | None = None,
    alpha: float = 0.0,
    alpha_p: float = 0.0,
    reduction: str = "mean",
    **_unused,
) -> torch.Tensor:
    """sum_i KL(p~_i || q~_i) / B (reduction 'mean'), the support being the whole batch.

    alpha mixes q (the catalog entry's parameter), alpha_p mixes p."""
    alpha_q, alpha = alpha, alpha_p
    n = logits.shape[0]
    w = positive_weights(ids, None if graph is None else graph.to(logits.dtype)).to(logits.dtype)
    rows = w.sum(1, keepdim=True)
    if bool((rows == 0).any()) and alpha <= 0:
        raise IconError("an anchor has no positive in the batch and alpha = 0: its KL is undefined")
    p = w / rows.clamp_min(1e-30)
    p = (1.0 - alpha) * p + alpha / n
    log_q = log_cluster_kernel(logits)
    if alpha_q > 0:
        log_q = torch.logaddexp(log_q + math.log1p(-alpha_q), torch.full_like(log_q, math.log(alpha_q / n)))
    # KL = sum_j p log p - p log q, with 0 log 0 = 0.
    plogp = torch.where(p > 0, p * torch.log(p.clamp_min(1e-300)), torch.zeros_like(p))
    per_anchor = (plogp - p * log_q).sum(1)
    if reduction == "none":
        return per_anchor
    if reduction == "sum":
        return per_anchor.sum()
    return per_anchor.mean()


class ReferenceClusterLoss:
    """``loss_fn(z, ids=, graph=)`` with the recipe's hyper-parameters bound."""

    requires = frozenset({"ids", "graph"})
    source = "reference (icon_registry.training.clustering.reference_loss)"

    def __init__(self, alpha: float = 0.0, alpha_p: float = 0.0):
        self.alpha, self.alpha_p = alpha, alpha_p

    def __call__(self, z, **inputs):
        return reference_loss(z, ids=inputs["ids"], graph=inputs.get("graph"), alpha=self.alpha, alpha_p=self.alpha_p)


def resolve_cluster_loss(alpha: float, alpha_p: float = 0.0, use_catalog: bool | None = None, walks: int = 1,
                         walk_mode: str = "reach"):
    """The loss callable for the recipe.

    use_catalog None: the compiled catalog entry if ``icon_registry.compile_loss`` imports,
    else the reference; True: the compiled entry or an IconError; False: the reference.
    """
    if use_catalog is False or alpha_p > 0:
        if use_catalog and alpha_p > 0:
            raise IconError("the catalog entry mixes q only; --alpha-p needs the reference loss", argument="--alpha-p")
        return ReferenceClusterLoss(alpha, alpha_p)
    try:
        from icon_registry import compile_loss  # noqa: F401
    except Exception as exc:
        if use_catalog:
            raise IconError(f"compile_loss is not available ({exc}); run with the reference loss") from None
        return ReferenceClusterLoss(alpha, alpha_p)
    from icon_registry.training.losses import compiled_loss

    try:
        return compiled_loss(CATALOG_ENTRY, alpha=alpha)
    except Exception as exc:
        if use_catalog:
            raise
        ref = ReferenceClusterLoss(alpha, alpha_p)
        ref.source += f" (catalog entry unavailable: {str(exc).splitlines()[0][:120]})"
        return ref


# ---------------------------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------------------------


@dataclass
class ClusterConfig:
    clusters: int
    knn: int = 3
    alpha: float = 0.0  # q~ = (1 - alpha) q + alpha / N (the catalog entry's parameter)
    alpha_p: float = 0.0  # p~ = (1 - alpha_p) p + alpha_p / N (reference loss only)
    walks: int = 0  # 0: no kNN positives at all (augmentations only); 1: kNN; W>1: propagation
    walk_mode: str = "reach"
    ema: float | None = None  # e.g. 0.99; None: no teacher
    views: int = 2
    noise: float = 0.1  # gaussian noise std of the views, relative to the features' RMS norm
    neighbors_per_anchor: int = 2
    batch_anchors: int = 256
    epochs: int = 30
    lr: float = 1e-3
    lr_halve_every: int | None = None  # epochs; None: constant
    weight_decay: float = 0.0
    normalize: bool = True  # L2-normalize the features (cosine geometry, as for DINO features)
    seed: int = 0
    device: str = "cpu"
    use_catalog: bool | None = None

    def validate(self, n: int):
        if self.clusters < 2:
            raise IconError(f"--clusters must be >= 2, got {self.clusters}", argument="--clusters")
        if self.clusters > n:
            raise IconError(f"--clusters {self.clusters} exceeds the {n} points", argument="--clusters")
        if not 1 <= self.knn < n:
            raise IconError(f"--knn must be in 1..{n - 1}, got {self.knn}", argument="--knn")
        for name in ("alpha", "alpha_p"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v < 1.0:
                raise IconError(f"--{name.replace('_', '-')} must be in [0, 1), got {v}", argument=f"--{name}")
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


def fit_clusters(features, config: ClusterConfig, labels=None, neighbors=None, progress: Progress | None = None,
                 loss_fn=None) -> ClusterResult:
    """Run the recipe. ``neighbors`` (n, k) may be passed to reuse a kNN graph across runs."""
    t_start = time.perf_counter()
    device = torch.device(config.device)
    x = prepare_features(features, config.normalize, device)
    n, d = x.shape
    config.validate(n)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    t0 = time.perf_counter()
    if neighbors is None:
        neighbors, _ = knn_mod.knn(x, config.knn, metric="cosine")
    neighbors = np.asarray(torch.as_tensor(neighbors)[:, : config.knn].cpu())
    t_knn = time.perf_counter() - t0
    graph = knn_mod.propagate(neighbors, config.walks, config.walk_mode) if config.walks > 0 else None

    loss_fn = loss_fn or resolve_cluster_loss(config.alpha, config.alpha_p, config.use_catalog)
    head = torch.nn.Linear(d, config.clusters).to(device)
    teacher = copy.deepcopy(head).requires_grad_(False) if config.ema else None
    opt = torch.optim.Adam(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = (torch.optim.lr_scheduler.StepLR(opt, config.lr_halve_every, 0.5) if config.lr_halve_every else None)
    noise_std = config.noise * float(x.norm(dim=1).pow(2).mean().sqrt()) / math.sqrt(d)

    steps_per_epoch = max(1, math.ceil(n / config.batch_anchors))
    history = []
    bar = progress or Progress(config.epochs * steps_per_epoch, "cluster", enabled=False)
    t0 = time.perf_counter()
    for epoch in range(config.epochs):
        order = rng.permutation(n)
        total = 0.0
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
            ids = src
            inputs = {"ids": ids}
            if graph is not None:
                inputs["graph"] = torch.as_tensor(knn_mod.batch_graph(graph, sources), device=device, dtype=torch.float32)
                inputs["neighbors"] = knn_mod.batch_neighbors(neighbors, sources).to(device)
            loss = loss_fn(head(xb), **{k: v for k, v in inputs.items() if k in getattr(loss_fn, "requires", inputs)})
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if teacher is not None:
                with torch.no_grad():
                    for pt, ps in zip(teacher.parameters(), head.parameters()):
                        pt.mul_(config.ema).add_(ps, alpha=1.0 - config.ema)
            total += float(loss.detach())
            bar.update(1, loss=float(loss.detach()))
        if sched is not None:
            sched.step()
        history.append(total / steps_per_epoch)
    t_train = time.perf_counter() - t0
    bar.close()

    pred, probs = assign(teacher if teacher is not None else head, x)
    result = ClusterResult(pred, probs, asdict(config), history,
                           seconds={"knn": t_knn, "train": t_train, "total": time.perf_counter() - t_start},
                           loss_source=getattr(loss_fn, "source", type(loss_fn).__name__))
    result.metrics["clusters_used"] = int(np.unique(pred).size)
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
