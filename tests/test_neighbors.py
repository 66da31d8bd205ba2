"""icon_registry.neighbors.knn against scikit-learn's exact search in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from icon_registry.neighbors import knn


@pytest.mark.parametrize("offset", [0.0, 1000.0])
def test_euclidean_neighbours_of_float32_rows_far_from_the_origin(offset):
    """Rows near 1000 with a spread of 0.3: |k|^2 ~ 5e6 rounds by ~0.5 in float32, more than the
    distances (~0.2), so the expansion 2 q.k - |k|^2 ranked the neighbours by rounding noise."""
    x = (offset + 0.3 * np.random.default_rng(0).normal(size=(300, 5))).astype(np.float32)
    expected = NearestNeighbors(n_neighbors=6).fit(x.astype(np.float64)).kneighbors(x.astype(np.float64))
    idx, val = knn(torch.tensor(x), 5, metric="euclidean", query_block=64, key_block=100)
    assert (idx.numpy() == expected[1][:, 1:]).mean() > 0.99  # float32 ties aside
    np.testing.assert_allclose(-val.numpy(), expected[0][:, 1:] ** 2, rtol=1e-4, atol=1e-6)
