"""The commands never delete or overwrite a user's files: `icon fit` / `icon cluster --out DIR`
(a folder the command owns), `icon reproduce --out FILE` (merged, never replaced by another
file), `icon bench --out FILE` and `icon verify --junit FILE` (checked before the run); and their
bad sizes are clear errors."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from icon_registry import bench, bench_scale
from icon_registry.cli import main
from icon_registry.commands import bench as bench_command
from icon_registry.commands import cluster, fit
from icon_registry.training import data, reproduce


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if the command gets as far as loading its data (a refusal must come first)."""

    def load(*args, **kwargs):
        raise AssertionError("the data was loaded: the folder was not checked before the work")

    monkeypatch.setattr(data, "load_dataset", load)


def _user_folder(tmp_path, link_name):
    folder = tmp_path / "userdir"
    folder.mkdir()
    (folder / "metrics.json").write_text("MY THESIS RESULTS\n")
    precious = tmp_path / "precious.txt"
    precious.write_text("precious\n")
    (folder / link_name).symlink_to(precious)
    return folder, precious


def _error(capsys) -> str:
    return capsys.readouterr().err


FIT = ["fit", "pca", "--data", "iris", "--epochs", "1", "--quiet"]
CLUSTER = ["cluster", "--features", "digits", "--clusters", "10", "--epochs", "1", "--heads", "1", "--quiet"]


@pytest.mark.parametrize("argv, command, link", [(FIT, "icon fit", "embedding.npy"),
                                                 (CLUSTER, "icon cluster", "assignments.npy")])
def test_a_folder_of_user_files_is_refused_before_training(tmp_path, capsys, no_training, argv, command, link):
    folder, precious = _user_folder(tmp_path, link)
    marker = ".icon-fit.json" if command == "icon fit" else ".icon-cluster.json"
    assert main(argv + ["--out", str(folder)]) == 2
    assert _error(capsys) == (
        f"{command}: error: --out '{folder}' is a folder that {command} did not write (no {marker} in it); its files "
        "are not touched: choose a new or empty folder (an output from before the marker: remove it yourself once) "
        f"(see '{command} --help')\n")
    assert (folder / "metrics.json").read_text() == "MY THESIS RESULTS\n"
    assert precious.read_text() == "precious\n" and (folder / link).is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["precious.txt", "userdir"]  # no temporary folder left


def test_fit_writes_a_new_folder_and_may_run_again_into_its_own_output(tmp_path, capsys):
    out = tmp_path / "deep" / "out"
    assert main(FIT + ["--out", str(out)]) == 0
    assert set(os.listdir(out)) == {".icon-fit.json", "embedding.npy", "metrics.json", "plot.png"}
    marker = json.loads((out / ".icon-fit.json").read_text())
    assert (marker["written_by"], marker["files"]) == ("icon fit", ["embedding.npy", "metrics.json", "plot.png"])
    first = (out / "metrics.json").stat().st_ino
    assert main(FIT + ["--out", str(out), "--seed", "1"]) == 0  # its own earlier output: replaced
    assert json.loads((out / "metrics.json").read_text())["seed"] == 1 and (out / "metrics.json").stat().st_ino != first
    assert set(os.listdir(tmp_path / "deep")) == {"out"}  # the temporary folder went
    (out / "notes.txt").write_text("mine")  # a file the user added makes it theirs again
    capsys.readouterr()
    assert main(FIT + ["--out", str(out)]) == 2
    assert "holds files an earlier icon fit did not write (notes.txt)" in _error(capsys)
    assert (out / "notes.txt").read_text() == "mine"


def test_a_symlink_in_an_earlier_output_is_never_written_through(tmp_path, capsys):
    """A listed name that became a symlink is swapped away with the old folder: its target is untouched."""
    out = tmp_path / "out"
    assert main(FIT + ["--out", str(out)]) == 0
    (tmp_path / "precious.txt").write_text("precious")
    (out / "embedding.npy").unlink()
    (out / "embedding.npy").symlink_to(tmp_path / "precious.txt")
    assert main(FIT + ["--out", str(out)]) == 0
    assert (tmp_path / "precious.txt").read_text() == "precious"
    assert not (out / "embedding.npy").is_symlink() and np.load(out / "embedding.npy").shape == (150, 2)


def test_another_commands_output_is_refused(tmp_path, capsys, no_training):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".icon-cluster.json").write_text(json.dumps({"written_by": "icon cluster", "files": ["metrics.json"]}))
    (out / "metrics.json").write_text("{}")
    assert main(FIT + ["--out", str(out)]) == 2
    assert "is a folder that icon fit did not write (no .icon-fit.json in it)" in _error(capsys)


