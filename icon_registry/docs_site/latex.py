"""LaTeX for p and q trees, built from each kernel's ``summary`` and the distribution nodes.

The result is a list of display lines: the top distribution first, then a line for every inner
distribution (p', p'', ...) and kernel; what each symbol means is the page's Notation section
(``notation``). Nothing here evaluates anything.
"""

from __future__ import annotations

import functools
import re

from icon_registry.distributions import ClusterAssignments, MixUniform, Normalize, Propagate, Symmetrize
from icon_registry.kernels import AnyOf, ClassPool, Kernel, Product

SUPPORT_LATEX = {
    "others": r"S(i) = \{k : k \neq i\}",
    "all": r"S(i) = \{k : 1 \le k \le n\}\ \text{(the anchor included)}",
    "other_modality": r"S(i) = \{k : m_k \neq m_i\}\ \text{(the other modality)}",
    "candidates": r"S(i) = \mathrm{candidates}(i)\ \text{(given per anchor)}",
    "prototypes": r"S(i) = \{w_c : 1 \le c \le C\}\ \text{(class prototypes)}",
    "outputs": r"S(i) = \{c : 1 \le c \le K\}\ \text{(the outputs of } z\text{)}",
    "bank": r"S(i) = \{b_m : 1 \le m \le M\}\ \text{(the bank passed in the call)}",
    "key_and_bank": r"S(i) = \{k_i\} \cup \{b_m : 1 \le m \le M\}\ \text{(own key and bank)}",
    "class_pools": r"S(i) = \{c : \exists\, j \neq i,\ y_j = c\}\ \text{(classes of the other items)}",
}

SUPPORT_WORDS = {
    "others": "every other item of the batch (k ≠ i)",
    "all": "every item of the batch, the anchor included",
    "other_modality": "the items of the other modality",
    "candidates": "the candidates given per anchor (e.g. a positive and a negative)",
    "prototypes": "the class prototypes w_c",
    "outputs": "the K outputs of z (logits of a softmax head)",
    "bank": "the rows of the bank passed in the call",
    "key_and_bank": "the anchor's own key, then the rows of the bank",
    "class_pools": "the classes that some other item of the batch has",
}

#: the symbol each kernel or distribution field has in the kernels' formulas (``summary``)
FIELD_SYMBOLS = {
    "sigma": r"\sigma", "temperature": r"\tau", "nu": r"\nu", "scale": "s", "power": "n", "k": "k",
    "alpha": r"\alpha", "steps": "k", "perplexity": r"\mathrm{Perp}",
}


@functools.lru_cache(maxsize=None)
def parameter_latex(name: str) -> str:
    """An entry parameter's symbol, as the formula language typesets it (``nu_x`` -> ``\\nu_{x}``):
    the same on every line of a page as in its published loss."""
    from icon_registry.formula import parse, to_latex

    try:
        return to_latex(parse(name, parameters={name}))
    except Exception:  # noqa: BLE001 - not a name the formula language accepts
        return r"\mathrm{%s}" % name.replace("_", r"\_")


def value_latex(value) -> str:
    """A kernel or distribution field: a number, or an entry parameter (shown as its symbol)."""
    if isinstance(value, bool):
        return r"\text{%s}" % value
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return parameter_latex(str(value))


def _replace_symbol(tex: str, symbol: str, replacement: str) -> str:
    """``symbol`` (a command such as ``\\nu`` or a single letter) replaced where it stands alone."""
    if symbol.startswith("\\"):
        pattern = re.escape(symbol) + r"(?![A-Za-z])"
    else:
        pattern = r"(?<![\\A-Za-z])" + re.escape(symbol) + r"(?![A-Za-z])"
    return re.sub(pattern, lambda _: replacement, tex)


def fixed_fields(kernel: Kernel) -> list[tuple[str, object]]:
    """(field, number) of the kernel's fields fixed by the entry that its formula shows."""
    summary = kernel.summary_tex()
    return [(name, value) for name, value in kernel_fields(kernel)
            if name in FIELD_SYMBOLS and name != "perplexity" and isinstance(value, (int, float))
            and not isinstance(value, bool) and _replace_symbol(summary, FIELD_SYMBOLS[name], "\x00") != summary]


def side_symbols(p, q) -> dict[str, dict[str, str]]:
    """{"p": {symbol: shown}, "q": ...} for the fixed fields of each side's kernels: a symbol
    that the other side uses for something else (another value, or a parameter) gets the side
    as subscript (s_p = 2 beside s_q = 1), so that one symbol never means two things."""
    fixed = {letter: {FIELD_SYMBOLS[f]: v for k in kernels_of(node) for f, v in fixed_fields(k)}
             for letter, node in (("p", p), ("q", q))}
    parameters = {parameter_latex(v) for node in (p, q) for k in kernels_of(node) for f, v in kernel_fields(k)
                  if f in FIELD_SYMBOLS and isinstance(v, str)}
    out: dict[str, dict[str, str]] = {}
    for letter, other in (("p", "q"), ("q", "p")):
        out[letter] = {}
        for symbol, value in fixed[letter].items():
            clash = symbol in parameters or fixed[other].get(symbol, value) != value
            out[letter][symbol] = f"{symbol}_{letter}" if clash else symbol
    return out


