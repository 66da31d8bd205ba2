"""Every symbol of a method page's formulas is defined in its Notation section (index sets,
parameters, Greek letters), no symbol stands for two things, and the notation slips of issue 15
stay fixed (t-SNE's per-row sigma_i, Doubly t-SNE's nu_x beside nu, t-CLIP's sets)."""

from __future__ import annotations

import html
import re

import pytest

GREEK = ("alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|iota|kappa|lambda|mu|nu|xi|pi|rho|sigma|tau|"
         "upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Pi|Sigma|Phi|Psi|Omega")
SYMBOL = re.compile(rf"\\mathcal\{{([A-Z])\}}|\\({GREEK})(?![A-Za-z])(?:_\{{([^{{}}]*)\}}|_([A-Za-z0-9]))?|\\mathrm\{{([A-Za-z_\\]+)\}}")
INDICES = set("ijklcuvme")  # the formulas' index letters: beta_i and beta_j are one symbol, nu_x is not nu


def _symbols(tex: str, parameters: set[str]) -> set[str]:
    """The symbols a formula uses that a reader must be told: calligraphic sets, Greek letters
    (a parameter's subscript kept: nu_x is not nu), and parameters written in roman."""
    out = set()
    for found in SYMBOL.finditer(tex):
        calligraphic, greek, braced, single, roman = found.groups()
        if calligraphic:
            out.add(f"\\mathcal{{{calligraphic}}}")
        elif greek:
            sub = (braced if braced is not None else single or "").replace(" ", "")
            index = set(sub.replace("\\cdot", "").replace(",", "")) <= INDICES
            out.add(f"\\{greek}" + (f"_{sub}" if sub and not index else ""))
        elif roman and roman.replace("\\_", "_") in parameters:
            out.add(f"\\mathrm{{{roman}}}")
    return out


def _page_math(page: str) -> tuple[list[str], list[str]]:
    """(TeX of every formula outside the Notation section, TeX of each Notation item's symbol)."""
    start = page.index('<h2 id="notation">')
    end = page.index("<h2", start + 1)
    notation = page[start:end]
    rest = page[:start] + page[end:]
    formulas = re.findall(r'<(?:div|span) class="arithmatex">(.*?)</(?:div|span)>', rest, re.S)
    defined = re.findall(r'<li><span class="arithmatex">(.*?)</span>', notation, re.S)
    return [html.unescape(f) for f in formulas], [html.unescape(d) for d in defined]


def _prose_tex(entry, catalog) -> set[str]:
    """The inline TeX of the prose on the entry's page: its own prose fields and the notes of the
    relations other entries state about it (each author explains those symbols in the sentence)."""
    from icon_registry.inline_tex import prose_fields, spans

    texts = [text for _, text in prose_fields(entry)]
    texts += [relation.note for other in catalog.entries for relation in other.relations
              if relation.target == entry.id and relation.note]
    return {re.sub(r"\s+", "", piece) for text in texts for is_tex, piece in spans(text) if is_tex}


def test_every_symbol_of_a_formula_is_defined_on_its_page(builtin_site):
    """Every formula the page renders from the entry (p, q, the loss, the claims, the proof),
    not the TeX an author writes inside a sentence of prose."""
    missing = []
    for entry in builtin_site.catalog.entries:
        page = (builtin_site.out / "methods" / f"{entry.id}.html").read_text(encoding="utf-8")
        formulas, defined = _page_math(page)
        prose = _prose_tex(entry, builtin_site.catalog)
        formulas = [f for f in formulas if re.sub(r"\s+", "", f.strip().strip("$")) not in prose]
        parameters = set(entry.parameters)
        used = set().union(*(_symbols(f, parameters) for f in formulas))
        known = set().union(*(_symbols(d, parameters) for d in defined))
        for symbol in sorted(used - known):
            missing.append(f"{entry.id}: {symbol}")
    assert not missing, "symbols used but not defined:\n" + "\n".join(missing)


def test_no_symbol_stands_for_two_things(builtin_site):
    for entry in builtin_site.catalog.entries:
        page = (builtin_site.out / "methods" / f"{entry.id}.html").read_text(encoding="utf-8")
        _, defined = _page_math(page)
        heads = [d.strip("$").split(" = ")[0].replace(" ", "") for d in defined]
        assert len(heads) == len(set(heads)), f"{entry.id}: {sorted(h for h in heads if heads.count(h) > 1)}"


def _formulas_of(builtin_site, entry_id: str, section: str) -> str:
    page = (builtin_site.out / "methods" / f"{entry_id}.html").read_text(encoding="utf-8")
    start = page.index(f'<h2 id="{section}">')
    return html.unescape(page[start:page.index("<h2", start + 1)])


def test_the_slips_of_issue_15(builtin_site):
    tsne_p = _formulas_of(builtin_site, "tsne", "supervisory-distribution-p")
    assert r"\sigma_i^2" in tsne_p  # one bandwidth per row, calibrated to the perplexity
    doubly_p = _formulas_of(builtin_site, "doubly_tsne", "supervisory-distribution-p")
    doubly_q = _formulas_of(builtin_site, "doubly_tsne", "learned-distribution-q")
    assert r"\nu_{x}" in doubly_p and r"\nu_{x}" not in doubly_q and r"{\nu}" in doubly_q
    tclip = _formulas_of(builtin_site, "tclip", "notation")
    assert r"\mathcal{X}(i)" in tclip and r"\mathcal{M}(i)" in tclip
    for entry in builtin_site.catalog.entries:
        page = (builtin_site.out / "methods" / f"{entry.id}.html").read_text(encoding="utf-8")
        assert r"\text{parameter" not in page and r"\text{with" not in page, entry.id
        assert "Spec(" not in page, f"{entry.id}: a grammar object's repr in the notation"


@pytest.mark.parametrize("tex, expected", [
    (r"\left(1 + \frac{d}{\nu_{x}}\right)^{-\frac{\nu_{x}+1}{2}}", {r"\nu_x"}),
    (r"\exp(-\beta_{j} d) + \sigma_i + \mathcal{X}(i)", {r"\beta", r"\sigma", r"\mathcal{X}"}),
    (r"\mathrm{perplexity} + \mathrm{KL}", {r"\mathrm{perplexity}"}),
])
def test_symbol_extraction(tex, expected):
    assert _symbols(tex, {"perplexity"}) == expected
