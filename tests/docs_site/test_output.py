"""`icon site build --out DIR`: checked before any work, never deletes what it did not write,
swaps the new site in only when the build succeeded, leaves nothing behind when it fails or is
interrupted (SIGTERM, Ctrl-C), and removes what a SIGKILLed build left on the next run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

MARKER, TEMP_PREFIX, TEMP_MARKER = ".icon-site.json", ".icon-site-tmp-", ".icon-site-tmp.json"

REPO = Path(__file__).resolve().parents[2]


def _icon_site_build(capsys, *argv) -> tuple[int, str]:
    from icon_registry.cli import main

    code = main(["site", "build", "--no-verify", "--quiet", *argv])
    return code, capsys.readouterr().err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_usage_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("icon site build: error: --out"), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], err


def test_refuses_a_folder_it_did_not_write(tmp_path, capsys, monkeypatch):
    project = tmp_path / "project"
    (project / "my_methods").mkdir(parents=True)
    (project / "train.py").write_text("print('mine')\n")
    (project / "my_methods" / "x.yaml").write_text("id: x\n")
    before = _snapshot(project)
    monkeypatch.chdir(tmp_path)
    _one_line_usage_error(*_icon_site_build(capsys, "--out", "project"), "did not write", MARKER)
    monkeypatch.chdir(project)
    _one_line_usage_error(*_icon_site_build(capsys, "--out", "."), "current folder")
    assert _snapshot(project) == before


def test_a_forged_marker_never_gets_another_file_replaced(tmp_path, capsys, monkeypatch):
    """A marker anyone could write, listing a user's files: trusted only for names a build writes."""
    import json

    import icon_registry.docs_site.build as build

    monkeypatch.setattr(build, "load_site_catalog", lambda *a, **k: pytest.fail("the build started"))
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "thesis.docx").write_text("my thesis")
    (project / "src" / "train.py").write_text("print('mine')\n")
    (project / "index.html").write_text("<p>an earlier site</p>")
    (project / MARKER).write_text(json.dumps({"written_by": "icon site build",
                                              "files": ["index.html", "thesis.docx", "src", "src/train.py"]}))
    before = _snapshot(project)
    _one_line_usage_error(*_icon_site_build(capsys, "--out", str(project)),
                          "holds files an earlier icon site build did not write (src, src/train.py, thesis.docx)")
    assert _snapshot(project) == before
    assert [name for name in ("index.html", "404.html", "methods/simclr.html", "add-your-own.html", "assets/icon.css")
            if not build.site_owns(name)] == []


