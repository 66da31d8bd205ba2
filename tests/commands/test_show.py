"""`icon show` and `icon formula --entry` take an entry file (path/to/id.yaml) as `icon verify` does,
so a user's file is shown without naming its folder; a path that is not an entry says so."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_env_catalog(monkeypatch):
    monkeypatch.delenv("ICON_CATALOG", raising=False)


@pytest.fixture
def user_file(icon, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert icon("new", "my_method", "--catalog", "mine")[0] == 0
    return "mine/my_method.yaml"


def test_show_an_entry_file(icon, user_file):
    code, out, err = icon("show", user_file)
    assert (code, err) == (0, "") and out.startswith("my_method: my_method (my method)\n")
    assert out.rstrip().endswith("file        mine/my_method.yaml")
    assert icon("show", user_file, "--catalog", "mine")[:2] == (0, out)  # the file and its folder: one entry
    assert icon("show", "my_method") == (1, "", "unknown entry 'my_method'; see `icon list`\n")


def test_formula_against_an_entry_file(icon, user_file):
    code, out, err = icon("formula", "sum(i, anchors, sigma * norm(z[i]))", "--entry", user_file)
    assert (code, err) == (0, "") and "parameters: sigma\n" in out
    assert icon("formula", "sum(i, anchors, tau)", "--entry", user_file) == (
        1, "", "my_method: unknown name 'tau' at column 17; in scope: parameters sigma; indices i; built-in n\n")


@pytest.mark.parametrize("argv", [["show"], ["formula", "sum(i, anchors, norm(z[i]))", "--entry"]])
def test_a_path_that_is_not_an_entry(icon, user_file, argv, tmp_path):
    (tmp_path / "mine" / "table.yaml").write_text(
        "columns:\n  - {id: mine, label: Mine, description: my column, beyond_paper: true}\n", encoding="utf-8")
    assert icon(*argv, "mine/nothing.yaml") == (1, "", "mine/nothing.yaml: no such file (give an entry file or id)\n")
    assert icon(*argv, "mine/") == (1, "", "mine/: not a file (give an entry file or id)\n")
    assert icon(*argv, "mine/table.yaml") == (
        1, "", "mine/table.yaml: not a catalog entry (a table.yaml?); give an entry file or id\n")
