"""Follows site/add-your-own.md literally: the YAML file it shows, the commands it shows, the
Python it shows, in a fresh folder. If the page rots, this fails."""

from __future__ import annotations

import html as html_lib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import fenced_blocks, parse, resolve

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "site" / "add-your-own.md"


def _icon(argv: list[str]) -> list[str]:
    """How to run `icon ARGV` here: the console script if installed, else the cli module.
    Commands the CLI does not register yet (the lead wires them) fall back to their module."""
    from icon_registry import cli

    if argv[0] in cli.COMMANDS:
        return [sys.executable, "-m", "icon_registry.cli", *argv]
    if argv[0] == "site":
        return [sys.executable, "-m", "icon_registry.commands.site", *argv[1:]]
    return []


def test_page_followed_literally(tmp_path):
    text = PAGE.read_text(encoding="utf-8")
    files = [(info, body) for info, body in fenced_blocks(text, "yaml") if "title=" in info]
    assert files, "the page shows no YAML file to save"
    for info, body in files:
        name = re.search(r'title="([^"]+)"', info).group(1)
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body, encoding="utf-8")

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env.pop("ICON_CATALOG", None)
    not_wired = []
    steps = 0
    # the page's order: bash blocks and python blocks as they appear
    for match in re.finditer(r"^```(bash|python)[^\n]*\n(.*?)^```", text, re.S | re.M):
        lang, body = match.group(1), match.group(2)
        if lang == "python":
            proc = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, f"the page's Python fails:\n{body}\n{proc.stderr[-3000:]}"
            steps += 1
            continue
        for line in body.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            argv = shlex.split(line)
            assert argv[0] == "icon", f"unexpected command on the page: {line}"
            command = _icon(argv[1:])
            if not command:
                not_wired.append(line)
                continue
            proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
            assert proc.returncode == 0, f"`{line}` fails (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
            if argv[1] == "site":
                assert "icon site: built" in proc.stderr  # the closing summary (live progress needs a TTY)
            steps += 1
    assert steps >= 3

    site = tmp_path / "my_site"
    page = site / "methods" / "my_method.html"
    assert page.is_file(), "the user's method has no page on the user's site"
    table = site / "table.html"
    chips = dict(parse(table).chips)
    assert "my_method" in chips and resolve(site, table, chips["my_method"]) == page
    visible = html_lib.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    assert "load_catalog('my_methods').get('my_method')" in visible  # the snippet loads the user's folder
    if not_wired:
        pytest.skip(f"not registered in icon_registry.cli.COMMANDS yet, so not run: {not_wired}")
