"""The static check of an entry: every formula parses and type-checks against the entry.

An entry's formulas are ``loss.formula``, the definitions under ``loss.where`` (usable in
every formula of the entry) and each claim field marked ``FormulaField`` in
``icon_registry.claims`` (``constant``, ``equals``, ``offset``, ``scale``, ``factor``,
``cost``, and any field a new claim kind marks). Each must parse with the entry's declared
parameters and read only the data the entry provides: z always, and what its p and q read
(the compiled loss's ``requires``) or derive (w from a prototypes support, phi from a
cluster q, beta from a perplexity-calibrated kernel). The verifier and the compiled formula
have nothing else to give a formula, so anything more is an error here, before ``icon
verify`` runs. It also refuses an identity kernel on a support without the anchor itself
(every anchor's distribution would be empty, which ``icon verify`` could only report as "no
anchor has any supervisory mass"). ``Entry`` validation runs this check (``entry_problems``), so every route to
an entry (the catalog, ``Entry.from_yaml``, ``Entry.model_validate``) reports the same
``file:line: field: message`` problems.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

from icon_registry.claims import FormulaField
from icon_registry.formula import grammar as G
from icon_registry.formula import nodes as N
from icon_registry.formula.errors import FormulaError
from icon_registry.formula.parser import Formula, parse
from icon_registry.kernels.base import Node
from icon_registry.kernels.identity import Identity
from icon_registry.table_cell import cell_problems

#: FormulaInstance field -> (how a formula reads it, what it is, what in p or q would provide it).
DATA = {
    "x": ("x", "the inputs", "kernel on the inputs (space: x)"),
    "g": ("g", "the side information", "kernel on the inputs (space: x), whose tensor g is"),
    "w": ("w", "the class prototypes", "support: prototypes"),
    "labels": ("y", "the labels", "kernel that reads labels (same_label)"),
    "ids": ("id", "the source-instance ids", "kernel that reads ids (same_id)"),
    "modality": ("modality", "the modalities", "support: other_modality"),
    "candidates": ("pos/neg", "the triplet candidates", "support: candidates or knn kernel with source: given"),
    "neighbors": ("neighbors", "the given neighbours", "knn kernel with source: given or support: candidates"),
    "W": ("W", "the graph weights", "kernel on a given graph (graph_weights, degree_softmax)"),
    "phi": ("phi", "the cluster assignments", "cluster distribution (phi = softmax(z / temperature))"),
    "beta": ("beta", "the calibrated precisions", "gaussian kernel calibrated to a perplexity"),
    "num_classes": ("classes", "the classes", "labels or class prototypes"),
    "teacher": ("teacher", "the teacher's scores", "kernel on a teacher (logits with source: teacher, "
                "teacher_probabilities)"),
    "center": ("center", "the teacher's centre", "logits kernel with a centre"),
    "keys": ("key", "the anchors' own keys", "support: key_and_bank"),
    "bank": ("memory", "the bank's rows", "support: bank or key_and_bank"),
    "bank_ids": ("memory_id", "the bank's ids", "kernel that reads ids over support: bank"),
    "bank_labels": ("memory_y", "the bank's labels", "kernel that reads labels over support: bank"),
}
#: compile_loss argument -> FormulaInstance field, where the names differ
_FIELD_OF_INPUT = {"graph": "W"}
#: FormulaInstance field -> the compile_loss argument it comes from (w is the loss's own
#: prototypes; phi and beta are computed from z and x)
ARGUMENT_OF = {"teacher": "teacher", "center": "center", "keys": "keys", "bank": "bank", "bank_ids": "bank_ids",
               "bank_labels": "bank_labels",
               "x": "x", "g": "x", "labels": "labels", "ids": "ids", "modality": "modality",
               "candidates": "neighbors", "neighbors": "neighbors", "W": "graph", "beta": "x"}
#: What a formula reads that the model learns (a constant may read none of them).
LEARNED = {"z": "z", "w": "w", "phi": "phi"}


def provided_data(entry) -> frozenset:
    """The FormulaInstance fields (besides z, n and the parameters) this entry provides."""
    provided = {_FIELD_OF_INPUT.get(name, name) for name in entry.p.inputs_used() | entry.q.inputs_used()}
    nodes = [*entry.p.nodes(), *entry.q.nodes()]
    if "x" in provided:
        provided.add("g")
    if "neighbors" in provided:
        provided.add("candidates")
    if any(getattr(node, "support", None) == "prototypes" for node in nodes):
        provided.add("w")
    if any(getattr(node, "kind", None) == "cluster" for node in nodes):
        provided.add("phi")
    if any(getattr(node, "perplexity", None) is not None for node in nodes):
        provided.add("beta")
    if provided & {"labels", "w"}:
        provided.add("num_classes")
    return frozenset(provided)


def formula_fields(entry) -> list[tuple[tuple, str, FormulaField]]:
    """(loc, text, marker) of every formula field: loss.formula, then each claim's marked fields."""
    fields = [(("loss", "formula"), entry.loss.formula, FormulaField())]
    for index, claim in enumerate(entry.claims):
        for name, info in type(claim).model_fields.items():
            marker = next((m for m in info.metadata if isinstance(m, FormulaField)), None)
            value = getattr(claim, name)
            if marker is not None and isinstance(value, str):
                fields.append((("claims", index, name), value, marker))
    return fields


@lru_cache(maxsize=2048)
def _parse(text: str, parameters: tuple, definitions: tuple) -> Formula:
    return parse(text, parameters, dict(definitions))


