"""Render our AST: ``to_latex`` (what the docs show) and ``to_source`` (canonical formula text
that parses back to an equal AST)."""

from __future__ import annotations

from icon_registry.formula import grammar as G
from icon_registry.formula import nodes as N

# ---------------------------------------------------------------------------------------
# to_source
# ---------------------------------------------------------------------------------------
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 4}
_NEG = 3
_ATOM = 5


def to_source(formula) -> str:
    """Canonical text with minimal parentheses; ``parse(to_source(f)).root == f.root``
    (definitions written out)."""
    return _src(getattr(formula, "root", formula))[0]


def _src(node):
    if isinstance(node, N.Num):
        return repr(node.value), _ATOM
    if isinstance(node, (N.Param, N.Builtin, N.Index)):
        return node.name, _ATOM
    if isinstance(node, (N.IndexAt, N.VectorAt, N.ScalarAt)):
        return f"{node.array}[{_src(node.index)[0]}]", _ATOM
    if isinstance(node, N.IndexCall):
        return f"{node.func}({_src(node.index)[0]})", _ATOM
    if isinstance(node, N.MatrixAt):
        return f"{node.array}[{_src(node.row)[0]}, {_src(node.col)[0]}]", _ATOM
    if isinstance(node, N.SetRef):
        if node.of is not None:
            return f"{node.name}({node.of})", _ATOM
        return (node.name if node.arg is None else f"{node.name}({_src(node.arg)[0]})"), _ATOM
    if isinstance(node, N.BinOp):
        level = _PREC[node.op]
        left, lprec = _src(node.left)
        right, rprec = _src(node.right)
        if node.op == "**":
            if lprec <= level:
                left = f"({left})"
            if rprec < _NEG:
                right = f"({right})"
            return f"{left} ** {right}", level
        if lprec < level:
            left = f"({left})"
        if rprec <= level:
            right = f"({right})"
        return f"{left} {node.op} {right}", level
    if isinstance(node, N.Neg):
        operand, prec = _src(node.operand)
        if prec < _NEG:
            operand = f"({operand})"
        return f"-{operand}", _NEG
    if isinstance(node, N.Call):
        return f"{node.func}({', '.join(_src(arg)[0] for arg in node.args)})", _ATOM
    if isinstance(node, N.Count):
        return f"count({_src(node.set)[0]})", _ATOM
    if isinstance(node, N.Indicator):
        return f"indicator({_src(node.left)[0]} {node.op} {_src(node.right)[0]})", _ATOM
    if isinstance(node, N.Reduce):
        return f"{node.kind}({node.var}, {_src(node.set)[0]}, {_src(node.body)[0]})", _ATOM
    if isinstance(node, N.DefRef):
        return (f"{node.name}[{', '.join(_src(arg)[0] for arg in node.args)}]" if node.args else node.name), _ATOM
    raise TypeError(f"not a formula node: {node!r}")


# ---------------------------------------------------------------------------------------
# to_latex
# ---------------------------------------------------------------------------------------
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega",
}
_ARRAY_LATEX = {"z": "z", "x": "x", "g": "g", "w": "w", "y": "y", "id": r"\mathrm{id}", "modality": "m",
                "phi": r"\phi", "W": "W", "beta": r"\beta", "logit": "z", "teacher": "t", "center": r"\mu",
                "key": "k", "memory": "b", "memory_id": r"\mathrm{id}^{b}", "memory_y": "y^{b}"}
_CMP_LATEX = {"==": "=", "!=": r"\neq", "<": "<", "<=": r"\leq", ">": ">", ">=": r"\geq"}
_SIZE = {"anchors": "n", "all": "n", "classes": "C", "clusters": "K", "outputs": "K", "bank": "M"}


def _symbol(name: str) -> str:
    head, _, tail = name.partition("_")
    base = f"\\{head}" if head in _GREEK else (head if len(head) == 1 else rf"\mathrm{{{head}}}")
    return f"{base}_{{{_symbol(tail)}}}" if tail else base


def to_latex(formula) -> str:
    """LaTeX for the formula as parsed (no simplification: what is shown is what is proved);
    a ``Formula`` with definitions shows their names (``definition_latex`` renders them)."""
    root = getattr(formula, "display", None) or getattr(formula, "root", formula)
    return _tex(root)[0]


