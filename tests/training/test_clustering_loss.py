import math

import numpy as np
import pytest
import torch

from icon_registry.training import clustering


def slow_loss(logits, ids, graph, alpha, alpha_q):
    logits = logits.double()
    n, k = logits.shape
    phi = torch.softmax(logits, 1)
    size = phi.sum(0)
    total = 0.0
    for i in range(n):
        w = []
        for j in range(n):
            same = 1.0 if (ids[i] == ids[j] and i != j) else 0.0
            g = 0.0
            if graph is not None and i != j:
                g = float(graph[i, j] / graph[i].max()) if graph[i].max() > 0 else 0.0
            w.append(max(same, g) if i != j else 0.0)
        s = sum(w)
        for j in range(n):
            p = (1 - alpha) * w[j] / s + alpha / n
            q = sum(float(phi[i, c] * phi[j, c] / size[c]) for c in range(k))
            q = (1 - alpha_q) * q + alpha_q / n
            if p > 0:
                total += p * math.log(p / q)
    return total / n


@pytest.mark.parametrize("alpha,alpha_q,use_graph", [(0.0, 0.0, False), (0.6, 0.6, True), (0.3, 0.0, True)])
def test_reference_matches_slow_loop(alpha, alpha_q, use_graph):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(9, 3, generator=g, dtype=torch.float64)
    ids = torch.tensor([0, 1, 2, 0, 1, 2, 3, 3, 4])
    graph = torch.rand(9, 9, generator=g, dtype=torch.float64) * (torch.rand(9, 9, generator=g) > 0.6) if use_graph else None
    if graph is not None:
        graph.fill_diagonal_(0)
    if alpha == 0:
        ids = torch.tensor([0, 1, 2, 0, 1, 2, 3, 3, 4, ])
        ids[8] = 0  # every anchor needs a positive when alpha = 0
    fast = clustering.reference_loss(logits, ids=ids, graph=graph, alpha_p=alpha, alpha=alpha_q)
    assert float(fast) == pytest.approx(slow_loss(logits, ids, graph, alpha, alpha_q), rel=1e-10, abs=1e-12)


def test_cluster_kernel_rows_sum_to_one():
    logits = torch.randn(7, 4, dtype=torch.float64)
    q = clustering.log_cluster_kernel(logits).exp()
    assert torch.allclose(q.sum(1), torch.ones(7, dtype=torch.float64))
    assert torch.allclose(q.sum(0), torch.ones(7, dtype=torch.float64))


def test_fit_clusters_separates_blobs():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 5)) * 5
    y = np.repeat(np.arange(3), 40)
    x = centers[y] + rng.normal(size=(120, 5)) * 0.3
    cfg = clustering.ClusterConfig(clusters=3, epochs=40, batch_anchors=64, lr=5e-2, walks=1, alpha=0.3, alpha_p=0.3, use_catalog=False)
    res = clustering.fit_clusters(x, cfg, labels=y)
    assert res.metrics["hungarian_accuracy"] > 0.95
