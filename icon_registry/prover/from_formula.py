"""A parsed formula (``icon_registry.formula`` AST) as a prover expression, for every batch.

The translation is definitional: each construct becomes the prover's form of what the formula
language defines it to be (sqdist(a, b) = |a - b|^2, cos(a, b) = <a, b> / (|a| |b|),
softplus(a) = log(1 + exp(a)), index sets as predicates on their members). Means and
logsumexps stay reductions; the rewrite rules turn them into sums only where their set is
non-empty.
"""

from __future__ import annotations

import sympy

from icon_registry.formula import nodes as F
from icon_registry.prover import ir


class IndCmp(sympy.Expr):
    """indicator(a op b) of the formula, not yet turned into a set restriction."""

    is_commutative = True
    is_nonnegative = True

    def __new__(cls, op, left, right):
        op = op if isinstance(op, sympy.core.symbol.Str) else sympy.core.symbol.Str(op)
        return sympy.Expr.__new__(cls, op, left, right)

    @property
    def op(self) -> str:
        return self.args[0].name

    @property
    def free_symbols(self):
        return self.args[1].free_symbols | self.args[2].free_symbols

    def _sympystr(self, printer):
        return f"indicator({printer._print(self.args[1])} {self.op} {printer._print(self.args[2])})"


_ARRAY_INDEX = {"y": "labels", "id": "ids", "modality": "modality"}


def per_item_set(name: str, anchor) -> ir.ISet:
    """The formula language's per-anchor index sets as predicates on their members."""
    if name == "others":
        return ir.items(ir.Atom("not_self", None, anchor))
    if name == "positives":
        return ir.items(ir.Atom("same", "ids", anchor), ir.Atom("not_self", None, anchor))
    if name == "same_class":
        return ir.items(ir.Atom("same", "labels", anchor), ir.Atom("not_self", None, anchor))
    if name == "other_modality":
        return ir.items(ir.Atom("differ", "modality", anchor))
    if name == "cross_positives":
        return ir.items(ir.Atom("same", "ids", anchor), ir.Atom("differ", "modality", anchor))
    if name == "neighbors":
        return ir.items(ir.Atom("in_list", "neighbors", anchor))
    if name == "adjacent":
        return ir.items(ir.Atom("edge", None, anchor), ir.Atom("not_self", None, anchor))
    raise ir.Unsupported(f"the index set '{name}'")


class Translator:
    def __init__(self, parameters: dict):
        self.parameters = parameters  # name -> Symbol (the entry's, see ir.parameter)

    def __call__(self, formula):
        value = self.expr(getattr(formula, "root", formula), {})
        if isinstance(value, dict):
            raise ir.Unsupported("a vector-valued formula")
        return value

    # sets and indices ----------------------------------------------------------------------
    def iset(self, ref: F.SetRef, env) -> ir.ISet:
        if ref.of is not None:
            return ir.items(ir.nonempty(per_item_set(ref.of, ir.SELF)))
        if ref.name in ("anchors", "all"):
            return ir.items()
        if ref.name == "classes":
            return ir.classes()
        if ref.name == "clusters":
            return ir.ISet("cluster")
        if ref.arg is None:
            raise ir.Unsupported(f"the index set '{ref.name}'")
        return per_item_set(ref.name, self.index(ref.arg, env))

    def index(self, node, env):
        if isinstance(node, F.Index):
            return env[node.name]
        if isinstance(node, F.IndexAt):
            return ir.IdxAt(node.array, self.index(node.index, env))
        if isinstance(node, F.IndexCall):
            return ir.IdxAt(node.func, self.index(node.index, env))
        if isinstance(node, F.Num):
            return sympy.Integer(int(node.value))
        raise ir.Unsupported(f"the index {type(node).__name__}")

    # expressions -----------------------------------------------------------------------------
    def expr(self, node, env):
        """A SymPy scalar, or a vector as an ``ir.Linear`` dict."""
        if isinstance(node, F.Num):
            return sympy.Integer(node.value) if isinstance(node.value, int) else sympy.Rational(repr(node.value))
        if isinstance(node, F.Param):
            return self.parameters[node.name]
        if isinstance(node, F.Builtin):
            return ir.N_ITEMS
        if isinstance(node, F.VectorAt):
            name = "x" if node.array == "g" else node.array
            return ir.vector(ir.Vec(name, self.index(node.index, env)))
        if isinstance(node, F.ScalarAt):
            return ir.At(node.array, self.index(node.index, env))
        if isinstance(node, F.MatrixAt):
            return ir.At(node.array, self.index(node.row, env), self.index(node.col, env))
        if isinstance(node, F.Neg):
            value = self.expr(node.operand, env)
            return ir.scale_linear(value, -1) if isinstance(value, dict) else -value
        if isinstance(node, F.BinOp):
            return self.binop(node, env)
        if isinstance(node, F.Call):
            return self.call(node, env)
        if isinstance(node, F.Count):
            return ir.Card(self.iset(node.set, env))
        if isinstance(node, F.Indicator):
            left, right = node.left, node.right
            index_like = (F.Index, F.IndexAt, F.IndexCall)
            if isinstance(left, index_like) or isinstance(right, index_like):
                return IndCmp(node.op, self.index(left, env), self.index(right, env))
            return IndCmp(node.op, self.expr(left, env), self.expr(right, env))
        if isinstance(node, F.Reduce):
            return self.reduce(node, env)
        raise ir.Unsupported(f"the formula construct {type(node).__name__}")

    def binop(self, node, env):
        left, right = self.expr(node.left, env), self.expr(node.right, env)
        vectors = isinstance(left, dict) or isinstance(right, dict)
        if node.op == "+":
            return ir.add_linear(left, right) if vectors else left + right
        if node.op == "-":
            return ir.add_linear(left, right, -1) if vectors else left - right
        if node.op == "*":
            if vectors:
                vec, scalar = (left, right) if isinstance(left, dict) else (right, left)
                return ir.scale_linear(vec, scalar)
            return left * right
        if node.op == "/":
            return ir.scale_linear(left, 1 / right) if vectors else left / right
        return left**right

    def call(self, node, env):
        args = [self.expr(arg, env) for arg in node.args]
        func = node.func
        if func in ("log", "exp", "sqrt"):
            return getattr(sympy, func)(args[0])
        if func == "softplus":
            return sympy.log(1 + sympy.exp(args[0]))
        if func == "abs":
            return sympy.Abs(args[0])
        if func in ("max", "min"):
            return (sympy.Max if func == "max" else sympy.Min)(*args)
        if func == "dot":
            return ir.dot(*args)
        if func == "cos":
            return ir.cosine(*args)
        if func == "norm":
            return sympy.sqrt(ir.dot(args[0], args[0]))
        if func == "sqdist":
            return ir.sqdist(*args)
        if func == "dist":
            return sympy.sqrt(ir.sqdist(*args))
        raise ir.Unsupported(f"the function {func}")

    def reduce(self, node, env):
        iset = self.iset(node.set, env)
        var = ir.fresh(node.var)
        body = self.expr(node.body, {**env, node.var: var})
        if isinstance(body, dict):
            if node.kind not in ("sum", "mean"):
                raise ir.Unsupported(f"{node.kind} of vectors")
            total = ir.vector(ir.VSum(body, var, iset))
            return total if node.kind == "sum" else ir.scale_linear(total, 1 / ir.Card(iset))
        kind = "lse" if node.kind == "logsumexp" else node.kind
        return ir.Red(kind, body, var, iset)


def translate(formula, parameters: dict):
    """The formula (a parsed ``Formula`` or AST node) as a prover expression."""
    return Translator(parameters)(formula)
