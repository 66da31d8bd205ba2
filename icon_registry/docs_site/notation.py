"""The Notation section of a method page: every symbol its formulas use, with its meaning.

Symbols come from the entry itself: the kernels and distributions of p and q (each kernel's
fields: a parameter's symbol, a fixed value, a per-row bandwidth), the index sets, arrays and
parameters of its formulas (``loss.formula`` and the claims' formulas, through the formula
language's own grammar), and the supports. A parameter is written everywhere with the symbol
the formula language gives it (``nu_x`` -> ν_x), so two parameters never share one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from icon_registry.docs_site.escape import code, inline
from icon_registry.docs_site.latex import (FIELD_SYMBOLS, SUPPORT_LATEX, fixed_fields, kernels_of, parameter_latex,
                                           side_symbols, support_of, support_symbols, value_latex)

#: symbols a kernel's formula (``summary``) uses besides its fields, by kernel kind
KERNEL_SYMBOLS = {
    "same_id": [(r"\mathrm{id}_i", "the source instance of item i (views of one instance share it)")],
    "same_label": [("y_i", "the class label of item i")],
    "identity": [(r"\mathbb{1}[\cdot]", "1 if the condition holds, else 0")],
    "knn": [(r"\mathrm{kNN}(i)", "the k nearest neighbours of item i")],
    "candidate_position": [(r"\mathrm{neighbors}_{i,0}", "the first candidate given for anchor i (its positive)")],
    "graph_weights": [("A_{ij}", "the weight of the edge between i and j in the given graph")],
    "degree_softmax": [("A_{ij}", "the weight of the edge between i and j in the given graph"),
                       ("d_j", r"the degree of node j, $\sum_k A_{jk}$")],
    "any_of": [(r"\mathbb{1}_k(i, j)", "the k-th indicator kernel listed")],
}
#: what a kernel's field stands for, when the entry fixes it to a number
FIELD_MEANINGS = {
    "sigma": "the kernel's bandwidth", "temperature": "the temperature", "nu": "the Student-t degrees of freedom",
    "scale": "the scale of the squared distance", "power": "the power of the distance", "k": "the number of neighbours",
}
FORMULA_SET_NAMES = {"anchors": None, "all": None, "classes": None, "clusters": None, "anchors_with": None}


@dataclass
class Symbol:
    tex: str  # LaTeX, without $
    meaning: str  # Markdown (already escaped)


def _parameter_meaning(entry, name: str) -> str:
    spec = entry.parameters.get(name)
    if spec is None:
        return f"the parameter {code(name)}"
    return f"the parameter {code(name)} (default {spec.default:g}): {inline(spec.description, math=True)}"


def _node_symbols(entry, node, out: list[Symbol], renames: dict[str, str]) -> None:
    """Symbols of one p/q tree: its kernels' fields and symbols, its distributions' fields."""
    from icon_registry.distributions import ClusterAssignments, MixUniform, Propagate

    for kernel in kernels_of(node):
        for tex, meaning in KERNEL_SYMBOLS.get(kernel.kind, []):
            out.append(Symbol(tex, inline(meaning, math=True)))
        space = getattr(kernel, "space", None)
        if space in ("x", "z"):
            out.append(Symbol(f"{space}_i", "the input features of item i" if space == "x" else
                              "the learned representation of item i, $z_i = f(x_i)$"))
        if getattr(kernel, "cosine", False):
            out.append(Symbol(r"\langle \cdot, \cdot \rangle" if kernel.kind == "gaussian_dot" else r"\lVert \cdot \rVert",
                              "on vectors normalized to unit length (cosine similarity)"))
        if getattr(kernel, "perplexity", None) is not None:
            perplexity = kernel.perplexity
            target = parameter_latex(perplexity) if isinstance(perplexity, str) else value_latex(perplexity)
            out.append(Symbol(r"\sigma_i", f"the bandwidth of row i, calibrated so that p(·|i) has perplexity ${target}$"))
            if isinstance(perplexity, str):
                out.append(Symbol(target, _parameter_meaning(entry, perplexity)))
        for field, value in _fields(kernel):
            if isinstance(value, str):
                out.append(Symbol(parameter_latex(value), _parameter_meaning(entry, value)))
        for field, value in fixed_fields(kernel):
            symbol = renames.get(FIELD_SYMBOLS[field], FIELD_SYMBOLS[field])
            meaning = FIELD_MEANINGS.get(field, field.replace("_", " "))
            out.append(Symbol(f"{symbol} = {value_latex(value)}", inline(meaning + " (fixed by the entry)")))
    for inner in _distributions_of(node):
        if isinstance(inner, MixUniform):
            out += _field_symbols(entry, "alpha", inner.alpha)
        elif isinstance(inner, Propagate):
            out += _field_symbols(entry, "steps", inner.steps)
        elif isinstance(inner, ClusterAssignments):
            out.append(Symbol(r"\phi_{ic}", r"the soft assignment of item i to cluster c, a softmax of the cluster head"))
            out += _field_symbols(entry, "temperature", inner.temperature)


def _fields(kernel) -> list[tuple[str, object]]:
    return [(name, getattr(kernel, name)) for name in type(kernel).model_fields
            if name in FIELD_SYMBOLS and getattr(kernel, name) is not None and name != "perplexity"]


def _field_symbols(entry, field: str, value) -> list[Symbol]:
    """A distribution's field: a parameter's symbol (a number is written as itself in the formula)."""
    if isinstance(value, str):
        return [Symbol(parameter_latex(value), _parameter_meaning(entry, value))]
    return []


def _distributions_of(node):
    yield node
    inner = getattr(node, "of", None)
    if inner is not None:
        yield from _distributions_of(inner)


def _formula_symbols(entry, formulas) -> list[Symbol]:
    """Sets, arrays, parameters and n of the parsed formulas, from the formula grammar."""
    from icon_registry.formula import grammar as G
    from icon_registry.formula import nodes as N
    from icon_registry.formula.latex import _ARRAY_LATEX

    out = []
    for formula in formulas:
        for node in N.walk(getattr(formula, "root", formula)):
            if isinstance(node, N.SetRef):
                names = [node.name] + ([node.of] if node.of else [])
                for name in names:
                    spec = G.SETS.get(name)
                    if spec is None or not spec.takes_item or name in FORMULA_SET_NAMES:
                        continue
                    tex = spec.latex.format(arg="i")
                    tex = tex[len(r"\in "):] if tex.startswith(r"\in ") else f"k {tex}" if name == "others" else tex
                    out.append(Symbol(tex, inline(_unicode(spec.meaning))))
            elif isinstance(node, (N.VectorAt, N.ScalarAt, N.MatrixAt, N.IndexAt)):
                spec = G.ARRAYS.get(node.array)
                if spec is not None:
                    index = "{ic}" if spec.kind == "matrix" and node.array == "phi" else "{ij}" if spec.kind == "matrix" else "i"
                    tex = f"{_ARRAY_LATEX.get(node.array, node.array)}_{index}"
                    out.append(Symbol(tex, inline(_unicode(spec.meaning))))
            elif isinstance(node, N.Param):
                out.append(Symbol(parameter_latex(node.name), _parameter_meaning(entry, node.name)))
            elif isinstance(node, N.Builtin) and node.name in G.BUILTINS:
                out.append(Symbol(node.name, inline(G.BUILTINS[node.name].meaning)))
    return out


def _unicode(text: str) -> str:
    """The formula grammar's plain-text meanings with their operators as symbols."""
    for plain, symbol in ((" != ", " ≠ "), (" -> ", " → "), (" >= ", " ≥ "), (" <= ", " ≤ ")):
        text = text.replace(plain, symbol)
    return text


