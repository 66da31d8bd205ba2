"""``icon bench --suite tsne``: t-SNE against scikit-learn (and openTSNE when installed), one run.

* ``calibration``: the perplexity calibration of P (perplexity 30) at n = 4,096 points of a
  10-cluster Gaussian mixture in 50-D: ours over every pair against scikit-learn's exact
  ``_joint_probabilities``, and ours on the k = 90 nearest neighbours (``nearest=90``: found in
  blocks, P held as its pairs) against scikit-learn's Barnes-Hut P (``NearestNeighbors`` +
  ``_joint_probabilities_nn``), both expanded to n x n at the end; each pair timed interleaved
  and repeated, with the largest difference of the two P matrices.
* ``end_to_end``: ``icon fit tsne``'s optimizer (icon_registry.training.tsne, default schedule),
  with the exact P (up to 5,000 points), with the kNN P (``nearest=90``), and with the kNN P and
  q's normalizer interpolated on a grid (``interpolation=3``), against scikit-learn's TSNE
  (Barnes-Hut, its defaults, one job) and openTSNE (one job, if it is importable: it is no
  dependency) on digits and on the mixture at n = 2,000, 5,000 and 10,000: wall seconds and
  trustworthiness@10 of each embedding (scikit-learn's trustworthiness); each row says whether it
  is what ``icon fit tsne`` runs at that n.

Every library runs on one thread when ``--threads 1`` is given (torch.set_num_threads; the
references get n_jobs=1 and their BLAS thread count is what the environment sets).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from icon_registry.training.tsne import GRID_DENSITY, NEIGHBOURS_PER_PERPLEXITY

PERPLEXITY = 30.0
NEAREST = int(NEIGHBOURS_PER_PERPLEXITY * PERPLEXITY)  # the k of the references' kNN P (icon fit's default)
CALIBRATION_N = 4096
END_TO_END = ("digits", 2000, 5000, 10000)


def mixture(n: int, dim: int = 50, clusters: int = 10, seed: int = 0):
    """n points of ``clusters`` unit Gaussians in ``dim``-D whose centres lie ~50 apart: far
    enough that most P_ij between clusters underflow to 0 (the case that once gave NaN)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(clusters, dim))
    labels = rng.integers(0, clusters, size=n)
    return (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32), labels


def _ours_p(x, nearest: int):
    from icon_registry import compile_loss
    from icon_registry.backends import TorchBackend
    from icon_registry.pairs import Inputs

    loss = compile_loss("tsne", perplexity=PERPLEXITY, nearest=nearest)
    xt = torch.as_tensor(x)
    inputs = Inputs(TorchBackend, xt, xt.shape[0], dict(loss.params), x=xt, entry_id="tsne")
    with torch.no_grad(), TorchBackend.float_dtype(xt.dtype):
        return loss.entry.p.evaluate(inputs).prob()


def _sklearn_exact_p(x):
    from scipy.spatial.distance import squareform
    from sklearn.manifold._t_sne import _joint_probabilities
    from sklearn.metrics import pairwise_distances

    distances = pairwise_distances(x, squared=True).astype(np.float32, copy=False)
    return squareform(_joint_probabilities(distances, PERPLEXITY, 0))


def _sklearn_knn_p(x, k: int):
    from sklearn.manifold._t_sne import _joint_probabilities_nn
    from sklearn.neighbors import NearestNeighbors

    graph = NearestNeighbors(n_neighbors=k, metric="euclidean", n_jobs=1).fit(x).kneighbors_graph(mode="distance")
    graph.data **= 2
    return _joint_probabilities_nn(graph, PERPLEXITY, 0).toarray()


def _interleaved(fns: dict, repeats: int):
    times = {name: [] for name in fns}
    results = {}
    for r in range(repeats):
        for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            start = time.perf_counter()
            results[name] = fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, results


def run_calibration(n: int = CALIBRATION_N, repeats: int = 3, progress=None) -> dict:
    x, _ = mixture(n)
    k = min(n - 1, NEAREST)
    rows = []
    for label, ours, theirs in (
        ("every pair (exact P)", lambda: _ours_p(x, 0), lambda: _sklearn_exact_p(x)),
        (f"k = {k} nearest (Barnes-Hut P)", lambda: _ours_p(x, k), lambda: _sklearn_knn_p(x, k + 1)),
    ):
        if progress:
            progress(f"tsne calibration n={n}: {label}")
        seconds, results = _interleaved({"ours": ours, "sklearn": theirs}, repeats)
        ours_p = np.asarray(results["ours"], dtype=np.float64)
        diff = np.abs(ours_p - results["sklearn"])
        rows.append({
            "n": n, "what": label, "ours_seconds": round(seconds["ours"], 3), "sklearn_seconds": round(seconds["sklearn"], 3),
            "ratio": round(seconds["ours"] / seconds["sklearn"], 3), "max_abs_p_diff": float(diff.max()),
            "max_rel_p_diff": float(diff.max() / np.abs(results["sklearn"]).max()),
            "nan": bool(np.isnan(ours_p).any()),
        })
    return {
        "description": f"P calibration (perplexity {PERPLEXITY:g}, tolerance 1e-5 nats) on a 10-cluster mixture in 50-D, "
        "median of interleaved repeats; ratio = ours / scikit-learn",
        "repeats": repeats, "rows": rows,
    }


