"""`icon site build|serve` options: --results and --catalog are checked before any work."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("command", ["build", "serve"])
@pytest.mark.parametrize("value, message", [
    ("", "argument --results: expected a folder name, got ''"),
    ("notes.txt", "argument --results: 'notes.txt' is not a folder"),
    ("/dev/null", "argument --results: '/dev/null' is not a folder"),
])
def test_results_must_name_a_folder(tmp_path, monkeypatch, capsys, command, value, message):
    import icon_registry.docs_site as docs_site

    from icon_registry.cli import main

    monkeypatch.setattr(docs_site, "build_site", lambda *a, **k: pytest.fail("the build started"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine\n")
    code = main(["site", command, "--results", value, "--port", "0"] if command == "serve" else
                ["site", command, "--results", value])
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err == f"icon site {command}: error: {message} (see 'icon site {command} --help')\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_missing_results_folder_is_a_warning_not_an_error():
    from icon_registry.commands.site import results_folder

    assert results_folder("no/such/folder") == "no/such/folder"


def test_an_empty_catalog_name_is_bad_usage(tmp_path, monkeypatch, capsys):
    from icon_registry.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["site", "build", "--catalog", ""]) == 2
    assert capsys.readouterr().err == ("icon site build: error: argument --catalog: expected a folder or YAML file name, "
                                       "got '' (see 'icon site build --help')\n")
    assert list(tmp_path.iterdir()) == []
