import numpy as np
import pytest
import torch

from icon_registry.training import knn, metrics


def test_hungarian_permuted_labels_is_one():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 200)
    perm = rng.permutation(5)
    assert metrics.hungarian_accuracy(perm[y], y) == 1.0


def test_hungarian_matches_bruteforce():
    import itertools

    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 60)
    pred = rng.integers(0, 4, 60)
    best = max(np.mean(np.array(p)[pred] == y) for p in itertools.permutations(range(4)))
    assert metrics.hungarian_accuracy(pred, y) == pytest.approx(best)


def test_nmi_ari_match_sklearn():
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    assert metrics.nmi(p, y) == pytest.approx(normalized_mutual_info_score(y, p))
    assert metrics.ari(p, y) == pytest.approx(adjusted_rand_score(y, p))


def test_kmeans_cost_matches_sklearn_inertia():
    from sklearn.cluster import KMeans

    x = np.random.default_rng(3).normal(size=(80, 3))
    km = KMeans(3, n_init=2, random_state=0).fit(x)
    assert metrics.kmeans_cost(x, km.labels_) == pytest.approx(km.inertia_, rel=1e-6)


def test_principal_angle_zero_for_same_subspace():
    a = np.random.default_rng(4).normal(size=(10, 2))
    assert metrics.largest_principal_angle(a, a @ np.array([[2.0, 1.0], [0.0, 1.0]])) < 1e-6


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_blocked_knn_equals_bruteforce(metric):
    x = torch.randn(257, 9, generator=torch.Generator().manual_seed(0))
    idx, val = knn.knn(x, 5, metric=metric, query_block=37, key_block=50)
    ref_idx, ref_val = knn.knn_bruteforce(x, 5, metric=metric)
    assert torch.equal(idx, ref_idx)
    assert torch.allclose(val.double(), ref_val, atol=1e-4)


def test_knn_never_returns_self():
    x = torch.randn(100, 4, generator=torch.Generator().manual_seed(1))
    idx, _ = knn.knn(x, 3, query_block=16, key_block=16)
    assert not (idx == torch.arange(100)[:, None]).any()


def test_propagate_reach_and_walks():
    nb = np.array([[1], [2], [0], [0]])
    reach = knn.propagate(nb, walks=2, mode="reach").toarray()
    # 0 -> 1 -> 2: both reachable in <= 2 steps, uniform.
    assert np.allclose(reach[0], [0, 0.5, 0.5, 0])
    assert np.allclose(reach.sum(1), 1)
    walks = knn.propagate(nb, walks=1, mode="walks").toarray()
    assert np.allclose(walks[3], [1, 0, 0, 0])


def test_batch_neighbors_maps_to_positions():
    nb = np.array([[1, 2], [0, 2], [0, 1]])
    out = knn.batch_neighbors(nb, np.array([2, 0, 2]))
    # row 0 (source 2): neighbours 0 -> position 1, 1 absent; padded with its own position.
    assert sorted(set(out[0].tolist()) - {0}) == [1]
    assert set(out[1].tolist()) - {1} == {0, 2}