def test_a_control_character_in_out_is_escaped_in_the_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "train.py").write_text("print('mine')\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    monkeypatch.chdir(tmp_path)
    code, err = _icon_site_build(capsys, "--out", "\x1b[31mX/../project")
    assert code == 2 and "\x1b" not in err
    assert err.startswith("icon site build: error: --out '\\x1b[31mX/../project' is a folder that icon site build did not "
                          "write"), err
    code, err = _icon_site_build(capsys, "--out", "notes.txt/\x1b[31msite")
    assert code == 2 and err == (f"icon site build: error: --out 'notes.txt/\\x1b[31msite': '{tmp_path / 'notes.txt'}' is a "
                                 "file, not a folder\n")


@pytest.mark.parametrize("case", ["file", "under_a_file", "proc", "unwritable", "symlink_loop"])
def test_bad_out_is_one_line_before_any_work(tmp_path, capsys, monkeypatch, case):
    import icon_registry.docs_site.build as build

    monkeypatch.setattr(build, "load_site_catalog", lambda *a, **k: pytest.fail("the build started"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine\n")
    if case == "file":
        out, words = "notes.txt", ("is a file",)
    elif case == "under_a_file":
        out, words = "notes.txt/site", ("is a file",)
    elif case == "proc":
        if not Path("/proc/self").is_dir():
            pytest.skip("no /proc here")
        out, words = "/proc/icon-site-test", ("cannot create",)
    elif case == "unwritable":
        if os.name != "posix" or os.geteuid() == 0:
            pytest.skip("root writes anywhere: /proc covers the unwritable parent")
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        out, words = "locked/site", ("cannot create",)
    else:
        (tmp_path / "loop").symlink_to(tmp_path / "loop")
        out, words = "loop", ()
    _one_line_usage_error(*_icon_site_build(capsys, "--out", out), *words)
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
    assert not list(tmp_path.glob(TEMP_PREFIX + "*"))


def _earlier_build(fixture_site, tmp_path) -> Path:
    site = tmp_path / "public"
    shutil.copytree(fixture_site.out, site)
    return site


def _build_fixture(out, **kwargs):
    from icon_registry.docs_site import build_site, load_fixture_catalog

    from .conftest import FIXTURES

    return build_site(out=out, catalog=load_fixture_catalog(FIXTURES), results_dir=out.parent / "no-results",
                      verify="off", quiet=True, **kwargs)


def test_rebuild_replaces_an_earlier_build_and_refuses_added_files(fixture_site, tmp_path):
    site = _earlier_build(fixture_site, tmp_path)
    old_marker = (site / MARKER).read_text()
    _build_fixture(site)
    assert (site / "table.html").is_file() and (site / MARKER).is_file()
    assert "results/map.png" in old_marker and not (site / "results" / "map.png").exists()  # the old site is gone
    assert not list(tmp_path.glob(TEMP_PREFIX + "*"))

    (site / "notes.txt").write_text("mine\n")
    (site / "methods" / "link").symlink_to(tmp_path)
    from icon_registry.errors import IconError

    with pytest.raises(IconError, match=r"holds files an earlier icon site build did not write \(methods/link, notes.txt\)"):
        _build_fixture(site)
    assert (site / "notes.txt").read_text() == "mine\n" and (site / "methods" / "link").is_symlink()


def test_a_failed_build_leaves_the_previous_site_and_no_temporary_folder(fixture_site, tmp_path, monkeypatch):
    import icon_registry.docs_site.build as build
    from icon_registry.errors import IconError

    site = _earlier_build(fixture_site, tmp_path)
    before = _snapshot(site)

    def broken_mkdocs(config_path, site_dir):
        (site_dir / "half-written.html").parent.mkdir(parents=True, exist_ok=True)
        (site_dir / "half-written.html").write_text("...")
        raise IconError("mkdocs build --strict failed: a warning")

    monkeypatch.setattr(build, "run_mkdocs", broken_mkdocs)
    with pytest.raises(IconError, match="strict failed"):
        _build_fixture(site)
    assert _snapshot(site) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["public"]


CHILD = """
import sys, time
from pathlib import Path
import icon_registry.docs_site.build as build

def slow_mkdocs(config_path, site_dir):
    Path(sys.argv[2]).write_text(str(config_path.parent))  # the temporary folder: ready to be killed
    time.sleep(120)

build.run_mkdocs = slow_mkdocs
from icon_registry.docs_site import load_fixture_catalog
build.build_site(out=sys.argv[1], catalog=load_fixture_catalog(sys.argv[3]), verify="off", quiet=True, results_dir=sys.argv[4])
"""


def _killed_build(site: Path, tmp_path: Path, signum: int) -> Path:
    """Run a build in a child process, kill it with ``signum`` while mkdocs runs; its temp folder."""
    from .conftest import FIXTURES

    ready = tmp_path / f"ready-{signum}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(site), str(ready), str(FIXTURES), str(tmp_path / "no-results")],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert child.poll() is None, child.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "the child never reached mkdocs"
        time.sleep(0.1)
    work = Path(ready.read_text())
    assert work.is_dir() and work.parent == site.parent and work.name.startswith(TEMP_PREFIX)
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    assert child.returncode == -signum, err.decode()[-2000:]
    return work


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_sigint_and_sigkill_mid_build(fixture_site, tmp_path):
    site = _earlier_build(fixture_site, tmp_path)
    before = _snapshot(site)

    for signum in (signal.SIGTERM, signal.SIGINT):
        work = _killed_build(site, tmp_path, signum)
        assert not work.exists(), f"{signal.Signals(signum).name} left the temporary folder"
        assert _snapshot(site) == before

    work = _killed_build(site, tmp_path, signal.SIGKILL)
    assert work.is_dir() and (work / TEMP_MARKER).is_file(), "SIGKILL cannot be caught: the folder stays until the next build"
    assert _snapshot(site) == before

    foreign = tmp_path / (TEMP_PREFIX + "not-ours")  # same prefix, no marker of ours: kept
    foreign.mkdir()
    _build_fixture(site)
    assert not work.exists(), "the next build did not remove the killed build's folder"
    assert foreign.is_dir()
    assert (site / MARKER).is_file() and _snapshot(site) != before


def test_without_an_atomic_exchange_a_failed_swap_puts_the_previous_site_back(fixture_site, tmp_path, monkeypatch):
    import errno

    import icon_registry.output_folder as output
    from icon_registry.errors import IconError

    site = _earlier_build(fixture_site, tmp_path)
    before = _snapshot(site)
    monkeypatch.setattr(output, "_exchange", lambda a, b: False)  # a kernel or OS without renameat2
    rename = os.rename

    def failing_rename(src, dst):
        if Path(src).name == "site" and Path(dst) == site:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return rename(src, dst)

    monkeypatch.setattr(output.os, "rename", failing_rename)
    with pytest.raises(IconError, match="could not move the new output"):
        _build_fixture(site)
    assert _snapshot(site) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["public"]
    monkeypatch.setattr(output.os, "rename", rename)
    _build_fixture(site)  # two renames in a row
    assert _snapshot(site) != before and (site / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["public"]


@pytest.mark.parametrize("how", ["catalog_dot", "catalog_sub", "env"])
def test_refuses_an_out_inside_a_catalog_folder(tmp_path, capsys, monkeypatch, how):
    """The site holds a copy of every entry (methods/src/ID.yaml): built inside a catalog folder
    (`icon site build --catalog .` with the default ./public), that catalog would refuse to load on
    every later command, the next build included."""
    import icon_registry.docs_site.build as build

    monkeypatch.setattr(build, "load_site_catalog", lambda *a, **k: pytest.fail("the build started"))
    monkeypatch.delenv("ICON_CATALOG", raising=False)
    project = tmp_path / "project"
    (project / "mine").mkdir(parents=True)
    (project / "mine" / "x.yaml").write_text("id: x\n")
    before = _snapshot(project)
    monkeypatch.chdir(project)
    if how == "catalog_dot":
        code, err = _icon_site_build(capsys, "--catalog", ".")
        shown, folder, origin = "public", ".", "--catalog"
    elif how == "catalog_sub":
        code, err = _icon_site_build(capsys, "--catalog", "mine", "--out", "mine/site")
        shown, folder, origin = "mine/site", "mine", "--catalog"
    else:
        monkeypatch.setenv("ICON_CATALOG", str(project / "mine"))
        code, err = _icon_site_build(capsys, "--out", "mine/site")
        shown, folder, origin = "mine/site", str(project / "mine"), "$ICON_CATALOG"
    assert (code, err) == (2, f"icon site build: error: --out '{shown}' is inside the catalog folder '{folder}' ({origin}): "
                              "the site's copies of the entries (methods/src/*.yaml) would be read as entries of that "
                              "catalog; choose a folder outside it\n")
    assert _snapshot(project) == before and sorted(p.name for p in project.iterdir()) == ["mine"]