def kernel_latex(kernel: Kernel, candidate: str = "v_j", renames: dict[str, str] | None = None) -> str:
    """The kernel's ``summary`` with the generic v_i, v_j replaced by x, z or prototypes, a field
    set to a parameter written with that parameter's symbol, a bandwidth calibrated per row
    (perplexity) written sigma_i, and a fixed field's symbol renamed as ``renames`` says."""
    text = kernel.summary_tex() or r"w(i, j)"
    space = getattr(kernel, "space", None)
    anchor = {"x": "x_i", "z": "z_i"}.get(space, "v_i")
    if candidate == "v_j":
        candidate = {"x": "x_j", "z": "z_j"}.get(space, "v_j")
    text = text.replace("v_i", anchor).replace("v_j", candidate)
    if isinstance(kernel, AnyOf):
        parts = r",\ ".join(kernel_latex(k, candidate, renames) for k in kernel.kernels)
        text = r"\max\left(%s\right)" % parts
    if isinstance(kernel, Product):
        text = r" \cdot ".join(kernel_latex(k, candidate, renames) for k in kernel.kernels)
    if isinstance(kernel, ClassPool):
        text = r"\sum_{j \neq i,\, y_j = c} %s" % kernel_latex(kernel.of, renames=renames)
    for name, value in kernel_fields(kernel):
        if isinstance(value, str) and not isinstance(value, bool) and name in FIELD_SYMBOLS and name != "perplexity":
            text = _replace_symbol(text, FIELD_SYMBOLS[name], parameter_latex(value))
    if getattr(kernel, "perplexity", None) is not None:
        text = _replace_symbol(text, r"\sigma", r"\sigma_i")
    for name, _ in fixed_fields(kernel):
        symbol = FIELD_SYMBOLS[name]
        if (renames or {}).get(symbol, symbol) != symbol:
            text = _replace_symbol(text, symbol, renames[symbol])
    return text


def kernel_fields(kernel: Kernel) -> list[tuple[str, str]]:
    """(field, value) pairs of a kernel, without ``kind`` and its inner kernels."""
    out = []
    for name in type(kernel).model_fields:
        if name in ("kind", "kernels", "of"):
            continue
        value = getattr(kernel, name)
        if value is None:
            continue
        out.append((name, value))
    return out


def kernels_of(node) -> list[Kernel]:
    """Every kernel in a p/q tree (inner distributions and combined kernels included)."""
    from icon_registry.distributions.base import Distribution

    found = [node] if isinstance(node, Kernel) else []
    for value in vars(node).values():
        for child in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(child, (Kernel, Distribution)):
                found += kernels_of(child)
    return found


def distribution_lines(node, letter: str = "p", support: str = "S(i)", renames: dict[str, str] | None = None) -> list[str]:
    """Display-math lines for a distribution tree rooted at ``node``, named ``letter``, whose
    support is written ``support`` (and fixed symbols renamed, ``side_symbols``)."""
    lines: list[str] = []
    _emit(node, letter, lines, renames or {})
    return [line.replace("S(i)", support) for line in lines]


def support_symbols(p, q) -> dict[str, str]:
    """{"p": symbol, "q": symbol} of the two supports: S(i) when they are the same set, else
    S_p(i) and S_q(i) (one symbol never stands for two sets on a page)."""
    if support_of(p) == support_of(q):
        return {"p": "S(i)", "q": "S(i)"}
    return {"p": "S_p(i)", "q": "S_q(i)"}


def _cond(letter: str) -> str:
    return f"{letter}(j \\mid i)"


def _emit(node, name: str, lines: list[str], renames: dict[str, str]) -> None:
    inner = name + "'"
    if isinstance(node, Normalize):
        candidate = {"prototypes": "w_j", "bank": "b_j", "key_and_bank": "b_j"}.get(node.support, "v_j")
        w = kernel_latex(node.kernel, candidate, renames)
        if node.over == "joint":
            lines.append(r"%s_{ij} = \frac{w(i,j)}{\sum_{k \neq l} w(k,l)}" % name)
        else:
            lines.append(r"%s = \frac{w(i,j)}{\sum_{k \in S(i)} w(i,k)}, \quad j \in S(i)" % _cond(name))
        lines.append(r"w(i,j) = %s" % w)
    elif isinstance(node, MixUniform):
        lines.append(r"%s = (1 - %s)\, %s + \frac{%s}{|S(i)|}" % (_cond(name), value_latex(node.alpha), _cond(inner), value_latex(node.alpha)))
        _emit(node.of, inner, lines, renames)
    elif isinstance(node, Propagate):
        steps = value_latex(node.steps)
        if node.mode == "reachable":
            lines.append(r"%s = \frac{\mathbb{1}[j \text{ reachable from } i \text{ in } \le %s \text{ steps of } %s]}{\#\text{reachable}}" % (_cond(name), steps, inner))
        else:
            lines.append(r"%s \propto \sum_{s=1}^{%s} \left(P'^{\,s}\right)_{ij}, \quad P'_{ij} = %s" % (_cond(name), steps, _cond(inner)))
        _emit(node.of, inner, lines, renames)
    elif isinstance(node, Symmetrize):
        lines.append(r"%s_{ij} = \frac{%s + %s}{2n}" % (name, _cond(inner), f"{inner}(i \\mid j)"))
        _emit(node.of, inner, lines, renames)
    elif isinstance(node, ClusterAssignments):
        lines.append(r"%s = \sum_{c} \frac{\phi_{ic}\, \phi_{jc}}{\sum_{k} \phi_{kc}}, \quad \phi_{i\cdot} = \mathrm{softmax}(z_i / %s)" % (_cond(name), value_latex(node.temperature)))
    else:  # a node kind added later: still say something true
        lines.append(r"%s:\ \text{%s}" % (_cond(name), getattr(node, "kind", type(node).__name__)))


def support_of(node) -> str:
    try:
        return node.support_kind()
    except Exception:  # noqa: BLE001 - a node without a support
        return "others"
