"""Safe parser: ``ast.parse(mode="eval")`` + a strict node whitelist -> our own AST.

Nothing is ever evaluated, executed, compiled to code or sympified. Size, bracket depth and
AST depth are checked before anything recursive runs; exponents are checked for sanity.
"""

from __future__ import annotations

import ast
import math
import re
import unicodedata
import warnings
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Optional, Tuple

from icon_registry.formula import grammar as G
from icon_registry.formula import nodes as N
from icon_registry.errors import quote
from icon_registry.formula.errors import FormulaError, did_you_mean

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_BAD_BINOPS = {
    ast.FloorDiv: "operator '//' is not allowed; use '/'",
    ast.Mod: "operator '%' is not allowed",
    ast.MatMult: "operator '@' is not allowed; use dot(u, v)",
    ast.BitXor: "operator '^' is not allowed; use '**' for powers",
    ast.BitOr: "operator '|' is not allowed",
    ast.BitAnd: "operator '&' is not allowed",
    ast.LShift: "operator '<<' is not allowed",
    ast.RShift: "operator '>>' is not allowed",
}
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_FORBIDDEN = {
    ast.Attribute: "attribute access is not allowed",
    ast.Lambda: "lambda expressions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.FormattedValue: "strings are not allowed",
    ast.BoolOp: "boolean operators ('and', 'or') are not allowed",
    ast.IfExp: "conditional expressions are not allowed; use indicator(...)",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.NamedExpr: "assignment expressions are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.Slice: "slices are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Compare: "comparisons are only allowed inside indicator(...)",
}


@dataclass(frozen=True)
class Formula:
    """A parsed, type-checked formula.

    ``root`` is our own AST with every named definition written out (what the evaluators,
    the verifier and the compiler read); ``display`` is the same formula with uses of the
    definitions kept as ``DefRef`` nodes, and ``definitions`` the definitions themselves
    (what the renderers show). Equality compares ``root`` only.
    """

    root: N.Node
    source: str = field(compare=False)
    parameters: frozenset = field(default=frozenset(), compare=False)
    display: Optional[N.Node] = field(default=None, compare=False)
    definitions: Tuple["Definition", ...] = field(default=(), compare=False)

    def to_latex(self) -> str:
        from icon_registry.formula.latex import to_latex

        return to_latex(self)

    def to_source(self) -> str:
        from icon_registry.formula.latex import to_source

        return to_source(self.root)

    @property
    def free_parameters(self) -> frozenset:
        from icon_registry.formula.inspect import free_parameters

        return free_parameters(self.root)

    @property
    def requirements(self) -> frozenset:
        from icon_registry.formula.inspect import requirements

        return requirements(self.root)


def parse(source, parameters: Iterable[str] = (), definitions: Optional[Mapping[str, str]] = None) -> Formula:
    """Parse ``source`` into a ``Formula``; ``parameters`` are the allowed free parameter names.

    ``definitions`` names sub-expressions (an entry's ``loss.where``): ``{"P[i, j]": "...",
    "Z": "..."}``. A use such as ``P[k, j]`` is written out at parse time (its indices
    substituted, bound indices renamed where they would capture), so ``root`` is exactly the
    tree of the formula with every definition inlined. Raises ``FormulaError`` (message with
    a 1-based column; ``.definition`` names the definition it is in, if any).
    """
    params = frozenset(parameters)
    clash = sorted(params & G.reserved_names())
    if clash:
        raise FormulaError(f"parameter name '{clash[0]}' is reserved by the formula language")
    table = _definitions(definitions or {}, params)
    display, kind, converter = _convert(source, params, table, {})
    if kind != "scalar":
        raise FormulaError("a formula must be a scalar, but this one is a vector", column=converter.start_column)
    root = _expanded(display, table)
    return Formula(root=root, source=source, parameters=params, display=display,
                   definitions=tuple(table[name] for name in table))


@dataclass(frozen=True)
class Definition:
    """One named sub-expression: ``name[indices] = source``; ``domains`` are the index domains
    its body requires (None: any), ``kind`` 'scalar' or 'vector', ``display`` its tree (uses of
    other definitions kept), ``root`` its tree with those written out."""

    name: str
    indices: Tuple[str, ...]
    source: str
    key: str  # as written, e.g. "P[i, j]"
    kind: str
    domains: Tuple[Optional[str], ...]
    display: N.Node
    root: N.Node

    @property
    def signature(self) -> str:
        return f"{self.name}[{', '.join(self.indices)}]" if self.indices else self.name