def parse_entry_formula(entry, text: str) -> Formula:
    """``text`` parsed as a formula of ``entry``: its parameters and its ``loss.where`` definitions."""
    return _parse(text, tuple(sorted(entry.parameters)), tuple(entry.loss.where.items()))


def _all_reads(tree):
    """(FormulaInstance field, the name the formula reads it by, whether that name is a set) for
    every read in ``tree``, in order."""
    for node in N.walk(tree):
        if isinstance(node, (N.VectorAt, N.ScalarAt, N.MatrixAt, N.IndexAt)):
            yield G.ARRAYS[node.array].field, node.array, False
        elif isinstance(node, N.IndexCall):
            yield G.INDEX_FUNCTIONS[node.func].field, f"{node.func}(i)", False
        elif isinstance(node, N.SetRef):
            for name in filter(None, (node.name, node.of)):
                for needed in G.SETS[name].needs:
                    yield needed, name, True


def _reads(tree) -> dict[str, str]:
    """FormulaInstance field -> the name the formula reads it by, for every datum in ``tree``."""
    reads: dict[str, str] = {}
    for field, name, _ in _all_reads(tree):
        reads.setdefault(field, name)
    if "w" in reads:
        reads.pop("num_classes", None)  # classes come from the prototypes
    return reads


def _data_problems(tree, provided: frozenset) -> list[str]:
    """What ``tree`` reads that the entry does not provide."""
    problems = []
    for field, name in _reads(tree).items():
        if field == "z" or field in provided:
            continue
        offered = ", ".join(["z", *sorted(DATA[f][0] for f in provided if f in DATA)])
        written, noun, provider = DATA[field]
        what = noun if name == written else f"{noun}, {written}"
        problems.append(f"reads {name} ({what}), which this entry does not provide: its p and q have no "
                        f"{provider}; its formulas can read {offered}")
    return problems


def learned_problems(tree) -> list[str]:
    """Why ``tree`` is not a constant: every learned quantity it reads (z, w, phi, or z through
    another name such as logit), each once; empty when it reads none."""
    # every read counts, not the first of each field: ``outputs`` (a set over z's width) before
    # ``logit[i, c]`` (z's values) must not hide the second; a set reads only a shape, never values
    learned = sorted({name for field, name, is_set in _all_reads(tree) if field in LEARNED and not is_set})
    if not learned:
        return []
    return [f"a constant may not read what the model learns (z, w, phi), but this one reads {', '.join(learned)}"]


def _located(node, loc: tuple):
    """(loc, node) for ``node`` and every distribution or kernel below it."""
    yield loc, node
    for name, value in node:
        if isinstance(value, Node):
            yield from _located(value, loc + (name,))
        elif isinstance(value, (list, tuple)):
            for index, child in enumerate(value):
                if isinstance(child, Node):
                    yield from _located(child, loc + (name, index))


def support_problems(entry) -> list[tuple[tuple, str]]:
    """(loc, message) for each identity kernel under a support that leaves out the anchor itself."""
    problems = []
    for side in ("p", "q"):
        for loc, node in _located(getattr(entry, side), (side,)):
            support = getattr(node, "support", "all")
            if isinstance(getattr(node, "kernel", None), Identity) and support != "all":
                problems.append((loc + ("support",), f"the identity kernel needs the anchor itself in its support, "
                                 f"which '{support}' leaves out: {side}(j|i) would be empty for every anchor; use "
                                 "support 'all'"))
    return problems


def entry_problems(entry) -> list[tuple[tuple, str]]:
    """(loc, message) for every formula problem of ``entry``, every support problem
    (``support_problems``) and a cell its p or q does not sit in (``table_cell``); empty: it passes
    the static check."""
    provided = provided_data(entry)
    try:
        definitions = _parse("0", tuple(sorted(entry.parameters)), tuple(entry.loss.where.items())).definitions
    except FormulaError as err:
        loc = ("loss", "where", err.definition) if err.definition is not None else ("loss", "where")
        return [(loc, err.message)] + support_problems(entry) + cell_problems(entry)
    problems = support_problems(entry) + cell_problems(entry)
    for definition in definitions:
        problems += [(("loss", "where", definition.key), message)
                     for message in _data_problems(definition.root, provided)]
    used = {node.name for definition in definitions for node in N.walk(definition.display) if isinstance(node, N.DefRef)}
    unparsed = False
    for loc, text, marker in formula_fields(entry):
        try:
            formula = parse_entry_formula(entry, text)
        except FormulaError as err:
            problems.append((loc, err.message))
            unparsed = True
            continue
        used |= {node.name for node in N.walk(formula.display) if isinstance(node, N.DefRef)}
        # the definitions were checked above: only what the field itself writes counts here,
        # but a constant may not reach learned quantities through a definition either
        problems += [(loc, message) for message in _data_problems(formula.display, provided)]
        if not marker.learnables:
            problems += [(loc, message) for message in learned_problems(formula.root)]
    if not unparsed:  # what a formula that does not parse uses is unknown: no second, false error
        problems += [(("loss", "where", d.key), f"'{d.name}' is defined but no formula of the entry uses it")
                     for d in definitions if d.name not in used]
    for index, claim in enumerate(entry.claims):
        problems += [(("claims", index, name), message) for name, message in claim.static_problems(entry)]
    return problems


def check_formula(entry, text: str) -> Optional[str]:
    """The problem of one formula against ``entry`` (None: it parses and reads only what the
    entry provides). For ``icon formula --entry``."""
    try:
        formula = parse_entry_formula(entry, text)
    except FormulaError as err:
        return err.message
    problems = _data_problems(formula.root, provided_data(entry))
    return problems[0] if problems else None
