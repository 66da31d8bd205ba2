"""`icon site build`: every entry has a page, every table cell links to one, --strict passes,
no CDN, result pages come from result files, generated pages stay out of the checkout."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from .helpers import fenced_blocks, parse, resolve
from icon_registry.docs_site.status import STATUS_LABELS
from icon_registry.errors import IconWarning

REPO = Path(__file__).resolve().parents[2]
URL_SOURCE = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", re.I)


@pytest.fixture(params=["builtin_site", "fixture_site"])


def site(request):
    return request.getfixturevalue(request.param)


def test_every_entry_has_a_page(site):
    assert site.catalog.entries, "the catalog is empty"
    for entry in site.catalog.entries:
        page = site.out / "methods" / f"{entry.id}.html"
        assert page.is_file(), f"no page for {entry.id}"
        text = page.read_text(encoding="utf-8")
        assert entry.name.split(" (")[0].replace("&", "&amp;") in text


def test_table_lists_every_entry_in_its_cell_and_links_resolve(site):
    table = site.out / "table.html"
    links = parse(table)
    on_table = {e.id for e in site.catalog.entries} - {e.id for e in site.catalog.off_table()}
    assert {entry for entry, _ in links.chips} == on_table
    for entry, href in links.chips:
        target = resolve(site.out, table, href)
        assert target is not None and target.is_file(), f"table cell link {href} ({entry}) is broken"
        assert target.name == f"{entry}.html"
    html = table.read_text(encoding="utf-8")
    for entry in site.catalog.entries:
        if entry.id in on_table:  # its cell in the paper's table, or in the table beyond the paper
            cells = re.findall(
                rf'<td class="icon-cell" data-col="{entry.cell.column}" data-row="{entry.cell.row}"[^>]*>(.*?)</td>', html, re.S
            )
            assert sum(f'data-entry="{entry.id}"' in cell for cell in cells) == 1, f"{entry.id} is not once in its cell"


def _tables(html: str) -> dict:
    """table id -> its HTML, for the paper's table and the one beyond it."""
    return dict(re.findall(r'<table class="icon-table" id="([^"]+)">(.*?)</table>', html, re.S))


def test_table_follows_table_yaml_order(site):
    tables = _tables((site.out / "table.html").read_text(encoding="utf-8"))
    axes = site.catalog.table
    order = {"rows": [r.id for r in axes.rows], "cols": [c.id for c in axes.columns]}
    for table_id, html in tables.items():
        rows = re.findall(r'<tr data-row="([^"]+)"', html)
        cols = re.findall(r'<th data-col="([^"]+)"', html)
        assert rows == [r for r in order["rows"] if r in rows] and cols == [c for c in order["cols"] if c in cols]
        if table_id == "icon-table":  # the paper's table: every axis the paper has, in table.yaml's order
            assert rows == [r.id for r in axes.rows if not r.beyond_paper]
            assert cols == [c.id for c in axes.columns if not c.beyond_paper]
        cells = re.findall(r'<td class="icon-cell"[^>]*data-status="(\w+)"', html)
        assert len(cells) == len(rows) * len(cols)
        assert set(cells) <= set(STATUS_LABELS)


def test_beyond_the_paper_has_its_own_table(builtin_site):
    """Methods the paper does not derive, and columns it lacks, are drawn in a second table; the
    paper's table keeps its layout and methods."""
    tables = _tables((builtin_site.out / "table.html").read_text(encoding="utf-8"))
    assert set(tables) == {"icon-table", "icon-table-beyond"}
    paper = set(re.findall(r'data-entry="([^"]+)"', tables["icon-table"]))
    beyond = set(re.findall(r'data-entry="([^"]+)"', tables["icon-table-beyond"]))
    assert paper & beyond == set()
    assert {"label_smoothing", "knowledge_distillation", "nca"} <= beyond and {"simclr", "tsne", "kmeans"} <= paper
    assert 'data-col="teacher"' not in tables["icon-table"] and 'data-col="teacher"' in tables["icon-table-beyond"]


def test_every_internal_link_resolves(site):
    for page in site.out.rglob("*.html"):
        if page.name == "404.html":  # mkdocs writes root-absolute links there (no site_url)
            continue
        for href in parse(page).anchors:
            target = resolve(site.out, page, href)
            if target is not None:
                assert target.exists(), f"{page.relative_to(site.out)} links to missing {href}"


def test_no_network_sources(site):
    for path in list(site.out.rglob("*.html")) + list(site.out.rglob("*.css")):
        text = path.read_text(encoding="utf-8", errors="replace")
        found = URL_SOURCE.search(text)
        assert not found, f"{path.relative_to(site.out)} loads from the network: {text[found.start():found.end() + 60]}"
        if path.suffix == ".html":
            for tag, url in parse(path).sources:
                assert not re.match(r"(https?:)?//", url), f"{path.name}: <{tag}> from {url}"
    assert (site.out / "assets" / "katex" / "katex.min.js").is_file()
    assert list((site.out / "assets" / "katex" / "fonts").glob("*.woff2"))