_SIGNATURE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[\s*([^\]]*?)\s*\])?\s*$")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _signature(key, params: frozenset, taken: set) -> Tuple[str, Tuple[str, ...]]:
    """'P[i, j]' -> ('P', ('i', 'j')); 'Z' -> ('Z', ())."""
    if not isinstance(key, str):
        raise FormulaError(f"a definition's name must be a string, got {type(key).__name__}")
    _check_ascii(key)
    match = _SIGNATURE.match(key)
    if not match:
        raise FormulaError(f"definition name {quote(key)} must be NAME or NAME[i, j] (indices in brackets)")
    name, inside = match.group(1), match.group(2)
    indices = tuple(part.strip() for part in inside.split(",")) if inside is not None else ()
    if name in G.reserved_names():
        raise FormulaError(f"definition name '{name}' is reserved by the formula language")
    if name in params:
        raise FormulaError(f"definition name '{name}' is already a parameter")
    if name in taken:
        raise FormulaError(f"'{name}' is defined twice")
    for index in indices:
        if not _IDENTIFIER.fullmatch(index):
            raise FormulaError(f"definition {quote(key)}: index {quote(index)} is not a name")
        if index in G.reserved_names() or index in params:
            raise FormulaError(f"definition {quote(key)}: '{index}' is reserved and cannot be an index name")
    if len(set(indices)) != len(indices):
        raise FormulaError(f"definition {quote(key)} names an index twice")
    return name, indices


def _definitions(definitions: Mapping, params: frozenset) -> dict:
    """Parse and type-check every definition (each one may use the others, not itself), in
    dependency order; -> {name: Definition} in the order given."""
    if not isinstance(definitions, Mapping):
        raise FormulaError(f"definitions must be a mapping of names to formulas, got {type(definitions).__name__}")
    if len(definitions) > G.MAX_DEFINITIONS:
        raise FormulaError(f"too many definitions ({len(definitions)}; the limit is {G.MAX_DEFINITIONS})")
    signatures = {}
    for key in definitions:
        try:
            signatures[key] = _signature(key, params, {name for name, _ in signatures.values()})
        except FormulaError as err:
            raise err.in_definition(key) from None
    by_name = {name: key for key, (name, _) in signatures.items()}
    order = _dependency_order(definitions, signatures, by_name)
    table: dict = {}
    for key in order:
        name, indices = signatures[key]
        source = definitions[key]
        opens = {index: _Open() for index in indices}
        try:
            display, kind, _ = _convert(source, params, table, dict(opens), defining=name)
            root = _expanded(display, table, what=f"definition '{name}'")
        except FormulaError as err:
            raise err.in_definition(key) from None
        domains = tuple(opens[index].domain for index in indices)
        table[name] = Definition(name, indices, source, key, kind, domains, display, root)
    return {signatures[key][0]: table[signatures[key][0]] for key in definitions}


def _dependency_order(definitions, signatures, by_name) -> list:
    """The keys, each after the definitions it uses; a cycle is an error."""
    uses = {}
    for key, source in definitions.items():
        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source)) if isinstance(source, str) else set()
        uses[key] = [by_name[name] for name in sorted(names) if name in by_name]
    order, state = [], {}
    for start in definitions:
        stack = [(start, iter(uses[start]))]
        if state.get(start) == "done":
            continue
        state[start] = "open"
        path = [start]
        while stack:
            key, pending = stack[-1]
            following = next(pending, None)
            if following is None:
                stack.pop()
                path.pop()
                state[key] = "done"
                order.append(key)
            elif state.get(following) == "open":
                cycle = path[path.index(following):] + [following]
                chain = " -> ".join(signatures[k][0] for k in cycle)
                raise FormulaError(f"definition '{signatures[following][0]}' refers to itself ({chain})"
                                   ).in_definition(following)
            elif state.get(following) != "done":
                state[following] = "open"
                path.append(following)
                stack.append((following, iter(uses[following])))
    return order


def _convert(source, params: frozenset, definitions: dict, env: dict, defining: Optional[str] = None):
    """Check and convert one source text -> (display tree, kind, converter)."""
    if not isinstance(source, str):
        raise FormulaError(f"a formula must be a string, got {type(source).__name__}")
    if len(source) > G.MAX_SOURCE_LENGTH:
        raise FormulaError(f"formula is too long ({len(source)} characters; the limit is {G.MAX_SOURCE_LENGTH})")
    _check_ascii(source)
    # One line: newlines/tabs count as one column each, so columns stay character offsets.
    text = source.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    _check_brackets(text)
    _check_sign_runs(text)
    body = text.lstrip(" ")
    lead = len(text) - len(body)
    if not body.strip():
        raise FormulaError("formula is empty")
    try:
        with warnings.catch_warnings():  # e.g. SyntaxWarning for "1for"; errors are ours to report
            warnings.simplefilter("ignore")
            tree = ast.parse(body, mode="eval")
    except SyntaxError as err:
        message = (err.msg or "invalid syntax").split(" (")[0]
        if err.offset == 0:  # the text ended inside an expression ("a +")
            raise FormulaError("syntax error: the formula ends in the middle of an expression",
                               column=len(text.rstrip())) from None
        column = err.offset + lead if err.offset is not None else None
        raise FormulaError(f"syntax error: {message}", column=column) from None
    except (RecursionError, MemoryError):  # the C parser's own stack limits (e.g. 3,000 unary minuses)
        raise FormulaError("formula is nested too deeply to parse") from None
    except (ValueError, OverflowError) as err:
        raise FormulaError(f"formula could not be parsed ({err})") from None
    converter = _Converter(body, lead, params, definitions, defining)
    converter.check_depth(tree.body)
    converter.reject_forbidden(tree.body)
    converter.start_column = converter.col(tree.body)
    display, kind = converter.expr(tree.body, env, 0)
    return display, kind, converter


