"""`icon site build`: catalog -> markdown pages in a temporary docs_dir -> `mkdocs build --strict`."""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import yaml

from icon_registry.distributions import DISTRIBUTIONS
from icon_registry.docs_site import pages
from icon_registry.docs_site.catalog_view import SiteCatalog, load_site_catalog
from icon_registry.docs_site.escape import label
from icon_registry.docs_site.graph_image import relation_edges, render_graph
from icon_registry.docs_site.inputs import readable, warnings_for
from icon_registry.docs_site.output import OutputFolder
from icon_registry.kernels import KERNELS

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parents[1]

BENCH_INTRO = "Speed and memory of the compiled losses against their peers, from `results/bench.json`."
REPRO_INTRO = "Our reproductions of the paper's results, from `results/reproduce.json`."


def site_sources() -> tuple[Path, Path]:
    """(the hand-written site/ folder, the base mkdocs.yml): from a checkout, or package data."""
    for root in (REPO_DIR, PACKAGE_DIR / "_site"):
        if (root / "mkdocs.yml").is_file() and (root / "site" / "index.md").is_file():
            return root / "site", root / "mkdocs.yml"
    from icon_registry.errors import IconError

    raise IconError(
        "the docs site sources (site/ and mkdocs.yml) are not installed with this copy of icon-registry; "
        "build the site from a checkout of the repository"
    )


@dataclass
class BuildReport:
    out: Path
    pages: list[str] = field(default_factory=list)
    seconds: float = 0.0
    generate_seconds: float = 0.0
    mkdocs_seconds: float = 0.0
    verified_entries: int = 0
    docs_dir: Optional[Path] = None
    warnings: list[str] = field(default_factory=list)


