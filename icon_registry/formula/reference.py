"""The formula-language reference, generated from ``grammar`` (the docs page "Formula
language" and ``icon formula``), and the instance its examples are evaluated on."""

from __future__ import annotations

from icon_registry.formula import grammar as G

#: Named sub-expressions: t-SNE's loss with P and Q defined once (the example of ``loss.where``).
WHERE_EXAMPLE = (
    "sum(i, anchors, sum(j, others(i), P[i, j] * log(P[i, j] / Q[i, j])))",
    {
        "p[i, j]": "exp(-beta[i]*sqdist(x[i], x[j]) - logsumexp(k, others(i), -beta[i]*sqdist(x[i], x[k])))",
        "P[i, j]": "(p[i, j] + p[j, i]) / (2*n)",
        "Q[i, j]": "(1 + sqdist(z[i], z[j]))**-1 / sum(k, anchors, sum(l, others(k), (1 + sqdist(z[k], z[l]))**-1))",
    },
)


def examples() -> list[tuple[str, str, str, dict]]:
    """Every example of the reference: (section, name, formula, definitions)."""
    found = [("operators", name, spec.example, {}) for name, spec in G.OPERATORS.items()]
    found += [("built-ins", name, spec.example, {}) for name, spec in G.BUILTINS.items()]
    found += [("data", name, spec.example, {}) for name, spec in G.ARRAYS.items()]
    found += [("index functions", name, spec.example, {}) for name, spec in G.INDEX_FUNCTIONS.items()]
    found += [("functions", name, spec.example, {}) for name, spec in G.FUNCTIONS.items()]
    found += [("reductions", name, spec.example, {}) for name, spec in {**G.REDUCTIONS, **G.SPECIAL}.items()]
    found += [("index sets", name, spec.example, {}) for name, spec in G.SETS.items()]
    found.append(("definitions", "where", WHERE_EXAMPLE[0], WHERE_EXAMPLE[1]))
    return found


