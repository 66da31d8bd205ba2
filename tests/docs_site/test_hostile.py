"""A site built from a hostile catalog folder and results folder (tests/docs_site/hostile.py):
no string from them becomes markup, a link with another scheme, or a broken table.

The browser test (test_browser.py) loads the same pages in Chromium; these checks read the
built HTML and run without a browser."""

from __future__ import annotations

import re

import pytest

from icon_registry.docs_site.escape import one_line

from .helpers import active_content, normalized, table_with_header, tables
from .hostile import HOSTILE_IDS, TABLE_STRINGS, hostile_text


# C0 and C1 controls (but tab and line feed) and the bidi controls: shown as U+FFFD, never raw
_NEVER_RAW = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"


def _expected(text: str) -> str:
    """How a table cell must read: the string itself (control and bidi characters shown as U+FFFD)."""
    return normalized(re.sub(_NEVER_RAW, "\ufffd", text.replace("\r\n", "\n")))


def test_no_script_handler_frame_or_foreign_link_from_the_data(hostile_site, fixture_site):
    allowed = set(active_content(fixture_site.out / "index.html").scripts)
    pages = sorted(hostile_site.out.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        found = active_content(page)
        where = page.relative_to(hostile_site.out)
        assert set(found.scripts) <= allowed, f"{where}: scripts not in a normal page: {set(found.scripts) - allowed}"
        assert not found.handlers, f"{where}: event-handler attributes {found.handlers[:3]}"
        assert not found.bad_urls, f"{where}: links or sources with another scheme {found.bad_urls[:3]}"
        assert not found.frames, f"{where}: frames {found.frames[:3]}"


def test_no_control_or_bidi_character_reaches_a_page(hostile_site):
    """Every field carries C0 controls and every bidi control (PAYLOADS): none is in a page or the
    graph image raw, where an override in a name would reverse the rest of the nav, the <title>
    and the next cells of the table (the year). The downloads (catalog.json, the entries' YAML)
    are the data as written."""
    files = sorted(p for p in hostile_site.out.rglob("*") if p.suffix in (".html", ".svg") or p.name == "search_index.json")
    assert {"table.html", "search_index.json"} <= {p.name for p in files} and any(p.suffix == ".svg" for p in files)
    for path in files:
        found = re.search(_NEVER_RAW, path.read_text(encoding="utf-8"))
        assert found is None, f"{path.relative_to(hostile_site.out)}: {found.group()!r} at {found.start()}"


def test_names_read_back_from_heading_title_and_nav(hostile_site):
    for entry in hostile_site.catalog.entries:
        page = (hostile_site.out / "methods" / f"{entry.id}.html").read_text(encoding="utf-8")
        name = _expected(one_line(entry.name))
        h1 = re.search(r"<h1[^>]*>(.*?)<a class=\"headerlink\"", page, re.S)
        assert h1 and normalized(_text(h1.group(1))) == name
        title = re.search(r"<title>(.*?)</title>", page, re.S)
        assert title and normalized(_text(title.group(1))) == f"{name} - icon-registry"
        nav = re.findall(rf'<a href="{entry.id}.html" class="md-nav__link[^"]*">\s*<span class="md-ellipsis">(.*?)</span>', page, re.S)
        assert nav and all(normalized(_text(item)) == name for item in nav), f"{entry.id}: nav title {nav[:1]}"


def _text(html_fragment: str) -> str:
    import html

    assert "<" not in re.sub(r"<br>|<code>|</code>", "", html_fragment), f"markup in a title: {html_fragment[:200]}"
    return html.unescape(html_fragment.replace("<br>", "\n"))


@pytest.mark.parametrize("entry_id", HOSTILE_IDS)
def test_table_strings_read_back_intact_from_method_pages(hostile_site, entry_id):
    page = hostile_site.out / "methods" / f"{entry_id}.html"
    parameters = table_with_header(page, ["Name", "Default", "Range", "Meaning"])
    meanings = {row[0]: row[3] for row in parameters}
    assert meanings["tau"] == _expected(hostile_text(f"{entry_id}.parameters.tau"))
    for k, text in enumerate(TABLE_STRINGS):
        assert meanings[f"p{k}"] == _expected(text), f"parameter description {text!r}"
    peers = table_with_header(page, ["Library", "Object", "Convention"])
    assert len(peers) == 1 + len(TABLE_STRINGS)
    assert peers[0][1:] == [_expected(hostile_text(f"{entry_id}.peers.object")), _expected(hostile_text(f"{entry_id}.peers.convention"))]
    for row, text in zip(peers[1:], TABLE_STRINGS):
        assert row == ["torch", _expected(text), _expected(text)], f"peer {text!r}"
    errata = table_with_header(page, ["Where", "Printed", "Corrected"])
    assert errata[0] == [_expected(hostile_text(f"{entry_id}.errata.{field}")) for field in ("where", "printed", "corrected")]
    for row, text in zip(errata[1:], TABLE_STRINGS):
        assert row == [_expected(text)] * 3, f"erratum {text!r}"


def test_table_strings_read_back_intact_from_errata_page(hostile_site):
    rows = table_with_header(hostile_site.out / "errata.html", ["Method", "Where", "Printed", "Corrected"])
    entries = sorted(hostile_site.catalog.entries, key=lambda e: e.id)
    assert len(rows) == sum(len(e.errata) for e in entries)
    by_method: dict[str, list] = {}
    for row in rows:
        by_method.setdefault(row[0], []).append(row[1:])
    for entry in entries:
        got = by_method[_expected(one_line(entry.name))]
        assert got == [[_expected(e.where), _expected(e.printed), _expected(e.corrected)] for e in entry.errata]


def test_names_and_axis_labels_read_back_from_the_table_page(hostile_site):
    table_page = hostile_site.out / "table.html"
    rows = table_with_header(table_page, ["Method", "Year", "Status", "Row (q)", "Column (p)"])
    names = sorted(row[0] for row in rows)
    assert names == sorted(_expected(one_line(e.name)) for e in hostile_site.catalog.entries)
    assert all(row[3] in (_expected(hostile_text("table.row.label")), "nowhere") for row in rows)
    assert all(row[4] == _expected(hostile_text("table.column.label")) for row in rows)
    periodic = next(t for t in tables(table_page) if t and t[0] and t[0][0] == "q \\ p")
    assert periodic[0][1] == _expected(one_line(hostile_text("table.column.label")))
    assert periodic[1][0] == _expected(one_line(hostile_text("table.row.label")))


def test_results_strings_read_back_from_the_results_pages(hostile_site):
    bench = hostile_site.out / "results" / "bench.html"
    table = next(t for t in tables(bench) if t and "entry" in t[0] and "note" in t[0])  # every field of every row
    header = table[0]
    assert _expected(hostile_text("bench.key")) in header
    for text in TABLE_STRINGS:
        assert _expected(text) in header, f"results key {text!r}"
    for row, text in zip(table[2:], TABLE_STRINGS):
        cells = dict(zip(header, row))
        assert cells["entry"] == _expected(text) and cells["note"] == _expected(text) and cells[_expected(text)] == "1", text
    reproduce = hostile_site.out / "results" / "reproduce.html"
    cells = [cell for t in tables(reproduce) for row in t for cell in row]
    assert _expected(hostile_text("reproduce.scalar_key")) in cells
    assert _expected(hostile_text("reproduce.scalar")) in cells
    assert _expected(hostile_text("reproduce.nested")) in cells


def test_builtin_catalog_tables_read_back_intact(builtin_site):
    """The real catalog: every parameter description, peer and erratum as written (the
    triplet peer's "max(", tsne's "entropy of p(.|i)", ...)."""
    for entry in builtin_site.catalog.entries:
        page = builtin_site.out / "methods" / f"{entry.id}.html"
        if entry.parameters:
            rows = table_with_header(page, ["Name", "Default", "Range", "Meaning"])
            assert [row[3] for row in rows] == [_expected(p.description) for p in entry.parameters.values()], entry.id
        if entry.peers:
            rows = table_with_header(page, ["Library", "Object", "Convention"])
            assert rows == [[p.library, _expected(p.object), _expected(p.convention)] for p in entry.peers], entry.id
        if entry.errata:
            rows = table_with_header(page, ["Where", "Printed", "Corrected"])
            assert rows == [[_expected(e.where), _expected(e.printed), _expected(e.corrected)] for e in entry.errata], entry.id


def test_no_character_reference_shown_as_text(builtin_site):
    """Code cells used to escape twice (`&#x27;` on the page): no page shows an entity as text."""
    for page in builtin_site.out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        found = re.search(r"&amp;(#x?[0-9a-fA-F]+|[a-z]+);", text)
        assert not found, f"{page.relative_to(builtin_site.out)}: {text[found.start() - 40:found.end() + 20]!r}"


def test_relation_notes_and_names_read_back_from_the_graph_page(hostile_site):
    rows = table_with_header(hostile_site.out / "graph.html", ["Method", "Relation", "Other method", "From the other side", "Notes"])
    by_name = {_expected(one_line(e.name)): e for e in hostile_site.catalog.entries}
    assert len(rows) == 1  # hostile_a and hostile_b state their relation to each other: one row
    method, phrase, other, backwards, notes = rows[0]
    assert {method, other} == {_expected(one_line(e.name)) for e in hostile_site.catalog.entries if e.id != "hostile_off"}
    assert backwards == f"{other} is a variant of {method}"
    assert notes == "\n".join(_expected(r.note) for e in (by_name[method], by_name[other]) for r in e.relations)


def test_notation_reads_back_the_parameter_descriptions(hostile_site):
    """The Notation section quotes each parameter's description: as written, never markup."""
    for entry in hostile_site.catalog.entries:
        page = (hostile_site.out / "methods" / f"{entry.id}.html").read_text(encoding="utf-8")
        section = page[page.index('<h2 id="notation">'):page.index("<h2", page.index('<h2 id="notation">') + 1)]
        assert _expected(f"the parameter tau (default 0.5): {entry.parameters['tau'].description}") in normalized(_plain(section))


def _plain(fragment: str) -> str:
    import html

    return html.unescape(re.sub(r"<br>", "\n", re.sub(r"<(?!br>)[^>]+>", "", fragment)))


# paper links that try to become a link of another scheme: the first ones pass the schema (https://,
# no whitespace) and come from a user's catalog folder; the last ones would not, and are put on
# the entries afterwards, as a looser schema would let them through
_SCHEMA_LINKS = [
    "https://x.org/a)[OpenPaper](javascript:alert(document.domain)//",
    "https://x.org/a)[x](JAVASCRIPT:alert(1))",
    "https://x.org/a)[x](data:text/html,<script>alert(1)</script>)",
    "https://x.org/\"><script>alert(1)</script><a/href=\"javascript:alert(1)\">",
    "https://x.org/<javascript:alert(1)>$\\href{javascript:alert(1)}{k}$",
    "https://x.org/a)![x](javascript:alert(1))`c`{:onclick=alert(1)}",
]
_OTHER_SCHEMES = ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,<script>alert(1)</script>"]


@pytest.fixture(scope="module")
def paper_link_site(tmp_path_factory):
    import yaml

    from icon_registry.docs_site import build_site, load_site_catalog

    from .conftest import FIXTURES

    tmp = tmp_path_factory.mktemp("paper-links")
    (tmp / "my_methods").mkdir()
    simclr = yaml.safe_load((FIXTURES / "methods" / "simclr.yaml").read_text())
    for k, url in enumerate(_SCHEMA_LINKS + _OTHER_SCHEMES):
        entry = {**simclr, "id": f"link{k}", "aliases": [f"Link{k}"], "relations": [],
                 "paper": {**simclr["paper"], "link": url if url in _SCHEMA_LINKS else "https://x.org/ok"}}
        (tmp / "my_methods" / f"link{k}.yaml").write_text(yaml.safe_dump(entry, sort_keys=False))
    cat = load_site_catalog([tmp / "my_methods"], builtin=False)
    for k, url in enumerate(_OTHER_SCHEMES, start=len(_SCHEMA_LINKS)):
        entry = cat.by_id[f"link{k}"]
        cat.entries[cat.entries.index(entry)] = entry.model_copy(update={"paper": entry.paper.model_copy(update={"link": url})})
    cat.__post_init__()
    build_site(out=tmp / "public", catalog=cat, results_dir=tmp / "no-results", verify="off", quiet=True)
    return tmp / "public"


def test_no_paper_link_becomes_a_link_of_another_scheme(paper_link_site):
    from .helpers import parse

    pages = sorted(paper_link_site.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        for href in parse(page).anchors + [url for _, url in parse(page).sources]:
            relative = not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|//", href.strip())
            assert relative or href.startswith(("http://", "https://")), f"{page.relative_to(paper_link_site)}: {href!r}"


@pytest.mark.parametrize("k, url", list(enumerate(_SCHEMA_LINKS + _OTHER_SCHEMES)))
def test_a_paper_link_is_its_https_url_encoded_or_text(paper_link_site, k, url):
    from icon_registry.docs_site.escape import safe_url

    from .helpers import parse

    page = paper_link_site / "methods" / f"link{k}.html"
    links = [href for href in parse(page).anchors if "x.org" in href or "javascript" in href.lower() or "data:" in href]
    # the "Paper:" line and the References list
    assert links == ([safe_url(url)] * 2 if url in _SCHEMA_LINKS else [])
