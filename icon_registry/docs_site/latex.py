"""LaTeX for p and q trees, built from each kernel's ``summary`` and the distribution nodes.

The result is a list of display lines: the top distribution first, then a "where" line for
every inner distribution (p', p'', ...) and kernel. Nothing here evaluates anything.
"""

from __future__ import annotations

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

PARAM_SYMBOLS = {
    "sigma": r"\sigma", "tau": r"\tau", "nu": r"\nu", "alpha": r"\alpha", "temperature": r"\tau",
    "perplexity": r"\mathrm{Perp}", "scale": "s", "power": "n", "k": "k", "steps": "k", "margin": "m", "beta": r"\beta",
    "gamma": r"\gamma", "lam": r"\lambda", "lambda_": r"\lambda", "eps": r"\epsilon",
}


def value_latex(value) -> str:
    """A kernel field: a number, or the name of an entry parameter (shown as its symbol)."""
    if isinstance(value, bool):
        return r"\text{%s}" % value
    if isinstance(value, (int, float)):
        return f"{value:g}"
    text = str(value)
    if text in PARAM_SYMBOLS:
        return PARAM_SYMBOLS[text]
    return r"\mathrm{%s}" % text.replace("_", r"\_")


def kernel_latex(kernel: Kernel, candidate: str = "v_j") -> str:
    """The kernel's ``summary`` with the generic v_i, v_j replaced by x, z or prototypes."""
    text = type(kernel).summary or r"w(i, j)"
    space = getattr(kernel, "space", None)
    anchor = {"x": "x_i", "z": "z_i"}.get(space, "v_i")
    if candidate == "v_j":
        candidate = {"x": "x_j", "z": "z_j"}.get(space, "v_j")
    text = text.replace("v_i", anchor).replace("v_j", candidate)
    if isinstance(kernel, AnyOf):
        parts = r",\ ".join(kernel_latex(k, candidate) for k in kernel.kernels)
        text = r"\max\left(%s\right)" % parts
    if isinstance(kernel, Product):
        text = r" \cdot ".join(kernel_latex(k, candidate) for k in kernel.kernels)
    if isinstance(kernel, ClassPool):
        text = r"\sum_{j \neq i,\, y_j = c} %s" % kernel_latex(kernel.of)
    return text


def kernel_fields(kernel: Kernel) -> list[tuple[str, str]]:
    """(field, value) pairs of a kernel, for the "where" line, without ``kind``."""
    out = []
    for name in type(kernel).model_fields:
        if name in ("kind", "kernels", "of"):
            continue
        value = getattr(kernel, name)
        if value is None:
            continue
        out.append((name, value))
    return out


def _symbol(name: str) -> str:
    return PARAM_SYMBOLS.get(name, r"\mathrm{%s}" % name.replace("_", r"\_"))


def _fields_text(kernel: Kernel) -> str:
    parts = []
    params = getattr(type(kernel), "param_fields", ())
    for name, value in kernel_fields(kernel):
        if isinstance(value, str) and name in params:
            shown = r"\text{parameter } \texttt{%s}" % value.replace("_", r"\_")
        elif isinstance(value, str):
            shown = r"\text{%s}" % value
        else:
            shown = value_latex(value)
        parts.append(f"{_symbol(name)} = {shown}")
    return r",\ ".join(parts)


def distribution_lines(node, letter: str = "p") -> list[str]:
    """Display-math lines for a distribution tree rooted at ``node``, named ``letter``."""
    lines: list[str] = []
    _emit(node, letter, lines)
    return lines


def _cond(letter: str) -> str:
    return f"{letter}(j \\mid i)"


def _emit(node, name: str, lines: list[str]) -> None:
    inner = name + "'"
    if isinstance(node, Normalize):
        candidate = {"prototypes": "w_j", "bank": "b_j", "key_and_bank": "b_j"}.get(node.support, "v_j")
        w = kernel_latex(node.kernel, candidate)
        fields = _fields_text(node.kernel)
        if node.over == "joint":
            lines.append(r"%s_{ij} = \frac{w(i,j)}{\sum_{k \neq l} w(k,l)}" % name)
        else:
            lines.append(r"%s = \frac{w(i,j)}{\sum_{k \in S(i)} w(i,k)}, \quad j \in S(i)" % _cond(name))
        lines.append(r"w(i,j) = %s" % w)
        if fields:
            lines.append(r"\text{with } %s" % fields)
    elif isinstance(node, MixUniform):
        lines.append(r"%s = (1 - %s)\, %s + \frac{%s}{|S(i)|}" % (_cond(name), value_latex(node.alpha), _cond(inner), value_latex(node.alpha)))
        _emit(node.of, inner, lines)
    elif isinstance(node, Propagate):
        steps = value_latex(node.steps)
        if node.mode == "reachable":
            lines.append(r"%s = \frac{\mathbb{1}[j \text{ reachable from } i \text{ in } \le %s \text{ steps of } %s]}{\#\text{reachable}}" % (_cond(name), steps, inner))
        else:
            lines.append(r"%s \propto \sum_{s=1}^{%s} \left(P'^{\,s}\right)_{ij}, \quad P'_{ij} = %s" % (_cond(name), steps, _cond(inner)))
        _emit(node.of, inner, lines)
    elif isinstance(node, Symmetrize):
        lines.append(r"%s_{ij} = \frac{%s + %s}{2n}" % (name, _cond(inner), f"{inner}(i \\mid j)"))
        _emit(node.of, inner, lines)
    elif isinstance(node, ClusterAssignments):
        lines.append(r"%s = \sum_{c} \frac{\phi_{ic}\, \phi_{jc}}{\sum_{k} \phi_{kc}}, \quad \phi_{i\cdot} = \mathrm{softmax}(z_i / %s)" % (_cond(name), value_latex(node.temperature)))
    else:  # a node kind added later: still say something true
        lines.append(r"%s:\ \text{%s}" % (_cond(name), getattr(node, "kind", type(node).__name__)))


def support_of(node) -> str:
    try:
        return node.support_kind()
    except Exception:  # noqa: BLE001 - a node without a support
        return "others"