def test_kernel_distribution_errata_graph_pages(site):
    from icon_registry.distributions import DISTRIBUTIONS
    from icon_registry.kernels import KERNELS

    for kind, cls in KERNELS.items():
        page = (site.out / "kernels" / f"{kind}.html").read_text(encoding="utf-8")
        assert "arithmatex" in page or not cls.summary
    for kind in DISTRIBUTIONS:
        assert (site.out / "distributions" / f"{kind}.html").is_file()
    errata = (site.out / "errata.html").read_text(encoding="utf-8")
    for entry in site.catalog.entries:
        for erratum in entry.errata:
            assert f"methods/{entry.id}.html" in errata
    assert (site.out / "assets" / "relation-graph.svg").stat().st_size > 1000
    assert "relation-graph.svg" in (site.out / "graph.html").read_text(encoding="utf-8")


def test_build_time_and_strict(builtin_site):
    # build_site runs mkdocs with strict=True: any warning raises, so reaching here means it passed
    assert builtin_site.report.seconds < 60, f"the site took {builtin_site.report.seconds:.1f}s"


def test_results_pages_not_yet_run(tmp_path):
    from icon_registry.docs_site.results_pages import bench_page, reproduce_page

    for text, command in ((bench_page(tmp_path / "bench.json", lambda *a: None), "icon bench"),
                          (reproduce_page(tmp_path / "reproduce.json", set()), "icon reproduce")):
        assert "Not yet run" in text and f"run `{command}`" in text


def test_results_page_reads_the_result_file(fixture_site):
    text = (fixture_site.out / "results" / "bench.html").read_text(encoding="utf-8")
    assert "ms_ours" in text and "pytorch-metric-learning" in text and "Not yet run" not in text


def test_reproduction_plots_are_embedded(fixture_site):
    text = (fixture_site.out / "results" / "reproduce.html").read_text(encoding="utf-8")
    assert '<img src="map.png" alt="map.png">' in text and (fixture_site.out / "results" / "map.png").is_file()
    assert 'src="missing.png"' not in text and 'src="../escape.png"' not in text  # absent or unsafe: not linked
    assert "0.987" in text


def test_verifier_results_show_status_and_proof_sketch(fixture_site):
    simclr = (fixture_site.out / "methods" / "simclr.html").read_text(encoding="utf-8")
    assert "What the verifier checked" in simclr and "the log-normalizer is a logsumexp" in simclr
    assert 'class="icon-badge proved">proved for every batch' in simclr
    assert "Proof for every batch" in simclr and "<td>mean = sum / count</td>\n<td>1</td>" in simclr
    assert "Both sides have one normal form" in simclr and "The expression after each step" in simclr
    clip = (fixture_site.out / "methods" / "clip_fx.html").read_text(encoding="utf-8")
    assert 'class="icon-badge instances">checked on instances' in clip and "Proof for every batch" not in clip
    pca = (fixture_site.out / "methods" / "pca_fx.html").read_text(encoding="utf-8")
    assert 'class="icon-badge fail"' in pca and "differs by a factor 2" in pca
    # a failed check turns a published entry red ("a check fails"), not the orange of a claim stated unproved
    table = (fixture_site.out / "table.html").read_text(encoding="utf-8")
    assert re.search(r'data-status="failed" data-entry="pca_fx"', table)
    assert re.search(r'data-status="unproved" data-entry="ncut_fx"', table)  # an `unproved` claim
    assert re.search(r'data-status="gap" data-entry="debiased_clip_fx"', table)
    assert re.search(r'data-status="proved" data-entry="simclr"', table)
    assert re.search(r'data-status="instances" data-entry="clip_fx"', table)


def test_without_results_nothing_is_called_proved():
    from icon_registry.catalog import load_catalog
    from icon_registry.docs_site.status import entry_status

    simclr = load_catalog(use_env=False).get("simclr")
    assert entry_status(simclr, None) == "unverified"
    assert entry_status(simclr, []) == "unverified"


def test_method_page_sections(site):
    for entry in site.catalog.entries:
        md = (site.docs / "methods" / f"{entry.id}.md").read_text(encoding="utf-8")
        for heading in ("## The objective in words", "## Supervisory distribution p", "## Learned distribution q",
                        "## Map f and support", "## Claims", "## Use it", "## References"):
            assert heading in md, f"{entry.id}: missing {heading}"
        assert md.count("$$") >= 8, f"{entry.id}: p/q/loss formulas missing"


