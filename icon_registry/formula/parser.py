"""Safe parser: ``ast.parse(mode="eval")`` + a strict node whitelist -> our own AST.

Nothing is ever evaluated, executed, compiled to code or sympified. Size, bracket depth and
AST depth are checked before anything recursive runs; exponents are checked for sanity.
"""

from __future__ import annotations

import ast
import math
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Optional

from icon_registry.formula import grammar as G
from icon_registry.formula import nodes as N
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
    """A parsed, type-checked formula: ``root`` is our own AST, ``source`` the original text."""

    root: N.Node
    source: str = field(compare=False)
    parameters: frozenset = field(default=frozenset(), compare=False)

    def to_latex(self) -> str:
        from icon_registry.formula.latex import to_latex

        return to_latex(self.root)

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


def parse(source, parameters: Iterable[str] = ()) -> Formula:
    """Parse ``source`` into a ``Formula``; ``parameters`` are the allowed free parameter names.

    Raises ``FormulaError`` (message with a 1-based column) for anything outside the language.
    """
    params = frozenset(parameters)
    clash = sorted(params & G.reserved_names())
    if clash:
        raise FormulaError(f"parameter name '{clash[0]}' is reserved by the formula language")
    if not isinstance(source, str):
        raise FormulaError(f"a formula must be a string, got {type(source).__name__}")
    if len(source) > G.MAX_SOURCE_LENGTH:
        raise FormulaError(f"formula is too long ({len(source)} characters; the limit is {G.MAX_SOURCE_LENGTH})")
    # One line: newlines/tabs count as one column each, so columns stay character offsets.
    text = source.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    _check_brackets(text)
    body = text.lstrip(" ")
    lead = len(text) - len(body)
    if not body.strip():
        raise FormulaError("formula is empty")
    try:
        with warnings.catch_warnings():  # e.g. SyntaxWarning for "1for"; errors are ours to report
            warnings.simplefilter("ignore")
            tree = ast.parse(body, mode="eval")
    except SyntaxError as err:
        column = (err.offset or 1) + lead if err.offset is not None else None
        message = (err.msg or "invalid syntax").split(" (")[0]
        raise FormulaError(f"syntax error: {message}", column=column) from None
    except (RecursionError, MemoryError):  # the C parser's own stack limits (e.g. 3,000 unary minuses)
        raise FormulaError("formula is nested too deeply to parse") from None
    except (ValueError, OverflowError) as err:
        raise FormulaError(f"formula could not be parsed ({err})") from None
    converter = _Converter(body, lead, params)
    converter.check_depth(tree.body)
    converter.reject_forbidden(tree.body)
    root, kind = converter.expr(tree.body, {}, 0)
    if kind != "scalar":
        raise FormulaError("a formula must be a scalar, but this one is a vector", column=converter.col(tree.body))
    return Formula(root=root, source=source, parameters=params)


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


class _Converter:
    def __init__(self, body: str, lead: int, params: frozenset):
        self.body = body
        self.lead = lead
        self.params = params
        self.ascii = body.isascii()
        self.encoded = None if self.ascii else body.encode("utf-8")

    # -- positions and errors -------------------------------------------------------------
    def col(self, node) -> Optional[int]:
        offset = getattr(node, "col_offset", None)
        if offset is None:
            return None
        if not self.ascii:
            offset = len(self.encoded[:offset].decode("utf-8", "ignore"))
        return offset + 1 + self.lead

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
        if name in G.ARRAYS:
            example = "c" if G.ARRAYS[name].domains[0] != "item" else "i"
            hint = f"{name}[i, c]" if G.ARRAYS[name].kind == "matrix" else f"{name}[{example}]"
            self.fail(f"'{name}' must be indexed, e.g. {hint}", node)
        if name in G.SETS:
            self.fail(f"'{name}' is an index set; use it in sum/mean/logsumexp/count", node)
        if name in G.callable_names():
            self.fail(f"'{name}' is a function; call it as {name}(...)", node)
        choices = set(self.params) | set(G.BUILTINS) | set(env)
        self.fail(f"unknown name '{name}'{did_you_mean(name, choices)}", node)

    def binop(self, node, env, nest):
        op = _BINOPS.get(type(node.op))
        if op is None:
            self.fail(_BAD_BINOPS.get(type(node.op), "operator is not allowed"), node)
        if op == "**":
            self.check_exponent(node.right)
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
        spec = G.ARRAYS.get(name)
        if spec is None:
            if name in self.params or name in G.BUILTINS:
                self.fail(f"'{name}' is a scalar and cannot be indexed", node)
            self.fail(f"unknown array '{name}'{did_you_mean(name, G.ARRAYS)}", target)
        index_nodes = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
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
        self.fail(f"unknown function '{name}'{did_you_mean(name, G.callable_names())}", func)

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
            self.fail(f"unknown index set '{node.id}'{did_you_mean(node.id, G.SETS)}", node)
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
            self.fail(f"unknown index set '{node.func.id}'{did_you_mean(node.func.id, G.SETS)}", node.func)
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
            argument_domain, result_domain, _, _ = G.INDEX_FUNCTIONS[node.func.id]
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
