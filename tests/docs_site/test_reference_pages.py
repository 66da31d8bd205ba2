"""The generated reference pages: the formula language (from the grammar) and the entry format
(from the schema), in the site's navigation."""

from __future__ import annotations

import html
import re

from icon_registry.formula import grammar as G


def _text(path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def test_formula_language_page_lists_every_name_and_limit(builtin_site):
    page = builtin_site.out / "reference" / "formula.html"
    text = _text(page)
    names = [*G.FUNCTIONS, *G.REDUCTIONS, *G.SPECIAL, *G.SETS, *G.ARRAYS, *G.INDEX_FUNCTIONS, *G.BUILTINS]
    missing = [name for name in names if name not in text]
    assert not missing, missing
    for spec in G.SETS.values():
        assert spec.example in text
    assert "anchors_with(S)" in text and "loss.where" in text
    for spec in G.LIMITS.values():
        assert f"at most {spec.value:,}" in text


def test_entry_format_page_explains_what_users_asked(builtin_site):
    text = _text(builtin_site.out / "reference" / "entries.html")
    for words in ("constant_name", "gap: an empty cell", "new: a method of your own",
                  "a catalog root: DIR/methods/<id>.yaml", "No .yaml file is skipped in silence",
                  "decomposition", "bound"):
        assert words in text, words


def test_reference_pages_are_in_the_navigation(builtin_site):
    index = (builtin_site.out / "index.html").read_text(encoding="utf-8")
    assert 'href="reference/formula.html"' in index and 'href="reference/entries.html"' in index
