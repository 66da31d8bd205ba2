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


def normalized(text: str) -> str:
    """Text as a browser shows it: runs of spaces collapsed within each line."""
    return "\n".join(" ".join(line.split()) for line in text.split("\n")).strip()


class _Tables(HTMLParser):
    """The text content of every table cell (``<br>`` read as a line break), by table and row."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(normalized("".join(self._cell)))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(path: Path) -> list[list[list[str]]]:
    """[table][row][cell] text of every <table> in an HTML page."""
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


def table_with_header(path: Path, header: list[str]) -> list[list[str]]:
    """The body rows of the first table whose header row is ``header``."""
    for table in tables(path):
        if table and table[0] == header:
            return table[1:]
    raise AssertionError(f"{path.name}: no table with the header {header}")


class ActiveContent(HTMLParser):
    """What in a page could run code or leave the site: scripts, event-handler attributes,
    links and sources with a scheme other than http(s) or a relative path, embedded frames."""

    SAFE_SCHEMES = ("", "http", "https")
    URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "data", "poster", "background")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []  # src of external scripts, or "inline: <its first characters>"
        self.handlers: list[str] = []
        self.bad_urls: list[str] = []
        self.frames: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.handlers.append(f"<{tag} {name}={value!r}>")
            if name.lower() in self.URL_ATTRIBUTES and value is not None:
                scheme = urlparse(value.strip()).scheme.lower()
                if scheme not in self.SAFE_SCHEMES:
                    self.bad_urls.append(f"<{tag} {name}={value[:80]!r}>")
            if name.lower() == "srcdoc":
                self.frames.append(f"<{tag} srcdoc>")
        if tag in ("iframe", "frame", "object", "embed"):
            self.frames.append(f"<{tag}>")
        if tag == "script":
            src = dict(attrs).get("src")
            self.scripts.append(src.lstrip("./") if src else "inline: ")
            self._in_script = src is None

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] = (self.scripts[-1] + data.strip())[:28]


def active_content(path: Path) -> ActiveContent:
    parser = ActiveContent()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser
