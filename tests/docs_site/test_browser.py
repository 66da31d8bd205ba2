"""The built site in a real browser: headless Chromium (Debian's `chromium`) driven by
playwright's Python client with executable_path=/usr/bin/chromium (no browser download).

Checks that the table shows every entry, that a click on a cell lands on the method page,
that the filters work, and that formulas are rendered by the vendored KaTeX (no raw TeX
left in the visible text); and that a site built from a hostile catalog and results folder
(tests/docs_site/hostile.py) runs none of their scripts. Screenshots go to
$ICON_SCREENSHOT_DIR (default: a tmp dir).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from icon_registry.docs_site.status import STATUS_LABELS

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
RAW_TEX = ("$$", "\\frac", "\\sum", "\\mathbb", "\\left(", "\\[", "\\(")


def _chromium() -> str:
    for candidate in (os.environ.get("ICON_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("no Chromium binary (apt-get install -y chromium); the browser checks need one")


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the module (playwright's sync API allows one at a time)."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
    executable = _chromium()
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, timeout=60_000)
        yield browser
        browser.close()


@contextlib.contextmanager
def _serve(browser, folder: Path, init_script: str = "", viewport=(1500, 1000), color_scheme: str = "light"):
    """(page, base URL, requests that left the local server) for a built site, in a fresh context."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, color_scheme=color_scheme)
    try:
        page = context.new_page()
        if init_script:
            page.add_init_script(init_script)
        external = []
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) and not r.url.startswith("data:") else None)
        yield page, base, external
    finally:
        context.close()
        server.shutdown()


@pytest.fixture(scope="module")
def browser_page(chromium, builtin_site):
    with _serve(chromium, builtin_site.out) as served:
        yield served


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass


def _shots() -> Path:
    folder = Path(os.environ.get("ICON_SCREENSHOT_DIR") or (Path(os.environ.get("TMPDIR", "/tmp")) / "icon-site-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _assert_math_rendered(page, where: str) -> None:
    page.wait_for_function("document.querySelectorAll('.arithmatex').length === 0 || document.querySelectorAll('.katex').length > 0", timeout=15_000)
    assert page.locator(".katex").count() > 0, f"{where}: no KaTeX output"
    assert page.locator(".icon-math-error, .katex-error").count() == 0, f"{where}: KaTeX reported an error"
    text = page.locator("article").inner_text()
    for raw in RAW_TEX:
        assert raw not in text, f"{where}: raw TeX {raw!r} is visible"


def test_table_in_browser(browser_page, builtin_site):
    page, base, external = browser_page
    page.goto(base + "table.html", wait_until="load")
    chips = page.locator("table.icon-table a.icon-method")  # the paper's table and the one beyond it
    shown = [chips.nth(k).get_attribute("data-entry") for k in range(chips.count())]
    expected = {e.id for e in builtin_site.catalog.entries} - {e.id for e in builtin_site.catalog.off_table()}
    assert sorted(shown) == sorted(expected)  # each method once
    paper = page.locator("#icon-table a.icon-method")
    in_paper = {paper.nth(k).get_attribute("data-entry") for k in range(paper.count())}
    assert {e.id for e in builtin_site.catalog.entries if e.beyond_paper} & in_paper == set()
    for k in range(chips.count()):
        assert chips.nth(k).is_visible()
        assert chips.nth(k).get_attribute("title")  # hover text explains the colour
    assert page.locator("#icon-legend .icon-chip").count() == len(STATUS_LABELS)
    page.screenshot(path=str(_shots() / "table.png"), full_page=True)

    # filter by status: only the chips of that status stay visible
    statuses = {chips.nth(k).get_attribute("data-status") for k in range(chips.count())}
    status = sorted(statuses)[0]
    page.select_option("#icon-filter-status", status)
    for k in range(chips.count()):
        assert chips.nth(k).is_visible() == (chips.nth(k).get_attribute("data-status") == status)
    page.click("#icon-filter-reset")
    # filter by row
    row = builtin_site.catalog.table.rows[0].id
    page.select_option("#icon-filter-row", row)
    assert page.locator(f'#icon-table tbody tr[data-row="{row}"]').is_visible()
    for other in builtin_site.catalog.table.rows[1:]:
        assert not page.locator(f'#icon-table tbody tr[data-row="{other.id}"]').is_visible()
    page.click("#icon-filter-reset")
    # filter by column
    col = builtin_site.catalog.table.columns[0].id
    page.select_option("#icon-filter-column", col)
    assert page.locator(f'#icon-table thead th[data-col="{col}"]').is_visible()
    for other in builtin_site.catalog.table.columns[1:]:
        assert not page.locator(f'#icon-table thead th[data-col="{other.id}"]').is_visible()
    page.click("#icon-filter-reset")
    assert not external, f"the table page fetched from the network: {external[:5]}"


def test_click_cell_lands_on_method_page_with_rendered_math(browser_page, builtin_site):
    page, base, external = browser_page
    page.goto(base + "table.html", wait_until="load")
    chip = page.locator("#icon-table a.icon-method").first
    entry_id = chip.get_attribute("data-entry")
    chip.click()
    page.wait_for_url(f"**/methods/{entry_id}.html")
    entry = next(e for e in builtin_site.catalog.entries if e.id == entry_id)
    assert entry.name.split(" (")[0] in page.locator("h1").inner_text()
    _assert_math_rendered(page, entry_id)
    page.screenshot(path=str(_shots() / f"method-{entry_id}.png"), full_page=True)
    assert not external, f"the method page fetched from the network: {external[:5]}"


def test_every_method_page_renders_math(browser_page, builtin_site):
    page, base, _ = browser_page
    for entry in builtin_site.catalog.entries:
        page.goto(base + f"methods/{entry.id}.html", wait_until="domcontentloaded")
        _assert_math_rendered(page, entry.id)
    page.goto(base + "index.html", wait_until="load")
    _assert_math_rendered(page, "home")
    page.goto(base + "kernels/index.html", wait_until="load")
    _assert_math_rendered(page, "kernels")


def test_search_works_offline(browser_page):
    page, base, external = browser_page
    page.goto(base + "index.html", wait_until="load")
    page.keyboard.press("/")  # Material's shortcut focuses the search box
    page.keyboard.type("periodic")
    page.wait_for_selector(".md-search-result__item", timeout=15_000)
    assert page.locator(".md-search-result__item").count() > 0
    assert not external


def test_display_formulas_fit_the_content_column(browser_page, builtin_site):
    """At 1400 px no display formula is wider than the content column (long losses are split
    into named definitions under loss.where, each on its own line)."""
    page, base, _ = browser_page
    page.set_viewport_size({"width": 1400, "height": 1000})
    too_wide = []
    try:
        for entry in builtin_site.catalog.entries:
            page.goto(base + f"methods/{entry.id}.html", wait_until="load")
            _assert_math_rendered(page, entry.id)
            widths = page.evaluate(
                "() => { const column = document.querySelector('article').clientWidth;"
                " return [...document.querySelectorAll('.katex-display')]"
                ".map(e => [e.scrollWidth, column, e.textContent.slice(0, 60)]); }")
            assert widths, f"{entry.id}: no display formula"
            too_wide += [f"{entry.id}: {w} px > {column} px: {text}" for w, column, text in widths if w > column]
    finally:
        page.set_viewport_size({"width": 1500, "height": 1000})
    assert not too_wide, "\n".join(too_wide)


# ----------------------------------------------------------------- graph, phone, dark mode, reference pages

OVERLAPS = """(selector) => {
  const boxes = [...document.querySelectorAll(selector)].map(el => {
    const r = el.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, what: el.textContent || el.tagName};
  });
  const found = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) found.push(a.what + " / " + b.what);
  }
  return {count: boxes.length, found: found};
}"""


def test_relation_graph_nodes_are_links_and_labels_do_not_overlap(browser_page, builtin_site):
    page, base, external = browser_page
    page.goto(base + "graph.html", wait_until="load")
    nodes = page.locator("svg.icon-graph a.icon-node")
    assert nodes.count() == len(builtin_site.catalog.entries)
    labels = page.evaluate(OVERLAPS, "svg.icon-graph text, svg.icon-graph circle")
    assert labels["count"] == 2 * len(builtin_site.catalog.entries)
    assert not labels["found"], f"overlapping labels or dots: {labels['found'][:5]}"
    page.screenshot(path=str(_shots() / "graph.png"), full_page=True)
    node = nodes.nth(len(builtin_site.catalog.entries) // 2)
    entry_id = node.get_attribute("data-entry")
    node.locator("circle").click()
    page.wait_for_url(f"**/methods/{entry_id}.html")
    assert not external


BROKEN_WORDS = """() => {
  // every word of every chip and row header: one line box (a word split over two lines has two)
  const broken = [];
  for (const el of document.querySelectorAll("#icon-table a.icon-method, #icon-table tbody th")) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /[^\\s-]+-?/g;  // a word, with the hyphen after which it may break
      for (let m = re.exec(node.data); m; m = re.exec(node.data)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""

CONTRAST = """() => {
  function rgb(text) { return text.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number); }
  function lum(c) {
    const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  const out = {};
  for (const chip of document.querySelectorAll("#icon-legend .icon-chip")) {
    const style = getComputedStyle(chip);
    const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))];
    out[chip.classList[1]] = {background: style.backgroundColor, contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
  }
  return out;
}"""


def _toggle_scheme(page, scheme: str) -> None:
    """Material's palette toggle in the header, clicked until the page is in ``scheme``."""
    for _ in range(2):
        if page.evaluate("() => document.body.getAttribute('data-md-color-scheme')") == scheme:
            return
        page.locator("form[data-md-component=palette] label:visible").first.click()
        page.wait_for_timeout(200)
    assert page.evaluate("() => document.body.getAttribute('data-md-color-scheme')") == scheme


def test_table_on_a_phone_in_both_schemes(chromium, builtin_site):
    """390 px wide: the row-header column is narrow and stays in view when the table scrolls
    sideways, no name is broken inside a word; the light/dark toggle switches to our dark
    colours, and every status chip stays readable in both schemes."""
    with _serve(chromium, builtin_site.out, viewport=(390, 844)) as (page, base, external):
        page.goto(base + "table.html", wait_until="load")
        assert page.evaluate(BROKEN_WORDS) == []
        header = page.locator("#icon-table tbody th").first
        wrap = page.locator(".icon-table-wrap").first  # the paper's table (the beyond-the-paper one follows)
        width = header.bounding_box()["width"]
        assert width <= 0.25 * 390, f"the row-header column takes {width:.0f} of 390 px"
        left = header.bounding_box()["x"]
        wrap.evaluate("el => el.scrollLeft = 300")
        page.wait_for_timeout(100)
        assert wrap.evaluate("el => el.scrollLeft") > 0, "the table does not scroll sideways"
        assert abs(header.bounding_box()["x"] - left) < 1, "the row header scrolled away"
        wrap.evaluate("el => el.scrollLeft = 0")
        light = page.evaluate(CONTRAST)
        _toggle_scheme(page, "slate")
        dark = page.evaluate(CONTRAST)
        page.screenshot(path=str(_shots() / "table-390-dark.png"), full_page=True)
        assert page.evaluate(BROKEN_WORDS) == []
        assert set(light) == set(dark) == set(STATUS_LABELS)
        for status in STATUS_LABELS:
            if status != "empty":
                assert light[status]["contrast"] >= 4.5 and dark[status]["contrast"] >= 4.5, (status, light[status], dark[status])
        cell = page.locator('#icon-table td.icon-cell[data-status="empty"]').first
        assert cell.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(31, 33, 41)"  # the dark --icon-empty-bg
        page.reload(wait_until="load")  # Material remembers the reader's choice
        assert page.evaluate("() => document.body.getAttribute('data-md-color-scheme')") == "slate"
        _toggle_scheme(page, "default")
        assert not external


def test_results_and_reference_pages_in_the_browser(browser_page):
    page, base, external = browser_page
    for name in ("results/reproduce.html", "results/bench.html", "reference/api.html", "reference/cli.html"):
        page.goto(base + name, wait_until="load")
        page.evaluate("() => Promise.all([...document.images].map(i => i.complete ? 0 : new Promise(r => i.onload = i.onerror = r)))")
        broken = page.evaluate("() => [...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
        assert not broken, f"{name}: images that do not load: {broken}"
        page.screenshot(path=str(_shots() / (name.replace("/", "-").replace(".html", ".png"))), full_page=True)
    page.goto(base + "methods/tsne.html", wait_until="load")
    _assert_math_rendered(page, "tsne")
    copy = page.locator("#cite ~ .highlight [data-md-type=copy]").first
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base.rstrip("/"))
    copy.click()
    page.wait_for_timeout(200)
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("@article{maaten2008visualizing,") and copied.rstrip().endswith("}"), copied
    page.screenshot(path=str(_shots() / "method-tsne.png"), full_page=True)
    assert not external


def test_katex_does_not_trust_catalog_tex(browser_page):
    """Even TeX the allow-list would refuse, handed to the site's math.js, makes no link, loads
    nothing and runs nothing (KaTeX renders with trust: false: the command's name in red), and
    a macro defined in one formula does not reach the next."""
    page, base, external = browser_page
    page.goto(base + "index.html", wait_until="load")
    page.evaluate("() => {" + DIALOG_HOOK + "}")
    found = page.evaluate(r"""() => {
      const box = document.createElement("div");
      const refused = ["\\href{javascript:alert(1)}{x}", "\\url{javascript:alert(2)}", "\\htmlClass{x}{y}",
                       "\\htmlData{onclick=alert(3)}{z}", "\\includegraphics{http://example.com/x.png}",
                       "\\htmlStyle{color:red}{w}"];
      for (const tex of refused.concat(["\\gdef\\leak{1}\\leak", "\\leak"])) {
        const span = document.createElement("span");
        span.className = "arithmatex";
        span.textContent = "$" + tex + "$";
        box.appendChild(span);
      }
      document.body.appendChild(box);
      window.iconRenderMath(box);
      const active = [...box.querySelectorAll("*")].filter(el => [...el.attributes].some(
        a => a.name.startsWith("on") || ["href", "src", "xlink:href"].includes(a.name)));
      const red = [...box.querySelectorAll(".katex-html .mord")].filter(el => el.style.color === "rgb(204, 0, 0)"
                                                                       && el.children.length === 0);
      return {rendered: box.querySelectorAll(".katex").length, links: box.querySelectorAll("a, img, iframe").length,
              active: active.length, refused: red.map(el => el.textContent)};
    }""")
    page.wait_for_timeout(200)
    assert found == {"rendered": 8, "links": 0, "active": 0,
                     "refused": ["\\href", "\\url", "\\htmlClass", "\\htmlData", "\\includegraphics", "\\htmlStyle",
                                 "\\leak"]}, found
    assert page.evaluate("() => window.iconDialogs") == []
    assert not external


# ----------------------------------------------------------------- hostile catalog and results

# Every way a page could tell us that a payload ran: a dialog (alert, confirm, prompt, print),
# a marker pushed by the payload, document.title changed by the payload.
DIALOG_HOOK = """
window.iconDialogs = [];
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = function (message) { window.iconDialogs.push(name + ": " + String(message)); };
}
"""
ACTIVE_DOM = """() => {
  const found = [];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      if (attr.name.toLowerCase().startsWith("on")) found.push("<" + el.tagName + " " + attr.name + ">");
    }
    if (["IFRAME", "FRAME", "OBJECT", "EMBED"].includes(el.tagName)) found.push("<" + el.tagName + ">");
  }
  for (const el of document.querySelectorAll("a[href], area[href], a[*|href]")) {  // SVG links too
    const href = el.getAttribute("href") || el.getAttributeNS("http://www.w3.org/1999/xlink", "href");
    if (!["http:", "https:"].includes(new URL(href, document.baseURI).protocol)) found.push("link " + href.slice(0, 60));
  }
  for (const el of document.querySelectorAll("[src]")) {
    const url = new URL(el.getAttribute("src"), document.baseURI);
    if (!["http:", "https:"].includes(url.protocol)) found.push("source " + el.getAttribute("src").slice(0, 60));
  }
  return found;
}"""


def _payload_kinds(markers) -> list[str]:
    """'field#k' markers with the payload k they came from."""
    from .hostile import PAYLOADS

    def described(marker: str) -> str:
        k = marker.rpartition("#")[2]
        return f"{marker} {PAYLOADS[int(k)].format(js='JS', m='M')[:32]!r}" if k.isdigit() and int(k) < len(PAYLOADS) else marker

    return sorted({described(m) for m in markers})


def _problems(page, dialogs: list, dom: bool = True) -> list[str]:
    """Everything on the page now that shows a payload ran (or could run)."""
    from .hostile import PWNED_TITLE

    state = page.evaluate("() => ({markers: window.iconPwned || [], dialogs: window.iconDialogs || [], title: document.title})")
    problems = []
    if state["markers"]:
        problems.append(f"payloads ran: {_payload_kinds(state['markers'])}")
    if state["dialogs"] or dialogs:
        problems.append(f"dialogs: {state['dialogs'] + dialogs}")
    if state["title"] == PWNED_TITLE:
        problems.append("document.title set by a payload")
    active = page.evaluate(ACTIVE_DOM) if dom else []
    if active:
        problems.append(f"active content in the DOM: {active[:5]}")
    dialogs.clear()
    return problems


def test_hostile_catalog_runs_no_script_in_the_browser(chromium, hostile_site):
    """Every page of the hostile site, the relation graph SVG on its own, and the search:
    no dialog, no marker, document.title untouched, no handler/frame/foreign link in the DOM."""
    from .hostile import HOSTILE_IDS, PAYLOADS

    out = hostile_site.out
    targets = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")) + ["assets/relation-graph.svg"]
    report, failures, dialogs = [], [], []

    def record(where: str, problems: list[str]) -> None:
        report.append(f"  {where:44s} {'FAIL ' + '; '.join(problems) if problems else 'ok'}")
        failures.extend(f"{where}: {problem}" for problem in problems)

    with _serve(chromium, out, DIALOG_HOOK) as (page, base, external):
        page.on("dialog", lambda d: (dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
        for target in targets:
            page.goto(base + target, wait_until="load")
            page.wait_for_timeout(150)  # let onerror/onload handlers of broken images fire
            record(target, _problems(page, dialogs, dom=target.endswith(".html")))
        # the search index holds every page's text: search for the payloads' own words
        page.goto(base + "index.html", wait_until="load")
        page.keyboard.press("/")
        page.keyboard.type("indented")  # a word of the multi-line payload, in every text field
        page.wait_for_selector(".md-search-result__item", timeout=15_000)
        hits = page.locator(".md-search-result__item").count()
        page.wait_for_timeout(300)
        page.screenshot(path=str(_shots() / "hostile-search.png"))
        record(f"search 'indented' ({hits} results)", _problems(page, dialogs))
        page.goto(base + f"methods/{HOSTILE_IDS[0]}.html", wait_until="load")
        page.screenshot(path=str(_shots() / "hostile-method.png"), full_page=True)
    summary = [f"hostile site: entries {', '.join(HOSTILE_IDS)}; every text field carries {len(PAYLOADS)} payloads "
               "(results/*.json and table.yaml too):",
               *(f"  payload {k}: {payload.format(js='JS', m='M')[:90]!r}" for k, payload in enumerate(PAYLOADS)),
               f"pages loaded: {len(targets)} + search", *report]
    (_shots() / "hostile-report.txt").write_text("\n".join(summary) + "\n")
    print("\n".join(summary))
    assert hits > 0, "the search found no hostile page (the check would see nothing)"
    assert not external, f"the hostile site fetched from the network: {external[:5]}"
    assert not failures, "\n".join(failures)
