"""Every command with bad option values: exit 2 (bad usage) or 1 (a problem found), ONE line on
stderr that names the option, nothing on stdout, never a traceback, and nothing run first.

``python tests/test_cli_bad_values.py`` prints the table (command, bad value, exit code, message).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import pytest

#: (argv, exit code, text the message must contain). {file}: an existing file; {dir}: an
#: existing folder; {missing}: a path that does not exist.
CASES = [
    (["list", "--nope"], 2, "unrecognized arguments: --nope"),
    (["show"], 2, "required: ID"),
    (["list", "--catalog", ""], 2, "argument --catalog: expected a folder or YAML file name, got ''"),
    (["--catalog", "", "list"], 2, "icon: error: argument --catalog: expected a folder or YAML file name, got ''"),
    (["show", "simclr", "--catalog", ""], 2, "argument --catalog: expected a folder or YAML file name, got ''"),
    (["show", "no_such_entry"], 1, "unknown entry 'no_such_entry'"),
    (["validate", "--frobnicate"], 2, "--frobnicate"),
    (["validate", "{missing}"], 1, "no such file or folder"),
    (["table", "--width", "x"], 2, "argument --width: expected an integer >= 40 and <= 1000, got 'x'"),
    (["table", "--width", "10"], 2, "argument --width: expected an integer >= 40 and <= 1000, got '10'"),
    (["table", "--width", "-5"], 2, "argument --width"),
    (["table", "--width", "1001"], 2, "argument --width: expected an integer >= 40 and <= 1000, got '1001'"),
    (["table", "--width", "99999999999999999999"], 2, "argument --width: expected an integer >= 40 and <= 1000"),
    (["new", "a" * 65], 2, "argument ID: at most 64 characters, got 65"),
    (["new", "okid\n"], 2, "argument ID: 'okid\\n' is not a valid id"),
    (["new", "Foo"], 2, "icon new: error: argument ID: 'Foo' is not a valid id (lowercase letters, digits and '_', "
     "starting with a letter)"),
    (["new", "okid", "--like", ""], 1, "unknown entry ''; see `icon list`"),
    (["new", "okid", "--catalog", "{dir}", "--catalog", "{dir}"], 2, "argument --catalog: icon new writes into one "
     "folder: give --catalog once"),
    (["new", "okid", "--catalog", "/proc/foo"], 2, "argument --catalog: cannot write in '/proc'"),
    (["new", "okid", "--catalog", "{file}/x"], 2, "argument --catalog: '{file}' is not a folder"),
    (["new", "okid", "--catalog", "{file}"], 2, "argument --catalog: '{file}' exists and is not a folder"),
    (["new", "okid", "--catalog", "{link}"], 2, "argument --catalog: '{link}' is a symbolic link to '{missing}', which "
     "does not exist"),
    (["formula", "sum(i, anchors, 1/0)"], 1, "division by zero at column 19"),
    (["formula", "sum(i, anchors, 0**-1)"], 1, "zero to a negative power divides by zero at column 17"),
    (["formula", "sum(i, anchors, 1)", "--entry", ""], 1, "unknown entry ''; see `icon list`"),
    (["formula", "sum(i, anchors, 1)", "--entry", " "], 1, "unknown entry ' '; see `icon list`"),
    (["formula", "sum(i, anchors, 1)", "--entry", "simclrr"], 1, "unknown entry 'simclrr'; did you mean 'simclr'"),
    (["formula", "--entry", "simclr"], 2, "argument --entry: needs an EXPR to check"),
    (["formula", "--entry", ""], 2, "argument --entry: needs an EXPR to check"),
    (["graph", "--format", "svg"], 2, "argument --format: invalid choice: 'svg'"),
    (["verify"], 2, "give entry ids or --all"),
    (["verify", "simclr", "--jobs", "0"], 2, "argument --jobs/-j: expected an integer >= 1"),
    (["verify", "simclr", "--jobs", "-1"], 2, "argument --jobs/-j"),
    (["verify", "simclr", "--jobs", "two"], 2, "argument --jobs/-j"),
    (["verify", "simclr", "--cache-dir", "{file}"], 2, "argument --cache-dir: '{file}' exists and is not a folder"),
    (["verify", "no_such_entry"], 1, "unknown entry 'no_such_entry'"),
    (["verify", "{missing}.yaml"], 1, "{missing}.yaml: no such file (give entry files or ids)"),
    (["verify", "{dir}"], 1, "{dir}: not a file (give entry files or ids)"),
    (["verify", "simclr", "--junit", "{dir}"], 2, "argument --junit: '{dir}' is a folder; give a file name"),
    (["verify", "simclr", "--junit", "/proc/x.xml"], 2, "argument --junit: cannot write in '/proc'"),
    (["verify", "simclr", "--junit", "{file}/x.xml"], 2, "argument --junit: '{file}' is not a folder"),
    (["verify", "simclr", "--junit", ""], 2, "argument --junit: expected a file name, got ''"),
    (["site"], 2, "required: {build,serve}"),
    (["site", "serve", "--port", "99999"], 2, "argument --port: expected an integer >= 0 and <= 65535"),
    (["site", "serve", "--port", "-1"], 2, "argument --port"),
    (["site", "serve", "--port", "http"], 2, "argument --port"),
    (["site", "serve", "--host", "256.1.1.1"], 2, "argument --host: cannot listen on 256.1.1.1:8000"),
    (["site", "serve", "--host", "999.1.1.1", "--port", "0"], 2, "argument --host: cannot listen on 999.1.1.1:0 ("),
    (["site", "serve", "--host", "192.0.2.1"], 2, "argument --host: cannot listen on 192.0.2.1:8000 (Cannot assign "
     "requested address)"),  # TEST-NET-1: an address of no machine
    (["site", "serve", "--host", ""], 2, "argument --host: expected a host name or address, got ''"),
    (["site", "serve", "--host", " "], 2, "argument --host: expected a host name or address, got ' '"),
    (["bench", "--device", "cuda"], 2, "argument --device: device 'cuda': cuda is not available on this machine"),
    (["bench", "--device", "nosuch"], 2, "argument --device: unknown device 'nosuch'"),
    (["bench", "--device", "cuda:x"], 2, "argument --device: unknown device 'cuda:x'"),
    (["bench", "--threads", "-1"], 2, "argument --threads: expected an integer >= 1"),
    (["bench", "--threads", "0"], 2, "argument --threads"),
    (["bench", "--sizes", "2"], 2, "argument --sizes: expected an integer >= 4, got '2'"),
    (["bench", "--dim", "0"], 2, "argument --dim/-d"),
    (["bench", "--repeats", "0"], 2, "argument --repeats"),
    (["bench", "--warmup", "-1"], 2, "argument --warmup"),
    (["bench", "--dtype", "float16"], 2, "argument --dtype: invalid choice"),
    (["bench", "--suite", "nope"], 2, "argument --suite: unknown suite 'nope'"),
    (["bench", "--suite", "gpu", "--dim", "3"], 2, "argument --dim: suite 'gpu' does not use it (it has no options "
     "beside --out, --json and --quiet)"),
    (["bench", "--suite", "memory", "--repeats", "3"], 2, "argument --repeats: suite 'memory' does not use it (its "
     "options: --sizes, --threads)"),
    (["bench", "--suite", "tsne", "--sizes", "16"], 2, "argument --sizes: suite 'tsne' needs n >= 92 (scikit-learn's "
     "P takes 91 neighbours of each point), got 16"),
    (["bench", "--suite", "cluster", "--sizes", "999"], 2, "argument --sizes: suite 'cluster' needs n >= 1000 (it "
     "makes 1000 clusters), got 999"),
    (["bench", "--suite", "gpu", "--out", "{file}"], 2, "argument --out: {file} exists and is not a bench results "
     "file (Expecting value: line 1 column 1 (char 0)); it is never replaced"),
    (["bench", "--out", "/proc/x.json"], 2, "argument --out: cannot write in '/proc'"),
    (["bench", "--out", "{dir}"], 2, "argument --out: '{dir}' is a folder"),
    (["bench", "--out", "{file}/x.json"], 2, "argument --out: '{file}' is not a folder"),
    (["fit", "simclr", "--data", "digits", "--batch", "0"], 2, "argument --batch: expected an integer >= 2, got '0'"),
    (["fit", "simclr", "--data", "digits", "--batch", "-4"], 2, "argument --batch"),
    (["fit", "simclr", "--data", "digits", "--batch", "1"], 2, "argument --batch"),
    (["fit", "simclr", "--data", "digits", "--dim", "-2"], 2, "argument --dim: expected an integer >= 1"),
    (["fit", "simclr", "--data", "digits", "--dim", "0"], 2, "argument --dim"),
    (["fit", "simclr", "--data", "digits", "--lr", "-1"], 2, "argument --lr: expected a finite number > 0, got '-1'"),
    (["fit", "simclr", "--data", "digits", "--lr", "0"], 2, "argument --lr"),
    (["fit", "simclr", "--data", "digits", "--lr", "nan"], 2, "argument --lr: expected a finite number > 0, got 'nan'"),
    (["fit", "simclr", "--data", "digits", "--lr", "inf"], 2, "argument --lr"),
    (["fit", "simclr", "--data", "digits", "--epochs", "-1"], 2, "argument --epochs: expected an integer >= 1"),
    (["fit", "simclr", "--data", "digits", "--epochs", "0"], 2, "argument --epochs"),
    (["fit", "simclr", "--data", "digits", "--seed", "-1"], 2, "argument --seed"),
    (["fit", "simclr", "--data", "digits", "--mapper", "cnn"], 2, "argument --mapper: invalid choice: 'cnn'"),
    (["fit", "simclr", "--data", "digits", "--out", "/proc/x"], 2, "argument --out: cannot write in '/proc'"),
    (["fit", "simclr", "--data", "digits", "--out", "{file}"], 2, "argument --out: '{file}' exists and is not a folder"),
    (["fit", "simclr", "--data", "digits", "--out", "{file}/sub"], 2, "argument --out: '{file}' is not a folder"),
    (["fit", "simclr", "--data", "digits", "--set", "tau=0"], 2, "argument --set: parameter 'tau' = 0.0 is outside"),
    (["fit", "simclr", "--data", "digits", "--set", "tau=nan"], 2, "argument --set: tau: expected a finite number"),
    (["fit", "simclr", "--data", "digits", "--set", "tua=1"], 2, "argument --set: simclr has no parameter 'tua'"),
    (["fit", "simclr", "--data", "digits", "--set", "tau"], 2, "argument --set: expected NAME=VALUE"),
    (["fit", "no_such_entry", "--data", "digits"], 1, "unknown entry 'no_such_entry'"),
    (["fit", "simclr", "--data", "{missing}"], 2, "icon fit: error: argument --data: {missing}: no such file"),
    (["fit", "simclr", "--data", "digitz"], 2, "argument --data: unknown dataset 'digitz'; did you mean 'digits'?"),
    (["fit", "simclr", "--data", "{dir}"], 2, "argument --data: {dir}: is a directory"),
    (["fit", "simclr", "--data", "iris", "--labels", "{missing}"], 2, "argument --labels: 'iris' has its own labels"),
    (["fit", "tsne_uniform", "--data", "iris", "--set", "k=1000"], 2, "icon fit: error: argument --set: k 1000 is not "
     "less than the 150 rows it trains on (a point has at most 149 neighbours); lower it with --set k=VALUE"),
    (["cluster", "--features", "digits", "--clusters", "1"], 2, "argument --clusters: expected an integer >= 2"),
    (["cluster", "--features", "digits", "--clusters", "x"], 2, "argument --clusters"),
    (["cluster", "--features", "digits", "--clusters", "5000"], 2, "--clusters 5000 exceeds the 1797 points"),
    (["cluster", "--features", "digits", "--clusters", "10", "--lr", "nan"], 2, "argument --lr"),
    (["cluster", "--features", "digits", "--clusters", "10", "--device", "bogus"], 2, "argument --device"),
    (["cluster", "--features", "digits", "--clusters", "10", "--alpha", "1"], 2, "argument --alpha: expected a finite number >= 0 and < 1"),
    (["cluster", "--features", "digits", "--clusters", "10", "--ema", "1.5"], 2, "argument --ema"),
    (["cluster", "--features", "digits", "--clusters", "10", "--knn", "0"], 2, "argument --knn"),
    (["cluster", "--features", "digits", "--clusters", "10", "--knn", "5000"], 2, "--knn must be in 1..1796"),
    (["cluster", "--features", "digits", "--clusters", "10", "--batch", "1"], 2, "argument --batch"),
    (["cluster", "--features", "digits", "--clusters", "10", "--epochs", "0"], 2, "argument --epochs"),
    (["cluster", "--features", "digits", "--clusters", "10", "--noise", "-1"], 2, "argument --noise"),
    (["cluster", "--features", "digits", "--clusters", "10", "--metric", "manhattan"], 2, "--metric must be one of"),
    (["cluster", "--features", "digits", "--clusters", "10", "--out", "/proc/x"], 2, "argument --out: cannot write"),
    (["cluster", "--features", "{missing}", "--clusters", "3"], 2, "icon cluster: error: argument --features: "
     "{missing}: no such file"),
    (["cluster", "--features", "digits", "--labels", "{file}", "--clusters", "3"], 2, "argument --labels: 'digits' has "
     "its own labels"),
    (["reproduce", "--only", "z"], 2, "argument --only: invalid choice: 'z'"),
    (["reproduce", "--out", "/proc/x.json"], 2, "argument --out: cannot write in '/proc'"),
    (["reproduce", "--out", "{dir}"], 2, "argument --out: '{dir}' is a folder"),
]


def _fill(text: str, paths: dict) -> str:
    for name, value in paths.items():
        text = text.replace("{" + name + "}", value)
    return text


def run_case(argv, paths):
    from icon_registry.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([_fill(a, paths) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_link").symlink_to(tmp_path / "nope.npy")
    return {"file": str(tmp_path / "a_file"), "dir": str(tmp_path / "a_folder"), "missing": str(tmp_path / "nope.npy"),
            "link": str(tmp_path / "a_link")}


@pytest.mark.parametrize("argv, code, text", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_value(argv, code, text, paths, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a run that wrongly went ahead would write here, not in the checkout
    before = sorted(os.listdir(tmp_path))
    got, out, err = run_case(argv, paths)
    assert "Traceback" not in err
    assert (got, out) == (code, ""), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert _fill(text, paths) in err, err
    if code == 2:  # argparse's style, from the (sub-)command that knows the option (or the top level)
        command = " ".join(a for a in argv[:2] if a in ("site", "build", "serve") or a == argv[0])
        assert err.startswith((f"icon {command}: error: ", "icon: error: ")) and err.rstrip().endswith("--help')"), err
    assert sorted(os.listdir(tmp_path)) == before  # nothing was written: no work started


def test_a_port_in_use_names_the_port(tmp_path, monkeypatch):
    import socket

    monkeypatch.chdir(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        number = taken.getsockname()[1]
        got, out, err = run_case(["site", "serve", "--port", str(number)], {})
    assert (got, out, err) == (2, "", f"icon site serve: error: argument --port: cannot listen on 127.0.0.1:{number} "
                                      "(Address already in use) (see 'icon site serve --help')\n")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("argv", [["list"], ["validate"], ["verify", "simclr"]], ids=" ".join)
@pytest.mark.parametrize("under", ["", "/sub"])
def test_icon_cache_dir_naming_a_file_is_refused_like_cache_dir(argv, under, paths, monkeypatch, tmp_path):
    from icon_registry import catalog

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(catalog, "_CACHE", {})  # a fresh process: the catalog is loaded, its record read
    monkeypatch.setenv("ICON_CACHE_DIR", paths["file"] + under)
    got, out, err = run_case(argv, paths)
    what = "exists and is not a folder" if not under else "is not a folder"
    assert (got, out, err) == (2, "", f"icon {argv[0]}: error: $ICON_CACHE_DIR: '{paths['file']}' {what} "
                                      f"(see 'icon {argv[0]} --help')\n")
    assert sorted(os.listdir(tmp_path)) == ["a_file", "a_folder", "a_link"]


def table() -> str:
    with tempfile.TemporaryDirectory() as root:
        os.chdir(root)
        Path(root, "a_file").write_text("x")
        Path(root, "a_folder").mkdir()
        Path(root, "a_link").symlink_to("nope.npy")
        paths = {"file": "a_file", "dir": "a_folder", "missing": "nope.npy", "link": "a_link"}
        rows = ["| command | bad value | exit | message (stderr, one line) |", "|---|---|---|---|"]
        for argv, _, _ in CASES:
            code, _, err = run_case(argv, paths)
            line = err.strip().replace("|", "\\|")
            rows.append(f"| icon {argv[0]} | `{' '.join(_fill(a, paths) for a in argv[1:])}` | {code} | {line} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
