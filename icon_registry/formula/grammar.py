"""The vocabulary of the formula language: one table per kind of name, each with an example.

Everything the parser accepts, the evaluators compute and the LaTeX renderer prints is listed
here, and every entry carries a complete example formula (the tests parse and evaluate each
one; ``icon_registry.formula.reference`` turns these tables into the language reference, the
docs page and ``icon formula``), so the reference cannot drift from the code.

Domains: ``item`` (0..n-1, the batch), ``class`` (0..C-1, prototypes w), ``cluster``
(0..K-1, columns of phi), ``id`` (source-instance ids), ``modality``, ``output`` (0..K-1, the
entries of z as logits), ``bank`` (0..M-1, the rows of a bank passed in the call).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Tuple

#: Resource limits, all checked before or while parsing.
MAX_SOURCE_LENGTH = 4000
MAX_PAREN_DEPTH = 64
MAX_AST_DEPTH = 100
MAX_REDUCTION_NESTING = 6
MAX_CONSTANT_EXPONENT = 64
MAX_INT_LITERAL = 10**15
MAX_NODES = 2000  # with the definitions written out
MAX_DEFINITIONS = 16

#: The parameters the examples below use (an entry declares its own).
EXAMPLE_PARAMETERS = {"tau": 0.5, "margin": 1.0}


@dataclass(frozen=True)
class Spec:
    """A name or form of the language: what it means and a complete example formula."""

    meaning: str
    example: str


@dataclass(frozen=True)
class OperatorSpec(Spec):
    symbol: str = ""


OPERATORS = {
    "+": OperatorSpec("addition (scalars, or two vectors)", "tau + 1", "+"),
    "-": OperatorSpec("subtraction; also unary minus", "-sum(i, anchors, dot(z[i], z[i])) - margin", "-"),
    "*": OperatorSpec("multiplication (scalars, or a scalar and a vector)", "sum(i, anchors, norm(2 * z[i]))", "*"),
    "/": OperatorSpec("division (a vector may be divided by a scalar)", "sum(i, anchors, norm(z[i] / tau))", "/"),
    "**": OperatorSpec(f"power of scalars (a constant exponent satisfies |e| <= {MAX_CONSTANT_EXPONENT}; "
                       "no power inside an exponent)",
                       "sum(i, anchors, (1 + sqdist(z[i], z[pos(i)]))**-1)", "**"),
    "( )": OperatorSpec("grouping", "(tau + 1) * 2", "( )"),
    "numbers": OperatorSpec(f"integers (|k| <= {MAX_INT_LITERAL:.0e}) and finite decimals, e.g. 2, 0.5, 1e-3",
                            "0.5 * tau + 1e-3", "2, 0.5, 1e-3"),
}


@dataclass(frozen=True)
class FunctionSpec:
    args: Tuple[str, ...]  # "scalar" | "vector"
    meaning: str
    example: str


FUNCTIONS = {
    "log": FunctionSpec(("scalar",), "natural logarithm", "sum(i, anchors, log(1 + sqdist(z[i], x[i])))"),
    "exp": FunctionSpec(("scalar",), "exponential", "sum(i, anchors, exp(-norm(z[i])))"),
    "sqrt": FunctionSpec(("scalar",), "square root", "sqrt(sum(i, anchors, dot(z[i], z[i])))"),
    "softplus": FunctionSpec(("scalar",), "log(1 + exp(a)), evaluated stably",
                             "sum(i, anchors, softplus(sqdist(z[i], z[pos(i)]) - sqdist(z[i], z[neg(i)])))"),
    "abs": FunctionSpec(("scalar",), "absolute value", "sum(i, anchors, abs(dot(z[i], x[i])))"),
    "max": FunctionSpec(("scalar", "scalar"), "the larger of two scalars (hinge: max(a, 0))",
                        "sum(i, anchors, max(margin - dist(z[i], z[neg(i)]), 0))"),
    "min": FunctionSpec(("scalar", "scalar"), "the smaller of two scalars", "sum(i, anchors, min(dot(z[i], x[i]), 0))"),
    "dot": FunctionSpec(("vector", "vector"), "inner product <u, v>", "sum(i, anchors, dot(z[i], z[pos(i)]))"),
    "cos": FunctionSpec(("vector", "vector"), "cosine similarity <u, v> / (|u| |v|)", "mean(i, anchors, cos(z[i], x[i]))"),
    "sqdist": FunctionSpec(("vector", "vector"), "squared Euclidean distance |u - v|^2",
                           "sum(i, anchors, sqdist(z[i], z[pos(i)]))"),
    "dist": FunctionSpec(("vector", "vector"), "Euclidean distance |u - v|", "sum(i, anchors, dist(z[i], w[y[i]]))"),
    "norm": FunctionSpec(("vector",), "Euclidean norm |u|", "sum(i, anchors, norm(z[i]))"),
}

#: Special forms (their arguments are not all scalars).
REDUCTIONS = {
    "sum": Spec("sum(k, S, e): the sum of e over k in S (scalars or vectors; 0 over an empty set)",
                "sum(i, anchors, sum(k, others(i), exp(dot(z[i], z[k]) / tau)))"),
    "mean": Spec("mean(k, S, e): (1/|S|) sum(k, S, e) (scalars or vectors; an empty S is an evaluation error)",
                 "mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j])))"),
    "logsumexp": Spec("logsumexp(k, S, e): log(sum(k, S, exp(e))), evaluated stably (scalars only)",
                      "sum(i, anchors, logsumexp(k, others(i), cos(z[i], z[k]) / tau))"),
    "max": Spec("max(k, S, e): the largest e over k in S (scalars; an empty S is an evaluation error); "
                "max(a, b) with two arguments is the binary maximum",
                "sum(i, anchors, max(k, others(i), cos(z[i], z[k])))"),
    "min": Spec("min(k, S, e): the smallest e over k in S (e.g. the hardest negative); min(a, b) is binary",
                "sum(i, anchors, min(k, others(i), sqdist(z[i], z[k])))"),
}
SPECIAL = {
    "count": Spec("count(S): |S|, the number of elements of the index set S",
                  "sum(i, anchors_with(same_class), log(count(same_class(i))))"),
    "indicator": Spec("indicator(a OP b): 1 if the comparison holds else 0; OP in == != (indices) or "
                      "== != < <= > >= (scalars)",
                      "sum(i, anchors, indicator(sqdist(z[i], z[pos(i)]) < sqdist(z[i], z[neg(i)])))"),
}


@dataclass(frozen=True)
class SetSpec:
    takes_item: bool  # others(i) takes an item index; anchors takes nothing
    domain: str  # the domain of its elements
    meaning: str
    latex: str  # LaTeX of the set, '{arg}' replaced by the argument; '' = whole domain
    needs: Tuple[str, ...]  # FormulaInstance fields it reads
    takes_set: bool = False  # anchors_with(positives) takes the name of a per-item set
    example: str = ""


SETS = {
    "anchors": SetSpec(False, "item", "every item i = 0..n-1 (the anchors of a loss)", "", (),
                       example="sum(i, anchors, norm(z[i]))"),
    "all": SetSpec(False, "item", "every item k = 0..n-1, the anchor included", "", (),
                   example="sum(i, anchors, sqdist(z[i], mean(k, all, z[k])))"),
    "others": SetSpec(True, "item", "every item k != i", r"\neq {arg}", (),
                      example="sum(i, anchors, logsumexp(k, others(i), -sqdist(z[i], z[k])))"),
    "positives": SetSpec(True, "item", "items with the same source id as i, i excluded (augmented views)",
                         r"\in \mathcal{{P}}({arg})", ("ids",),
                         example="-mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j]) / tau "
                                 "- logsumexp(k, others(i), cos(z[i], z[k]) / tau)))"),
    "same_class": SetSpec(True, "item", "items with the same label as i, i excluded (SupCon's P(i))",
                          r"\in \mathcal{{Y}}({arg})", ("labels",),
                          example="mean(i, anchors_with(same_class), mean(j, same_class(i), sqdist(z[i], z[j])))"),
    "other_modality": SetSpec(True, "item", "items of a modality other than i's (CLIP's normalization)",
                              r"\in \mathcal{{M}}({arg})", ("modality",),
                              example="sum(i, anchors, logsumexp(k, other_modality(i), cos(z[i], z[k]) / tau))"),
    "cross_positives": SetSpec(True, "item", "items with i's source id and another modality (CLIP's pair)",
                               r"\in \mathcal{{X}}({arg})", ("ids", "modality"),
                               example="mean(i, anchors_with(cross_positives), mean(j, cross_positives(i), "
                                       "cos(z[i], z[j])))"),
    "candidates": SetSpec(True, "item", "the anchor's given candidates, [pos(i), neg(i)] for triplets",
                          r"\in \{{{arg}^{{+}}, {arg}^{{-}}\}}", ("candidates",),
                          example="sum(i, anchors, logsumexp(k, candidates(i), -sqdist(z[i], z[k])))"),
    "neighbors": SetSpec(True, "item", "the anchor's given nearest neighbours: the distinct items listed in "
                         "neighbors[i], the anchor itself left out (as the knn kernel's mask)",
                         r"\in \mathcal{{N}}_k({arg})", ("neighbors",),
                         example="sum(i, anchors, mean(j, neighbors(i), sqdist(z[i], z[j])))"),
    "adjacent": SetSpec(True, "item", "the items j != i joined to i by an edge of the graph, W[i, j] > 0",
                        r"\in \mathcal{{A}}({arg})", ("W",),
                        example="sum(i, anchors, sum(j, adjacent(i), W[i, j] * sqdist(z[i], z[j])))"),
    "anchors_with": SetSpec(False, "item", "the anchors i whose set S(i) is non-empty, e.g. anchors_with(positives): "
                            "the anchors a compiled loss averages over (an anchor with an empty p is skipped)",
                            r"{var} : {of} \neq \emptyset", (), takes_set=True,
                            example="mean(i, anchors_with(same_class), log(count(same_class(i))))"),
    "classes": SetSpec(False, "class", "every class c = 0..C-1 (prototype rows of w)", "", ("num_classes",),
                       example="-mean(i, anchors, dot(z[i], w[y[i]]) / tau - logsumexp(c, classes, dot(z[i], w[c]) / tau))"),
    "clusters": SetSpec(False, "cluster", "every cluster c = 0..K-1 (columns of phi)", "", ("phi",),
                        example="sum(i, anchors, sum(c, clusters, phi[i, c] * sqdist(x[i], sum(k, all, phi[k, c] * x[k])"
                                " / sum(k, all, phi[k, c]))))"),
    "outputs": SetSpec(False, "output", "every output c = 0..K-1 of z (the entries of z_i as logits)", "", ("z",),
                       example="sum(i, anchors, logsumexp(c, outputs, logit[i, c]))"),
    "bank": SetSpec(False, "bank", "every row m = 0..M-1 of the bank passed in the call", "", ("bank",),
                    example="sum(i, anchors, logsumexp(m, bank, dot(z[i], memory[m])))"),
    "teacher_support": SetSpec(True, "output", "the outputs c where the teacher's probability teacher[i, c] is "
                               "not 0 (the support of a given distribution, e.g. SwAV's codes; a NaN or "
                               "negative value stays in it and makes the loss NaN)",
                               r"\in \operatorname{{supp}} t_{{{arg}}}", ("teacher",),
                               example="sum(i, anchors, sum(c, teacher_support(i), teacher[i, c] * logit[i, c]))"),
    "bank_positives": SetSpec(True, "bank", "the bank rows with i's source id (its positives among the bank: "
                              "CPC, N-pair)", r"\in \mathcal{{B}}^{{+}}({arg})", ("bank_ids", "ids"),
                              example="sum(i, anchors, sum(m, bank_positives(i), dot(z[i], memory[m])))"),
}


@dataclass(frozen=True)
class ArraySpec:
    kind: str  # "vector" | "scalar" | "index" | "matrix"
    domains: Tuple[str, ...]  # index domains
    value_domain: Optional[str]  # for index arrays: the domain of the value
    meaning: str
    field: str  # FormulaInstance field
    example: str = ""


ARRAYS = {
    "z": ArraySpec("vector", ("item",), None, "learned representation z_i = f(x_i)", "z",
                   "sum(i, anchors, norm(z[i]))"),
    "x": ArraySpec("vector", ("item",), None, "input features x_i", "x",
                   "sum(i, anchors, sum(j, others(i), exp(-sqdist(x[i], x[j]))))"),
    "g": ArraySpec("vector", ("item",), None, "side information g_i (e.g. caption embedding, X-Sample CL)", "g",
                   "sum(i, anchors, cos(g[i], z[i]))"),
    "w": ArraySpec("vector", ("class",), None, "class prototype w_c", "w", "sum(i, anchors, dot(z[i], w[y[i]]))"),
    "beta": ArraySpec("scalar", ("item",), None,
                      "per-item precision β_i = 1 / (2 σ_i²) (e.g. calibrated to a perplexity)", "beta",
                      "sum(i, anchors, beta[i] * sqdist(x[i], x[pos(i)]))"),
    "y": ArraySpec("index", ("item",), "class", "label of item i (a class index)", "labels",
                   "mean(i, anchors, sum(j, others(i), indicator(y[i] == y[j])))"),
    "id": ArraySpec("index", ("item",), "id", "source-instance id of item i", "ids",
                    "sum(i, anchors, sum(j, others(i), indicator(id[i] == id[j])))"),
    "modality": ArraySpec("index", ("item",), "modality", "modality of item i", "modality",
                          "sum(i, anchors, indicator(modality[i] == 0))"),
    "phi": ArraySpec("matrix", ("item", "cluster"), None, "soft assignment phi_ic of item i to cluster c", "phi",
                     "sum(i, anchors, sum(c, clusters, phi[i, c] * log(phi[i, c])))"),
    "W": ArraySpec("matrix", ("item", "item"), None, "graph weight W_ij", "W",
                   "sum(i, anchors, sum(j, others(i), W[i, j] * sqdist(z[i], z[j])))"),
    "logit": ArraySpec("matrix", ("item", "output"), None, "entry c of the learned z_i, read as a logit (z_ic)", "z",
                       "sum(i, anchors, logsumexp(c, outputs, logit[i, c]))"),
    "teacher": ArraySpec("matrix", ("item", "output"), None,
                         "the teacher's score for output c of anchor i (logits or probabilities, given in the call)",
                         "teacher", "sum(i, anchors, sum(c, outputs, teacher[i, c] * logit[i, c]))"),
    "center": ArraySpec("scalar", ("output",), None, "entry c of the centre given in the call (DINO's teacher centre)",
                        "center", "sum(c, outputs, center[c])"),
    "key": ArraySpec("vector", ("item",), None, "the anchor's own key k_i (MoCo), given in the call", "keys",
                     "sum(i, anchors, dot(z[i], key[i]))"),
    "memory": ArraySpec("vector", ("bank",), None,
                        "row m of the bank given in the call (a queue, a support set, the other view's positives)",
                        "bank", "sum(i, anchors, logsumexp(m, bank, dot(z[i], memory[m])))"),
    "memory_id": ArraySpec("index", ("bank",), "id", "source-instance id of bank row m", "bank_ids",
                           "sum(i, anchors, sum(m, bank, indicator(memory_id[m] == id[i])))"),
    "memory_y": ArraySpec("index", ("bank",), "class", "label of bank row m (a class index)", "bank_labels",
                          "sum(i, anchors, sum(m, bank, indicator(memory_y[m] == y[i])))"),
}


@dataclass(frozen=True)
class IndexFunctionSpec:
    argument: str  # domain of the argument
    result: str  # domain of the value
    meaning: str
    field: str  # FormulaInstance field
    example: str


INDEX_FUNCTIONS = {
    "pos": IndexFunctionSpec("item", "item", "the positive candidate of anchor i (candidates[i][0])", "candidates",
                             "sum(i, anchors, sqdist(z[i], z[pos(i)]))"),
    "neg": IndexFunctionSpec("item", "item", "the negative candidate of anchor i (candidates[i][1])", "candidates",
                             "sum(i, anchors, max(sqdist(z[i], z[pos(i)]) - sqdist(z[i], z[neg(i)]) + margin, 0))"),
}

BUILTINS = {"n": Spec("the number of items in the batch", "sum(i, anchors, norm(z[i])) / n")}


@dataclass(frozen=True)
class LimitSpec:
    value: int
    meaning: str
    #: a formula (and definitions) just past the limit: the tests check that it is refused
    violation: Callable[[], Tuple[str, Mapping[str, str]]]
    shown: str  # the violation, in words


def _doubling(count: int) -> dict:
    """Definitions that double in size: d{k} = d{k-1} + d{k-1}."""
    definitions = {"d0": "tau"}
    for k in range(1, count + 1):
        definitions[f"d{k}"] = f"d{k - 1} + d{k - 1}"
    return definitions


LIMITS = {
    "characters": LimitSpec(MAX_SOURCE_LENGTH, "characters in one formula or definition",
                            lambda: ("1" + " " * MAX_SOURCE_LENGTH, {}), f"{MAX_SOURCE_LENGTH + 1} characters"),
    "brackets": LimitSpec(MAX_PAREN_DEPTH, "nested brackets",
                          lambda: ("(" * (MAX_PAREN_DEPTH + 1) + "1" + ")" * (MAX_PAREN_DEPTH + 1), {}),
                          f"{MAX_PAREN_DEPTH + 1} nested brackets"),
    "depth": LimitSpec(MAX_AST_DEPTH, "levels of nesting in the expression tree",
                       lambda: ("1+" * (MAX_AST_DEPTH + 1) + "1", {}), f"1+1+...+1 with {MAX_AST_DEPTH + 2} terms"),
    "reductions": LimitSpec(MAX_REDUCTION_NESTING, "reductions nested in one another",
                            lambda: ("".join(f"sum(k{d}, all, " for d in range(MAX_REDUCTION_NESTING + 1)) + "1"
                                     + ")" * (MAX_REDUCTION_NESTING + 1), {}),
                            f"{MAX_REDUCTION_NESTING + 1} nested sums"),
    "exponent": LimitSpec(MAX_CONSTANT_EXPONENT, "absolute value of a constant exponent",
                          lambda: (f"2**{MAX_CONSTANT_EXPONENT + 1}", {}), f"2**{MAX_CONSTANT_EXPONENT + 1}"),
    "integer": LimitSpec(MAX_INT_LITERAL, "size of an integer literal",
                         lambda: (str(MAX_INT_LITERAL + 1), {}), f"{MAX_INT_LITERAL + 1}"),
    "nodes": LimitSpec(MAX_NODES, "nodes of the expression tree with its definitions written out",
                       lambda: ("d11", _doubling(11)), "definitions that double in size eleven times"),
    "definitions": LimitSpec(MAX_DEFINITIONS, "definitions under loss.where",
                             lambda: ("tau", {f"d{k}": "tau" for k in range(MAX_DEFINITIONS + 1)}),
                             f"{MAX_DEFINITIONS + 1} definitions"),
}

#: Words people reach for that the language spells differently (shown after "unknown ...").
HINTS = {
    "negatives": "; no set holds only the negatives: sum k over others(i), weighted by indicator(id[k] != id[i])",
    "softmax": "; write log q as a - logsumexp(k, S, b)",
    "ln": "; did you mean 'log'?",
    "dist2": "; did you mean 'sqdist'?",
    "cosine": "; did you mean 'cos'?",
    "inner": "; did you mean 'dot'?",
}

DOMAIN_WORDS = {"item": "items", "class": "classes", "cluster": "clusters", "id": "ids", "modality": "modalities",
                "output": "outputs", "bank": "bank rows"}
#: the index letter the reference uses for each domain
DOMAIN_LETTERS = {"item": "i", "class": "c", "cluster": "c", "output": "c", "bank": "m"}


def reserved_names() -> set:
    return set(FUNCTIONS) | set(REDUCTIONS) | set(SPECIAL) | set(SETS) | set(ARRAYS) | set(INDEX_FUNCTIONS) | set(
        BUILTINS)


def callable_names() -> set:
    return set(FUNCTIONS) | set(REDUCTIONS) | set(SPECIAL) | {k for k, s in SETS.items() if s.takes_item or s.takes_set} | set(
        INDEX_FUNCTIONS)