def definition_latex(definition) -> str:
    """One definition of a formula's ``where`` as an equation, e.g. ``P_{i j} = ...``."""
    head = _defref_tex(N.DefRef(definition.name, tuple(N.Index(i) for i in definition.indices)))
    return f"{head} = {_tex(definition.display)[0]}"


def _defref_tex(node) -> str:
    """P[i, j] -> P_{i j}; a name log_p reads as the log of p: log_p[i, j] -> \\log p_{i j}."""
    log, rest = node.name.startswith("log_") and len(node.name) > 4, node.name[4:]
    name = rf"\log {_symbol(rest)}" if log else _symbol(node.name)
    if not node.args:
        return name
    parts = [_index_tex(arg) for arg in node.args]
    joiner = " " if all(len(part) == 1 for part in parts) else ","
    return f"{name}_{{{joiner.join(parts)}}}"


def _index_tex(node) -> str:
    if isinstance(node, N.Index):
        return _symbol(node.name)
    if isinstance(node, N.Num):
        return str(node.value)
    if isinstance(node, N.IndexAt):
        return f"{_ARRAY_LATEX[node.array]}_{{{_index_tex(node.index)}}}"
    if isinstance(node, N.IndexCall):
        sign = "+" if node.func == "pos" else "-"
        return f"{_index_tex(node.index)}^{{{sign}}}"
    raise TypeError(f"not an index: {node!r}")


def _nonempty_tex(ref: N.SetRef, var: str) -> str:
    """anchors_with(S) as a condition on ``var``: S(var) is not empty."""
    inner = _set_tex(N.SetRef(ref.of, N.Index(var)))
    return G.SETS[ref.name].latex.format(var=_symbol(var), of=inner)


def _set_tex(ref: N.SetRef) -> str:
    """The set as a noun, for |S| and 1/|S|."""
    if ref.of is not None:
        return rf"\{{{_nonempty_tex(ref, 'i')}\}}"
    if ref.arg is None:
        return {"anchors": r"\{1,\dots,n\}", "all": r"\{1,\dots,n\}", "classes": r"\{1,\dots,C\}",
                "clusters": r"\{1,\dots,K\}", "outputs": r"\{1,\dots,K\}", "bank": r"\{1,\dots,M\}"}[ref.name]
    arg = _index_tex(ref.arg)
    if ref.name == "others":
        return rf"\{{k \neq {arg}\}}"
    return G.SETS[ref.name].latex.format(arg=arg).replace(r"\in ", "", 1)


def _size_tex(ref: N.SetRef) -> str:
    if ref.of is not None:
        return rf"\left|{_set_tex(ref)}\right|"
    if ref.arg is None:
        return _SIZE[ref.name]
    if ref.name == "others":
        return "n - 1"
    if ref.name == "candidates":
        return "2"
    return rf"\left|{_set_tex(ref)}\right|"


def _tex(node):
    if isinstance(node, N.Num):
        value = node.value
        if isinstance(value, float):
            if value.is_integer() and abs(value) < 1e15:
                return str(int(value)), _ATOM
            text = f"{value:g}"
            if "e" in text:
                mantissa, exponent = text.split("e")
                return rf"{mantissa} \times 10^{{{int(exponent)}}}", 2
            return text, _ATOM
        return str(value), _ATOM
    if isinstance(node, (N.Param, N.Builtin)):
        return _symbol(node.name), _ATOM
    if isinstance(node, (N.Index, N.IndexAt, N.IndexCall)):
        return _index_tex(node), _ATOM
    if isinstance(node, (N.VectorAt, N.ScalarAt)):
        return f"{_ARRAY_LATEX[node.array]}_{{{_index_tex(node.index)}}}", _ATOM
    if isinstance(node, N.MatrixAt):
        return f"{_ARRAY_LATEX[node.array]}_{{{_index_tex(node.row)},{_index_tex(node.col)}}}", _ATOM
    if isinstance(node, N.SetRef):
        return _set_tex(node), _ATOM
    if isinstance(node, N.BinOp):
        return _binop_tex(node)
    if isinstance(node, N.Neg):
        operand, prec = _tex(node.operand)
        if isinstance(node.operand, N.BinOp) and node.operand.op in "+-" or isinstance(node.operand, N.Neg):
            operand = rf"\left({operand}\right)"
        return f"-{operand}", _NEG
    if isinstance(node, N.Call):
        return _call_tex(node), _ATOM
    if isinstance(node, N.Count):
        return rf"\left|{_set_tex(node.set)}\right|", _ATOM
    if isinstance(node, N.Indicator):
        return rf"\mathbb{{1}}\left[{_tex(node.left)[0]} {_CMP_LATEX[node.op]} {_tex(node.right)[0]}\right]", _ATOM
    if isinstance(node, N.Reduce):
        return _reduce_tex(node), 1.5
    if isinstance(node, N.DefRef):
        return _defref_tex(node), _ATOM
    raise TypeError(f"not a formula node: {node!r}")


