"""icon fit's t-SNE optimizer and the exaggerated objective, against scikit-learn's own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import squareform

from icon_registry import compile_loss
from icon_registry.backends import TorchBackend
from icon_registry.pairs import Inputs
from icon_registry.training import tsne

sklearn_tsne = pytest.importorskip("sklearn.manifold._t_sne")


def _data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(n // 2, 5)), rng.normal(size=(n - n // 2, 5)) + 6.0])
    y = rng.normal(scale=1e-2, size=(n, 2))
    return torch.tensor(x), torch.tensor(y)


def _joint_p(loss, x):
    inputs = Inputs(TorchBackend, x, x.shape[0], dict(loss.params), x=x, entry_id="tsne")
    with torch.no_grad(), TorchBackend.float_dtype(x.dtype):
        return loss.entry.p.evaluate(inputs).prob().numpy()


@pytest.mark.parametrize("exaggeration", [1.0, 12.0])
def test_exaggerated_gradient_is_scikit_learns(exaggeration):
    """loss.exaggeration = a: the gradient 4 sum_j (a P_ij - Q_ij) w_ij (y_i - y_j) of
    scikit-learn's early exaggeration (its _kl_divergence on a P)."""
    x, y = _data()
    loss = compile_loss("tsne", perplexity=5.0, reduction="sum")
    loss.exaggeration = exaggeration
    leaf = y.clone().requires_grad_()
    loss(leaf, x=x).backward()
    P = squareform(_joint_p(loss, x), checks=False)
    _, theirs = sklearn_tsne._kl_divergence(y.numpy().ravel(), exaggeration * P, 1, x.shape[0], 2)
    np.testing.assert_allclose(leaf.grad.numpy().ravel(), theirs, rtol=1e-9, atol=1e-12)


def test_schedule_is_scikit_learns_gradient_descent():
    """Momentum, gains, the phase change and the learning rate step for step as scikit-learn's
    _gradient_descent (same P, same start, 12 exaggerated iterations then 8 more). Rounding
    differences (our squared distances come from a matmul) grow along the trajectory: 1e-6."""
    x, y0 = _data(40, seed=1)
    loss = compile_loss("tsne", perplexity=5.0, reduction="sum")
    schedule = tsne.Schedule(iterations=20, exaggeration_iterations=12)
    ours = tsne.fit(loss, x.numpy(), {"x": x}, schedule=schedule, init=y0.numpy())
    P = squareform(_joint_p(loss, x), checks=False)
    n, rate = x.shape[0], schedule.rate(x.shape[0])
    assert rate == 50.0  # scikit-learn's "auto": max(n / 12 / 4, 50)
    common = dict(learning_rate=rate, min_gain=0.01, min_grad_norm=0.0, n_iter_without_progress=10**9)
    p = y0.numpy().ravel().copy()
    p, _, _ = sklearn_tsne._gradient_descent(
        sklearn_tsne._kl_divergence, p, 0, 12, momentum=0.5, args=[12.0 * P, 1, n, 2], **common)
    p, _, _ = sklearn_tsne._gradient_descent(
        sklearn_tsne._kl_divergence, p, 12, 20, momentum=0.8, args=[P, 1, n, 2], **common)
    np.testing.assert_allclose(ours.embedding, p.reshape(n, 2), rtol=1e-6, atol=1e-9)
    assert len(ours.history) == 8 and loss.exaggeration == 1.0


def test_clustered_data_embeds_without_nan_as_well_as_scikit_learn():
    """A 10-cluster mixture whose P between clusters underflows to 0 (it once stopped with NaN)."""
    from sklearn.manifold import TSNE, trustworthiness

    from icon_registry.bench_tsne import mixture

    x, _ = mixture(300)
    loss = compile_loss("tsne", reduction="sum")
    ours = tsne.fit(loss, x, {"x": torch.as_tensor(x)}, schedule=tsne.Schedule(iterations=400))
    assert np.isfinite(ours.embedding).all() and all(np.isfinite(ours.history))
    theirs = TSNE(perplexity=30.0, init="pca", random_state=0, max_iter=400).fit_transform(x)
    assert trustworthiness(x, ours.embedding, n_neighbors=10) >= trustworthiness(x, theirs, n_neighbors=10) - 0.01


