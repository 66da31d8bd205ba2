"""The verifier's result cache under a hostile cache folder: planted links, malformed files,
version changes, and `icon verify --no-cache`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from icon_registry.schema import Entry
from icon_registry.verify import ResultCache, verify_entry
from icon_registry.verify import cache as cache_module

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]


def _entry() -> Entry:
    return Entry.model_validate(yaml.safe_load((FIXTURES / "good" / "cross_entropy.yaml").read_text()))


@pytest.fixture
def filled(tmp_path):
    """A cache holding the entry's real verdicts; returns (cache, entry, its file, the verdicts)."""
    cache, entry = ResultCache(tmp_path), _entry()
    results = verify_entry(entry, cache=cache)
    return cache, entry, cache._path(entry), results


def test_writes_go_through_a_unique_temp_file_and_never_through_a_link(tmp_path, filled):
    cache, entry, path, results = filled
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    path.with_suffix(".tmp").symlink_to(victim)  # at the fixed temp name older versions used
    cache.put(entry, results)
    assert victim.read_text() == "the user's file" and path.with_suffix(".tmp").is_symlink()
    assert not path.is_symlink() and json.loads(path.read_text())["results"][0]["status"] == "pass"
    assert not list(path.parent.glob(".cross_entropy-*.tmp"))  # the temp file was renamed, not left


def test_a_link_at_the_entrys_own_name_is_neither_written_through_nor_replaced(tmp_path, filled):
    cache, entry, path, results = filled
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    path.unlink()
    path.symlink_to(victim)
    cache.put(entry, results)
    assert victim.read_text() == "the user's file"
    assert path.is_symlink() and os.readlink(path) == str(victim)


def test_a_planted_link_is_not_read(tmp_path, filled, capsys):
    cache, entry, path, _ = filled
    real = tmp_path / "elsewhere.json"
    real.write_text(path.read_text())
    path.unlink()
    path.symlink_to(real)
    assert cache.get(entry) is None
    assert "ignoring the verifier cache file" in capsys.readouterr().err


def _with_seconds(text, value):
    data = json.loads(text)
    data["results"][0]["seconds"] = value
    return json.dumps(data)


def _with_status(text, value):
    data = json.loads(text)
    data["results"][0]["status"] = value
    return json.dumps(data)


def _with_results(text, change):
    data = json.loads(text)
    data["results"] = change(data["results"])
    return json.dumps(data)