#: Look-alikes of ASCII letters from other scripts (the Latin ones with accents reduce by NFKD).
_HOMOGLYPHS = {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "і": "i", "ј": "j",
               "ѕ": "s", "к": "k", "ο": "o", "ν": "v", "−": "-", "×": "*", "·": "*", "÷": "/"}


def _check_ascii(text: str) -> None:
    """Formulas are ASCII: a homoglyph (Cyrillic 'о' in 'cоs') or an invisible character is
    named, with its position and the ASCII it stands for where that is clear."""
    if text.isascii():
        return
    position, char = next((k, c) for k, c in enumerate(text) if not c.isascii())
    name = unicodedata.name(char, "unnamed character")
    shown = f"'{char}' " if unicodedata.category(char)[0] in "LNPS" else ""
    hint = ""
    ascii_form = _HOMOGLYPHS.get(char) or unicodedata.normalize("NFKD", char)[:1]
    if name.startswith("GREEK") and " LETTER " in name and char not in _HOMOGLYPHS:
        spelled = name.split(" LETTER ", 1)[1].lower()
        hint = f": write it as '{spelled.capitalize() if 'CAPITAL' in name else spelled}'"
    elif ascii_form.isascii() and ascii_form.isprintable() and ascii_form.strip():
        hint = f": did you mean '{ascii_form}'?"
    raise FormulaError(f"non-ASCII character {shown}(U+{ord(char):04X} {name}); formulas are ASCII only{hint}",
                       column=position + 1)


class _Open:
    """The domain of a definition's index, fixed by the first place that needs one (None: any)."""

    __slots__ = ("domain",)

    def __init__(self):
        self.domain = None


def _settle(domain, expected):
    """The domain of an index whose domain may be open; an open one takes ``expected``."""
    if isinstance(domain, _Open):
        if domain.domain is None:
            domain.domain = expected
        return domain.domain
    return domain


def _expanded(display: N.Node, definitions: dict, what: str = "formula") -> N.Node:
    """``display`` with every DefRef written out; the size limits hold for the result."""
    if not any(isinstance(node, N.DefRef) for node in N.walk(display)):
        return display
    root = _expand(display, definitions, frozenset())
    _check_size(root, what)
    return root


def _expand(node, definitions: dict, bound: frozenset):
    """Write out the DefRefs below ``node``; ``bound`` are the indices bound around it."""
    if isinstance(node, N.DefRef):
        definition = definitions[node.name]
        args = [_expand(arg, definitions, bound) for arg in node.args]
        return substitute(definition.root, dict(zip(definition.indices, args)), bound)
    if isinstance(node, N.Reduce):
        return N.Reduce(node.kind, node.var, _expand(node.set, definitions, bound),
                        _expand(node.body, definitions, bound | {node.var}))
    if not N.children(node):
        return node
    return _rebuild(node, [_expand(child, definitions, bound) for child in N.children(node)])


def substitute(node, mapping: dict, bound: frozenset = frozenset()):
    """``node`` with the free indices in ``mapping`` replaced by index expressions.

    A reduction inside ``node`` whose index is free in a replacement, or already bound
    around the place of use (``bound``), is renamed to a fresh index, so nothing is captured
    and no index shadows another (the result is a formula a user could have written).
    """
    avoid = set(bound) | {name for value in mapping.values() for name in _indices(value)}
    taken = avoid | _indices(node) | {var for sub in N.walk(node) if isinstance(sub, N.Reduce) for var in [sub.var]}
    return _substitute(node, mapping, avoid, taken)


def _substitute(node, mapping, avoid, taken):
    if isinstance(node, N.Index):
        return mapping.get(node.name, node)
    if isinstance(node, N.Reduce):
        var, inner = node.var, mapping
        if var in avoid:
            var = _fresh(node.var, taken)
            taken.add(var)
            inner = {**mapping, node.var: N.Index(var)}
        elif var in mapping:
            inner = {k: v for k, v in mapping.items() if k != var}
        return N.Reduce(node.kind, var, _substitute(node.set, mapping, avoid, taken),
                        _substitute(node.body, inner, avoid | {var}, taken))
    if not N.children(node):
        return node
    return _rebuild(node, [_substitute(child, mapping, avoid, taken) for child in N.children(node)])


