"""Catalog and results strings on the site: always data, never markup.

Pages are Markdown (Python-Markdown with the extensions of mkdocs.yml) with HTML in it, and
nav titles are HTML that Material prints as they are. Every string that comes from a YAML
entry, ``table.yaml`` or a results file goes through one of these helpers:

- ``text``: HTML-escaped, for attributes and raw HTML (nav titles, the periodic table).
- ``inline``: HTML-escaped, and every character Markdown or an extension could read as
  syntax (``[`` of a link, `````` of code, ``|`` of a table, ``$`` of math, ``{`` of an
  attribute list, ``_`` at a word's edge, ...) written as a numeric character reference,
  which Python-Markdown passes through untouched and the browser shows as the character.
  Line breaks become ``<br>``.
  For table cells, headings, list items.
- ``prose``: ``inline`` plus the one piece of Markdown that catalog prose uses, `code` in
  backticks; blank lines separate paragraphs, single line breaks reflow.
- ``math=True`` (``inline``, ``prose``, ``prose_inline``): inline TeX spans ``$...$`` whose
  commands ``icon_registry.inline_tex`` allows become ``<span class="arithmatex">$...$</span>``
  (the TeX escaped like any text: KaTeX reads it from the text node, with ``trust: false``);
  any other span stays text. For the prose fields of an entry.
- ``code``: ``inline`` inside ``<code>`` (never a backtick span, whose content Markdown
  escapes a second time).
- ``fence``: a fenced code block whose fence is longer than any backtick run in the text.
- ``safe_url`` / ``link``: only http(s) links (``doi:`` becomes https://doi.org/...),
  percent-encoded (every character Markdown could read as syntax included: Markdown parses
  links and math inside raw ``href`` attributes too) and quoted; anything else is shown as text.

Control characters (other than line breaks and tabs) and the Unicode bidi controls, the
characters ``icon_registry.errors.NEVER_RAW`` names, become U+FFFD, so none reaches the page raw
(Python-Markdown uses STX/ETX as its own placeholders; a bidi override in a name would reverse
the rest of its line: the nav, the title, the next cell of the table).
"""

from __future__ import annotations

import re
from typing import Optional
from urllib.parse import quote, urlsplit

from icon_registry import inline_tex
from icon_registry.errors import NEVER_RAW

_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_CONTROL = {ord(c): "\ufffd" for c in NEVER_RAW if c not in "\t\n\r"}
# characters that start Markdown syntax anywhere in a line (links, code, emphasis, tables, math,
# attribute lists, headings' closing hashes, backslash escapes; ~ and ^ for pymdownx extras)
_MARKDOWN = "\\`*{}[]#|$~^"
# "_" only emphasises at a word's edge: one between two letters or digits (sum_i, ms_ours) stays
_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")

# what safe_url keeps unencoded: URL delimiters that start no Markdown syntax inside a line, and
# "%" (the escapes already there)
_URL_SAFE = ":/?#@!&+,;=%"
# quote() never encodes "_" and "~" (unreserved); Markdown reads them as emphasis and strikethrough
_URL_UNRESERVED = str.maketrans({"_": "%5F", "~": "%7E"})
_CONTROL_TABLE = str.maketrans(_CONTROL)
_TEXT_TABLE = str.maketrans({**_CONTROL, **_HTML})
_INLINE_TABLE = str.maketrans({**_CONTROL, **_HTML, **{c: f"&#{ord(c)};" for c in _MARKDOWN}})


def _lines(value) -> list[str]:
    return _LINE_BREAK.sub("\n", str(value)).split("\n")


def one_line(value) -> str:
    """Every run of whitespace (line breaks included) as one space, control and bidi characters
    as U+FFFD: for titles and labels."""
    return " ".join(str(value).translate(_CONTROL_TABLE).split())


def text(value) -> str:
    """HTML-escaped (quotes included): safe in element content and in quoted attributes."""
    return str(value).translate(_TEXT_TABLE)


def inline(value, math: bool = False) -> str:
    """Markdown-inert HTML for one Markdown line; line breaks become ``<br>``."""
    if math:
        return "".join(_math_piece(is_tex, piece) for is_tex, piece in inline_tex.spans(str(value)))
    return "<br>".join(_EDGE_UNDERSCORE.sub("&#95;", line.translate(_INLINE_TABLE)) for line in _lines(value))


def _math_piece(is_tex: bool, piece: str) -> str:
    if not is_tex:
        return inline(piece.replace("\\$", "$"))
    if inline_tex.allowed(piece):
        return f'<span class="arithmatex">{inline("$" + piece + "$")}</span>'
    return inline(f"${piece}$")


def code(value) -> str:
    return f"<code>{inline(value)}</code>"


def _paragraphs(value, math: bool = False) -> list[str]:
    joined = "\n".join(_lines(value)).strip()
    out = []
    for paragraph in _BLANK_LINE.split(joined):
        paragraph = " ".join(line.strip() for line in paragraph.split("\n") if line.strip())
        if not paragraph:
            continue
        pieces = _CODE_SPAN.split(paragraph)  # plain, code, plain, code, ..., plain
        out.append("".join(code(piece) if k % 2 else inline(piece, math) for k, piece in enumerate(pieces)))
    return out


def prose(value, math: bool = False) -> str:
    """Paragraphs as raw HTML blocks (one line each, separated by blank lines), `code` kept."""
    return "\n\n".join(f"<p>{paragraph}</p>" for paragraph in _paragraphs(value, math))


def prose_inline(value, math: bool = False) -> str:
    """``prose`` for one Markdown line (a list item): paragraphs separated by a blank line."""
    return "<br><br>".join(_paragraphs(value, math))


def fence(body, lang: str = "text", indent: str = "") -> str:
    """A fenced code block showing ``body`` verbatim (Markdown escapes code blocks itself)."""
    body = str(body).translate(_CONTROL_TABLE)
    lines = _lines(body)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    marker = "`" * max(3, longest + 1)
    return "\n".join(indent + line if line else line for line in [marker + lang, *lines, marker]) + "\n"


def safe_url(url) -> Optional[str]:
    """An http(s) URL (``doi:10...`` as https://doi.org/10...), percent-encoded; None otherwise."""
    url = str(url).strip()
    if url[:4].lower() == "doi:":
        url = "https://doi.org/" + url[4:].strip()
    if any(c.isspace() or c in NEVER_RAW for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    # Python-Markdown reads links, code spans, math and autolinks before it sets raw HTML aside,
    # even inside href="...", so every character that could start Markdown syntax is
    # percent-encoded (the same URL to a server); only an IPv6 host keeps its brackets, and with
    # "(" encoded they cannot open a link
    start = len(parts.scheme) + 3  # "://"
    end = start + len(parts.netloc)
    encoded = quote(parts.netloc, safe=_URL_SAFE + "[]") + quote(url[end:], safe=_URL_SAFE)
    return url[:start] + encoded.translate(_URL_UNRESERVED)


def link(label_html: str, url) -> str:
    """``<a href=...>label</a>`` for a safe URL; the label alone (and the URL as text) otherwise."""
    target = safe_url(url)
    if target is None:
        return f"{label_html} ({inline(url)})"
    return f'<a href="{text(target)}">{label_html}</a>'


def label(value) -> str:
    """One line, HTML-escaped: nav titles, attributes and labels in raw HTML."""
    return text(one_line(value))
