import math

import numpy as np
import pytest
import torch

from icon_registry.training import clustering
from icon_registry.training import knn as knn_mod
from icon_registry.training._errors import IconError


def slow_loss(logits, ids, neighbors, alpha):
    """The catalog entry debiased_infonce_clustering (steps = 1) written as plain loops:
    p uniform over the others that share i's id or are among i's given neighbours, mixed with
    alpha/(n-1) over the others; q the cluster kernel over all j, mixed with alpha/n; KL(p~||q~)."""
    logits = logits.double()
    n, k = logits.shape
    phi = torch.softmax(logits, 1)
    size = phi.sum(0)
    ids, neighbors = ids.tolist(), neighbors.tolist()
    total = 0.0
    for i in range(n):
        pos = [float(j != i and (ids[i] == ids[j] or j in neighbors[i])) for j in range(n)]
        s = sum(pos)
        for j in range(n):
            if j == i:
                continue
            p = (1 - alpha) * pos[j] / s + alpha / (n - 1)
            q = sum(float(phi[i, c] * phi[j, c] / size[c]) for c in range(k))
            q = (1 - alpha) * q + alpha / n
            if p > 0:
                total += p * math.log(p / q)
    return total / n


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.6])
def test_compiled_entry_matches_slow_loop(alpha):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(9, 3, generator=g, dtype=torch.float64)
    ids = torch.tensor([0, 1, 2, 0, 1, 2, 3, 3, 4])
    neighbors = torch.randint(0, 9, (9, 2), generator=g)
    neighbors[8, 0] = 0  # every anchor has a positive (needed at alpha = 0)
    loss = clustering.cluster_loss(alpha, walks=1, knn=2)
    assert loss.source == "objective"
    value = float(loss(logits, ids=ids, neighbors=neighbors))
    assert value == pytest.approx(slow_loss(logits, ids, neighbors, alpha), rel=1e-8, abs=1e-10)


def _blobs(seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(3, 5)) * 5
    y = np.repeat(np.arange(3), 40)
    return centers[y] + rng.normal(size=(120, 5)) * 0.3, y


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_clusters_separates_blobs(seed):
    # Three well separated blobs: the recipe (p and q debiased, three heads, the lowest-loss head
    # kept without looking at labels) must recover them almost exactly.
    x, y = _blobs(seed)
    cfg = clustering.ClusterConfig(clusters=3, epochs=15, batch_anchors=64, lr=5e-2, walks=1, alpha=0.3,
                                   heads=3, seed=seed)
    res = clustering.fit_clusters(x, cfg, labels=y)
    assert res.loss_source == "objective"
    assert res.metrics["head_selected"] == int(np.argmin(res.metrics["head_losses"]))
    assert res.metrics["clusters_used"] == 3
    assert res.metrics["hungarian_accuracy"] > 0.95


def test_selected_head_has_lowest_loss_and_labels_are_not_used():
    x, y = _blobs(2)
    cfg = clustering.ClusterConfig(clusters=3, epochs=3, batch_anchors=64, lr=5e-2, heads=2, seed=0)
    a = clustering.fit_clusters(x, cfg, labels=y)
    b = clustering.fit_clusters(x, cfg, labels=None)
    assert np.array_equal(a.assignments, b.assignments)
    assert a.metrics["final_loss"] == min(a.metrics["head_losses"])


def test_euclidean_metric_clusters_a_low_dimensional_map():
    # Three 2-D blobs on a line through the features' mean: centered and L2-normalized (cosine),
    # the middle blob is scattered over the whole circle; the euclidean geometry keeps them apart.
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    x = np.array([[0.0, 0.0], [40.0, 40.0], [80.0, 80.0]])[y] + rng.normal(size=(120, 2)) * 2.0
    prepared = clustering.prepare_features(x, "euclidean", "cpu")
    scaled = (x - x.mean(0)) / (x - x.mean(0)).std(ddof=1)  # one scale for both coordinates
    assert np.allclose(prepared.numpy(), scaled, atol=1e-5)
    assert torch.equal(clustering.neighbor_graph(x, 5, "euclidean"), knn_mod.knn(torch.as_tensor(x), 5, metric="euclidean")[0])
    cfg = clustering.ClusterConfig(clusters=3, metric="euclidean", epochs=15, batch_anchors=64, lr=5e-2, walks=1,
                                   alpha=0.3, heads=2, seed=0)
    assert clustering.fit_clusters(x, cfg, labels=y).metrics["hungarian_accuracy"] > 0.95


def test_unknown_metric_is_an_icon_error():
    x, _ = _blobs(0)
    with pytest.raises(IconError, match="--metric must be one of cosine, euclidean"):
        clustering.fit_clusters(x, clustering.ClusterConfig(clusters=3, metric="manhattan"))
