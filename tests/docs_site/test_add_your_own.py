"""Follows site/add-your-own.md literally, in a fresh folder: `icon new`, the edit it shows, the
commands (their outputs where the page shows them), the Python, training and the user's own
site. If the page rots, this fails."""

from __future__ import annotations

import html as html_lib
import json
import re

from .follow_page import REPO, follow
from .helpers import parse, resolve

PAGE = REPO / "site" / "add-your-own.md"


def test_page_followed_literally(tmp_path):
    steps = follow(PAGE, tmp_path)
    assert steps[0] == "icon new my_method --like simclr --catalog my_methods"
    assert steps[1] == "wrote my_methods/my_method.yaml"  # the edit replaces what icon new wrote
    assert any(step.startswith("icon verify") for step in steps) and "python" in steps

    report = json.loads((tmp_path / "my_fit" / "metrics.json").read_text())
    assert report["entry"] == "my_method" and report["loss_source"] == "formula"

    site = tmp_path / "my_site"
    page = site / "methods" / "my_method.html"
    assert page.is_file(), "the user's method has no page on the user's site"
    table = site / "table.html"
    chips = dict(parse(table).chips)
    assert "my_method" in chips and resolve(site, table, chips["my_method"]) == page
    visible = html_lib.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    assert "load_catalog('my_methods').get('my_method')" in visible  # the snippet loads the user's folder


def test_icon_new_writes_what_the_page_says(tmp_path):
    """The file icon new writes is a commented copy that validates (the page's first step)."""
    from icon_registry.catalog import load_catalog

    follow_first = REPO / "site" / "add-your-own.md"
    text = follow_first.read_text(encoding="utf-8")
    assert "icon new my_method --like simclr --catalog my_methods" in text
    from icon_registry.cli import main

    assert main(["new", "my_method", "--like", "simclr", "--catalog", str(tmp_path / "mine")]) == 0
    written = (tmp_path / "mine" / "my_method.yaml").read_text(encoding="utf-8")
    assert written.count("\n# ") >= 10 and "status: new" in written and "target: simclr" in written
    entry = load_catalog(tmp_path / "mine").get("my_method")
    assert entry.status == "new" and entry.paper is None
