"""`icon bench` (suite core) on tiny sizes: the harness runs, checks agreement, writes JSON."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from icon_registry import bench
from icon_registry.commands import bench as command


def test_core_suite_runs_and_agrees():
    rows = bench.run_suite("core", sizes=[64], d=8, repeats=1, warmup=0)
    assert [r["case"] for r in rows] == ["simclr", "supcon", "cross_entropy", "tsne"]
    for r in rows:
        assert r["compiled_ms"] > 0 and r["hand_ms"] > 0 and r["ratio"] > 0
        assert r["value_rel_diff"] < 1e-4 and r["grad_rel_diff"] < 1e-3


def test_hand_references_are_the_same_objectives_in_float64():
    for case in bench.SUITES["core"]:
        prepared = case.prepare(48, 6, torch.float64, "cpu")
        value_rel, grad_rel = bench.check_agreement(prepared)
        assert value_rel < 1e-12 and grad_rel < 1e-10, case.name


def _run(tmp_path, *argv):
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["bench", *argv])
    return args.func(args)


def test_command_writes_and_merges_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    out.write_text(json.dumps({"memory": [{"case": "kept"}]}))
    assert _run(tmp_path, "--sizes", "32", "--dim", "4", "--repeats", "1", "--warmup", "0", "--json", "--out", str(out)) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads(out.read_text())
    assert written["memory"] == [{"case": "kept"}]
    assert written["core"] == printed["core"] and len(written["core"]) == 4
    assert written["core_environment"]["load_average_after"] >= 0
    assert written["target_ratio"] == bench.TARGET_RATIO


def test_merging_leaves_the_users_other_files_alone(tmp_path):
    """The merged results go through a temporary file of their own: a file of the user's beside the
    output, named like a fixed temporary (bench.json.tmp), is neither overwritten nor removed."""
    from icon_registry.commands.bench import _write_merged

    out, theirs = tmp_path / "bench.json", tmp_path / "bench.json.tmp"
    theirs.write_text("the user's")
    _write_merged(out, {"core": [1]})
    _write_merged(out, {"compile": [2]})
    assert json.loads(out.read_text()) == {"core": [1], "compile": [2]}
    assert theirs.read_text() == "the user's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "bench.json.tmp"]


@pytest.mark.parametrize("suite", ["large", "compile", "fresh"])
def test_every_case_of_the_other_suites_agrees_in_float64(suite):
    """The cases of the large, compile and fresh suites (built small here; compile with torch.compile)."""
    for case in bench.SUITES[suite]:
        prepared = case.prepare(48, 6, torch.float64, "cpu")
        value_rel, grad_rel = bench.check_agreement(prepared)
        assert value_rel < 1e-12 and grad_rel < 1e-10, case.name


def test_cli_suite_times_the_catalog_commands(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert _run(tmp_path, "--suite", "cli", "--repeats", "1", "--out", str(out)) == 0
    written = json.loads(out.read_text())["cli"]
    commands = [row["command"] for row in written["rows"]]
    assert commands[:2] == ["python -c pass", "python -c 'import torch'"]
    assert {"icon list", "icon show simclr", "icon validate", "icon table"} <= set(commands)
    assert all(row["seconds"] > 0 for row in written["rows"])


def test_unknown_suite_is_a_usage_error(tmp_path, capsys):
    from icon_registry.cli import main

    assert main(["bench", "--suite", "cor", "--out", str(tmp_path / "bench.json")]) == 2
    assert "unknown suite 'cor'; did you mean 'core'?" in capsys.readouterr().err