#: the symbol of the I-Con objective (the KL sum on every method page): not the published loss,
#: which may be its mean, differ from it by a constant or be a limit of it (the page's claims)
ICON_OBJECTIVE = r"\mathcal{L}_{\text{I-Con}}"


def entry_notation(entry, formulas=()) -> list[Symbol]:
    """Every symbol of the page's formulas, once each, in the order a reader meets them."""
    symbols = [Symbol(ICON_OBJECTIVE, inline("the I-Con objective, the KL divergence between p and q written above; "
                                             "not necessarily the published loss, which may be its mean, differ from it "
                                             "by a constant or be a limit of it (the claims below say how the two relate)"))]
    names = support_symbols(entry.p, entry.q)
    for letter, node in (("p", entry.p), ("q", entry.q)):
        support = support_of(node)
        if support in SUPPORT_LATEX:
            definition = SUPPORT_LATEX[support].replace("S(i)", names[letter])
            whose = "p and q" if names["p"] == names["q"] else letter
            symbols.append(Symbol(names[letter], inline(f"the support of {whose}: ") + f"${definition}$"))
    renames = side_symbols(entry.p, entry.q)
    for letter, node in (("p", entry.p), ("q", entry.q)):
        _node_symbols(entry, node, symbols, renames[letter])
    symbols += _formula_symbols(entry, formulas)
    if entry.limit is not None:
        symbols.append(Symbol(parameter_latex(entry.limit.parameter), _parameter_meaning(entry, entry.limit.parameter)))
    seen: dict[str, Symbol] = {}
    for symbol in symbols:
        key = symbol.tex.replace(" ", "")
        if key not in seen:
            seen[key] = symbol
    return list(seen.values())


def notation_section(entry, formulas=()) -> list[str]:
    """Markdown lines: a list of "symbol: meaning"."""
    lines = ["## Notation", ""]
    for symbol in entry_notation(entry, formulas):
        lines.append(f'- <span class="arithmatex">{inline("$" + symbol.tex + "$")}</span>: {symbol.meaning}')
    return lines + [""]


def parsed_formulas(entry) -> list:
    """The entry's formulas that parse: loss.formula and the claims' formula fields."""
    sources = [entry.loss.formula]
    for claim in entry.claims:
        for name in ("constant", "scale", "offset", "equals", "factor", "cost", "extra"):
            value = getattr(claim, name, None)
            if isinstance(value, str):
                sources.append(value)
    out = []
    for source in sources:
        formula = _try_parse(source, entry)
        if formula is not None:
            out.append(formula)
    return out


def _try_parse(source: str, entry) -> Optional[object]:
    from icon_registry.static_check import parse_entry_formula

    try:
        return parse_entry_formula(entry, source)
    except Exception:  # noqa: BLE001 - the page shows the formula's source and its problem instead
        return None
