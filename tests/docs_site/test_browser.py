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
def _serve(browser, folder: Path, init_script: str = ""):
    """(page, base URL, requests that left the local server) for a built site, in a fresh context."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
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
    chips = page.locator("#icon-table a.icon-method")
    shown = {chips.nth(k).get_attribute("data-entry") for k in range(chips.count())}
    expected = {e.id for e in builtin_site.catalog.entries} - {e.id for e in builtin_site.catalog.off_table()}
    assert shown == expected
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
  for (const el of document.querySelectorAll("a[href], area[href]")) {
    if (!["http:", "https:"].includes(el.protocol)) found.push("link " + el.getAttribute("href").slice(0, 60));
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