def _fresh(name: str, taken: set) -> str:
    stem = name.rstrip("0123456789") or name
    number = 1
    while f"{stem}{number}" in taken or f"{stem}{number}" in G.reserved_names():
        number += 1
    return f"{stem}{number}"


def _indices(node) -> set:
    return {sub.name for sub in N.walk(node) if isinstance(sub, N.Index)}


def _rebuild(node, children: list):
    """A copy of ``node`` with new children (in ``N.children`` order)."""
    if isinstance(node, (N.IndexAt, N.IndexCall, N.VectorAt, N.ScalarAt)):
        return replace(node, index=children[0])
    if isinstance(node, N.MatrixAt):
        return replace(node, row=children[0], col=children[1])
    if isinstance(node, N.SetRef):
        return replace(node, arg=children[0])
    if isinstance(node, (N.BinOp, N.Indicator)):
        return replace(node, left=children[0], right=children[1])
    if isinstance(node, N.Neg):
        return N.Neg(children[0])
    if isinstance(node, (N.Call, N.DefRef)):
        return replace(node, args=tuple(children))
    if isinstance(node, N.Count):
        return N.Count(children[0])
    raise TypeError(f"not a formula node: {node!r}")


def _check_size(root, what: str) -> None:
    """Limits on the tree with definitions written out (nodes, depth, nested reductions)."""
    nodes, stack = 0, [(root, 1, 0)]
    while stack:
        node, depth, reductions = stack.pop()
        nodes += 1
        if nodes > G.MAX_NODES:
            raise FormulaError(f"{what} is too large with its definitions written out "
                               f"(more than {G.MAX_NODES} nodes)")
        if depth > G.MAX_AST_DEPTH:
            raise FormulaError(f"{what} is nested too deeply with its definitions written out; "
                               f"the limit is {G.MAX_AST_DEPTH} levels")
        if isinstance(node, N.Reduce):
            reductions += 1
            if reductions > G.MAX_REDUCTION_NESTING:
                raise FormulaError(f"{what} nests reductions too deeply with its definitions written out; "
                                   f"the limit is {G.MAX_REDUCTION_NESTING}")
        stack.extend((child, depth + 1, reductions) for child in N.children(node))


def _check_brackets(text: str) -> None:
    """A linear scan: bracket depth (any of ([{) may not exceed MAX_PAREN_DEPTH."""
    depth = 0
    for position, char in enumerate(text):
        if char in "([{":
            depth += 1
            if depth > G.MAX_PAREN_DEPTH:
                raise FormulaError(
                    f"brackets are nested too deeply; the limit is {G.MAX_PAREN_DEPTH}", column=position + 1
                )
        elif char in ")]}":
            depth -= 1


def _check_sign_runs(text: str) -> None:
    """A linear scan: a run of signs ("- - -1") nests one level per sign. Rejected here, before
    Python's parser, whose own limit moves with the interpreter's recursion limit (which
    torch.compile raises): the same formula gets the same message in every process."""
    run = 0
    for position, char in enumerate(text):
        if char in "+-~":
            run += 1
            if run > G.MAX_AST_DEPTH:
                raise FormulaError(f"formula is nested too deeply; the limit is {G.MAX_AST_DEPTH} levels",
                                   column=position + 1)
        elif char != " ":
            run = 0


def _unknown(what: str, name: str, choices, listing: str) -> str:
    """"unknown index set 'negatives'; did you mean ...? The index sets are: ..." (the column
    goes before the first '; ')."""
    hint = did_you_mean(name, choices) or G.HINTS.get(name, "")
    return f"unknown {what} '{name}'{hint}" + (f" ({listing})" if hint else f"; {listing}")


_SET_LIST = "the index sets are: " + ", ".join(
    f"{name}(i)" if spec.takes_item else f"{name}(S)" if spec.takes_set else name for name, spec in G.SETS.items())


