"""The record of entry files that passed the formula checks (``icon_registry.checked_files``):
an unchanged file is not parsed again, anything else is, and the record is only ever data."""

from __future__ import annotations

import json
import os
import re

import pytest

from conftest import ENTRIES, write_catalog
from icon_registry import static_check
from icon_registry.catalog import load_catalog
from icon_registry.checked_files import CheckedFiles
from icon_registry.errors import IconError

BROKEN_FORMULA = ENTRIES["simclr"].replace("cos(z[i], z[j])/tau", "cos(z[i], z[j])/tua", 1)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("ICON_CACHE_DIR", str(folder))
    monkeypatch.delenv("ICON_CHECK_FORMULAS", raising=False)
    return folder


@pytest.fixture
def checks(monkeypatch):
    """The ids of the entries whose formulas were checked, in order."""
    seen = []
    real = static_check.entry_problems

    def counting(entry):
        seen.append(entry.id)
        return real(entry)

    monkeypatch.setattr(static_check, "entry_problems", counting)
    return seen


def fresh_load(root):
    """load_catalog without its in-process cache (a new ``icon`` process)."""
    from icon_registry import catalog as catalog_module

    catalog_module._CACHE.clear()
    return load_catalog(root, include_builtin=False)


def test_an_unchanged_file_is_checked_once(tmp_path, cache, checks):
    root = write_catalog(tmp_path / "cat")
    fresh_load(root)
    assert sorted(checks) == sorted(ENTRIES)
    checks.clear()
    fresh_load(root)
    assert checks == []
    (record,) = (cache / "checked").iterdir()
    assert len(json.loads(record.read_text())) == len(ENTRIES)


def test_a_changed_file_is_checked_again(tmp_path, cache, checks):
    root = write_catalog(tmp_path / "cat")
    fresh_load(root)
    checks.clear()
    path = root / "methods" / "simclr.yaml"
    path.write_text(path.read_text().replace("summary: InfoNCE", "summary: The InfoNCE"))
    fresh_load(root)
    assert checks == ["simclr"]


def test_a_failing_file_is_never_recorded(tmp_path, cache, checks):
    root = write_catalog(tmp_path / "cat", {**ENTRIES, "simclr": BROKEN_FORMULA})
    messages = []
    for _ in range(2):
        with pytest.raises(IconError) as info:
            fresh_load(root)
        messages.append(info.value.problems)
    assert messages[0] == messages[1] and "unknown name 'tua'" in " ".join(messages[0])
    assert checks.count("simclr") == 2


@pytest.mark.parametrize("setting, warning", [
    ("always", ""),
    ("1", "icon: warning: ICON_CHECK_FORMULAS='1' is not 'always' (or unset); checking every file\n"),
], ids=["always", "an unknown setting says so"])
def test_always_or_an_unknown_setting_checks_every_file(tmp_path, cache, checks, monkeypatch, capsys, setting, warning):
    root = write_catalog(tmp_path / "cat")
    fresh_load(root)
    monkeypatch.setenv("ICON_CHECK_FORMULAS", setting)
    checks.clear()
    capsys.readouterr()
    fresh_load(root)
    assert sorted(checks) == sorted(ENTRIES)
    assert capsys.readouterr().err == warning


@pytest.mark.parametrize("planted", ['{"not": "a list"}', "[1, 2", '["../../etc", "%s"]' % ("0" * 63)])
def test_a_record_that_is_not_a_list_of_digests_is_ignored(tmp_path, cache, checks, planted):
    root = write_catalog(tmp_path / "cat")
    path = CheckedFiles().path
    path.parent.mkdir(parents=True)
    path.write_text(planted)
    fresh_load(root)
    assert sorted(checks) == sorted(ENTRIES)
    assert all(len(item) == 64 for item in json.loads(path.read_text()))


def test_a_link_at_the_record_is_neither_read_nor_written_through(tmp_path, cache, checks):
    root = write_catalog(tmp_path / "cat")
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("precious")
    path = CheckedFiles().path
    path.parent.mkdir(parents=True)
    os.symlink(elsewhere, path)
    fresh_load(root)
    assert sorted(checks) == sorted(ENTRIES)
    assert elsewhere.read_text() == "precious" and not path.is_symlink()


def test_an_unwritable_cache_folder_costs_only_speed(tmp_path, cache, checks):
    root = write_catalog(tmp_path / "cat")
    cache.mkdir()
    (cache / "checked").write_text("a file where the record's folder should be")
    fresh_load(root)
    fresh_load(root)
    assert len(checks) == 2 * len(ENTRIES)


def test_icon_cache_dir_naming_a_file_is_an_error(tmp_path, cache, checks):
    """A file where $ICON_CACHE_DIR names the folder is a mistake to report, as `--cache-dir FILE` is."""
    from icon_registry.errors import UsageError

    root = write_catalog(tmp_path / "cat")
    cache.write_text("my notes")
    with pytest.raises(UsageError, match=re.escape(f"$ICON_CACHE_DIR: '{cache}' exists and is not a folder")) as raised:
        fresh_load(root)
    assert raised.value.argument == "ICON_CACHE_DIR" and checks == []
    assert cache.read_text() == "my notes"
