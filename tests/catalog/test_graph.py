"""The relation graph over the whole catalog: connected, every relation target resolves."""

from __future__ import annotations

import json

import networkx as nx
import pytest

from icon_registry.errors import IconError
from icon_registry.graph import TABLE_KINDS, build_graph, relation_edges, to_dot, to_json


def test_every_relation_target_resolves(entries):
    ids = {e.id for e in entries}
    for entry in entries:
        for relation in entry.relations:
            assert relation.target in ids, f"{entry.id}: {relation.kind} -> {relation.target}"
            assert relation.target != entry.id, f"{entry.id} relates to itself"


def test_graph_is_weakly_connected(entries):
    graph = build_graph(entries)
    assert set(graph.nodes) == {e.id for e in entries}
    assert nx.is_weakly_connected(graph)


def test_relations_alone_connect_the_catalog(entries):
    graph = build_graph(entries, table=False)
    components = [sorted(c) for c in nx.weakly_connected_components(graph)]
    assert len(components) == 1, f"relation islands: {[c for c in components if len(c) < 20]}"


def test_table_edges_follow_cells(entries):
    graph = build_graph(entries)
    by_id = {e.id: e for e in entries}
    for u, v, data in graph.edges(data=True):
        if data["kind"] == "same_row":
            assert by_id[u].cell.row == by_id[v].cell.row and u < v
        elif data["kind"] == "same_column":
            assert by_id[u].cell.column == by_id[v].cell.column and u < v
    relations = relation_edges(graph)
    assert len(relations) == sum(len(e.relations) for e in entries)
    assert all(kind not in TABLE_KINDS for _, _, kind in relations)


def test_dangling_relation_is_an_icon_error(entries):
    simclr = next(e for e in entries if e.id == "simclr")
    with pytest.raises(IconError):
        build_graph([simclr])
    assert set(build_graph([simclr], strict=False).nodes) == {"simclr"}


def test_exports(entries):
    graph = build_graph(entries)
    data = json.loads(json.dumps(to_json(graph)))
    assert {n["id"] for n in data["nodes"]} == set(graph.nodes)
    assert len(data["edges"]) == graph.number_of_edges()
    dot = to_dot(graph)
    assert dot.startswith("digraph icon {") and dot.rstrip().endswith("}")
    assert '"simclr" -> "infonce" [label="special_case_of"' in dot
    assert "same_row" not in to_dot(graph, table=False)


def test_icon_graph_command(capsys):
    import argparse

    from icon_registry.commands import graph as command

    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    for fmt in ("json", "dot"):
        args = parser.parse_args(["graph", "--format", fmt])
        args.catalog = []
        assert args.func(args) == 0
        out = capsys.readouterr().out
        if fmt == "json":
            assert {"nodes", "edges"} <= set(json.loads(out))
        else:
            assert out.startswith("digraph")


def test_relations_stated_by_both_entries_are_inverses(entries):
    """When both entries of a pair state a relation, the second is the first read backwards
    (InfoNCE generalizes SimCLR, SimCLR is a special case of InfoNCE), so the site lists it once."""
    from icon_registry.graph import INVERSE_KIND

    stated = {(e.id, r.target): r.kind for e in entries for r in e.relations}
    for (a, b), kind in stated.items():
        back = stated.get((b, a))
        if back is not None:
            assert INVERSE_KIND.get(kind) == back, f"{a} {kind} {b}, but {b} {back} {a}"


def test_a_relation_may_name_its_target_by_alias_as_the_loader_allows():
    from conftest import ENTRIES
    from icon_registry.graph import relation_pairs
    from icon_registry.schema import Entry

    entries = [Entry.from_yaml(ENTRIES["simclr"].replace("target: tsne", "target: t_sne")),
               Entry.from_yaml(ENTRIES["tsne"].replace("aliases: [t-SNE]", "aliases: [T_SNE]"))]  # in any case
    assert relation_edges(build_graph(entries)) == [("simclr", "tsne", "variant_of")]
    assert [pair[:3] for pair in relation_pairs(entries)] == [("simclr", "variant_of", "tsne")]
