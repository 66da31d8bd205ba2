"""`icon site build`: catalog -> markdown pages in a temporary docs_dir -> `mkdocs build --strict`."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import yaml

from icon_registry.distributions import DISTRIBUTIONS
from icon_registry.docs_site import downloads, pages, reference, results_pages
from icon_registry.docs_site.catalog_view import SiteCatalog, load_site_catalog
from icon_registry.docs_site.escape import label
from icon_registry.docs_site.graph_image import relation_edges, render_svg
from icon_registry.docs_site.inputs import readable, warnings_for
from icon_registry.output_folder import OutputFolder
from icon_registry.errors import IconError, one_line
from icon_registry.kernels import KERNELS

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parents[1]
RESULTS_FILES = {"bench.json": "icon bench", "reproduce.json": "icon reproduce",
                 "conformance.json": results_pages.CONFORMANCE_COMMAND}


def default_results_dir() -> Path:
    """The results folder of this copy of icon-registry: the checkout's results/, else the one
    installed beside the site sources (wherever the build is started from); without either (a
    wheel without results), ./results."""
    candidates = [REPO_DIR / "results", PACKAGE_DIR / "_site" / "results"]
    return next((folder for folder in candidates if folder.is_dir()), Path("results").resolve())


def site_sources() -> tuple[Path, Path]:
    """(the hand-written site/ folder, the base mkdocs.yml): from a checkout, or package data."""
    for root in (REPO_DIR, PACKAGE_DIR / "_site"):
        if (root / "mkdocs.yml").is_file() and (root / "site" / "index.md").is_file():
            return root / "site", root / "mkdocs.yml"
    raise IconError(
        "the docs site sources (site/ and mkdocs.yml) are not installed with this copy of icon-registry; "
        "build the site from a checkout of the repository"
    )


#: What a build writes at the top of the site besides the hand-written pages: mkdocs' own files and
#: folders, the generated pages and their folders, and catalog.json.
GENERATED_TOP = frozenset({"404.html", "sitemap.xml", "sitemap.xml.gz", "search", "assets", "catalog.json", "table.html",
                           "errata.html", "graph.html", "methods", "kernels", "distributions", "reference", "results"})


def site_owns(path: str) -> bool:
    """Whether a build writes ``path`` (relative to the site, POSIX): under one of the names a build
    writes at the top, the generated ones or the hand-written pages' (each site/ page NAME.md as
    NAME.html, and site/'s folders). An earlier build's marker is trusted for these only."""
    top = path.split("/", 1)[0]
    if top in GENERATED_TOP:
        return True
    src_site, _ = site_sources()
    page = Path(top)
    if page.suffix == ".html":
        return (src_site / page.with_suffix(".md")).is_file()
    return top not in ("generated", "__pycache__") and (src_site / top).is_dir()


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
        self.stream.write(one_line(f"icon site: warning: {message}") + "\n")  # a path may hold ESC
        self.stream.flush()

    def done(self, message: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(message + "\n")
        self.stream.flush()


def _requires(entry, catalog_dir) -> Optional[frozenset]:
    import warnings

    from icon_registry.errors import IconWarning

    try:
        from icon_registry.compiler import compile_loss

        kwargs = {}
        from icon_registry.docs_site.snippet import _uses_support

        if _uses_support(entry.p, "prototypes") or _uses_support(entry.q, "prototypes"):
            kwargs = {"num_classes": 3, "dim": 4}
        with warnings.catch_warnings():  # the page says what the objective is; a build is not training
            warnings.simplefilter("ignore", IconWarning)
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
    warn: Callable[[str], None] = lambda m: None,
) -> tuple[list[str], list]:
    """Write every generated page under ``docs_dir``; return (page paths, nav). ``warn`` is
    told what the site leaves out (a missing results file, plot or optional dependency)."""
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
        text = pages.method_page(entry, cat, verify_results.get(entry.id), _requires(entry, catalog_dir), catalog_dir,
                                 builtin=cat.is_builtin(entry.id))
        write(f"methods/{entry.id}.md", text)
        method_nav.append({label(entry.name): f"methods/{entry.id}.md"})  # nav titles are HTML to Material
    progress("downloads: catalog.json and the entries' YAML")
    write_downloads(cat, docs_dir, verify_results)
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
    progress("relation graph")
    (docs_dir / "assets").mkdir(parents=True, exist_ok=True)
    (docs_dir / "assets" / "relation-graph.svg").write_text(render_svg(cat, verify_results, "../"), encoding="utf-8")
    write("graph.md", pages.graph_page(render_svg(cat, verify_results, ""), relation_edges(cat), cat))
    progress("results pages")
    results_nav = results_pages_of(results_dir, docs_dir, write, warn)
    progress("API and command-line reference")
    reference_nav = reference_pages(write) + reference.api_and_cli_pages(write, warn)
    nav = [
        {"Home": "index.md"},
        {"Periodic table": "table.md"},
        {"Methods": method_nav},
        {"Kernels and distributions": kernel_nav},
        {"Errata": "errata.md"},
        {"Relation graph": "graph.md"},
        {"Results": results_nav},
        {"Add your own method": "add-your-own.md"},
        {"Python API": "python.md"},
        {"Verify in CI": "verify-in-ci.md"},
        {"Reference": reference_nav},
    ]
    return written, nav


def reference_pages(write: Callable[[str, str], None]) -> list:
    """The formula language and the entry format, generated from the grammar and the schema."""
    from icon_registry.authoring import entry_format_markdown
    from icon_registry.formula.reference import grammar_reference

    write("reference/formula.md", grammar_reference())
    write("reference/entries.md", entry_format_markdown())
    return [{"Formula language": "reference/formula.md"}, {"Entry format": "reference/entries.md"}]


def tex_warnings(cat: SiteCatalog) -> list[str]:
    """Inline TeX in catalog prose that the site shows as text, not typeset (and why)."""
    from icon_registry.inline_tex import problems, prose_fields

    return [f"entry '{entry.id}', {path}: {problem} (shown as text)"
            for entry in cat.entries for path, text in prose_fields(entry) for problem in problems(text)]


def write_downloads(cat: SiteCatalog, docs_dir: Path, verify_results: dict) -> None:
    """catalog.json at the site's root and each entry's YAML under methods/src/ (the files the
    method pages link to)."""
    (docs_dir / "catalog.json").write_text(
        json.dumps(downloads.catalog_json(cat, verify_results), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (docs_dir / "methods" / "src").mkdir(parents=True, exist_ok=True)
    for entry in cat.entries:
        text = downloads.source_text(cat.sources.get(entry.id))
        if text is not None:
            (docs_dir / "methods" / "src" / f"{entry.id}.yaml").write_text(text, encoding="utf-8")


def results_pages_of(results_dir: Path, docs_dir: Path, write: Callable[[str, str], None], warn: Callable[[str], None]) -> list:
    """The Reproductions, Benchmarks and Conformance pages, with their plots; returns their nav."""
    (docs_dir / "results").mkdir(parents=True, exist_ok=True)
    if not results_dir.is_dir():
        warn(f"no results folder at {results_dir} (--results DIR names one): the results pages say 'Not yet run'")
    else:
        for name, command in RESULTS_FILES.items():
            if not (results_dir / name).exists():
                warn(f"{results_dir / name} not found: its page says 'Not yet run' (run {command})")
    reproduce = results_dir / "reproduce.json"
    present = set()
    for name in results_pages.result_plots(results_pages.read_results(reproduce)[0]):
        if readable(results_dir / name, results_dir):
            shutil.copyfile(results_dir / name, docs_dir / "results" / name)
            present.add(name)
        elif not (results_dir / name).exists():
            warn(f"{reproduce} names the plot {name}, which is not in {results_dir}: left out")
    write("results/reproduce.md", results_pages.reproduce_page(reproduce, present))
    bench = results_dir / "bench.json"
    plots = bench_plots(results_pages.read_results(bench)[0], docs_dir / "results", warn)
    write("results/bench.md", results_pages.bench_page(bench, lambda suite, part: plots.get((suite, part))))
    write("results/conformance.md", results_pages.conformance_page(results_dir / "conformance.json"))
    return [{"Reproductions": "results/reproduce.md"}, {"Benchmarks": "results/bench.md"},
            {"Conformance": "results/conformance.md"}]


def bench_plots(data, folder: Path, warn: Callable[[str], None]) -> dict:
    """{(suite, table path): PNG file name} of every bench table with a time against n."""
    plots = {}
    for k, (suite, value) in enumerate(results_pages.bench_suites(data).items()):
        for j, (part, rows) in enumerate(results_pages.rows_of(value)):
            name = f"bench-{k}-{j}.png"
            try:
                drawn = results_pages.plot_rows(rows, folder / name, f"icon bench: suite {suite} {part}")
            except ImportError:
                warn("matplotlib is not installed: the benchmark plots are left out (pip install 'icon-registry[site]')")
                return plots
            except Exception as err:  # noqa: BLE001 - data we cannot draw: the tables still show it
                warn(f"the plot of bench suite {suite!r} could not be drawn ({type(err).__name__}: {err})")
                continue
            if drawn:
                plots[(suite, part)] = name
    return plots


def results_warnings(results_dir: Path) -> list[str]:
    """Results files (and the plots reproduce.json names) that the site leaves out: links out of
    the folder, or not regular files."""
    documents = [*RESULTS_FILES, "verify.json"]
    reproduce = results_dir / "reproduce.json"
    names = documents + results_pages.result_plots(results_pages.read_results(reproduce)[0])
    found = warnings_for([results_dir / name for name in names], results_dir)
    for name in documents:
        path = results_dir / name
        if readable(path, results_dir):
            error = results_pages.load_json(path)[1]
            if error is not None:
                shown = "its claims show as not verified" if name == "verify.json" else "its page says 'Unreadable results'"
                found.append(f"{path} could not be read ({error}): {shown}")
    return found


def run_mkdocs(config_path: Path, site_dir: Path) -> None:
    """`mkdocs build --strict` through mkdocs' Python API; IconError on any warning."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    logger = logging.getLogger("mkdocs")
    logger.setLevel(logging.WARNING)
    said = _Collect()
    logger.addHandler(said)
    try:
        config = load_config(config_file=str(config_path), strict=True, site_dir=str(site_dir))
        build(config)
    except MkDocsException as err:
        raise IconError(f"mkdocs build --strict failed: {err}", problems=[f"mkdocs: {m}" for m in said.messages] or None) from err
    except SystemExit as err:  # older mkdocs aborts this way
        raise IconError(f"mkdocs build --strict failed (exit {err.code})") from err
    finally:
        logger.removeHandler(said)


