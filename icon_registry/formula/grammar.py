"""The vocabulary of the formula language: one table per kind of name.

Everything the parser accepts, the evaluators compute and the LaTeX/doc renderers print is
listed here, so the reference in ``grammar_reference()`` cannot drift from the code.

Domains: ``item`` (0..n-1, the batch), ``class`` (0..C-1, prototypes w), ``cluster``
(0..K-1, columns of phi), ``id`` (source-instance ids), ``modality``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

#: Resource limits, all checked before or while parsing.
MAX_SOURCE_LENGTH = 4000
MAX_PAREN_DEPTH = 64
MAX_AST_DEPTH = 100
MAX_REDUCTION_NESTING = 6
MAX_CONSTANT_EXPONENT = 64
MAX_INT_LITERAL = 10**15
MAX_NODES = 2000


@dataclass(frozen=True)
class FunctionSpec:
    args: Tuple[str, ...]  # "scalar" | "vector"
    meaning: str
    example: str


FUNCTIONS = {
    "log": FunctionSpec(("scalar",), "natural logarithm", "log(a)"),
    "exp": FunctionSpec(("scalar",), "exponential", "exp(a)"),
    "sqrt": FunctionSpec(("scalar",), "square root", "sqrt(a)"),
    "softplus": FunctionSpec(("scalar",), "log(1 + exp(a))", "softplus(a)"),
    "abs": FunctionSpec(("scalar",), "absolute value", "abs(a)"),
    "max": FunctionSpec(("scalar", "scalar"), "the larger of two scalars (hinge: max(a, 0))", "max(a, b)"),
    "min": FunctionSpec(("scalar", "scalar"), "the smaller of two scalars", "min(a, b)"),
    "dot": FunctionSpec(("vector", "vector"), "inner product <u, v>", "dot(z[i], z[j])"),
    "cos": FunctionSpec(("vector", "vector"), "cosine similarity <u, v> / (|u| |v|)", "cos(z[i], z[j])"),
    "sqdist": FunctionSpec(("vector", "vector"), "squared Euclidean distance |u - v|^2", "sqdist(x[i], x[j])"),
    "dist": FunctionSpec(("vector", "vector"), "Euclidean distance |u - v|", "dist(z[i], w[c])"),
    "norm": FunctionSpec(("vector",), "Euclidean norm |u|", "norm(z[i])"),
}

#: Special forms (their arguments are not all scalars).
REDUCTIONS = {
    "sum": "sum(k, S, e): the sum of e over k in S (scalars or vectors; 0 over an empty set)",
    "mean": "mean(k, S, e): (1/|S|) sum(k, S, e) (scalars or vectors; an empty S is an evaluation error)",
    "logsumexp": "logsumexp(k, S, e): log(sum(k, S, exp(e))), evaluated stably (scalars only)",
    "max": "max(k, S, e): the largest e over k in S (scalars; an empty S is an evaluation error); "
    "max(a, b) with two arguments is the binary maximum",
    "min": "min(k, S, e): the smallest e over k in S (e.g. the hardest negative); min(a, b) is binary",
}
SPECIAL = {
    "count": "count(S): |S|, the number of elements of the index set S",
    "indicator": "indicator(a OP b): 1 if the comparison holds else 0; OP in == != (indices) or "
    "== != < <= > >= (scalars)",
}


@dataclass(frozen=True)
class SetSpec:
    takes_item: bool  # others(i) takes an item index; anchors takes nothing
    domain: str  # the domain of its elements
    meaning: str
    latex: str  # LaTeX of the set, '{arg}' replaced by the argument; '' = whole domain
    needs: Tuple[str, ...]  # FormulaInstance fields it reads
    takes_set: bool = False  # anchors_with(positives) takes the name of a per-item set


SETS = {
    "anchors": SetSpec(False, "item", "every item i = 0..n-1 (the anchors of a loss)", "", ()),
    "all": SetSpec(False, "item", "every item k = 0..n-1, the anchor included", "", ()),
    "others": SetSpec(True, "item", "every item k != i", r"\neq {arg}", ()),
    "positives": SetSpec(True, "item", "items with the same source id as i, i excluded (augmented views)",
                         r"\in \mathcal{{P}}({arg})", ("ids",)),
    "same_class": SetSpec(True, "item", "items with the same label as i, i excluded (SupCon's P(i))",
                          r"\in \mathcal{{Y}}({arg})", ("labels",)),
    "other_modality": SetSpec(True, "item", "items of a modality other than i's (CLIP's normalization)",
                              r"\in \mathcal{{M}}({arg})", ("modality",)),
    "cross_positives": SetSpec(True, "item", "items with i's source id and another modality (CLIP's pair)",
                               r"\in \mathcal{{X}}({arg})", ("ids", "modality")),
    "candidates": SetSpec(True, "item", "the anchor's given candidates, [pos(i), neg(i)] for triplets",
                          r"\in \{{{arg}^{{+}}, {arg}^{{-}}\}}", ("candidates",)),
    "neighbors": SetSpec(True, "item", "the anchor's given nearest neighbours: the distinct items listed in "
                         "neighbors[i], the anchor itself left out (as the knn kernel's mask)",
                         r"\in \mathcal{{N}}_k({arg})", ("neighbors",)),
    "adjacent": SetSpec(True, "item", "the items j != i joined to i by an edge of the graph, W[i, j] > 0",
                        r"\in \mathcal{{A}}({arg})", ("W",)),
    "anchors_with": SetSpec(False, "item", "the anchors i whose set S(i) is non-empty, e.g. anchors_with(positives): "
                            "the anchors a compiled loss averages over (an anchor with an empty p is skipped)",
                            r"{var} : {of} \neq \emptyset", (), takes_set=True),
    "classes": SetSpec(False, "class", "every class c = 0..C-1 (prototype rows of w)", "", ("num_classes",)),
    "clusters": SetSpec(False, "cluster", "every cluster c = 0..K-1 (columns of phi)", "", ("phi",)),
}


@dataclass(frozen=True)
class ArraySpec:
    kind: str  # "vector" | "scalar" | "index" | "matrix"
    domains: Tuple[str, ...]  # index domains
    value_domain: Optional[str]  # for index arrays: the domain of the value
    meaning: str
    field: str  # FormulaInstance field


ARRAYS = {
    "z": ArraySpec("vector", ("item",), None, "learned representation z_i = f(x_i)", "z"),
    "x": ArraySpec("vector", ("item",), None, "input features x_i", "x"),
    "g": ArraySpec("vector", ("item",), None, "side information g_i (e.g. caption embedding, X-Sample CL)", "g"),
    "w": ArraySpec("vector", ("class",), None, "class prototype w_c", "w"),
    "beta": ArraySpec("scalar", ("item",), None,
                      "per-item precision beta_i = 1 / (2 sigma_i^2) (e.g. calibrated to a perplexity)", "beta"),
    "y": ArraySpec("index", ("item",), "class", "label of item i (a class index)", "labels"),
    "id": ArraySpec("index", ("item",), "id", "source-instance id of item i", "ids"),
    "modality": ArraySpec("index", ("item",), "modality", "modality of item i", "modality"),
    "phi": ArraySpec("matrix", ("item", "cluster"), None, "soft assignment phi_ic of item i to cluster c", "phi"),
    "W": ArraySpec("matrix", ("item", "item"), None, "graph weight W_ij", "W"),
}

INDEX_FUNCTIONS = {
    "pos": ("item", "item", "the positive candidate of anchor i (candidates[i][0])", "candidates"),
    "neg": ("item", "item", "the negative candidate of anchor i (candidates[i][1])", "candidates"),
}

BUILTINS = {"n": "the number of items in the batch"}

DOMAIN_WORDS = {"item": "items", "class": "classes", "cluster": "clusters", "id": "ids", "modality": "modalities"}


def reserved_names() -> set:
    return set(FUNCTIONS) | set(REDUCTIONS) | set(SPECIAL) | set(SETS) | set(ARRAYS) | set(INDEX_FUNCTIONS) | set(
        BUILTINS)


def callable_names() -> set:
    return set(FUNCTIONS) | set(REDUCTIONS) | set(SPECIAL) | {k for k, s in SETS.items() if s.takes_item or s.takes_set} | set(
        INDEX_FUNCTIONS)


def grammar_reference() -> str:
    """The language reference as Markdown (for the docs site)."""
    lines = [
        "## Formula language",
        "",
        "Python-like expressions, parsed with a whitelist (never evaluated as Python).",
        "Operators: `+ - * / **` and unary `-`; numbers (int, float); parentheses.",
        f"Constant exponents must satisfy |e| <= {MAX_CONSTANT_EXPONENT}; an exponent may not contain `**`.",
        f"Limits: {MAX_SOURCE_LENGTH} characters, {MAX_PAREN_DEPTH} nested brackets, "
        f"{MAX_REDUCTION_NESTING} nested reductions.",
        "Parameters (tau, sigma, margin, ...) are the entry's declared parameter names.",
        "",
        "### Built-in scalars",
        "",
    ]
    lines += [f"- `{name}`: {meaning}" for name, meaning in BUILTINS.items()]
    lines += ["", "### Data (indexed by bound index variables)", ""]
    for name, spec in ARRAYS.items():
        if spec.kind == "matrix":
            second = "c" if spec.domains[1] == "cluster" else "j"
            shape = f"`{name}[i, {second}]` ({spec.domains[0]} x {spec.domains[1]}, scalar)"
        elif spec.kind == "index":
            shape = f"`{name}[i]` (item -> {spec.value_domain} index)"
        elif spec.kind == "scalar":
            shape = f"`{name}[i]` (item -> scalar)"
        else:
            shape = f"`{name}[{'c' if spec.domains[0] != 'item' else 'i'}]` ({spec.domains[0]} -> vector)"
        lines.append(f"- {shape}: {spec.meaning}")
    for name, (_, _, meaning, _) in INDEX_FUNCTIONS.items():
        lines.append(f"- `{name}(i)` (item -> item index): {meaning}")
    lines += ["", "### Scalar functions", ""]
    lines += [f"- `{spec.example}`: {spec.meaning}" for spec in FUNCTIONS.values()]
    lines += ["", "### Reductions and special forms", ""]
    lines += [f"- `{name}`: {text}" for name, text in {**REDUCTIONS, **SPECIAL}.items()]
    lines += [
        "",
        "The index variable (first argument) is a new name, bound inside the body only.",
        "Vector expressions: `z[i] + z[j]`, `z[i] - x[i]`, `a * z[i]`, `z[i] / a`, `sum`/`mean` of vectors",
        "(so mean(k, all, z[k]) is the batch mean z-bar). Var(z) = `mean(i, anchors, sqdist(z[i], mean(k, all, z[k])))`.",
        "",
        "Indices: a bound index variable (`i`), an index array at an index (`y[i]`, so `w[y[i]]`), or",
        "`pos(i)`/`neg(i)` (so `z[pos(i)]`). Index domains are checked: `z[c]` with c over classes is an error.",
        "Inside `indicator`, indices of the same domain compare with == / !=, also against a non-negative",
        "integer (`indicator(modality[i] == 0)`).",
        "",
        "Empty sets: `sum` over an empty set is 0 and `count` is 0; `mean`, `max` and `min` over an empty set",
        "are evaluation errors; `logsumexp` over an empty set is -inf. A compiled loss gives an anchor whose",
        "supervisory distribution p(.|i) is empty a term of 0 and leaves it out of its mean, so a published",
        "loss that averages over anchors is written `mean(i, anchors_with(positives), ...)` (the anchors with",
        "at least one positive); the verifier always checks batches with such anchors.",
        "",
        "Evaluation: numeric (numpy float64; inf/nan are returned, not raised) or SymPy (decimal literals",
        "become exact rationals, max/min are Max/Min, softplus is log(1 + exp(a)), scalar indicators are",
        "Piecewise). Formulas are evaluated as written: `log(exp(a) / sum(k, S, exp(b)))` can underflow",
        "where `a - logsumexp(k, S, b)` does not.",
        "",
        "### Index sets",
        "",
    ]
    for name, spec in SETS.items():
        call = f"{name}(i)" if spec.takes_item else f"{name}(S)" if spec.takes_set else name
        lines.append(f"- `{call}` ({DOMAIN_WORDS[spec.domain]}): {spec.meaning}")
    lines += [
        "",
        "### Examples",
        "",
        "- InfoNCE: `-sum(i, anchors, mean(j, positives(i), log(exp(cos(z[i], z[j]) / tau)"
        " / sum(k, others(i), exp(cos(z[i], z[k]) / tau)))))`",
        "- cross entropy: `-sum(i, anchors, log(exp(dot(z[i], w[y[i]])) / sum(c, classes, exp(dot(z[i], w[c])))))`",
        "- triplet: `sum(i, anchors, max(sqdist(z[i], z[pos(i)]) - sqdist(z[i], z[neg(i)]) + margin, 0))`",
        "- PCA limit: `-2 * mean(i, anchors, sqdist(z[i], mean(k, all, z[k])))`",
        "- soft K-Means: `sum(i, anchors, sum(c, clusters, phi[i, c] * sqdist(x[i], sum(k, all, phi[k, c] * x[k])"
        " / sum(k, all, phi[k, c]))))`",
    ]
    return "\n".join(lines) + "\n"
