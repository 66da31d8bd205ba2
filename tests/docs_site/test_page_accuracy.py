"""What the pages say is what is true (page generators called directly, no mkdocs build), each
pinned after an audit of the built site found it wrong: proof titles with raw TeX and cut at "Sec.", the I-Con objective called "the
entry's loss", a name shortened to its qualifier, status "new" shown as a gap, the snippet's
claim on users' pages, Catalog in __all__ without being importable, escaped DOIs, unproved claims
marked verified in catalog.json, claims without ids, and relations read as checked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import markdown
import pytest

from icon_registry.docs_site.escape import one_line

REPO = Path(__file__).resolve().parents[2]
CSS = REPO / "site" / "assets" / "icon.css"
EXTENSIONS = ["admonition", "attr_list", "md_in_html", "tables", "pymdownx.details", "pymdownx.superfences",
              "pymdownx.arithmatex"]


@pytest.fixture(scope="module")
def cat():
    from icon_registry.docs_site import load_site_catalog

    return load_site_catalog()


def _html(md: str) -> str:
    return markdown.markdown(md, extensions=EXTENSIONS, extension_configs={"pymdownx.arithmatex": {"generic": True}})


def _proved(entry) -> list:
    """A passing, proved-for-every-batch result per claim (as the verifier writes them)."""
    derivation = {"proved": True, "assumptions": ["a batch of n >= 2 items"], "objective": "x", "loss": "x",
                  "normal_form": "x", "steps": []}
    return [SimpleNamespace(status="pass", proof="all_n", detail="proved", steps=[], derivation=derivation)
            for _ in entry.claims]


def _page(entry, cat, results=None, **kwargs) -> str:
    from icon_registry.docs_site.pages import method_page

    return method_page(entry, cat, results, frozenset(), None, **kwargs)


def _summaries(page: str) -> list[str]:
    return re.findall(r"<summary>(.*?)</summary>", _html(page), re.S)


# ----------------------------------------------------------------- 1. proof titles


def test_proof_titles_render_their_math(cat):
    entry = cat.get("supcon")
    titles = [s for s in _summaries(_page(entry, cat, _proved(entry))) if s.startswith("Proof for every batch")]
    assert titles, "no proof block"
    assert '<span class="arithmatex">' in titles[0], titles[0]  # TeX that KaTeX renders, not escaped text
    assert "Thm 6; p is uniform over" in titles[0]


def test_proof_titles_are_not_cut_at_an_abbreviation(cat):
    entry = cat.get("label_smoothing")
    titles = [s for s in _summaries(_page(entry, cat, _proved(entry))) if s.startswith("Proof for every batch")]
    assert titles and "the uniform mixing of Sec. 3.3 applied to data-label pairs)" in titles[0], titles


def test_first_sentence():
    from icon_registry.docs_site.pages import first_sentence

    assert first_sentence("Thm 1 of the paper; direct substitution. $\\beta_i$ is the precision.") == \
        "Thm 1 of the paper; direct substitution"
    assert first_sentence("the mixing of Sec. 3.3 applied to pairs, i.e. a prior. Next") == \
        "the mixing of Sec. 3.3 applied to pairs, i.e. a prior"
    assert first_sentence("over $a.b$ and e.g. c") == "over $a.b$ and e.g. c"
    assert first_sentence("Cor 2 with $\\nu = 1$.") == "Cor 2 with $\\nu = 1$"


# ----------------------------------------------------------------- 4. the objective is not "the entry's loss"


@pytest.mark.parametrize("entry_id", ["simclr", "tsne", "kmeans"])
def test_headline_equation_is_the_icon_objective(cat, entry_id):
    from icon_registry.docs_site.notation import ICON_OBJECTIVE

    page = _page(cat.get(entry_id), cat)
    assert "\n" + ICON_OBJECTIVE + " = " in page and "\n\\mathcal{L} = " not in page
    assert "the entry's loss" not in page
    notation = page.split("## Notation", 1)[1].split("\n## ", 1)[0]
    assert "the I-Con objective" in notation and "not necessarily the published loss" in notation


# ----------------------------------------------------------------- 6. short names


def test_short_names_are_never_a_qualifier(cat):
    from icon_registry.docs_site.pages import short_name

    assert short_name("EM and variational Bayes (the E step)") == "EM and variational Bayes (the E step)"
    for entry in cat.entries:
        name = one_line(entry.name)
        short = short_name(name)
        if short == name or name.startswith(short + " ("):
            continue
        inside = re.search(r"\(([^()]*)\)\s*$", name).group(1)
        assert short == inside and " " not in short and re.search("[A-Z]", short), (entry.id, name, short)


def test_table_and_graph_show_no_qualifier_as_a_name(cat):
    from icon_registry.docs_site.graph_image import render_svg
    from icon_registry.docs_site.pages import table_page

    assert ">the E step<" not in table_page(cat, {})
    assert ">the E step<" not in render_svg(cat, {}, "")


# ----------------------------------------------------------------- 7. status "new"


def _contrast(a: str, b: str) -> float:
    def lum(colour: str) -> float:
        rgb = [int(colour[k:k + 2], 16) / 255 for k in (1, 3, 5)]
        r, g, b = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in rgb]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((lum(a), lum(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_new_is_its_own_status(cat):
    from icon_registry.docs_site.pages import table_page
    from icon_registry.docs_site.status import STATUS_HELP, STATUS_LABELS, entry_status

    entry = cat.get("debiased_infonce_clustering")
    assert entry.status == "new" and entry_status(entry) == "new" and entry_status(entry, _proved(entry)) == "new"
    assert "new" in STATUS_LABELS and "new" in STATUS_HELP and "gap" not in STATUS_LABELS["new"]
    assert all(entry_status(e) != "new" for e in cat.entries if e.status != "new")
    table = table_page(cat, {})
    assert re.search(r'<span class="icon-chip new" title="[^"]+">', table), "no legend chip for new"
    assert 'data-entry="debiased_infonce_clustering"' in table
    chip = re.search(r'<a class="icon-method" data-status="(\w+)" data-entry="debiased_infonce_clustering"', table)
    assert chip.group(1) == "new"
    page = _page(entry, cat)
    assert '<span class="icon-badge new">' in page and "gap, compiled" not in page


def test_new_has_its_colours_in_both_schemes():
    css = CSS.read_text(encoding="utf-8")
    light, dark = css.split('[data-md-color-scheme="slate"]', 1)
    for scheme in (light, dark.split("}", 1)[0]):
        chip = re.search(r"--icon-new:\s*(#[0-9a-fA-F]{6})", scheme).group(1)
        fg = re.search(r"--icon-chip-fg:\s*(#[0-9a-fA-F]{6}|#fff)\b", scheme).group(1)
        fg = "#ffffff" if fg == "#fff" else fg
        assert _contrast(chip, fg) >= 4.5, (chip, fg)
        assert re.search(r"--icon-new-bg:\s*#[0-9a-fA-F]{6}", scheme)
    for rule in ('td.icon-cell[data-status="new"]', '.icon-chip.new', '.icon-badge.new',
                 'a.icon-node[data-status="new"]'):
        assert rule in css, rule


def test_snippet_claims_the_test_suite_only_for_builtin_entries(cat):
    from icon_registry.docs_site import load_fixture_catalog

    said = "executed by the test suite"
    entry = cat.get("simclr")
    assert cat.is_builtin("simclr")
    assert said in _page(entry, cat, builtin=True)
    assert said not in _page(entry, cat, builtin=False)
    fixtures = load_fixture_catalog(Path(__file__).parent / "fixtures" / "catalog")
    assert not any(fixtures.is_builtin(e.id) for e in fixtures.entries)


def test_a_users_page_does_not_claim_the_test_suite(tmp_path):
    """An entry from a user's folder (copied from a built-in one under a new id)."""
    from icon_registry.docs_site import load_site_catalog, pages

    import yaml

    data = yaml.safe_load((REPO / "catalog" / "methods" / "simclr.yaml").read_text(encoding="utf-8"))
    data.update(id="my_simclr", name="My SimCLR", aliases=[], status="new", relations=[])
    folder = tmp_path / "mine" / "methods"
    folder.mkdir(parents=True)
    (folder / "my_simclr.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    cat = load_site_catalog([tmp_path / "mine"])
    assert cat.get("my_simclr") is not None and not cat.is_builtin("my_simclr") and cat.is_builtin("simclr")
    mine = pages.method_page(cat.get("my_simclr"), cat, None, frozenset(), str(tmp_path / "mine"),
                             builtin=cat.is_builtin("my_simclr"))
    assert "executed by the test suite" not in mine


# ----------------------------------------------------------------- 8. Catalog is importable


def test_catalog_is_a_public_name_and_importable():
    import icon_registry
    from icon_registry.catalog import Catalog, load_catalog
    from icon_registry.docs_site.reference import API

    assert "Catalog" in icon_registry.__all__
    from icon_registry import Catalog as exported

    assert exported is Catalog and isinstance(load_catalog(use_env=False), exported)
    for section in API:  # what the page lists under a module's __all__ is importable from it
        module = __import__(section.module, fromlist=["_"])
        for name in section.extra:
            assert not hasattr(module, name) or name in module.__all__, name


def test_import_icon_registry_stays_light():
    code = ("import sys, icon_registry; assert 'torch' not in sys.modules and 'icon_registry.catalog' not in sys.modules; "
            "from icon_registry import Catalog; assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


# ----------------------------------------------------------------- 9. DOIs are verbatim


def _paper(link: str):
    return SimpleNamespace(title="A title", authors=["Ann Author"], year=1991, venue="ICANN 1991", link=link)


def test_bibtex_doi_is_verbatim():
    from icon_registry.docs_site.downloads import bibtex

    text = bibtex(_paper("https://doi.org/10.1007/978-3-642-76153-9_28"))
    assert "  doi = {10.1007/978-3-642-76153-9_28}\n" in text


@pytest.mark.parametrize("doi", ["10.1/a}b", "10.1/a},note={x", "10.1/{a", "10.1/a\\b", "10.1/a\u2028b}",
                                 "10.1/a}, note = {x"])
def test_bibtex_doi_cannot_break_out_of_its_field(doi):
    from icon_registry.docs_site.downloads import bibtex

    text = bibtex(_paper("https://doi.org/" + doi))
    lines = text.split("\n")
    assert lines[0].startswith("@") and lines[-1] == "}", text
    fields = [re.fullmatch(r"  (\w+) = \{(.*)\},?", line) for line in lines[1:-1]]
    assert all(fields), text  # one field a line: nothing broke out onto a line of its own
    names = [f.group(1) for f in fields]
    assert names[:-1] == ["title", "author", "booktitle", "year"] and names[-1] in ("doi", "url"), names
    link = fields[-1].group(2)
    assert link and not re.search(r"[{}\\\s]", link), text


# ----------------------------------------------------------------- 11. catalog.json claims


def test_unproved_claims_are_not_verified_and_claims_have_ids(cat):
    from icon_registry.docs_site.downloads import catalog_json

    results = {}
    for entry in cat.entries:
        results[entry.id] = [
            SimpleNamespace(status="unproved", proof="", detail="not verified: stated", steps=[])
            if claim.kind == "unproved" else SimpleNamespace(status="pass", proof="numeric", detail="", steps=[])
            for claim in entry.claims]
    data = json.loads(json.dumps(catalog_json(cat, results)))
    by_id = {item["entry"]["id"]: item for item in data["entries"]}
    unproved = [c for item in data["entries"] for c in item["claims"] if c["kind"] == "unproved"]
    assert unproved and all(c["verified"] is False and c["status"] == "unproved" for c in unproved)
    assert all(c["label"] == "not proved (stated only)" for c in unproved)
    error_rate = by_id["error_rate"]["claims"]
    assert [(c["index"], c["id"]) for c in error_rate] == [(1, "limit#1"), (2, "limit#2")]
    assert [(c["index"], c["id"]) for c in by_id["simclr"]["claims"]][0] == (1, "identity")
    for item in data["entries"]:
        ids = [c["id"] for c in item["claims"]]
        assert len(ids) == len(set(ids)), item["entry"]["id"]


def test_relations_are_said_to_be_the_authors_statements(cat):
    """The verifier checks claims, not relations: a page never lets a relation pass for a checked fact."""
    from icon_registry.docs_site.pages import graph_page

    said = "`icon verify` checks an entry's claims, not its relations"
    entry = cat.get("clip")
    assert entry.relations and said in _page(entry, cat)
    assert said in graph_page("<svg></svg>", [], cat)


def test_a_relation_that_names_its_target_by_an_alias_shows_on_both_pages(cat):
    """`icon validate` accepts an alias as a relation's target: the pages resolve it as the catalog does."""
    from icon_registry.docs_site.catalog_view import SiteCatalog
    from icon_registry.schema import Relation

    simclr = cat.get("simclr").model_copy(update={"aliases": ["nt_xent_loss"]})
    mine = cat.get("supcon").model_copy(update={"id": "mine", "relations": [
        Relation(kind="generalizes", target="nt_xent_loss", note="stated by alias")]})
    site = SiteCatalog([e for e in cat.entries if e.id != "simclr"] + [simclr, mine], cat.table)
    assert "(simclr.md)" in _page(mine, site)
    assert "(mine.md)" in _page(simclr, site)
