"""``icon graph [--format json|dot] [--no-table]``: the catalog's relation graph.

Nodes are entries; edges are same_row / same_column (shared q or p in the periodic table)
and the entries' relations (special_case_of, limit_of, variant_of, ...).
"""

from __future__ import annotations

import sys

from icon_registry.commands import catalog_from_args, terminal_safe


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="export the relation graph of the catalog (JSON or Graphviz DOT)",
        description="Export the relation graph: nodes are entries, edges are same_row, same_column and the "
        "entries' relations (special_case_of, limit_of, variant_of, corrected_by, generalizes, same_objective_as).",
    )
    parser.add_argument("--format", choices=("json", "dot"), default="json", help="output format (default: json)")
    parser.add_argument(
        "--no-table", action="store_true", help="leave out the same_row / same_column edges (relations only)"
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from icon_registry.graph import build_graph, dumps_json, to_dot

    catalog = catalog_from_args(args)
    graph = build_graph(catalog.entries(), table=not args.no_table)
    sys.stdout.write(terminal_safe(dumps_json(graph) if args.format == "json" else to_dot(graph)))
    return 0
