"""Static questions about a formula: which parameters, which data, a one-line description."""

from __future__ import annotations

from icon_registry.formula import grammar as G
from icon_registry.formula import nodes as N


def _root(formula):
    return getattr(formula, "root", formula)


def free_parameters(formula) -> frozenset:
    """Names of the parameters the formula reads (tau, sigma, ...)."""
    return frozenset(node.name for node in N.walk(_root(formula)) if isinstance(node, N.Param))


def requirements(formula) -> frozenset:
    """The ``FormulaInstance`` fields the formula needs (besides ``n`` and ``params``)."""
    needed = set()
    for node in N.walk(_root(formula)):
        if isinstance(node, (N.VectorAt, N.ScalarAt, N.MatrixAt, N.IndexAt)):
            needed.add(G.ARRAYS[node.array].field)
        elif isinstance(node, N.IndexCall):
            needed.add(G.INDEX_FUNCTIONS[node.func].field)
        elif isinstance(node, N.SetRef):
            needed.update(G.SETS[node.name].needs)
            if node.of is not None:
                needed.update(G.SETS[node.of].needs)
    if "num_classes" in needed:  # classes come from w, or from labels
        needed.discard("num_classes")
        if "w" not in needed:
            needed.add("num_classes")
    return frozenset(needed)


def index_sets(formula) -> frozenset:
    return frozenset(node.name for node in N.walk(_root(formula)) if isinstance(node, N.SetRef))


def reduction_depth(formula) -> int:
    def depth(node):
        inner = max((depth(child) for child in N.children(node)), default=0)
        return inner + (1 if isinstance(node, N.Reduce) else 0)

    return depth(_root(formula))


def describe(formula) -> str:
    """One line: parameters, data, index sets and reduction depth."""
    root = _root(formula)
    parts = []
    params = sorted(free_parameters(root))
    parts.append("parameters: " + (", ".join(params) if params else "none"))
    data = sorted(requirements(root))
    parts.append("data: " + (", ".join(data) if data else "none"))
    sets = sorted(index_sets(root))
    parts.append("index sets: " + (", ".join(sets) if sets else "none"))
    parts.append(f"nested reductions: {reduction_depth(root)}")
    return "; ".join(parts)
