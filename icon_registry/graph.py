"""The relation graph of the catalog (networkx).

Nodes are entries (attributes: name, status, row, column, year). Edges are labelled by
``kind``:

- ``same_row`` / ``same_column``: the two entries share the learned q (row) or the
  supervisory p (column) of the periodic table; one edge per unordered pair, stored from the
  smaller id to the larger one;
- one kind per relation (``special_case_of``, ``limit_of``, ``variant_of``, ``corrected_by``,
  ``generalizes``, ``same_objective_as``), directed from the entry that states it to its
  target, with the relation's ``note``.

``build_graph(entries)`` returns a ``networkx.MultiDiGraph``; ``to_json`` and ``to_dot``
export it (``icon graph [--format json|dot]``).
"""

from __future__ import annotations

import json
from itertools import combinations
from typing import Iterable, Optional

import networkx as nx

from icon_registry.catalog import resolve_name
from icon_registry.errors import IconError, suggest

#: edge kinds that come from the table rather than from an entry's relations
TABLE_KINDS = ("same_row", "same_column")

#: each relation kind in words, read from the entry that states it and from its target
PHRASES = {
    "special_case_of": ("is a special case of", "generalizes"),
    "generalizes": ("generalizes", "is a special case of"),
    "limit_of": ("is a limit of", "has as a limit"),
    "variant_of": ("is a variant of", "is a variant of"),
    "corrected_by": ("is corrected by", "corrects"),
    "same_objective_as": ("has the same objective as", "has the same objective as"),
}
#: the kind the target states back when both entries state the relation (limit_of and
#: corrected_by have none: their target never states them back)
INVERSE_KIND = {"special_case_of": "generalizes", "generalizes": "special_case_of", "variant_of": "variant_of",
                "same_objective_as": "same_objective_as"}


def target_resolver(entries: list):
    """relation -> the id of the entry among ``entries`` that its target names (None: none), resolved
    as the catalog resolves it: a target may be an alias, which `icon validate` accepts."""
    ids = {entry.id for entry in entries}
    aliases = {alias: entry.id for entry in entries for alias in entry.aliases}
    return lambda relation: resolve_name(relation.target, ids, aliases)


def relation_pairs(entries: Iterable) -> list[tuple[str, str, str, str, Optional[str]]]:
    """Each relation once: (a, kind, b, note, b's note) for every unordered pair of entries
    related in the catalog, stated by a (the first in id order when both state it; b's note
    is then the one b gives)."""
    entries = sorted(entries, key=lambda e: e.id)
    target_of = target_resolver(entries)
    stated: dict[frozenset, list] = {}
    for entry in entries:
        for relation in entry.relations:
            target = target_of(relation) or relation.target
            stated.setdefault(frozenset((entry.id, target)), []).append((entry.id, target, relation))
    out = []
    for statements in stated.values():
        (a, b, first), rest = statements[0], statements[1:]
        other = next((r.note for who, _, r in rest if who != a), None)
        out.append((a, first.kind, b, first.note, other))
    return sorted(out, key=lambda r: (r[0], r[2]))


def build_graph(entries: Iterable, *, table: bool = True, strict: bool = True) -> nx.MultiDiGraph:
    """The relation graph of ``entries`` (schema ``Entry`` objects).

    ``table``: also add the same_row / same_column edges. ``strict``: a relation whose target
    is not among the entries is an ``IconError`` (otherwise the edge is dropped).
    """
    entries = sorted(entries, key=lambda e: e.id)
    graph = nx.MultiDiGraph()
    for entry in entries:
        graph.add_node(
            entry.id,
            name=entry.name,
            status=entry.status,
            row=entry.cell.row,
            column=entry.cell.column,
            year=entry.paper.year if entry.paper is not None else None,
        )
    ids = [e.id for e in entries]
    target_of = target_resolver(entries)
    problems = []
    for entry in entries:
        for relation in entry.relations:
            target = target_of(relation)
            if target is None:
                problems.append(
                    f"{entry.id}: relation {relation.kind} -> '{relation.target}' names no entry"
                    f"{suggest(relation.target, ids)}"
                )
                continue
            graph.add_edge(entry.id, target, key=relation.kind, kind=relation.kind, note=relation.note)
    if problems and strict:
        raise IconError("the relation graph has dangling relations", problems=problems)
    if table:
        for a, b in combinations(entries, 2):
            if a.cell.row == b.cell.row:
                graph.add_edge(a.id, b.id, key="same_row", kind="same_row", note=a.cell.row)
            if a.cell.column == b.cell.column:
                graph.add_edge(a.id, b.id, key="same_column", kind="same_column", note=a.cell.column)
    return graph


def relation_edges(graph: nx.MultiDiGraph) -> list[tuple[str, str, str]]:
    """(source, target, kind) for every relation edge (table edges excluded)."""
    return sorted((u, v, d["kind"]) for u, v, d in graph.edges(data=True) if d["kind"] not in TABLE_KINDS)


def to_json(graph: nx.MultiDiGraph) -> dict:
    """{"nodes": [{id, name, status, row, column, year}], "edges": [{source, target, kind, note}]}."""
    nodes = [{"id": node, **graph.nodes[node]} for node in sorted(graph.nodes)]
    edges = sorted(
        ({"source": u, "target": v, "kind": d["kind"], "note": d.get("note", "")} for u, v, d in graph.edges(data=True)),
        key=lambda e: (e["source"], e["target"], e["kind"]),
    )
    return {"nodes": nodes, "edges": edges}


def _dot_id(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


_STYLE = {
    "same_row": 'color="#bbbbbb", style=dashed, dir=none',
    "same_column": 'color="#bbbbbb", style=dotted, dir=none',
    "special_case_of": 'color="#1f77b4"',
    "limit_of": 'color="#d62728"',
    "variant_of": 'color="#2ca02c"',
    "corrected_by": 'color="#9467bd"',
    "generalizes": 'color="#ff7f0e"',
    "same_objective_as": 'color="#8c564b", dir=both',
}
_FILL = {"published": "#ffffff", "gap": "#eeeeee", "new": "#fff2cc"}


def to_dot(graph: nx.MultiDiGraph, *, table: Optional[bool] = None) -> str:
    """Graphviz DOT text (written by hand: no pydot dependency). ``table`` False drops the
    same_row / same_column edges (default: keep whatever the graph has)."""
    lines = ["digraph icon {", '  graph [rankdir=LR, fontname="Helvetica"];',
             '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for node in sorted(graph.nodes):
        data = graph.nodes[node]
        # two label lines: DOT's own "\\n" escape joins the escaped parts
        label = _dot_id(data.get("name", node))[:-1] + "\\n" + _dot_id(f"{data.get('row')} x {data.get('column')}")[1:]
        fill = _FILL.get(data.get("status"), "#ffffff")
        lines.append(f'  {_dot_id(node)} [label={label}, fillcolor="{fill}"];')
    for u, v, d in sorted(graph.edges(data=True), key=lambda e: (e[0], e[1], e[2]["kind"])):
        kind = d["kind"]
        if table is False and kind in TABLE_KINDS:
            continue
        lines.append(f"  {_dot_id(u)} -> {_dot_id(v)} [label={_dot_id(kind)}, {_STYLE.get(kind, '')}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dumps_json(graph: nx.MultiDiGraph) -> str:
    return json.dumps(to_json(graph), indent=2, ensure_ascii=False) + "\n"