def test_use_it_snippets_run(site):
    """Every method page's snippet, executed as written (compile_loss on random tensors), without
    a warning: t-SNE's ran on 8 items, too few for its perplexity 30, and warned so."""
    for entry in site.catalog.entries:
        md = (site.docs / "methods" / f"{entry.id}.md").read_text(encoding="utf-8")
        code = md.split("## Use it", 1)[1]
        (_, body), *_ = fenced_blocks(code, "python")
        if "load_catalog(" not in body and entry.id not in _builtin_ids():
            body = body.replace(f"compile_loss({entry.id!r}", "compile_loss(__entry__")
        namespace = {"__entry__": entry, "__name__": "__snippet__"}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", IconWarning)
                # intended, and said above the snippet (test_use_it_says_when_it_is_not_the_published_loss)
                warnings.filterwarnings("ignore", "[a-z_]+: no claim of this entry ties", IconWarning)
                exec(compile(body, f"<snippet {entry.id}>", "exec"), namespace)  # noqa: S102 - our generated code
        except Exception as err:  # noqa: BLE001
            pytest.fail(f"the 'Use it' snippet of {entry.id} fails: {type(err).__name__}: {err}\n{body}")
        assert namespace["value"].requires_grad or namespace["value"].grad_fn is None


def _builtin_ids():
    from icon_registry.catalog import load_catalog

    return set(load_catalog(use_env=False).ids)


def test_generated_pages_are_not_written_into_the_checkout(builtin_site):
    assert not (REPO / "site" / "methods").exists()
    assert not (REPO / "site" / "table.md").exists()
    assert not (REPO / "site" / "generated").exists() or not any((REPO / "site" / "generated").iterdir())


def test_out_inside_site_sources_is_refused(tmp_path):
    from icon_registry.docs_site import build_site
    from icon_registry.errors import IconError

    with pytest.raises(IconError, match="--out"):
        build_site(out=REPO / "site" / "public", quiet=True)


def test_a_refuted_claim_shows_as_failed_whatever_the_entrys_status():
    """A new method or gap cell whose claim fails was drawn as 'new method, compiled' / 'gap, compiled',
    the colour of one whose claims pass."""
    from types import SimpleNamespace

    from icon_registry.catalog import load_catalog
    from icon_registry.docs_site.status import entry_status

    catalog = load_catalog(use_env=False)
    for entry_id in ("debiased_infonce_clustering", "supervised_clustering", "simclr"):
        entry = catalog.get(entry_id)
        passed = [SimpleNamespace(status="pass", proof="all_n") for _ in entry.claims]
        failed = [SimpleNamespace(status="fail", proof=None)] + passed[1:]
        assert entry_status(entry, failed) == "failed"
        assert entry_status(entry, passed) == {"new": "new", "gap": "gap"}.get(entry.status, "proved")


def test_use_it_says_when_it_is_not_the_published_loss(builtin_site):
    """DCL's and DCD's pages offered compile_loss(ID) as their loss without a word; copied into a
    fresh Python, it warns that no claim ties the objective to the published loss. t-SNE's snippet
    warned that its batch was too small for its perplexity."""
    from icon_registry.docs_site.pages import NOT_THE_PUBLISHED_LOSS

    said = {entry.id for entry in builtin_site.catalog.entries
            if NOT_THE_PUBLISHED_LOSS in (builtin_site.docs / "methods" / f"{entry.id}.md").read_text(encoding="utf-8")}
    assert "dcd" in said and "simclr" not in said  # dcd's only claim is unproved
    for entry in builtin_site.catalog.entries:
        assert (entry.id in said) == (not any(claim.ties_objective_to_loss for claim in entry.claims)), entry.id
    stderr = {}
    for entry_id in ("dcd", "tsne"):
        md = (builtin_site.docs / "methods" / f"{entry_id}.md").read_text(encoding="utf-8")
        (_, body), *_ = fenced_blocks(md.split("## Use it", 1)[1], "python")
        proc = subprocess.run([sys.executable, "-c", body], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        stderr[entry_id] = proc.stderr
    assert "IconWarning: dcd: no claim of this entry ties its I-Con objective to its published loss" in stderr["dcd"]
    assert stderr["tsne"] == ""


@pytest.mark.parametrize("perplexity, kernel_value, n", [
    (30.0, "perplexity", 32),  # t-SNE's default: 31 candidates per row
    (49.5, "perplexity", 52),
    (3.0, "perplexity", 8),
    (1e9, "perplexity", 256),  # valid, but no example builds a billion items
    (30.0, 40.0, 42),  # a number in the kernel, not a parameter
])
def test_the_snippets_batch_reaches_the_perplexity(perplexity, kernel_value, n):
    from icon_registry.catalog import load_catalog
    from icon_registry.docs_site.snippet import batch_size
    from icon_registry.schema import Entry

    data = load_catalog(use_env=False).get("tsne").model_dump(mode="python")
    data["parameters"]["perplexity"].update(default=perplexity, max=None)
    data["p"]["of"]["kernel"]["perplexity"] = kernel_value
    assert batch_size(Entry.model_validate(data)) == n
