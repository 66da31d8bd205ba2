"""Per method a BibTeX block and the entry's YAML (on the page and as a file); catalog.json with
every entry, the schema's version and the verification results."""

from __future__ import annotations

import html
import json
import re

import pytest

from icon_registry.docs_site.downloads import ICON_BIBTEX, bibtex, bibtex_key
from icon_registry.docs_site.escape import one_line


def _code_blocks(page, section: str) -> list[str]:
    """The text of every code block in a section (from its h2 to the next) of a built page."""
    text = page.read_text(encoding="utf-8")
    start = text.index(f'<h2 id="{section}">')
    end = text.find("<h2", start + 1)
    blocks = re.findall(r'<div class="[^"]*highlight"><pre>.*?<code>(.*?)</code></pre>', text[start:end if end > 0 else None], re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", block)).rstrip("\n") for block in blocks]


def _unbib(value: str) -> str:
    """A BibTeX field value read back (the escapes of downloads._BIBTEX_SPECIAL undone)."""
    words = {"textbackslash": "\\", "textasciitilde": "~", "textasciicircum": "^"}
    return re.sub(r"\\(?:(textbackslash|textasciitilde|textasciicircum)\{\}|([{}&%$#_]))",
                  lambda m: words[m.group(1)] if m.group(1) else m.group(2), value)


def _authors(field: str) -> list[str]:
    """BibTeX's author list: split at " and " outside braces; a braced name loses its braces."""
    names, depth, start = [], 0, 0
    for k, char in enumerate(field):
        escaped = k > 0 and field[k - 1] == "\\"
        depth += (char == "{" and not escaped) - (char == "}" and not escaped)
        if depth == 0 and field.startswith(" and ", k):
            names.append(field[start:k])
            start = k + 5
    names.append(field[start:])
    return [n[1:-1] if n.startswith("{") and n.endswith("}") and not n.endswith("\\}") else n for n in names]


def _fields(entry_text: str) -> dict:
    assert entry_text.count("{") - entry_text.count("\\{") == entry_text.count("}") - entry_text.count("\\}"), entry_text
    return {m.group(1): m.group(2) for m in re.finditer(r"^  (\w+) = \{(.*)\},?$", entry_text, re.M)}


@pytest.fixture(params=["builtin_site", "hostile_site"])
def site(request):
    return request.getfixturevalue(request.param)


def test_every_method_page_cites_its_paper(site):
    for entry in site.catalog.entries:
        page = site.out / "methods" / f"{entry.id}.html"
        blocks = _code_blocks(page, "cite")
        assert ICON_BIBTEX in blocks, entry.id
        if entry.paper is None or entry.paper.link == "https://arxiv.org/abs/2504.16929":
            assert len(blocks) == 1
            continue
        assert blocks[0] == bibtex(entry.paper), entry.id
        fields = _fields(blocks[0])
        assert blocks[0].startswith(("@article{", "@inproceedings{", "@misc{")) and bibtex_key(entry.paper) in blocks[0]
        assert _unbib(fields["title"][1:-1]) == one_line(entry.paper.title)
        assert [_unbib(a) for a in _authors(fields["author"])] == [one_line(a) for a in entry.paper.authors]
        assert fields["year"] == str(entry.paper.year)


def test_bibtex_kinds():
    from icon_registry.schema import Paper

    journal = Paper(title="Visualizing Data using t-SNE", authors=["Laurens van der Maaten", "Geoffrey Hinton"], year=2008,
                    venue="Journal of Machine Learning Research 9", link="https://jmlr.org/papers/v9/vandermaaten08a.html")
    assert bibtex(journal) == (
        "@article{maaten2008visualizing,\n  title = {{Visualizing Data using t-SNE}},\n"
        "  author = {Laurens van der Maaten and Geoffrey Hinton},\n  journal = {Journal of Machine Learning Research},\n"
        "  volume = {9},\n  year = {2008},\n  url = {https://jmlr.org/papers/v9/vandermaaten08a.html}\n}")
    preprint = Paper(title="A 100% {odd} title_with #marks", authors=["A. B"], year=2024, venue="arXiv preprint",
                     link="https://arxiv.org/abs/2401.00001")
    text = bibtex(preprint)
    assert text.startswith("@misc{b2024titlewith,") and "eprint = {2401.00001}" in text
    assert "title = {{A 100\\% \\{odd\\} title\\_with \\#marks}}" in text
    proceedings = Paper(title="SimCLR", authors=["Ting Chen"], year=2020, venue="ICML 2020", link="https://doi.org/10.5555/x")
    assert "@inproceedings{chen2020simclr," in bibtex(proceedings) and "doi = {10.5555/x}" in bibtex(proceedings)


def test_yaml_source_on_the_page_and_as_a_file(site):
    """The page shows the source as written, but for the characters never shown raw (a bidi
    override would reorder the code after it), which become U+FFFD; the download is the file itself."""
    from icon_registry.errors import NEVER_RAW

    shown_raw = str.maketrans({c: "\ufffd" for c in NEVER_RAW if c not in "\t\n\r"})
    for entry in site.catalog.entries:
        source = open(site.catalog.sources[entry.id], encoding="utf-8").read()
        page = site.out / "methods" / f"{entry.id}.html"
        assert _code_blocks(page, "source") == [source.rstrip("\n").translate(shown_raw)], entry.id
        assert (site.out / "methods" / "src" / f"{entry.id}.yaml").read_text(encoding="utf-8") == source
        assert f'href="src/{entry.id}.yaml"' in page.read_text(encoding="utf-8")


def test_catalog_json(site):
    from icon_registry.docs_site.downloads import schema_version
    from icon_registry.schema import Entry

    data = json.loads((site.out / "catalog.json").read_text(encoding="utf-8"))
    assert data["schema_version"] == schema_version() and data["schema_version"].startswith("sha256:")
    assert [e["entry"]["id"] for e in data["entries"]] == sorted(e.id for e in site.catalog.entries)
    for item in data["entries"]:
        entry = site.catalog.get(item["entry"]["id"])
        assert Entry.model_validate(item["entry"]) == entry
        assert [c["kind"] for c in item["claims"]] == [c.kind for c in entry.claims]
        assert (site.out / item["page"]).is_file()
    assert 'href="catalog.json"' in (site.out / "table.html").read_text(encoding="utf-8")


def test_catalog_json_carries_the_verification(fixture_site):
    data = json.loads((fixture_site.out / "catalog.json").read_text(encoding="utf-8"))
    by_id = {item["entry"]["id"]: item for item in data["entries"]}
    simclr = by_id["simclr"]
    assert simclr["table_status"] == "proved" and simclr["table_status_label"] == "proved for every batch"
    assert simclr["claims"][0] | {"detail": ""} == {"index": 1, "id": "identity", "kind": "identity", "verified": True,
                                                     "status": "pass", "proof": "all_n", "label": "proved for every batch",
                                                     "detail": ""}
    assert by_id["clip_fx"]["claims"][0]["label"] == "checked on instances"
    assert by_id["pca_fx"]["claims"][0]["status"] == "fail" and by_id["pca_fx"]["table_status"] == "failed"
    assert by_id["ncut_fx"]["claims"][0] == {"index": 1, "id": "unproved", "kind": "unproved", "verified": False}
