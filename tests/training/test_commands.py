import json

import numpy as np
import pytest

from icon_registry.cli import main


def test_fit_pca_writes_outputs(tmp_path):
    out = tmp_path / "pca"
    assert main(["fit", "pca", "--data", "iris", "--epochs", "30", "--set", "sigma=100", "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["mapper"] == "linear" and report["loss_source"] == "objective"
    assert np.load(out / "embedding.npy").shape == (150, 2)
    assert (out / "plot.png").stat().st_size > 1000


def test_fit_cluster_head_writes_assignments(tmp_path):
    out = tmp_path / "km"
    assert main(["fit", "kmeans", "--data", "iris", "--epochs", "20", "--out", str(out), "--quiet"]) == 0
    a = np.load(out / "assignments.npy")
    assert a.shape == (150,)
    assert "hungarian_accuracy" in json.loads((out / "metrics.json").read_text())["metrics"]


@pytest.mark.parametrize("argv", [["fit", "tsnee", "--data", "iris"], ["fit", "pca", "--data", "irsi"],
                                  ["fit", "pca", "--data", "iris", "--set", "sigma"],
                                  ["reproduce", "--only", "z"]])
def test_bad_usage_is_an_error_not_a_traceback(argv, tmp_path, capsys):
    assert main(argv + ([] if argv[0] == "reproduce" else ["--out", str(tmp_path)])) in (1, 2)


def test_reproduce_only_pca(tmp_path):
    out = tmp_path / "r.json"
    assert main(["reproduce", "--quick", "--only", "c", "--out", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert data["quick"] is True and "2 seeds" in data["seeds_note"]
    (row,) = data["summary"]
    assert row["experiment"] == "c" and row["target_met"] is True


# --- icon fit: sizes, splits and what the metrics claim ----------------------------------------------


def _fit(tmp_path, *argv, name="out"):
    out = tmp_path / name
    code = main(["fit", *argv, "--out", str(out), "--quiet"])
    return code, out


def _report(out):
    return json.loads((out / "metrics.json").read_text())


def _save(tmp_path, name, features, labels=None):
    np.save(tmp_path / f"{name}.npy", np.asarray(features, dtype=np.float32))
    if labels is not None:
        np.save(tmp_path / f"{name}_labels.npy", np.asarray(labels))
    return [str(tmp_path / f"{name}.npy")] + ([] if labels is None else ["--labels", str(tmp_path / f"{name}_labels.npy")])


def test_fit_dim_above_the_datas_components_starts_from_pca_plus_random_columns(tmp_path):
    code, out = _fit(tmp_path, "tsne", "--data", "iris", "--dim", "6", "--epochs", "8")
    assert code == 0
    z = np.load(out / "embedding.npy")
    assert z.shape == (150, 6) and np.all(z.std(0) > 0)
    report = _report(out)
    assert report["dim"] == 6
    assert report["init"] == "PCA (4 principal components) + 2 small random columns (--dim 6 exceeds the data's 4 components)"


def test_pca_init_pads_with_small_random_columns():
    from icon_registry.training import mappers

    x = np.random.default_rng(0).normal(size=(30, 3))
    y = mappers.pca_init(x, 5, std=1.0, seed=1)
    assert y.shape == (30, 5) and mappers.padded_columns(x, 5) == 2
    np.testing.assert_allclose(y[:, :3], mappers.pca_init(x, 3, std=1.0), rtol=1e-6)
    assert 0 < y[:, 3:].std() < 0.05
    assert mappers.padded_columns(x, 3) == 0


def test_fit_a_supervised_entry_is_measured_on_rows_it_never_saw(tmp_path):
    """Random labels on noise: a kNN vote on held-out rows is near chance (0.2), not the 0.95 of the
    rows whose labels were trained on."""
    rng = np.random.default_rng(0)
    data = _save(tmp_path, "noise", rng.normal(size=(300, 10)), rng.integers(0, 5, 300))
    code, out = _fit(tmp_path, "cross_entropy", "--data", *data, "--epochs", "60")
    assert code == 0
    report = _report(out)
    assert report["trained_on_rows"] == 210
    assert list(report["metrics"]) == ["trustworthiness@10", "knn_accuracy@5 (held-out 30%)"]
    assert report["metrics"]["knn_accuracy@5 (held-out 30%)"] < 0.4


def test_fit_metrics_the_data_cannot_support_are_skipped_with_their_reason(tmp_path, capsys):
    data = _save(tmp_path, "five", np.random.default_rng(0).normal(size=(5, 3)), [0, 1, 0, 1, 0])
    code, out = _fit(tmp_path, "supcon", "--data", *data, "--epochs", "3")
    assert code == 0 and (out / "embedding.npy").exists()
    report = _report(out)
    assert report["metrics"] == {"trustworthiness@1": report["metrics"]["trustworthiness@1"]}
    assert report["metrics_skipped"] == {
        "knn_accuracy@5 (held-out 30%)": "3 training rows in the split, fewer than the k = 5 neighbours of a vote"}

    data = _save(tmp_path, "two", [[0.0, 1.0], [1.0, 0.0]])
    code, out = _fit(tmp_path, "tsne", "--data", *data, "--set", "perplexity=1", "--epochs", "8", name="two")
    assert code == 0
    assert _report(out)["metrics_skipped"] == {"trustworthiness": "2 rows: it needs at least 4 (k neighbours, k < n / 2)"}


def test_fit_twenty_classes_of_two_rows_is_split_without_strata(tmp_path):
    data = _save(tmp_path, "pairs", np.random.default_rng(0).normal(size=(40, 5)), np.repeat(np.arange(20), 2))
    code, out = _fit(tmp_path, "supcon", "--data", *data, "--epochs", "2")
    assert code == 0 and "knn_accuracy@5 (held-out 30%)" in _report(out)["metrics"]


def test_fit_trustworthiness_is_named_with_the_k_it_used(tmp_path):
    data = _save(tmp_path, "ten", np.random.default_rng(0).normal(size=(10, 3)))
    code, out = _fit(tmp_path, "pca", "--data", *data, "--epochs", "2")
    assert code == 0 and list(_report(out)["metrics"]) == ["trustworthiness@4"]


def test_fit_a_perplexity_as_large_as_the_data_is_refused_before_training(tmp_path, capsys):
    code, out = _fit(tmp_path, "tsne", "--data", "iris", "--set", "perplexity=150")
    assert code == 2 and not out.exists()
    assert capsys.readouterr().err == (
        "icon fit: error: argument --set: perplexity 150 is not less than the 150 rows of the data (scikit-learn's "
        "rule: a point's effective number of neighbours must be smaller than the points there are); lower it with "
        "--set perplexity=VALUE (see 'icon fit --help')\n")


def test_fit_k_as_large_as_the_data_is_refused_before_training(tmp_path, capsys):
    code, out = _fit(tmp_path, "tsne_uniform", "--data", "iris", "--set", "k=150")
    assert code == 2 and not out.exists()
    assert capsys.readouterr().err == (
        "icon fit: error: argument --set: k 150 is not less than the 150 rows it trains on (a point has at most 149 "
        "neighbours); lower it with --set k=VALUE (see 'icon fit --help')\n")


def _refuse_constant(name):
    raise AssertionError(f"{name} is not JSON: strict parsers refuse it")


def test_fit_and_cluster_write_a_nan_metric_as_valid_json(tmp_path, capsys, monkeypatch):
    from icon_registry.training import clustering, metrics

    monkeypatch.setattr(metrics, "trustworthiness", lambda *args, **kwargs: float("nan"))
    fit_clusters = clustering.fit_clusters

    def nan_accuracy(*args, **kwargs):
        result = fit_clusters(*args, **kwargs)
        result.metrics["hungarian_accuracy"] = float("nan")
        return result

    monkeypatch.setattr(clustering, "fit_clusters", nan_accuracy)
    code, out = _fit(tmp_path, "pca", "--data", "iris", "--epochs", "2")
    assert code == 0
    assert json.loads(capsys.readouterr().out, parse_constant=_refuse_constant)["trustworthiness@10"] == "nan"
    assert json.loads((out / "metrics.json").read_text(), parse_constant=_refuse_constant)["metrics"][
        "trustworthiness@10"] == "nan"
    out = tmp_path / "c"
    assert main(["cluster", "--features", "iris", "--clusters", "3", "--epochs", "1", "--heads", "1", "--out", str(out),
                 "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out, parse_constant=_refuse_constant)["hungarian_accuracy"] == "nan"
    assert json.loads((out / "metrics.json").read_text(), parse_constant=_refuse_constant)["metrics"][
        "hungarian_accuracy"] == "nan"


def test_fit_a_short_tsne_run_exaggerates_its_first_quarter(tmp_path, capsys):
    code, out = _fit(tmp_path, "tsne", "--data", "iris", "--epochs", "40")
    assert code == 0
    report = _report(out)
    assert report["exaggerated_iterations"] == 10 and len(report["history"]) == 30
    assert report["final_loss"] == report["history"][-1]


def test_fit_a_one_dimensional_output_is_drawn_as_itself(tmp_path, monkeypatch):
    from icon_registry.training import plots

    drawn = []
    monkeypatch.setattr(plots, "scatter", lambda shown, labels, path, title, shown_as=None: drawn.append((shown, title)))
    code, out = _fit(tmp_path, "simclr", "--data", "iris", "--dim", "1", "--epochs", "2")
    assert code == 0
    (shown, title), = drawn
    np.testing.assert_array_equal(shown, np.load(out / "embedding.npy"))
    assert title == "icon fit simclr (mlp) on iris (the 1-d output, along x)"


# --- icon cluster ------------------------------------------------------------------------------------


def test_cluster_a_shrinking_batch_schedule_is_refused(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["cluster", "--features", "iris", "--clusters", "3", "--batch", "8", "--batch-start", "16",
                 "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == ("icon cluster: error: --batch-start 16 exceeds --batch 8: batches grow from "
                                       "--batch-start to --batch (equal: constant) (see 'icon cluster --help')\n")
    assert not out.exists()


def test_cluster_noise_applies_to_a_single_view():
    from icon_registry.training import clustering

    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)

    def history(noise):
        config = clustering.ClusterConfig(clusters=3, views=1, noise=noise, epochs=2, heads=1, knn=3)
        return clustering.fit_clusters(x, config).history

    assert history(0.0) != history(5.0)


# --- icon reproduce: the figures next to --out, and merged timings --------------------------------------


@pytest.fixture
def fake_run(monkeypatch):
    """reproduce.run replaced by one that returns results for --only's letters (1 s each) at once."""
    from icon_registry.training import reproduce

    calls = []

    def run(quick, out_path, only=None, verbose=True):
        calls.append(only)
        names = reproduce.selected(only)
        summary = [{"experiment": name[0], "method": "m", "metric": "x", "mean": 1.0, "std": 0.0, "runs": 1}
                   for name in names]
        return {"command": "icon reproduce --quick", "quick": quick, "summary": summary,
                "details": {name: {} for name in names}, "seconds_per_experiment": {name: 10.0 for name in names},
                "plots": [], "targets_met": "0/0", "wall_seconds": 10.0 * len(names) + 1, "wall_limit_seconds": 600,
                "wall_within_limit": True, "machine": f"machine {len(calls)}"}

    monkeypatch.setattr(reproduce, "run", run)
    return calls


def test_reproduce_refuses_to_replace_a_figure_it_did_not_draw(tmp_path, capsys, fake_run):
    folder = tmp_path / "mypaper"
    folder.mkdir()
    (folder / "reproduce_uniform.png").write_bytes(b"my figure")
    out = folder / "results.json"
    assert main(["reproduce", "--quick", "--only", "b", "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"icon reproduce: error: argument --out: {folder / 'reproduce_uniform.png'} exists and is not a figure of icon "
        "reproduce; it is never replaced: move it or choose another --out (see 'icon reproduce --help')\n")
    assert fake_run == [] and (folder / "reproduce_uniform.png").read_bytes() == b"my figure" and not out.exists()
    assert main(["reproduce", "--quick", "--only", "c", "--out", str(out), "--quiet"]) == 0  # draws no figure


def test_reproduce_replaces_its_own_figures(tmp_path, fake_run):
    pytest.importorskip("matplotlib")
    from icon_registry.training import plots

    plots.scatter(np.zeros((3, 2)), None, str(tmp_path / "reproduce_uniform.png"), "an earlier run")
    (tmp_path / "reproduce_tsne.png").write_bytes(b"drawn before the figures were marked")
    out = tmp_path / "r.json"
    out.write_text(json.dumps({"command": "icon reproduce --quick", "quick": True, "summary": [], "details": {},
                               "seconds_per_experiment": {}, "plots": ["reproduce_tsne.png"]}))
    assert main(["reproduce", "--quick", "--only", "a", "--only", "b", "--out", str(out), "--quiet"]) == 0
    assert fake_run == [["a", "b"]]


def test_reproduce_a_merged_file_claims_no_timing_it_did_not_measure(tmp_path, fake_run, capsys):
    out = tmp_path / "r.json"
    assert main(["reproduce", "--quick", "--only", "c", "--only", "e", "--only", "f", "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["wall_seconds"] == 31.0
    assert main(["reproduce", "--quick", "--only", "c", "--out", str(out), "--quiet"]) == 0
    merged = json.loads(out.read_text())
    assert merged["wall_seconds"] == 30.0 and merged["wall_within_limit"] is None
    assert merged["wall_seconds_note"] == ("merged results of separate runs (--only): the sum of seconds_per_experiment, "
                                           "not the time of one run; wall_within_limit is not measured")
    assert merged["machine_per_experiment"] == {"c_pca": "machine 2", "e_supcon_cross_entropy": "machine 1",
                                                "f_kmeans": "machine 1"}
    assert merged["machine"] == "several: see machine_per_experiment"
    assert "wall time 30.0s (summed over the merged runs' experiments)" in capsys.readouterr().out


def test_fit_a_knn_entry_in_batches_that_do_not_divide_the_data(tmp_path):
    """digits: 1,797 rows in batches of 256 left 5 rows whose kNN (batch-local lists) lay in other
    batches; that step had no supervised pair and fit stopped. The remainder now joins the last batch."""
    out = tmp_path / "lg"
    assert main(["fit", "lgsimclr", "--data", "digits", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1


# --- icon fit / icon cluster: data an entry cannot train on, and the progress they show -------------------


@pytest.mark.parametrize("entry", ["supcon", "cross_entropy"])
def test_fit_an_entry_that_reads_labels_on_a_file_without_them_is_a_usage_error(entry, tmp_path, capsys):
    data = _save(tmp_path, "blobs", np.random.default_rng(0).normal(size=(20, 3)))
    code, out = _fit(tmp_path, entry, "--data", *data, "--epochs", "2")
    assert code == 2 and not out.exists()
    assert capsys.readouterr().err == (
        f"icon fit: error: argument --labels: {entry} reads labels (a supervised entry) and '{data[0]}' holds none: "
        "give --labels FILE, or a .npz/.pt file with a labels key (see 'icon fit --help')\n")


def test_fit_pca_to_more_dimensions_than_features_is_a_usage_error(tmp_path, capsys):
    data = _save(tmp_path, "line", np.random.default_rng(0).normal(size=(20, 1)))
    code, out = _fit(tmp_path, "pca", "--data", *data, "--epochs", "2")
    assert code == 2 and not out.exists()
    assert capsys.readouterr().err == (
        f"icon fit: error: argument --dim: the pca entry's linear map is orthonormal, and no orthonormal map takes the 1 "
        f"features of '{data[0]}' to 2 dimensions; give --dim 1 or less (see 'icon fit --help')\n")


def test_fit_class_positives_with_no_class_twice_in_the_training_rows_is_a_usage_error(tmp_path, capsys):
    """Four rows, two per class: the held-out split keeps one row of each class for training, where
    supcon-like entries find no positive at all."""
    data = _save(tmp_path, "four", [[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]], [0, 0, 1, 1])
    code, out = _fit(tmp_path, "nca", "--data", *data, "--epochs", "2")
    assert code == 2 and not out.exists()
    assert capsys.readouterr().err == (
        "icon fit: error: argument --labels: nca's positives are other rows of the anchor's class, and no class has two "
        "of the 2 rows of its training split (the other 2 are held out to measure it): give more rows per class "
        "(see 'icon fit --help')\n")
    code, out = _fit(tmp_path, "nca", "--data", *data, "--mapper", "lookup", "--epochs", "2", name="all_rows")
    assert code == 0


def _progress_lines(err, label):
    return [line for line in err.splitlines() if line.startswith(f"{label}: ")]


def test_fit_progress_counts_the_steps_it_takes(tmp_path, capsys):
    """40 rows in batches of 16: two steps an epoch (the remainder joins the last batch), four in two epochs."""
    data = _save(tmp_path, "forty", np.random.default_rng(0).normal(size=(40, 3)))
    assert main(["fit", "simclr", "--data", *data, "--batch", "16", "--epochs", "2", "--out", str(tmp_path / "o")]) == 0
    assert _progress_lines(capsys.readouterr().err, "fit simclr")[-1].startswith("fit simclr: 4/4 (100%) ")


def test_cluster_progress_counts_the_steps_it_takes(tmp_path, capsys):
    """41 points in batches of 8 anchors: five batches an epoch (the last anchor alone is not a batch)."""
    data = _save(tmp_path, "fortyone", np.random.default_rng(0).normal(size=(41, 3)))
    assert main(["cluster", "--features", data[0], "--clusters", "2", "--batch", "8", "--batch-start", "8",
                 "--heads", "1", "--epochs", "2", "--knn", "3", "--out", str(tmp_path / "c")]) == 0
    assert _progress_lines(capsys.readouterr().err, "cluster")[-1].startswith("cluster: 10/10 (100%) ")


def test_fit_a_graph_entry_trains_on_the_datas_symmetric_knn_graph(tmp_path, monkeypatch):
    from sklearn.neighbors import kneighbors_graph

    from icon_registry.training import losses

    x = np.random.default_rng(0).normal(size=(40, 3))
    data = _save(tmp_path, "points", x)
    seen = []
    compiled = losses.compiled_loss

    def recording(*args, **kwargs):
        loss = compiled(*args, **kwargs)
        loss.register_forward_pre_hook(lambda module, a, kw: seen.append(kw["graph"].numpy().copy()), with_kwargs=True)
        return loss

    monkeypatch.setattr(losses, "compiled_loss", recording)
    code, out = _fit(tmp_path, "sne_graph", "--data", *data, "--epochs", "3")
    assert code == 0 and np.load(out / "embedding.npy").shape == (40, 2)
    knn = kneighbors_graph(x.astype(np.float32), 15).toarray()
    expected = np.maximum(knn, knn.T)
    assert len(seen) == 3 and all(np.array_equal(graph, expected) for graph in seen)


def test_a_batch_of_a_graph_entry_gets_the_weights_among_its_sources():
    import scipy.sparse as sp
    import torch

    from icon_registry.training import trainer

    weights = np.array([[0, 1, 0, 2], [1, 0, 3, 0], [0, 3, 0, 0], [2, 0, 0, 0]], dtype=float)
    builder = trainer.BatchBuilder(torch.zeros(4, 2), {"graph"}, graph=sp.csr_matrix(weights))
    _, _, kwargs = builder.build(torch.tensor([3, 0, 1]))
    np.testing.assert_array_equal(kwargs["graph"].numpy(), [[0, 2, 0], [2, 0, 1], [0, 1, 0]])
    _, _, kwargs = builder.build(torch.arange(4))
    np.testing.assert_array_equal(kwargs["graph"].numpy(), weights)


def test_fit_an_entry_whose_inputs_it_cannot_build_says_which_and_what_to_do(tmp_path, capsys):
    code, out = _fit(tmp_path, "dino", "--data", "iris", "--epochs", "2")
    assert code == 1 and not out.exists()
    assert capsys.readouterr().err == (
        "icon fit cannot train dino: its loss reads center, teacher, which icon fit does not build (it builds x, "
        "labels, ids, neighbors, modality, graph); pass them to icon_registry.compile_loss('dino') in a training "
        "loop of your own\n")


def test_fit_a_cluster_head_on_constant_data_draws_its_plot(tmp_path, monkeypatch):
    """Every row the same: the data's PCA, on which assignments are drawn, has no spread to scale by."""
    from icon_registry.training import plots

    drawn = []
    monkeypatch.setattr(plots, "scatter", lambda shown, labels, path, title, shown_as=None: drawn.append(shown))
    data = _save(tmp_path, "same", np.ones((10, 3)))
    code, out = _fit(tmp_path, "kmeans", "--data", *data, "--dim", "2", "--epochs", "2")
    assert code == 0
    (shown,) = drawn
    np.testing.assert_array_equal(shown, np.ones((10, 2)))


def test_fit_more_clusters_than_rows_is_a_usage_error(tmp_path, capsys):
    data = _save(tmp_path, "few", np.random.default_rng(0).normal(size=(6, 2)))
    code, out = _fit(tmp_path, "kmeans", "--data", *data, "--dim", "7")
    assert code == 2 and not out.exists()
    assert capsys.readouterr().err == (
        f"icon fit: error: argument --dim: 7 clusters exceed the 6 rows of '{data[0]}' (see 'icon fit --help')\n")