@pytest.mark.parametrize("argv, command, marker", [(FIT, "icon fit", ".icon-fit.json"),
                                                   (CLUSTER, "icon cluster", ".icon-cluster.json")])
def test_a_forged_marker_never_gets_another_file_replaced(tmp_path, capsys, no_training, argv, command, marker):
    """A marker anyone could write, listing a user's file: trusted only for the names the command writes."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.docx").write_text("my thesis")
    (out / "metrics.json").write_text("{}")
    (out / marker).write_text(json.dumps({"written_by": command, "files": ["thesis.docx", "metrics.json"]}))
    assert main(argv + ["--out", str(out)]) == 2
    assert _error(capsys) == (f"{command}: error: --out '{out}' holds files an earlier {command} did not write "
                              f"(thesis.docx); move them away or choose another folder (see '{command} --help')\n")
    assert (out / "thesis.docx").read_text() == "my thesis" and sorted(os.listdir(out)) == sorted(
        [marker, "metrics.json", "thesis.docx"])


def test_the_outputs_of_fit_and_cluster_are_the_names_their_markers_may_list(tmp_path):
    for argv, outputs, mapper in ((FIT, fit.OUTPUTS, []), (FIT, fit.OUTPUTS, ["--mapper", "cluster", "--dim", "3"]),
                                  (CLUSTER, cluster.OUTPUTS, [])):
        out = tmp_path / f"out{len(os.listdir(tmp_path))}"
        assert main(argv + mapper + ["--out", str(out)]) == 0
        marker = json.loads((out / (".icon-fit.json" if argv is FIT else ".icon-cluster.json")).read_text())
        assert set(marker["files"]) <= outputs, marker


def test_cluster_writes_its_files_and_the_marker(tmp_path):
    out = tmp_path / "out"
    assert main(CLUSTER + ["--out", str(out)]) == 0
    names = ["assignments.npy", "loss.png", "metrics.json", "probabilities.npy"]
    assert sorted(os.listdir(out)) == [".icon-cluster.json"] + names
    assert np.load(out / "assignments.npy").shape == (1797,)
    marker = json.loads((out / ".icon-cluster.json").read_text())
    assert (marker["written_by"], marker["files"]) == ("icon cluster", names)


def test_fit_an_overflowing_learning_rate_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["fit", "pca", "--data", "iris", "--epochs", "1", "--lr", "1e308", "--quiet", "--out", str(out)]) == 1
    assert "the trained linear mapper gives NaN or inf outputs: the steps were too large; lower the learning rate " \
           "(now 1e+308, --lr)" in _error(capsys)
    assert not out.exists()


def test_fit_a_huge_dim_is_refused_while_parsing(tmp_path, capsys):
    assert main(["fit", "simclr", "--data", "iris", "--dim", "100000000", "--out", str(tmp_path / "o")]) == 2
    assert "argument --dim: expected an integer >= 1 and <= 65536, got '100000000'" in _error(capsys)


# --- icon reproduce ----------------------------------------------------------------------------


def _results(quick, letters, value):
    names = {name[0]: name for name, _ in reproduce.EXPERIMENTS}
    summary = [{"experiment": letter, "method": f"m{letter}", "metric": "x", "mean": value, "std": 0.0, "runs": 1,
                "target": "> 0", "target_met": value > 0} for letter in letters]
    details = {names[letter]: {"value": value, "plot": f"{letter}.png"} for letter in letters}
    return {"command": "icon reproduce" + (" --quick" if quick else ""), "quick": quick, "summary": summary,
            "details": details, "seconds_per_experiment": {names[letter]: 1.0 for letter in letters},
            "plots": [], "targets_met": "?", "wall_seconds": 1.0}


@pytest.fixture
def fake_run(monkeypatch):
    """reproduce.run replaced by one that returns results for the letters of --only at once."""
    calls = []

    def run(quick, out_path, only=None, verbose=True):
        calls.append(only)
        return _results(quick, only or "abcdefg", 2.0)

    monkeypatch.setattr(reproduce, "run", run)
    return calls


def test_reproduce_only_merges_into_the_earlier_results(tmp_path, fake_run):
    out = tmp_path / "reproduce.json"
    out.write_text(json.dumps(_results(True, "abc", -1.0)))
    old_umask = os.umask(0o022)
    try:
        assert main(["reproduce", "--quick", "--only", "b", "--out", str(out), "--quiet"]) == 0
    finally:
        os.umask(old_umask)
    merged = json.loads(out.read_text())
    assert [(row["experiment"], row["mean"]) for row in merged["summary"]] == [("a", -1.0), ("b", 2.0), ("c", -1.0)]
    assert list(merged["details"]) == ["a_tsne_vs_sklearn", "b_uniform_knn_affinities", "c_pca"]
    assert merged["details"]["b_uniform_knn_affinities"]["value"] == 2.0
    assert merged["kept_from_earlier_run"] == ["a_tsne_vs_sklearn", "c_pca"]
    assert merged["targets_met"] == "1/3" and merged["plots"] == ["a.png", "b.png", "c.png"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # not mkstemp's 0600


@pytest.mark.parametrize("content, why", [("my notes\n", "Expecting value: line 1 column 1 (char 0)"),
                                          ('{"a": 1}', "not the JSON that icon reproduce writes")])
def test_reproduce_refuses_a_file_that_is_not_its_results(tmp_path, capsys, fake_run, content, why):
    out = tmp_path / "reproduce.json"
    out.write_text(content)
    assert main(["reproduce", "--out", str(out), "--quiet"]) == 2
    assert _error(capsys) == (f"icon reproduce: error: argument --out: {out} exists and is not the results of icon "
                              f"reproduce ({why}); it is never replaced: choose another --out (see 'icon reproduce --help')\n")
    assert out.read_text() == content and fake_run == []


def test_reproduce_does_not_mix_quick_and_full_runs(tmp_path, capsys, fake_run):
    out = tmp_path / "reproduce.json"
    out.write_text(json.dumps(_results(False, "abc", -1.0)))
    assert main(["reproduce", "--quick", "--only", "b", "--out", str(out), "--quiet"]) == 2
    assert "argument --only: " + str(out) + " holds a full (no --quick) run; merging" in _error(capsys)
    assert fake_run == [] and json.loads(out.read_text()) == _results(False, "abc", -1.0)


def test_reproduce_refuses_a_symlink_as_out(tmp_path, capsys, fake_run):
    (tmp_path / "precious.txt").write_text("precious")
    out = tmp_path / "reproduce.json"
    out.symlink_to(tmp_path / "precious.txt")
    assert main(["reproduce", "--out", str(out), "--quiet"]) == 2
    assert "(not a regular file); it is never replaced" in _error(capsys)
    assert out.is_symlink() and (tmp_path / "precious.txt").read_text() == "precious"


# --- icon bench --------------------------------------------------------------------------------


@pytest.fixture
def no_bench(monkeypatch):
    """Fails the test if a suite starts: every refusal comes first."""

    def run_suite(*args, **kwargs):
        raise AssertionError("the bench ran: --out was not checked first")

    monkeypatch.setattr(bench, "run_suite", run_suite)
    monkeypatch.setattr(bench, "RUNNERS", {name: run_suite for name in bench.RUNNERS})
    monkeypatch.setattr(bench_scale, "run", run_suite)


@pytest.mark.parametrize("content, why", [("notjson\n", "Expecting value: line 1 column 1 (char 0)"),
                                          ("[1, 2]", "expected a JSON object of suites"),
                                          ('"core"', "expected a JSON object of suites")])
def test_bench_refuses_an_out_file_that_is_not_bench_results(tmp_path, capsys, no_bench, content, why):
    out = tmp_path / "bench.json"
    out.write_text(content)
    assert main(["bench", "--sizes", "16", "--out", str(out), "-q"]) == 2
    assert _error(capsys) == (f"icon bench: error: argument --out: {out} exists and is not a bench results file "
                              f"({why}); it is never replaced: choose another --out (see 'icon bench --help')\n")
    assert out.read_text() == content


def test_bench_merges_into_its_own_results(tmp_path, monkeypatch):
    out = tmp_path / "bench.json"
    tsne = {"calibration": {}, "end_to_end": {}, "environment": {"threads": 1}}
    out.write_text(json.dumps({"tsne": tsne}))
    core = [{"case": "simclr", "n": 256, "ratio": float("nan")}]
    bench_command._write_merged(out, {"core": core, "core_worst_ratio": float("nan")})
    assert json.loads(out.read_text(), parse_constant=_no_constant) == {
        "tsne": tsne, "core": [{"case": "simclr", "n": 256, "ratio": "nan"}], "core_worst_ratio": "nan"}


def _no_constant(name):
    raise AssertionError(f"{name} is not JSON: strict parsers refuse it")


@pytest.mark.parametrize("document, why", [
    ({"compilerOptions": {"strict": True}}, "'compilerOptions': not a suite of icon bench or a field it writes"),
    ({}, "no suite in it"),
    ({"machine": {}}, "no suite in it"),
    ({"core": "fast"}, "'core': expected the suite's rows or an object"),
    ({"gpu": 3}, "'gpu': expected the suite's rows or an object"),
    ({"core": [{"case": "a", "n": 4}], "core_worst_ratio": "1.2"}, "'core_worst_ratio': expected a number or null"),
    ({"tool": "tsc", "core": []}, "'tool': expected the text 'icon bench'"),
    ({"core": [], "cores_environment": {}}, "'cores_environment': not a suite of icon bench or a field it writes"),
])
def test_bench_refuses_a_json_object_that_is_not_its_results(tmp_path, capsys, no_bench, document, why):
    out = tmp_path / "tsconfig.json"
    out.write_text(json.dumps(document))
    assert main(["bench", "--sizes", "16", "--out", str(out), "-q"]) == 2
    assert _error(capsys) == (f"icon bench: error: argument --out: {out} exists and is not a bench results file "
                              f"({why}); it is never replaced: choose another --out (see 'icon bench --help')\n")
    assert out.read_text() == json.dumps(document)


def test_the_recorded_bench_results_are_bench_results():
    assert bench.results_problem(json.loads((Path(__file__).parents[1] / "results" / "bench.json").read_text())) is None


@pytest.mark.parametrize("suite", ["memory", "distributed", "gpu", "cluster"])
@pytest.mark.parametrize("content", ["notes\n", "[1, 2]", '{"compilerOptions": {"strict": true}}'])
def test_bench_scale_suites_refuse_an_out_file_that_is_not_bench_results(tmp_path, capsys, no_bench, suite, content):
    out = tmp_path / "notes.txt"
    out.write_text(content)
    assert main(["bench", "--suite", suite, "--out", str(out), "-q"]) == 2
    assert f"argument --out: {out} exists and is not a bench results file (" in _error(capsys)
    assert out.read_text() == content and os.listdir(tmp_path) == ["notes.txt"]


@pytest.mark.parametrize("argv, message", [
    (["--suite", "gpu", "--json", "--dtype", "float64"], "argument --dtype: suite 'gpu' does not use it (it has no options "
     "beside --out, --json and --quiet)"),
    (["--suite", "distributed", "--sizes", "8"], "argument --sizes: suite 'distributed' does not use it (it has no "
     "options beside --out, --json and --quiet)"),
    (["--suite", "cluster", "--device", "cpu"], "argument --device: suite 'cluster' does not use it (its options: "
     "--sizes, --threads)"),
    (["--suite", "cli", "--threads", "2"], "argument --threads: suite 'cli' does not use it (its options: --repeats)"),
    (["--suite", "tsne", "--warmup", "1"], "argument --warmup: suite 'tsne' does not use it (its options: --sizes, "
     "--repeats, --threads)"),
    (["--suite", "memory", "--sizes", "99999999999999"], "argument --sizes: 99999999999999 needs at least 4.77e+07 GiB "
     "(99999999999999 x 128 float32 features), more than the "),
])
def test_bench_refuses_an_option_the_suite_does_not_use(tmp_path, capsys, no_bench, argv, message):
    out = tmp_path / "bench.json"
    assert main(["bench", *argv, "--out", str(out)]) == 2
    assert _error(capsys).startswith(f"icon bench: error: {message}")
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the GPU suite runs for minutes where there is a GPU")
def test_bench_gpu_suite_merges_into_the_results_and_prints_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    core = [{"case": "simclr", "n": 256}]
    out.write_text(json.dumps({"core": core}))
    assert main(["bench", "--suite", "gpu", "--out", str(out), "-q"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "no CUDA device" in printed["skipped"]
    written = json.loads(out.read_text())
    assert written["core"] == core and written["gpu"] == printed and set(written) == {"core", "gpu", "machine"}


def test_bench_refuses_sizes_that_cannot_fit_in_memory(tmp_path, capsys, no_bench):
    assert main(["bench", "--sizes", "99999999999999", "--out", str(tmp_path / "b.json"), "-q"]) == 2
    err = _error(capsys)
    assert err.startswith("icon bench: error: argument --sizes: 99999999999999 needs at least 1.12e+20 GiB (3 matrices "
                          "of 99999999999999 x 99999999999999), more than the ")
    assert err.endswith(" GiB of memory of cpu (see 'icon bench --help')\n")


@pytest.mark.parametrize("sizes, n, rows", [(["--sizes", "8"], 8, 10), ([], 256, 256)])
def test_bench_refuses_a_dim_whose_features_cannot_fit_in_memory(tmp_path, capsys, no_bench, sizes, n, rows):
    # without --sizes the suite's own sizes are checked: the first that cannot fit is named
    assert main(["bench", *sizes, "--dim", "100000000", "--out", str(tmp_path / "b.json"), "-q"]) == 2
    err = _error(capsys)
    assert err.startswith(f"icon bench: error: argument --dim: 100000000 at n = {n} needs at least ")
    assert f" GiB (3 matrices of {n} x {n} and 16 of {rows} x 100000000), more than the " in err
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize("n", [4, 16, 64])
def test_bench_supcon_batches_always_have_positives_at_small_sizes(n):
    for case in bench.SUITES["core"]:
        if case.entry == "supcon":
            prepared = case.prepare(n, 8, torch.float32, "cpu")
            for _ in range(8):  # every label batch of the cycle
                assert torch.isfinite(prepared.compiled()) and torch.isfinite(prepared.hand())


def test_a_failed_run_leaves_the_folder_and_no_temporary_folder(tmp_path):
    from icon_registry.output_folder import OutputFolder

    out = tmp_path / "out"
    assert main(FIT + ["--out", str(out)]) == 0
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    folder = OutputFolder(out, name="icon-fit", written_by="icon fit", owns=fit.OUTPUTS.__contains__)
    with pytest.raises(KeyboardInterrupt):
        with folder.staging() as work:
            (work / "embedding.npy").write_bytes(b"half")
            raise KeyboardInterrupt
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before
    assert os.listdir(tmp_path) == ["out"]


def test_a_file_as_out_is_refused(tmp_path, capsys, no_training):
    (tmp_path / "file").write_text("mine")
    assert main(FIT + ["--out", str(tmp_path / "file")]) == 2
    assert _error(capsys) == (f"icon fit: error: argument --out: '{tmp_path}/file' exists and is not a folder (see "
                              "'icon fit --help')\n")
    assert (tmp_path / "file").read_text() == "mine"


# --- icon verify --junit -----------------------------------------------------------------------


@pytest.fixture
def no_verify(monkeypatch):
    import icon_registry.verify

    def verify_entries(*args, **kwargs):
        raise AssertionError("the claims were verified: --junit was not checked first")

    monkeypatch.setattr(icon_registry.verify, "verify_entries", verify_entries)


@pytest.mark.parametrize("content, why", [
    (b"my notes\n", "not XML: syntax error: line 1, column 0"),
    (b"<html><p>mine</p></html>", "its root element is <html>, not <testsuites> or <testsuite>"),
    (b"\xff\xfe mine", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
])
def test_verify_refuses_a_junit_file_that_is_not_a_report(tmp_path, capsys, no_verify, content, why):
    out = tmp_path / "notes.txt"
    out.write_bytes(content)
    assert main(["verify", "simclr", "--junit", str(out), "--cache-dir", str(tmp_path / "cache")]) == 2
    assert _error(capsys) == (f"icon verify: error: argument --junit: {out} exists and is not a JUnit XML report ({why}); "
                              "it is never replaced: choose another --junit (see 'icon verify --help')\n")
    assert out.read_bytes() == content
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_verify_refuses_a_symlink_as_junit(tmp_path, capsys, no_verify):
    (tmp_path / "precious.txt").write_text("<testsuites/>")
    out = tmp_path / "report.xml"
    out.symlink_to(tmp_path / "precious.txt")
    assert main(["verify", "simclr", "--junit", str(out)]) == 2
    assert "argument --junit: " + str(out) + " exists and is not a JUnit XML report (not a regular file)" in _error(capsys)
    assert out.is_symlink() and (tmp_path / "precious.txt").read_text() == "<testsuites/>"


def test_verify_replaces_an_earlier_junit_report(tmp_path):
    import xml.etree.ElementTree as ET

    out = tmp_path / "report.xml"
    out.write_text("<?xml version='1.0'?>\n<testsuite name='another tool' tests='0'/>\n")
    old_umask = os.umask(0o022)
    try:
        assert main(["verify", "simclr", "--junit", str(out), "--cache-dir", str(tmp_path / "cache"), "-q"]) == 0
    finally:
        os.umask(old_umask)
    root = ET.parse(out).getroot()
    assert (root.tag, root.get("name"), root.get("tests")) == ("testsuites", "icon verify", "2")
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert sorted(os.listdir(tmp_path)) == ["cache", "report.xml"]  # no temporary file left