class _Converter:
    def __init__(self, body: str, lead: int, params: frozenset, definitions: dict, defining: Optional[str]):
        self.body = body  # ASCII (checked before): ast's byte offsets are character offsets
        self.lead = lead
        self.params = params
        self.definitions = definitions
        self.defining = defining
        self.start_column: Optional[int] = None

    # -- positions and errors -------------------------------------------------------------
    def col(self, node) -> Optional[int]:
        offset = getattr(node, "col_offset", None)
        return None if offset is None else offset + 1 + self.lead

    def fail(self, message: str, node):
        raise FormulaError(message, column=self.col(node))

    def text(self, node) -> str:
        segment = ast.get_source_segment(self.body, node)
        return segment if segment is not None else type(node).__name__

    def check_depth(self, root) -> None:
        """Iteratively bound the Python AST depth, so the recursive conversion cannot overflow."""
        stack = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > G.MAX_AST_DEPTH:
                self.fail(f"formula is nested too deeply; the limit is {G.MAX_AST_DEPTH} levels", node)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    stack.append((child, depth + 1))

    def reject_forbidden(self, root) -> None:
        """Reject the leftmost construct that is never allowed anywhere (strings, lambdas, ...)."""
        subscript_tuples = {id(node.slice) for node in ast.walk(root)
                            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple)}
        offenders = []
        for node in ast.walk(root):
            message = None
            if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
                message = "strings are not allowed"
            elif isinstance(node, ast.keyword):
                message = "keyword arguments are not allowed"
            elif isinstance(node, ast.Compare) or (isinstance(node, ast.Tuple) and id(node) in subscript_tuples):
                continue
            else:
                for kind, text in _FORBIDDEN.items():
                    if isinstance(node, kind):
                        message = text
                        break
            if message is not None:
                offenders.append((getattr(node, "lineno", 1), getattr(node, "col_offset", 0), message, node))
        if offenders:
            _, _, message, node = min(offenders, key=lambda item: item[:2])
            self.fail(message, node)

    # -- scalar / vector expressions ------------------------------------------------------
    def expr(self, node, env: dict, nest: int):
        """-> (our node, 'scalar' | 'vector')."""
        if isinstance(node, ast.Constant):
            return self.constant(node), "scalar"
        if isinstance(node, ast.Name):
            return self.name(node, env)
        if isinstance(node, ast.BinOp):
            return self.binop(node, env, nest)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                operand, kind = self.expr(node.operand, env, nest)
                return N.Neg(operand), kind
            if isinstance(node.op, ast.UAdd):
                return self.expr(node.operand, env, nest)
            symbol = "not" if isinstance(node.op, ast.Not) else "~"
            self.fail(f"operator '{symbol}' is not allowed", node)
        if isinstance(node, ast.Call):
            return self.call(node, env, nest)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, env)
        for kind, message in _FORBIDDEN.items():
            if isinstance(node, kind):
                self.fail(message, node)
        self.fail(f"{type(node).__name__} expressions are not allowed", node)

    def constant(self, node) -> N.Num:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            self.fail(f"'{value!r}' is not allowed; only numbers are", node)
        if isinstance(value, (str, bytes)):
            self.fail("strings are not allowed", node)
        if isinstance(value, complex):
            self.fail("complex numbers are not allowed", node)
        if isinstance(value, int):
            if abs(value) > G.MAX_INT_LITERAL:
                self.fail(f"number is too large; integer literals are limited to {G.MAX_INT_LITERAL:.0e}", node)
            return N.Num(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail("number is not finite", node)
            return N.Num(value)
        self.fail(f"constant of type {type(value).__name__} is not allowed", node)

    def name(self, node, env):
        name = node.id
        if name in env:
            self.fail(f"index '{name}' is not a number; use it as z[{name}], in a set or in indicator(...)", node)
        if name in self.params:
            return N.Param(name), "scalar"
        if name in G.BUILTINS:
            return N.Builtin(name), "scalar"
        if name in self.definitions:
            return self.use(node, name, [], env)
        self.refuse_self_reference(name, node)
        if name in G.ARRAYS:
            example = "c" if G.ARRAYS[name].domains[0] != "item" else "i"
            hint = f"{name}[i, c]" if G.ARRAYS[name].kind == "matrix" else f"{name}[{example}]"
            self.fail(f"'{name}' must be indexed, e.g. {hint}", node)
        if name in G.SETS:
            self.fail(f"'{name}' is an index set; use it in sum/mean/logsumexp/count", node)
        if name in G.callable_names():
            self.fail(f"'{name}' is a function; call it as {name}(...)", node)
        choices = set(self.params) | set(G.BUILTINS) | set(env) | set(self.definitions)
        self.fail(_unknown("name", name, choices, self.names_in_scope(env)), node)

    def names_in_scope(self, env) -> str:
        """'in scope: parameters sigma, tau; indices i, j; built-in n' for an unknown name."""
        groups = [("parameters", self.params), ("definitions", self.definitions), ("indices", env),
                  ("built-in", G.BUILTINS)]
        return "in scope: " + "; ".join(f"{word} {', '.join(sorted(names))}" for word, names in groups if names)

    def refuse_self_reference(self, name, node):
        if name == self.defining:
            self.fail(f"definition '{name}' refers to itself", node)

    def use(self, node, name, index_nodes, env):
        """A use of a definition, P[a, b] or Z -> (DefRef, kind)."""
        definition = self.definitions[name]
        if len(index_nodes) != len(definition.indices):
            count = len(definition.indices)
            wanted = f"{count} ind{'ex' if count == 1 else 'ices'}" if count else "no indices"
            self.fail(f"'{name}' takes {wanted}, e.g. {definition.signature}", node)
        args = tuple(self.index(sub, env, domain, what=f"'{name}'")
                     for sub, domain in zip(index_nodes, definition.domains))
        return N.DefRef(name, args), definition.kind

    def binop(self, node, env, nest):
        op = _BINOPS.get(type(node.op))
        if op is None:
            self.fail(_BAD_BINOPS.get(type(node.op), "operator is not allowed"), node)
        if op == "**":
            self.check_exponent(node.right)
            if _constant_value(node.left) == 0 and (_constant_value(node.right) or 0) < 0:
                self.fail("zero to a negative power divides by zero", node)
        if op == "/" and _constant_value(node.right) == 0:
            self.fail("division by zero", node.right)
        left, lkind = self.expr(node.left, env, nest)
        right, rkind = self.expr(node.right, env, nest)
        if op in "+-" and lkind != rkind:
            self.fail(f"cannot {'add' if op == '+' else 'subtract'} a {rkind} and a {lkind}", node)
        if op == "*" and lkind == rkind == "vector":
            self.fail("cannot multiply two vectors; use dot(u, v)", node)
        if op == "/" and rkind == "vector":
            self.fail("cannot divide by a vector", node.right)
        if op == "**" and "vector" in (lkind, rkind):
            self.fail("powers of vectors are not allowed; use norm(u)**2 or dot(u, u)", node)
        kind = "vector" if "vector" in (lkind, rkind) else "scalar"
        return N.BinOp(op, left, right), kind

    def check_exponent(self, exponent) -> None:
        for sub in ast.walk(exponent):
            if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Pow):
                self.fail("a power inside an exponent is not allowed", exponent)
        value = _constant_value(exponent)
        if value is not None and not (math.isfinite(value) and abs(value) <= G.MAX_CONSTANT_EXPONENT):
            shown = f"{value:g}" if math.isfinite(value) else "not finite"
            self.fail(f"constant exponent {shown} is too large; the limit is {G.MAX_CONSTANT_EXPONENT}", exponent)

    def subscript(self, node, env):
        target = node.value
        if not isinstance(target, ast.Name):
            if isinstance(target, ast.Attribute):
                self.fail("attribute access is not allowed", target)
            self.fail("only data arrays can be indexed, e.g. z[i]", node)
        name = target.id
        index_nodes = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if name in self.definitions:
            return self.use(node, name, index_nodes, env)
        self.refuse_self_reference(name, target)
        spec = G.ARRAYS.get(name)
        if spec is None:
            if name in self.params or name in G.BUILTINS:
                self.fail(f"'{name}' is a scalar and cannot be indexed", node)
            arrays = [*G.ARRAYS, *self.definitions]
            self.fail(_unknown("array", name, arrays, f"the arrays are: {', '.join(arrays)}"), target)
        if len(index_nodes) != len(spec.domains):
            want = "two indices, e.g. phi[i, c]" if len(spec.domains) == 2 else f"one index, e.g. {name}[i]"
            self.fail(f"'{name}' takes {want}", node)
        indices = [self.index(sub, env, domain, what=f"'{name}'") for sub, domain in zip(index_nodes, spec.domains)]
        if spec.kind == "vector":
            return N.VectorAt(name, indices[0]), "vector"
        if spec.kind == "matrix":
            return N.MatrixAt(name, indices[0], indices[1]), "scalar"
        if spec.kind == "scalar":
            return N.ScalarAt(name, indices[0]), "scalar"
        self.fail(f"'{self.text(node)}' is an index, not a number; compare it inside indicator(...) "
                  f"or use it as an index", node)

    # -- calls ----------------------------------------------------------------------------
    def call(self, node, env, nest):
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, ast.Attribute):
                self.fail("attribute access is not allowed", func)
            self.fail("only named functions can be called", func)
        for keyword in node.keywords:
            self.fail("keyword arguments are not allowed", keyword)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.fail("starred arguments are not allowed", arg)
        name = func.id
        args = node.args
        if name in ("max", "min") and len(args) == 3:  # max(k, S, e): a reduction
            return self.reduction(node, name, env, nest)
        if name in G.FUNCTIONS:
            spec = G.FUNCTIONS[name]
            self.arity(node, name, len(spec.args))
            converted = []
            for arg, want in zip(args, spec.args):
                value, kind = self.expr(arg, env, nest)
                if kind != want:
                    self.fail(f"{name}() expects a {want} here, got a {kind}", arg)
                converted.append(value)
            return N.Call(name, tuple(converted)), "scalar"
        if name in G.REDUCTIONS:
            return self.reduction(node, name, env, nest)
        if name == "count":
            self.arity(node, name, 1)
            return N.Count(self.index_set(args[0], env)[0]), "scalar"
        if name == "indicator":
            self.arity(node, name, 1)
            return self.indicator(args[0], env, nest), "scalar"
        if name in G.SETS:
            self.fail(f"'{name}' is an index set; use it in sum/mean/logsumexp/count", node)
        if name in G.INDEX_FUNCTIONS:
            self.fail(f"'{name}(...)' is an index; use it as z[{name}(i)]", node)
        if name in G.ARRAYS:
            self.fail(f"'{name}' is indexed with brackets, e.g. {name}[i]", node)
        if name in self.definitions:
            self.fail(f"'{name}' is a definition: write {self.definitions[name].signature}", node)
        self.refuse_self_reference(name, func)
        functions = [*G.FUNCTIONS, *(k for k in G.REDUCTIONS if k not in G.FUNCTIONS), *G.SPECIAL]
        self.fail(_unknown("function", name, G.callable_names(), f"the functions are: {', '.join(functions)}"), func)

    def arity(self, node, name, expected):
        given = len(node.args)
        if given != expected:
            plural = "argument" if expected == 1 else "arguments"
            self.fail(f"{name}() takes {expected} {plural} ({given} given)", node)

    def reduction(self, node, name, env, nest):
        self.arity(node, name, 3)
        if nest + 1 > G.MAX_REDUCTION_NESTING:
            self.fail(f"reductions are nested too deeply; the limit is {G.MAX_REDUCTION_NESTING}", node)
        var_node, set_node, body_node = node.args
        if not isinstance(var_node, ast.Name):
            self.fail(f"the first argument of {name}() must be a new index name, e.g. {name}(k, others(i), ...)",
                      var_node)
        var = var_node.id
        if var in env:
            self.fail(f"index '{var}' is already bound by an enclosing reduction", var_node)
        if var in self.params:
            self.fail(f"'{var}' is a parameter, not a new index name", var_node)
        if var in G.reserved_names():
            self.fail(f"'{var}' is reserved and cannot be an index name", var_node)
        if var in self.definitions or var == self.defining:
            self.fail(f"'{var}' is a definition, not a new index name", var_node)
        index_set, domain = self.index_set(set_node, env)
        inner = dict(env)
        inner[var] = domain
        body, kind = self.expr(body_node, inner, nest + 1)
        if name in ("logsumexp", "max", "min") and kind != "scalar":
            self.fail(f"{name}() needs a scalar body", body_node)
        return N.Reduce(name, var, index_set, body), kind

    def index_set(self, node, env):
        """-> (SetRef, element domain)."""
        if isinstance(node, ast.Name):
            spec = G.SETS.get(node.id)
            if spec is not None and spec.takes_set:
                self.fail(f"index set '{node.id}' needs a set, e.g. {node.id}(positives)", node)
            if spec is not None and not spec.takes_item:
                return N.SetRef(node.id), spec.domain
            if spec is not None:
                self.fail(f"index set '{node.id}' needs an anchor, e.g. {node.id}(i)", node)
            self.fail(_unknown("index set", node.id, G.SETS, _SET_LIST), node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            spec = G.SETS.get(node.func.id)
            if spec is not None and spec.takes_set:
                return N.SetRef(node.func.id, of=self.per_item_set(node)), spec.domain
            if spec is not None and spec.takes_item:
                self.arity(node, node.func.id, 1)
                if isinstance(node.args[0], ast.Starred):
                    self.fail("starred arguments are not allowed", node.args[0])
                arg = self.index(node.args[0], env, "item", what=f"'{node.func.id}'")
                return N.SetRef(node.func.id, arg), spec.domain
            if spec is not None:
                self.fail(f"index set '{node.func.id}' takes no argument", node)
            self.fail(_unknown("index set", node.func.id, G.SETS, _SET_LIST), node.func)
        if isinstance(node, ast.Call) and node.keywords:
            self.fail("keyword arguments are not allowed", node.keywords[0])
        self.fail("expected an index set, e.g. others(i) or classes", node)

    def per_item_set(self, node) -> str:
        """The set name inside anchors_with(S): a set that takes an anchor (its elements may be
        items or bank rows; anchors_with(S) is a set of anchors either way)."""
        self.arity(node, node.func.id, 1)
        arg = node.args[0]
        per_item = sorted(name for name, spec in G.SETS.items() if spec.takes_item)
        if isinstance(arg, ast.Name) and arg.id in per_item:
            return arg.id
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id in per_item:
            self.fail(f"write the set's name without its anchor: {node.func.id}({arg.func.id})", arg)
        shown = arg.id if isinstance(arg, ast.Name) else self.text(arg)
        self.fail(f"{node.func.id}() takes the name of a per-anchor set ({', '.join(per_item)}), got '{shown}'"
                  + (did_you_mean(arg.id, per_item) if isinstance(arg, ast.Name) else ""), arg)

    # -- indices --------------------------------------------------------------------------
    def index(self, node, env, expected: Optional[str], what: str, allow_constant: bool = False):
        value, domain = self.index_value(node, env, allow_constant)
        domain = _settle(domain, expected)
        if expected is not None and domain is not None and domain != expected:
            self.fail(f"{what} expects an index over {G.DOMAIN_WORDS[expected]}, but '{self.text(node)}' "
                      f"ranges over {G.DOMAIN_WORDS[domain]}", node)
        return value

    def index_value(self, node, env, allow_constant):
        """-> (IndexExpr, domain or None for an integer constant)."""
        if isinstance(node, ast.Name):
            if node.id in env:
                return N.Index(node.id), env[node.id]
            if node.id in self.params or node.id in G.BUILTINS:
                self.fail(f"'{node.id}' is a scalar, not an index", node)
            self.fail(f"unknown index '{node.id}'{did_you_mean(node.id, env)}", node)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            spec = G.ARRAYS.get(node.value.id)
            if spec is not None and spec.kind == "index":
                if isinstance(node.slice, ast.Tuple):
                    self.fail(f"'{node.value.id}' takes one index, e.g. {node.value.id}[i]", node)
                inner = self.index(node.slice, env, spec.domains[0], what=f"'{node.value.id}'")
                return N.IndexAt(node.value.id, inner), spec.value_domain
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in G.INDEX_FUNCTIONS:
            spec = G.INDEX_FUNCTIONS[node.func.id]
            argument_domain, result_domain = spec.argument, spec.result
            if node.keywords:
                self.fail("keyword arguments are not allowed", node.keywords[0])
            self.arity(node, node.func.id, 1)
            inner = self.index(node.args[0], env, argument_domain, what=f"'{node.func.id}'")
            return N.IndexCall(node.func.id, inner), result_domain
        if allow_constant and isinstance(node, ast.Constant) and type(node.value) is int:
            if not 0 <= node.value <= G.MAX_INT_LITERAL:
                self.fail("index constants must be non-negative integers", node)
            return N.Num(node.value), None
        for kind, message in _FORBIDDEN.items():
            if kind is not ast.Compare and isinstance(node, kind):
                self.fail(message, node)
        self.fail(f"an index must be an index variable (e.g. i), y[i], pos(i) or neg(i), "
                  f"got '{self.text(node)}'", node)

    def indicator(self, node, env, nest):
        if not isinstance(node, ast.Compare):
            self.fail("indicator() takes a comparison, e.g. indicator(y[i] == y[j])", node)
        if len(node.ops) != 1:
            self.fail("chained comparisons are not allowed; use one comparison per indicator", node)
        op = _CMPOPS.get(type(node.ops[0]))
        if op is None:
            self.fail("only ==, !=, <, <=, >, >= are allowed in indicator(...)", node)
        left_node, right_node = node.left, node.comparators[0]
        if self._looks_like_index(left_node, env) or self._looks_like_index(right_node, env):
            left, ldomain = self.index_value(left_node, env, allow_constant=True)
            right, rdomain = self.index_value(right_node, env, allow_constant=True)
            ldomain = _settle(ldomain, _settle(rdomain, None))
            rdomain = _settle(rdomain, ldomain)
            if op not in ("==", "!="):
                self.fail(f"indices can only be compared with == or !=, not {op}", node)
            if ldomain is not None and rdomain is not None and ldomain != rdomain:
                self.fail(f"cannot compare an index over {G.DOMAIN_WORDS[ldomain]} with one over "
                          f"{G.DOMAIN_WORDS[rdomain]}", node)
            return N.Indicator(op, left, right)
        left, lkind = self.expr(left_node, env, nest)
        right, rkind = self.expr(right_node, env, nest)
        if "vector" in (lkind, rkind):
            self.fail("vectors cannot be compared", node)
        return N.Indicator(op, left, right)

    @staticmethod
    def _looks_like_index(node, env) -> bool:
        if isinstance(node, ast.Name):
            return node.id in env
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            spec = G.ARRAYS.get(node.value.id)
            return spec is not None and spec.kind == "index"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return node.func.id in G.INDEX_FUNCTIONS
        return False


def _constant_value(node) -> Optional[float]:
    """The float value of a number-only exponent (+ - * / and unary signs), else None. No powers."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _constant_value(node.operand)
        if inner is None:
            return None
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div):
        left, right = _constant_value(node.left), _constant_value(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return left / right if right != 0 else math.inf
    return None