def _dataset(name):
    if name == "digits":
        from sklearn.datasets import load_digits

        data = load_digits()
        return "digits", data.data.astype(np.float32), data.target
    x, labels = mixture(int(name))
    return f"mixture n={int(name)}", x, labels


def _ours_embedding(x, settings: dict):
    from icon_registry import compile_loss
    from icon_registry.training import tsne

    loss = compile_loss("tsne", perplexity=PERPLEXITY, reduction="sum", **settings)
    return tsne.fit(loss, x, {"x": torch.as_tensor(x)}).embedding


def _sklearn_embedding(x, seed):
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, perplexity=PERPLEXITY, init="pca", random_state=seed, n_jobs=1).fit_transform(x)


def _opentsne_embedding(x, seed):
    import openTSNE

    return np.asarray(openTSNE.TSNE(perplexity=PERPLEXITY, n_jobs=1, random_state=seed).fit(x))


def available_references() -> dict:
    refs = {SKLEARN: _sklearn_embedding}
    try:
        import openTSNE  # noqa: F401  (optional: the bench only)

        refs["openTSNE (FFT)"] = _opentsne_embedding
    except ImportError:
        pass
    return refs


#: ours with the exact P over every pair, with the references' P on the 3 perplexity nearest, and with
#: that P and q's normalizer interpolated on a grid (openTSNE's FFT repulsion)
OURS = {
    "ours, exact P (nearest=0)": {"nearest": 0, "interpolation": 0},
    f"ours, kNN P (nearest={NEAREST})": {"nearest": NEAREST, "interpolation": 0},
    f"ours, kNN P, grid q (interpolation={GRID_DENSITY})": {"nearest": NEAREST, "interpolation": GRID_DENSITY},
}
#: The exact P is n x n per step: above this it is not run (at 10,000 points one fit would take ~20 minutes).
EXACT_P_UP_TO = 5000
SKLEARN = "sklearn (Barnes-Hut)"


def _icon_fit_default(n: int) -> dict:
    """The settings ``icon fit tsne`` takes at n points: the entry's defaults, with what
    ``tsne.references_settings`` overrides."""
    from icon_registry.training.losses import builtin_entry
    from icon_registry.training.tsne import references_settings

    entry = builtin_entry("tsne")
    defaults = {name: entry.parameters[name].default for name in ("nearest", "interpolation")}
    return {**defaults, **references_settings(entry, {}, n, 2)}


def run_end_to_end(datasets=END_TO_END, seed: int = 0, progress=None) -> dict:
    from sklearn.manifold import trustworthiness

    rows = []
    for name in datasets:
        label, x, _ = _dataset(name)
        n = x.shape[0]
        default = _icon_fit_default(n)
        runs = {method: (lambda settings=settings: _ours_embedding(x, settings)) for method, settings in OURS.items()
                if settings["nearest"] or n <= EXACT_P_UP_TO}
        runs.update({ref: (lambda fn=fn: fn(x, seed)) for ref, fn in available_references().items()})
        for method, run in runs.items():
            if progress:
                progress(f"tsne end to end: {label}: {method}")
            start = time.perf_counter()
            embedding = run()
            seconds = time.perf_counter() - start
            rows.append({
                "data": label, "n": int(x.shape[0]), "method": method, "seconds": round(seconds, 2),
                "trustworthiness@10": round(float(trustworthiness(x, embedding, n_neighbors=10)), 4),
                "finite": bool(np.isfinite(embedding).all()),
                "icon_fit_default": OURS.get(method) == default,
            })
        reference = next(r for r in rows if r["data"] == label and r["method"] == SKLEARN)
        for r in rows:
            if r["data"] == label:
                r["seconds_over_sklearn"] = round(r["seconds"] / reference["seconds"], 3)
    return {
        "description": "wall seconds and trustworthiness@10 of one embedding per method (perplexity 30); ours: the "
        "Student-t q with scikit-learn's schedule (250 exaggerated + 750 iterations), P over every pair (up to "
        f"{EXACT_P_UP_TO:,} points) or on the {NEAREST} nearest neighbours (as scikit-learn's Barnes-Hut and openTSNE), "
        f"q's normalizer summed over every pair or interpolated on a grid of {GRID_DENSITY} nodes per unit length "
        "(openTSNE's FFT; an approximation); icon_fit_default: the settings icon fit tsne takes at that n",
        "rows": rows,
    }


def run(progress=None, sizes=None, repeats: int = 3) -> dict:
    """``sizes``: the calibration's n, then the mixture sizes of the end-to-end runs (digits always)."""
    calibration_n = sizes[0] if sizes else CALIBRATION_N
    datasets = ("digits", *sizes[1:]) if sizes and len(sizes) > 1 else END_TO_END
    return {
        "calibration": run_calibration(calibration_n, repeats=repeats, progress=progress),
        "end_to_end": run_end_to_end(datasets, progress=progress),
    }