#: Files with the cache's marker whose verdicts are broken: dropped and written again.
MALFORMED = {
    "results an object": lambda text: _with_results(text, lambda results: {"a": 1}),
    "empty object in a list": lambda text: _with_results(text, lambda results: [{}]),
    "seconds a string": lambda text: _with_seconds(text, "soon"),
    "seconds negative": lambda text: _with_seconds(text, -1),
    "seconds NaN": lambda text: text.replace('"seconds": ', '"seconds": NaN, "x": ', 1),
    "status bogus": lambda text: _with_status(text, "bogus"),
    "another entry's id": lambda text: text.replace('"id": "cross_entropy"', '"id": "simclr"'),
    "too many results": lambda text: _with_results(text, lambda results: results * 2),
}
#: Files without the marker: not the cache's, so ignored (with the warning) and never removed.
FOREIGN = {
    "an object": lambda text: '{"a": 1}',
    "the old format, a bare list": lambda text: json.dumps(json.loads(text)["results"]),
    "not JSON": lambda text: text[: len(text) // 2],
    "not UTF-8": lambda text: "\udcff",
    "another format version": lambda text: text.replace('"version": 1', '"version": 99'),
}


@pytest.mark.parametrize("breakage", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_file_is_ignored_with_one_warning_and_recomputed(filled, capsys, breakage):
    cache, entry, path, results = filled
    path.write_bytes(MALFORMED[breakage](path.read_text()).encode("utf-8", "surrogateescape"))
    capsys.readouterr()
    assert cache.get(entry) is None
    err = capsys.readouterr().err
    assert err.startswith(f"icon: warning: ignoring the verifier cache file {path} (") and err.count("\n") == 1
    again = verify_entry(entry, cache=cache)  # recomputed and stored again
    assert [r.status for r in again] == [r.status for r in results] and not any(r.cached for r in again)
    assert [r.cached for r in cache.get(entry)] == [True] * len(results)


@pytest.mark.parametrize("breakage", FOREIGN, ids=list(FOREIGN))
def test_a_file_the_cache_did_not_write_is_ignored_and_kept(filled, capsys, breakage):
    cache, entry, path, results = filled
    planted = FOREIGN[breakage](path.read_text()).encode("utf-8", "surrogateescape")
    path.write_bytes(planted)
    capsys.readouterr()
    assert cache.get(entry) is None
    assert capsys.readouterr().err.startswith(f"icon: warning: ignoring the verifier cache file {path} (")
    again = verify_entry(entry, cache=cache)
    assert [r.status for r in again] == [r.status for r in results]
    assert path.read_bytes() == planted  # neither removed nor replaced


def test_put_removes_only_stale_files_the_cache_wrote(tmp_path, filled):
    cache, entry, path, results = filled
    folder = path.parent
    stale = folder / f"cross_entropy-{'0' * 40}.json"
    stale.write_text(path.read_text())  # an earlier key's file: ours, removed
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    kept = {
        folder / "cross_entropy-notes.json": "my notes",  # matches the old glob cross_entropy-*.json
        folder / f"cross_entropy-{'1' * 40}.json": '["my list"]',  # the name, but no marker
        folder / f"cross_entropy-x-{'2' * 40}.json": path.read_text(),  # the marker, not the name
    }
    for file, text in kept.items():
        file.write_text(text)
    link = folder / f"cross_entropy-{'3' * 40}.json"
    link.symlink_to(victim)
    cache.put(entry, results)
    assert not stale.exists()
    assert {file: file.read_text() for file in kept} == kept
    assert link.is_symlink() and victim.read_text() == "the user's file"
    assert json.loads(path.read_text())["results"][0]["status"] == "pass"


def test_no_cache_drops_its_own_file_and_keeps_a_planted_one(tmp_path, filled):
    _, entry, path, _ = filled
    fresh = ResultCache(tmp_path, reuse=False)
    assert fresh.get(entry) is None and not path.exists()
    path.write_text('{"my": "data"}')
    assert fresh.get(entry) is None and path.read_text() == '{"my": "data"}'


def test_the_key_holds_the_python_sympy_torch_and_package_versions(monkeypatch):
    import platform

    import sympy
    import torch

    import icon_registry

    entry = _entry()
    keys = set()
    for target, name in ((platform, "python_version"), (sympy, "__version__"), (torch, "__version__"),
                         (icon_registry, "__version__")):
        with monkeypatch.context() as patch:
            value = (lambda: "0.0.0") if callable(getattr(target, name)) else "0.0.0"
            patch.setattr(target, name, value)
            cache_module.versions.cache_clear()
            keys.add(ResultCache().key(entry))
    cache_module.versions.cache_clear()
    keys.add(ResultCache().key(entry))
    assert len(keys) == 5


def _icon(*argv, capsys):
    from icon_registry import cli

    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_a_bogus_cached_verdict_is_not_printed(tmp_path, filled, capsys):
    cache, entry, path, _ = filled
    path.write_text(_with_status(path.read_text(), "bogus"))
    code, out, err = _icon("verify", "cross_entropy", "--no-builtin", "--catalog", str(FIXTURES / "good"),
                           "--cache-dir", str(tmp_path), capsys=capsys)
    assert code == 0 and "BOGUS" not in out and "PASS" in out and "(cached)" not in out
    assert err.count("\n") == 1 and "ignoring the verifier cache file" in err


def test_cli_no_cache_checks_afresh_and_stores_the_fresh_verdicts(tmp_path, filled):
    """In a subprocess: --jobs 2 starts workers, which must not find the planted verdict either."""
    cache, entry, path, _ = filled
    planted = json.loads(path.read_text())
    planted["results"][0]["status"] = "fail"  # a well-formed but wrong verdict: only a fresh check corrects it
    path.write_text(json.dumps(planted))
    common = ["--no-builtin", "--catalog", str(FIXTURES / "good"), "--cache-dir", str(tmp_path), "--jobs", "2"]

    def icon(*argv):
        return subprocess.run([sys.executable, "-m", "icon_registry", "verify", "cross_entropy", "spectral", *argv,
                               *common], capture_output=True, text=True, timeout=300, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})

    run = icon()
    assert run.returncode == 1 and "FAIL" in run.stdout and "(cached)" in run.stdout  # reused by default
    run = icon("--no-cache")
    assert run.returncode == 0 and "(cached)" not in run.stdout and run.stderr == "", run.stderr
    assert json.loads(path.read_text())["results"][0]["status"] == "pass"  # stored for the site build
    assert all(r.cached for r in ResultCache(tmp_path).get(entry))
