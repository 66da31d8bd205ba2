"""`icon cluster`'s defaults are the recipe that beats K-Means on digits, raw and standardized."""

from __future__ import annotations

import numpy as np
import pytest

from icon_registry.training import clustering
from icon_registry.training.recipe import CLUSTER

datasets = pytest.importorskip("sklearn.datasets")


@pytest.mark.parametrize("standardized", [False, True], ids=["raw", "standardized"])
def test_default_recipe_beats_kmeans_on_digits(standardized):
    from sklearn.preprocessing import StandardScaler

    digits = datasets.load_digits()
    x = digits.data.astype(np.float32)
    if standardized:
        x = StandardScaler().fit_transform(x).astype(np.float32)
    ours = clustering.fit_clusters(x, clustering.ClusterConfig(clusters=10, seed=0), labels=digits.target)
    kmeans = clustering.kmeans_baseline(x, 10, digits.target, seed=0)
    assert ours.metrics["hungarian_accuracy"] > kmeans["hungarian_accuracy"] + 0.03
    assert len(ours.seconds["per_epoch"]) == CLUSTER["epochs"]


def test_command_line_defaults_are_the_recipe():
    import argparse

    from icon_registry.commands import cluster

    parser = argparse.ArgumentParser()
    cluster.register(parser.add_subparsers())
    args = parser.parse_args(["cluster", "--features", "digits", "--clusters", "10"])
    config = clustering.ClusterConfig(clusters=10)
    for option, field in [("knn", "knn"), ("alpha", "alpha"), ("walks", "walks"), ("heads", "heads"), ("views", "views"),
                          ("noise", "noise"), ("epochs", "epochs"), ("batch", "batch_anchors"),
                          ("batch_start", "batch_anchors_start"), ("lr", "lr"), ("metric", "metric")]:
        assert getattr(args, option) == getattr(config, field) == CLUSTER[field], option
