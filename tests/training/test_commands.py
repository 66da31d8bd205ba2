import json

import numpy as np
import pytest

from icon_registry.cli import main


def test_fit_pca_writes_outputs(tmp_path):
    out = tmp_path / "pca"
    assert main(["fit", "pca", "--data", "iris", "--epochs", "30", "--set", "sigma=100", "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["mapper"] == "linear" and report["loss_source"] == "catalog"
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
