"""HTML helpers for the docs-site tests (standard library only)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse


class Links(HTMLParser):
    """Collects <a href>, <script src>, <link href>, <img src> and the method chips of the table."""

    def __init__(self):
        super().__init__()
        self.anchors: list[str] = []
        self.sources: list[tuple[str, str]] = []  # (tag, url) for script/link/img
        self.chips: list[tuple[str, str]] = []  # (data-entry, href) of a.icon-method

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.anchors.append(a["href"])
            if "icon-method" in (a.get("class") or "").split():
                self.chips.append((a.get("data-entry", ""), a["href"]))
        elif tag in ("script", "img", "iframe", "source") and a.get("src"):
            self.sources.append((tag, a["src"]))
        elif tag == "link" and a.get("href"):
            self.sources.append((tag, a["href"]))


def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def resolve(site: Path, page: Path, href: str) -> Path | None:
    """The file a relative link points to (None for external or pure-fragment links)."""
    parsed = urlparse(href)
    if parsed.scheme or parsed.netloc or href.startswith(("#", "mailto:")):
        return None
    rel = page.relative_to(site).as_posix()
    target = urljoin(rel, parsed.path)
    path = site / target
    return path / "index.html" if path.is_dir() else path


def fenced_blocks(markdown: str, lang: str) -> list[tuple[str, str]]:
    """(info string, body) of every ``` fence of a language in a markdown text."""
    pattern = re.compile(r"^```" + re.escape(lang) + r"([^\n]*)\n(.*?)^```", re.S | re.M)
    return [(m.group(1).strip(), m.group(2)) for m in pattern.finditer(markdown)]