def _wrap(text: str) -> str:
    return rf"\left({text}\right)"


def _binop_tex(node):
    left, lprec = _tex(node.left)
    right, rprec = _tex(node.right)
    if node.op == "/":
        return rf"\frac{{{left}}}{{{right}}}", _ATOM
    if node.op == "**":
        simple = isinstance(node.left, (N.Param, N.Builtin, N.VectorAt, N.MatrixAt)) or (
            isinstance(node.left, N.Num) and lprec == _ATOM) or (
            isinstance(node.left, N.Call) and node.left.func in ("norm", "dist", "abs"))
        if not simple:
            left = _wrap(left)
        return f"{left}^{{{right}}}", 4
    if node.op in "+-":
        if node.op == "-" and (rprec <= 1 or (isinstance(node.right, N.Neg))):
            right = _wrap(right)
        if node.op == "+" and isinstance(node.right, N.Neg):
            right = _wrap(right)
        return f"{left} {node.op} {right}", 1
    # multiplication: juxtaposition
    if lprec < 2 or isinstance(node.left, N.Reduce):
        left = _wrap(left)
    if rprec <= 1 and not isinstance(node.right, N.Reduce) or isinstance(node.right, N.Neg):
        right = _wrap(right)
    numeric_right = isinstance(node.right, N.Num) or (right[:1].isdigit())
    joiner = r" \cdot " if numeric_right else r" \, "
    return f"{left}{joiner}{right}", 2


_UNARY_LATEX = {"log": r"\log", "exp": r"\exp", "softplus": r"\operatorname{softplus}"}


def _call_tex(node) -> str:
    args = [_tex(arg)[0] for arg in node.args]
    func = node.func
    if func in _UNARY_LATEX:
        return rf"{_UNARY_LATEX[func]}\left({args[0]}\right)"
    if func == "sqrt":
        return rf"\sqrt{{{args[0]}}}"
    if func == "abs":
        return rf"\left|{args[0]}\right|"
    if func in ("max", "min"):
        return rf"\{func}\left({args[0]}, {args[1]}\right)"
    if func == "dot":
        return rf"\left\langle {args[0]}, {args[1]}\right\rangle"
    if func == "cos":
        return rf"\cos\left({args[0]}, {args[1]}\right)"
    if func == "norm":
        return rf"\left\lVert {args[0]}\right\rVert"
    difference = _binop_tex(N.BinOp("-", node.args[0], node.args[1]))[0]
    if func == "sqdist":
        return rf"\left\lVert {difference}\right\rVert^{{2}}"
    if func == "dist":
        return rf"\left\lVert {difference}\right\rVert"
    raise TypeError(f"unknown function {func}")


def _reduce_tex(node) -> str:
    var = _symbol(node.var)
    spec = G.SETS[node.set.name]
    if node.set.of is not None:
        under = _nonempty_tex(node.set, node.var)
    elif node.set.arg is None:
        under = var
    elif node.set.name == "others":
        under = rf"{var} \neq {_index_tex(node.set.arg)}"
    else:
        under = f"{var} {spec.latex.format(arg=_index_tex(node.set.arg))}"
    body, prec = _tex(node.body)
    if node.kind == "logsumexp":
        return rf"\log \sum_{{{under}}} \exp\left({body}\right)"
    if node.kind in ("max", "min"):
        return rf"\{node.kind}_{{{under}}} {_wrap(body) if prec <= 1 else body}"
    if prec <= 1 and not isinstance(node.body, N.Reduce) or isinstance(node.body, N.Neg):
        body = _wrap(body)
    total = rf"\sum_{{{under}}} {body}"
    if node.kind == "mean":
        return rf"\frac{{1}}{{{_size_tex(node.set)}}} {total}"
    return total