class Progress:
    """One status line on stderr, rewritten in place on a TTY (none when stderr is not a
    terminal); the closing summary line is always printed unless quiet."""

    def __init__(self, quiet: bool = False, stream=None):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        if not self.tty:  # the project's convention: live progress only on a terminal
            return
        line = f"icon site: [{time.monotonic() - self.start:5.1f}s] {message}"
        self.stream.write("\r\033[K" + line[:150])
        self.stream.flush()

    def warn(self, message: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(f"icon site: warning: {message}\n")
        self.stream.flush()

    def done(self, message: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(message + "\n")
        self.stream.flush()


def _requires(entry, catalog_dir) -> Optional[frozenset]:
    try:
        from icon_registry.compiler import compile_loss

        kwargs = {}
        from icon_registry.docs_site.snippet import _uses_support

        if _uses_support(entry.p, "prototypes") or _uses_support(entry.q, "prototypes"):
            kwargs = {"num_classes": 3, "dim": 4}
        return compile_loss(entry, **kwargs).requires
    except Exception:  # noqa: BLE001 - fall back to the tree's declared inputs
        return None


def generate_pages(
    cat: SiteCatalog,
    docs_dir: Path,
    *,
    results_dir: Path,
    verify_results: dict,
    user_dirs: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda m: None,
) -> tuple[list[str], list]:
    """Write every generated page under ``docs_dir``; return (page paths, nav)."""
    user_dirs = user_dirs or {}
    written: list[str] = []

    def write(rel: str, text: str) -> None:
        path = docs_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(rel)

    progress("periodic table")
    write("table.md", pages.table_page(cat, verify_results))
    method_nav = []
    for k, entry in enumerate(sorted(cat.entries, key=lambda e: e.name.lower()), 1):
        progress(f"method pages {k}/{len(cat.entries)}: {entry.id}")
        catalog_dir = user_dirs.get(entry.id)
        text = pages.method_page(entry, cat, verify_results.get(entry.id), _requires(entry, catalog_dir), catalog_dir)
        write(f"methods/{entry.id}.md", text)
        method_nav.append({label(entry.name): f"methods/{entry.id}.md"})  # nav titles are HTML to Material
    progress("kernel and distribution pages")
    write("kernels/index.md", pages.building_blocks_index())
    kernel_nav = [{"Overview": "kernels/index.md"}]
    for kind, cls in KERNELS.items():
        write(f"kernels/{kind}.md", pages.kernel_page(kind, cls, cat))
        kernel_nav.append({f"kernel: {kind}": f"kernels/{kind}.md"})
    for kind, cls in DISTRIBUTIONS.items():
        write(f"distributions/{kind}.md", pages.distribution_page(kind, cls, cat))
        kernel_nav.append({f"distribution: {kind}": f"distributions/{kind}.md"})
    progress("errata")
    write("errata.md", pages.errata_page(cat))
    progress("relation graph (matplotlib)")
    image = render_graph(cat, docs_dir / "assets" / "relation-graph.svg", verify_results)
    write("graph.md", pages.graph_page(f"assets/{image}" if image else None, relation_edges(cat), cat))
    progress("results pages")
    write("results/bench.md", pages.results_page("Benchmarks", results_dir / "bench.json", "icon bench", BENCH_INTRO))
    reproduce = results_dir / "reproduce.json"
    plots = [name for name in pages.result_plots(pages.read_results(reproduce)[0]) if readable(results_dir / name, results_dir)]
    for name in plots:
        (docs_dir / "results").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(results_dir / name, docs_dir / "results" / name)
    write("results/reproduce.md", pages.results_page("Reproductions", reproduce, "icon reproduce", REPRO_INTRO, plots))
    nav = [
        {"Home": "index.md"},
        {"Periodic table": "table.md"},
        {"Methods": method_nav},
        {"Kernels and distributions": kernel_nav},
        {"Errata": "errata.md"},
        {"Relation graph": "graph.md"},
        {"Results": [{"Benchmarks": "results/bench.md"}, {"Reproductions": "results/reproduce.md"}]},
        {"Add your own method": "add-your-own.md"},
    ]
    return written, nav


def results_warnings(results_dir: Path) -> list[str]:
    """Results files (and the plots reproduce.json names) that the site leaves out: links out of
    the folder, or not regular files."""
    names = ["bench.json", "reproduce.json", "verify.json"]
    reproduce = results_dir / "reproduce.json"
    names += pages.result_plots(pages.read_results(reproduce)[0])
    return warnings_for([results_dir / name for name in names], results_dir)


def run_mkdocs(config_path: Path, site_dir: Path) -> None:
    """`mkdocs build --strict` through mkdocs' Python API; IconError on any warning."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    from icon_registry.errors import IconError

    logging.getLogger("mkdocs").setLevel(logging.WARNING)
    try:
        config = load_config(config_file=str(config_path), strict=True, site_dir=str(site_dir))
        build(config)
    except MkDocsException as err:
        raise IconError(f"mkdocs build --strict failed: {err}") from err
    except SystemExit as err:  # older mkdocs aborts this way
        raise IconError(f"mkdocs build --strict failed (exit {err.code})") from err


def build_site(
    catalog_dirs: Sequence[str | Path] = (),
    out: str | Path = "public",
    *,
    results_dir: str | Path = "results",
    verify: str = "cache",
    quiet: bool = False,
    catalog: Optional[SiteCatalog] = None,
    keep_docs: Optional[Path] = None,
) -> BuildReport:
    """Generate the pages and build the static site into ``out``.

    ``out`` must be new, empty or an earlier build (checked before anything else); the site is
    built beside it and swapped in only when the build succeeded (see ``output``).
    ``verify``: "cache" (the verifier's cached results only: fast), "run" (run the verifier
    for what it has not cached), "off" (only ``results_dir/verify.json``, if it exists).
    ``catalog`` overrides loading (tests).
    """
    progress = Progress(quiet)
    start = time.monotonic()
    output = OutputFolder(out)
    results_dir = Path(results_dir)
    src_site, src_config = site_sources()
    if output.target == src_site.resolve() or src_site.resolve() in output.target.parents:
        from icon_registry.errors import IconError

        raise IconError(f"--out {out} is inside the site sources {src_site}; choose another folder", argument="--out")
    with output.staging() as work:
        progress("loading the catalog")
        if catalog is None:
            catalog = load_site_catalog(catalog_dirs)
        warnings = list(catalog.warnings) + results_warnings(results_dir)
        for warning in warnings:
            progress.warn(warning)
        user_dirs = dict(catalog.user_dirs)
        from icon_registry.docs_site import verification

        verify_results = verification.collect(catalog.entries, mode=verify, results_dir=results_dir, progress=progress)
        docs_dir = work / "docs"
        shutil.copytree(src_site, docs_dir, ignore=shutil.ignore_patterns("generated", "__pycache__"))
        gen_start = time.monotonic()
        written, nav = generate_pages(
            catalog, docs_dir, results_dir=results_dir, verify_results=verify_results, user_dirs=user_dirs, progress=progress
        )
        gen_seconds = time.monotonic() - gen_start
        config = yaml.safe_load(src_config.read_text())
        config["docs_dir"] = str(docs_dir)
        config["site_dir"] = str(work / "site")  # mkdocs empties its site_dir: only ever our own folder
        config["nav"] = nav
        config.setdefault("theme", {})["custom_dir"] = str(PACKAGE_DIR / "theme")
        config_path = work / "mkdocs.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        progress(f"mkdocs build --strict ({len(written)} generated pages)")
        mk_start = time.monotonic()
        run_mkdocs(config_path, work / "site")
        mk_seconds = time.monotonic() - mk_start
        if keep_docs is not None:
            shutil.copytree(docs_dir, keep_docs, dirs_exist_ok=True)
        output.publish(work / "site", work)
    report = BuildReport(output.target, written, time.monotonic() - start, gen_seconds, mk_seconds, len(verify_results), warnings=warnings)
    progress.done(f"icon site: built {len(written)} generated pages (+ hand-written) into {output.target} in {report.seconds:.1f}s")
    return report
