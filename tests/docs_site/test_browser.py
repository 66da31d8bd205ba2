"""The built site in a real browser: headless Chromium (Debian's `chromium`) driven by
playwright's Python client with executable_path=/usr/bin/chromium (no browser download).

Checks that the table shows every entry, that a click on a cell lands on the method page,
that the filters work, and that formulas are rendered by the vendored KaTeX (no raw TeX
left in the visible text). Screenshots go to $ICON_SCREENSHOT_DIR (default: a tmp dir).
"""

from __future__ import annotations

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
def browser_page(builtin_site):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
    executable = _chromium()
    handler = functools.partial(_Quiet, directory=str(builtin_site.out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, timeout=60_000)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            external = []
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) and not r.url.startswith("data:") else None)
            yield page, base, external
            browser.close()
    finally:
        server.shutdown()


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