class _Collect(logging.Handler):
    """mkdocs' warnings, to say which ones failed the strict build."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _refuse_out_in_a_catalog(output: OutputFolder, catalog_dirs: Sequence[str | Path]) -> None:
    """IconError (a bad --out) when the site would be written inside a catalog folder: the built-in
    one, a --catalog folder or one of $ICON_CATALOG. The site holds a copy of every entry
    (methods/src/ID.yaml), which that catalog would then find under it and refuse to load (every
    later command with that folder, the next build included, would fail)."""
    import os

    from icon_registry.catalog import ENV_VAR, builtin_catalog_dir
    from icon_registry.errors import quote_path

    named = [(builtin_catalog_dir(), "the built-in catalog"), *((d, "--catalog") for d in catalog_dirs),
             *((d, f"${ENV_VAR}") for d in os.environ.get(ENV_VAR, "").split(os.pathsep) if d.strip())]
    for folder, origin in named:
        try:
            root = Path(os.path.expanduser(str(folder))).resolve()
        except (OSError, RuntimeError):  # a symlink loop: the catalog loader says so
            continue
        if root.is_dir() and (output.target == root or root in output.target.parents):
            raise IconError(f"--out {output.shown} is inside the catalog folder {quote_path(folder)} ({origin}): the "
                            "site's copies of the entries (methods/src/*.yaml) would be read as entries of that catalog; "
                            "choose a folder outside it", argument="--out")


def build_site(
    catalog_dirs: Sequence[str | Path] = (),
    out: str | Path = "public",
    *,
    results_dir: str | Path | None = None,
    verify: str = "cache",
    quiet: bool = False,
    strict: bool = False,
    catalog: Optional[SiteCatalog] = None,
    keep_docs: Optional[Path] = None,
) -> BuildReport:
    """Generate the pages and build the static site into ``out``.

    ``out`` must be new, empty or an earlier build (checked before anything else); the site is
    built beside it and swapped in only when the build succeeded (see ``output``).
    ``results_dir``: where bench.json, reproduce.json and verify.json are read (default: this
    copy's results folder, ``default_results_dir()``, whatever the working directory).
    ``verify``: "cache" (the verifier's cached results only: fast), "run" (run the verifier
    for what it has not cached), "off" (only ``results_dir/verify.json``, if it exists).
    ``strict``: every warning (something the site leaves out) is an error, and nothing is
    written. ``catalog`` overrides loading (tests).
    """
    progress = Progress(quiet)
    start = time.monotonic()
    output = OutputFolder(out, name="icon-site", written_by="icon site build", owns=site_owns)
    results_dir = default_results_dir() if results_dir is None else Path(results_dir)
    src_site, src_config = site_sources()
    if output.target == src_site.resolve() or src_site.resolve() in output.target.parents:
        raise IconError(f"--out {out} is inside the site sources {src_site}; choose another folder", argument="--out")
    if catalog is None:
        _refuse_out_in_a_catalog(output, catalog_dirs)
    with output.staging() as work:
        progress("loading the catalog")
        if catalog is None:
            catalog = load_site_catalog(catalog_dirs)
        warnings: list[str] = []

        def warn(message: str) -> None:
            if message not in warnings:
                warnings.append(message)
                progress.warn(message)

        for warning in list(catalog.warnings) + results_warnings(results_dir) + tex_warnings(catalog):
            warn(warning)
        user_dirs = dict(catalog.user_dirs)
        from icon_registry.docs_site import verification

        verify_results = verification.collect(catalog.entries, mode=verify, results_dir=results_dir, progress=progress)
        docs_dir = work / "docs"
        shutil.copytree(src_site, docs_dir, ignore=shutil.ignore_patterns("generated", "__pycache__"))
        gen_start = time.monotonic()
        written, nav = generate_pages(
            catalog, docs_dir, results_dir=results_dir, verify_results=verify_results, user_dirs=user_dirs,
            progress=progress, warn=warn,
        )
        gen_seconds = time.monotonic() - gen_start
        if strict and warnings:
            raise IconError(f"{len(warnings)} warning(s) under --strict: nothing written",
                            problems=[f"icon site build --strict: {warning}" for warning in warnings])
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
    progress.done(f"icon site: built {len(written)} generated pages (+ hand-written) into {output.shown} in {report.seconds:.1f}s")
    return report
