"""`icon validate`: a check that found nothing to check says so (exit 1), never "ok: 0 entries"."""

from __future__ import annotations

import contextlib
import io

import pytest


def _icon(*argv) -> tuple[int, str, str]:
    from icon_registry.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _no_env_catalog(monkeypatch):
    monkeypatch.delenv("ICON_CATALOG", raising=False)


def test_an_empty_folder_is_not_ok(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    assert _icon("validate", "--no-builtin", "mine") == (1, "", "no entries in 'mine': nothing was validated\n")
    assert _icon("validate", "mine") == (1, "", "no entries in 'mine': nothing was validated\n")


def test_nothing_at_all_is_not_ok(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _icon("validate", "--no-builtin") == (1, "", "the catalog has no entries: nothing was validated\n")


def test_an_empty_path_is_bad_usage(tmp_path, monkeypatch):
    """'' would check the current folder (whatever it holds) instead of saying the name is missing."""
    monkeypatch.chdir(tmp_path)
    assert _icon("validate", "") == (2, "", "icon validate: error: argument PATH: expected a file or folder name, got '' "
                                            "(see 'icon validate --help')\n")


def test_a_folder_with_entries_still_counts_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    assert _icon("new", "my_method", "--like", "simclr", "--catalog", "mine")[0] == 0
    assert _icon("validate", "mine", "empty") == (0, "ok: 1 entry\n", "")