def example_instance(n: int = 6, seed: int = 0):
    """A batch with every datum the language reads (numeric), for the examples: n items in
    pairs of views (ids), two classes, two modalities, candidates, 2 neighbours, 3 prototypes,
    3 clusters, a symmetric graph, calibrated-looking precisions, a teacher's scores over z's 3
    outputs with a centre, keys, a bank of 4 rows with ids and labels, and ``EXAMPLE_PARAMETERS``."""
    import numpy as np

    from icon_registry.formula.evaluator import FormulaInstance

    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3))
    phi = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    graph = np.triu(rng.uniform(0.1, 1.0, (n, n)), 1)
    return FormulaInstance(
        n=n,
        z=rng.normal(size=(n, 3)).tolist(),
        x=rng.normal(size=(n, 3)).tolist(),
        g=rng.normal(size=(n, 3)).tolist(),
        w=rng.normal(size=(3, 3)).tolist(),
        labels=[i * 2 // n for i in range(n)],
        ids=[i // 2 for i in range(n)],
        modality=[i % 2 for i in range(n)],
        candidates=[[(i + 1) % n, (i + 2) % n] for i in range(n)],
        neighbors=[[(i + 1) % n, (i + 3) % n] for i in range(n)],
        beta=rng.uniform(0.5, 2.0, n).tolist(),
        phi=phi.tolist(),
        W=(graph + graph.T).tolist(),
        teacher=np.abs(rng.normal(size=(n, 3))).tolist(),
        center=rng.normal(size=3).tolist(),
        keys=rng.normal(size=(n, 3)).tolist(),
        bank=rng.normal(size=(4, 3)).tolist(),
        bank_ids=[0, 1, 2, 5],
        bank_labels=[0, 1, 1, 0],
        params=dict(G.EXAMPLE_PARAMETERS),
    )


def _code(text: str) -> str:
    return f"`{text}`"


def grammar_reference() -> str:
    """The language reference as Markdown (the docs page; ``icon formula`` prints it)."""
    parameters = ", ".join(G.EXAMPLE_PARAMETERS)
    lines = [
        "# Formula language",
        "",
        "Every formula of an entry (`loss.formula`, the definitions under `loss.where`, and the claims' "
        "`constant`, `equals`, `offset`, `scale`, `factor` and `cost`) is written in this small language. "
        "It looks like Python but is parsed with a whitelist and never run as Python. "
        "Formulas are ASCII only (a look-alike letter from another alphabet, such as a Cyrillic `о`, "
        "is an error that names the character). `icon validate` checks every formula of an entry "
        "against the entry: its declared parameters, its definitions and the data its p and q provide; "
        "`icon formula 'EXPR'` checks one expression (`--entry ID` against an entry).",
        "",
        f"Every example below is a complete formula; the test suite parses and evaluates each one on a batch "
        f"with all the data below and the parameters {parameters}.",
        "",
        "## Operators and numbers",
        "",
    ]
    lines += [f"- {_code(spec.symbol)}: {spec.meaning}. Example: {_code(spec.example)}" for spec in G.OPERATORS.values()]
    lines += [
        "",
        "Comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`) appear only inside `indicator(...)`.",
        "",
        "## Names: parameters, built-ins and index variables",
        "",
        "- Parameters: the entry's declared parameter names (`tau`, `sigma`, `margin`, ...), scalars. "
        "A name that is not declared is an error that lists the close ones.",
    ]
    lines += [f"- {_code(name)}: {spec.meaning}. Example: {_code(spec.example)}" for name, spec in G.BUILTINS.items()]
    lines += [
        "- Index variables: the first argument of a reduction (`sum(k, others(i), ...)` binds `k`) is a new "
        "name, bound inside the body only; it ranges over the set's domain (items, classes or clusters) and "
        "is used to index data (`z[k]`), as a set's anchor (`others(k)`) or in `indicator(k == j)`.",
        "",
        "## Data",
        "",
        "Indexed by index variables. Which data a formula may read depends on the entry: `z` always, "
        "and what its p and q read (ids, labels, modality, neighbours, a graph, inputs x) or derive "
        "(prototypes `w` from `support: prototypes`, `phi` from a `cluster` q, `beta` from a "
        "perplexity-calibrated kernel). Reading anything else is an error naming what would provide it.",
        "",
    ]
    for name, spec in G.ARRAYS.items():
        lines.append(f"- {_code(_array_shape(name, spec))}: {spec.meaning}. Example: {_code(spec.example)}")
    for name, spec in G.INDEX_FUNCTIONS.items():
        lines.append(f"- {_code(name + '(i)')} (item -> item index): {spec.meaning}. Example: {_code(spec.example)}")
    lines += [
        "",
        "Indices: a bound index variable (`i`), an index array at an index (`y[i]`, so `w[y[i]]`), or "
        "`pos(i)`/`neg(i)` (so `z[pos(i)]`). Index domains are checked: `z[c]` with c over classes is an "
        "error. Inside `indicator`, indices of the same domain compare with == / !=, also against a "
        "non-negative integer (`indicator(modality[i] == 0)`).",
        "",
        "Vector expressions: `z[i] + z[j]`, `z[i] - x[i]`, `a * z[i]`, `z[i] / a`, and `sum`/`mean` of "
        "vectors (so `mean(k, all, z[k])` is the batch mean); a formula's value is a scalar.",
        "",
        "## Functions",
        "",
    ]
    for name, spec in G.FUNCTIONS.items():
        signature = f"{name}({', '.join('u' if a == 'vector' else 'a' for a in spec.args)})"
        if name in ("dot", "cos", "sqdist", "dist"):
            signature = f"{name}(u, v)"
        lines.append(f"- {_code(signature)}: {spec.meaning}. Example: {_code(spec.example)}")
    lines += ["", "## Reductions and special forms", ""]
    lines += [f"- {_code(name)}: {spec.meaning}. Example: {_code(spec.example)}"
              for name, spec in {**G.REDUCTIONS, **G.SPECIAL}.items()]
    lines += ["", "## Index sets", ""]
    for name, spec in G.SETS.items():
        call = f"{name}(i)" if spec.takes_item else f"{name}(S)" if spec.takes_set else name
        lines.append(f"- {_code(call)} ({G.DOMAIN_WORDS[spec.domain]}): {spec.meaning}. Example: {_code(spec.example)}")
    lines += [
        "",
        "Empty sets: `sum` over an empty set is 0 and `count` is 0; `mean`, `max` and `min` over an empty "
        "set are evaluation errors; `logsumexp` over an empty set is -inf. A compiled loss gives an anchor "
        "whose p(.|i) is empty a term of 0 and leaves it out of its mean, so a published loss that averages "
        "over anchors is written `mean(i, anchors_with(positives), ...)`.",
        "",
        "## Named sub-expressions: `loss.where`",
        "",
        "An entry names parts of its formulas under `loss.where`, `NAME` or `NAME[i, j]` (indices in "
        "brackets) mapped to a formula in those indices. Every formula of the entry may use them, and "
        "definitions may use each other (not themselves). A use such as `P[k, j]` is written out when the "
        "formula is parsed: the verifier and the compiler see exactly the formula with the definition "
        "inlined (bound indices are renamed where they would clash). The docs show each definition on its "
        "own line. t-SNE:",
        "",
        "```yaml",
        "loss:",
        f"  formula: '{WHERE_EXAMPLE[0]}'",
        "  where:",
    ]
    lines += [f"    {key}: '{value}'" for key, value in WHERE_EXAMPLE[1].items()]
    lines += [
        "```",
        "",
        "An index of a definition takes its domain from the body (`P[i, j]` above: items); using it with "
        "another domain is an error.",
        "",
        "## Evaluation",
        "",
        "Numeric (numpy float64; inf/nan are returned, not raised) or SymPy (decimal literals become exact "
        "rationals, max/min are Max/Min, softplus is log(1 + exp(a)), scalar indicators are Piecewise). "
        "Formulas are evaluated as written: `log(exp(a) / sum(k, S, exp(b)))` can underflow where "
        "`a - logsumexp(k, S, b)` does not. `compile_loss(entry, source=\"formula\")` turns an entry's "
        "`loss.formula` into a vectorized torch loss.",
        "",
        "## Limits",
        "",
    ]
    lines += [f"- {spec.meaning}: at most {spec.value:,} (e.g. {spec.shown} is refused)" for spec in G.LIMITS.values()]
    return "\n".join(lines) + "\n"


def _array_shape(name, spec) -> str:
    first = G.DOMAIN_LETTERS[spec.domains[0]]
    if spec.kind == "matrix":
        return f"{name}[{first}, {G.DOMAIN_LETTERS[spec.domains[1]] if spec.domains[1] != 'item' else 'j'}]"
    return f"{name}[{first}]"
