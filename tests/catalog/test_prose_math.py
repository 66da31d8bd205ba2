"""Math in catalog prose is inline TeX ($\\sigma \\to \\infty$), never plain-text math
(sigma -> infinity, sum_{k != i}, d2_ij), and every span uses only allowed commands."""

from __future__ import annotations

import re

import pytest

from icon_registry.inline_tex import problems, prose_fields, spans, to_text

#: plain-text math that a prose field should write as TeX
PLAIN_MATH = re.compile(
    r"\b(sum|mean|min|max|log|exp)_|_\{|\^|->|!=|<=|>=|\|\||\bd2\b|\b1\[|\(j\|i\)"
    r"|\b(sigma|tau|nu|alpha|beta|phi|lambda|mu|gamma)\b|\b[a-zA-Z]+_(i|j|ij|ik|k|c|ic|jc)\b"
)


def _catalog_prose():
    from icon_registry.catalog import load_catalog

    catalog = load_catalog(use_env=False)
    out = [(f"{e.id}: {path}", text) for e in catalog.entries() for path, text in prose_fields(e)]
    for axis in list(catalog.table.rows) + list(catalog.table.columns):
        out += [(f"table.yaml: {axis.id}.label", axis.label), (f"table.yaml: {axis.id}.description", axis.description)]
    return out


def test_catalog_prose_writes_math_as_tex():
    found = []
    for where, text in _catalog_prose():
        plain = "".join(piece for is_tex, piece in spans(text) if not is_tex)
        plain = re.sub(r"`[^`]*`", "", plain)  # code names parameters and fields as written in YAML
        found += [f"{where}: ...{plain[max(0, m.start() - 25):m.end() + 25]}..." for m in PLAIN_MATH.finditer(plain)]
        found += [f"{where}: {problem}" for problem in problems(text)]
    assert not found, "\n".join(found)


def test_table_labels_are_unicode():
    labels = dict(_catalog_prose())
    assert labels["table.yaml: gaussian_sigma_inf.label"] == "Gaussian, σ → ∞"
    assert labels["table.yaml: gaussian_sigma_zero.label"] == "Gaussian, σ → 0"


@pytest.mark.parametrize("text, expected", [
    (r"$\sigma \to \infty$", [(True, r"\sigma \to \infty")]),
    ("costs $5 and $10", [(False, "costs $5 and $10")]),
    (r"a \$ b $x$", [(False, r"a \$ b "), (True, "x")]),
    ("$ x$ and $x $", [(False, "$ x$ and $x $")]),
    ("$a$b$", [(True, "a"), (False, "b$")]),
])
def test_spans(text, expected):
    assert list(spans(text)) == expected


@pytest.mark.parametrize("tex", [r"\href{javascript:alert(1)}{x}", r"\url{javascript:x}", r"\htmlClass{x}{y}",
                                 r"\includegraphics{x.png}", r"\def\x{y}", r"\gdef\x{y}", r"\color{red}{x}",
                                 r"\newcommand{\x}{y}", r"\htmlData{a=b}{x}", r"\mathrm{x"])
def test_what_is_not_allowed(tex):
    assert problems(f"see ${tex}$")
    assert to_text(f"${tex}$") == f"${tex}$"  # shown as written, not interpreted


def test_to_text():
    assert to_text(r"$\sigma_i^2 \to \infty$, $\mathcal{X}(i)$, $\lVert z_i - z_j \rVert$") == "σ_i² → ∞, 𝒳(i), ‖z_i - z_j‖"
    assert to_text(r"$\frac{a+b}{2n}$ and $(1 + d^2/\nu)^{-(\nu+1)/2}$") == "(a+b)/(2n) and (1 + d²/ν)^(-(ν+1)/2)"


#: how notes used to talk to ourselves rather than to readers
INTERNAL = re.compile(r"test environment|not importable|recalled from memory|our (spec|recollection|reading|environment)"
                      r"|should be checked|\bTODO\b|\bFIXME\b|np\.(int|float)\d+|array\(", re.I)


def test_catalog_prose_speaks_to_readers():
    found = [f"{where}: {m.group(0)!r}" for where, text in _catalog_prose() for m in INTERNAL.finditer(text)]
    assert not found, "\n".join(found)