def test_exaggeration_is_the_same_on_the_generic_path(monkeypatch):
    import icon_registry.objective as objective

    x, y = _data()
    fused_loss = compile_loss("tsne", perplexity=5.0, reduction="sum")
    generic_loss = compile_loss("tsne", perplexity=5.0, reduction="sum")
    grads = []
    for loss, generic in ((fused_loss, False), (generic_loss, True)):
        if generic:
            monkeypatch.setattr(objective, "_fused_terms", lambda *a, **k: None)
        loss.exaggeration = 4.0
        leaf = y.clone().requires_grad_()
        loss(leaf, x=x).backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_icon_fit_tsne_runs_the_schedule(tmp_path):
    import json

    from icon_registry.cli import main

    out = tmp_path / "tsne"
    argv = ["fit", "tsne", "--data", "iris", "--epochs", "300", "--set", "nearest=45", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["mapper"] == "lookup" and report["epochs"] == 300 and report["lr"] == 50.0
    # a run shorter than the references' 1000 iterations exaggerates its first quarter (their 250 of 1000)
    assert report["params"]["nearest"] == 45 and report["exaggerated_iterations"] == 75
    assert len(report["history"]) == 300 - 75
    assert report["metrics"]["trustworthiness@10"] > 0.95
    assert np.load(out / "embedding.npy").shape == (150, 2)


def test_icon_fit_tsne_defaults_to_the_references_nearest_p(tmp_path):
    """Without --set nearest, icon fit calibrates P on the 3 perplexity nearest (scikit-learn's
    Barnes-Hut and openTSNE); the kNN accuracy it reports measures the 2-D map by distances."""
    import json

    from sklearn.neighbors import KNeighborsClassifier

    from icon_registry.cli import main
    from icon_registry.training import data

    out = tmp_path / "tsne"
    assert main(["fit", "tsne", "--data", "iris", "--epochs", "260", "--set", "perplexity=10", "--out", str(out),
                 "--quiet"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["params"]["nearest"] == 30 and report["params"]["perplexity"] == 10
    z = np.load(out / "embedding.npy")
    iris = data.load_dataset("iris")
    train, test = data.train_test_split_indices(iris.labels, iris.n, 0.3, 0)
    euclidean = KNeighborsClassifier(5).fit(z[train], iris.labels[train]).score(z[test], iris.labels[test])
    assert report["metrics"]["knn_accuracy@5 (in-sample split)"] == pytest.approx(euclidean)


@pytest.mark.parametrize("entry_id, params, n, dim, expected", [
    ("tsne", {}, 1797, 2, {"nearest": 90}),
    ("tsne", {"perplexity": 5.0}, 1797, 2, {"nearest": 15}),
    ("tsne", {"nearest": 0}, 1797, 2, {}),  # the caller's choice stays
    ("tsne", {}, 91, 2, {}),  # 90 nearest of 91 points: every other point, the exact P
    ("tsne", {}, 92, 2, {"nearest": 90}),
    ("tsne", {}, 3_000, 2, {"nearest": 90, "interpolation": 3}),  # the grid from 3,000 points
    ("tsne", {}, 2_999, 2, {"nearest": 90}),
    ("tsne", {}, 10_000, 3, {"nearest": 90}),  # the grid is 1-D or 2-D
    ("tsne", {"nearest": 0}, 10_000, 2, {}),  # a dense P: nothing to interpolate against
    ("tsne", {"interpolation": 0}, 10_000, 2, {"nearest": 90}),
    ("sne", {}, 10_000, 2, {}),  # neither parameter
])
def test_references_settings(entry_id, params, n, dim, expected):
    from icon_registry.training.losses import builtin_entry

    assert tsne.references_settings(builtin_entry(entry_id), params, n, dim) == expected
