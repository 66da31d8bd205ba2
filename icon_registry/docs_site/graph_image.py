"""The relation graph, rendered to SVG at build time with networkx + matplotlib (Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from icon_registry.docs_site.catalog_view import SiteCatalog
from icon_registry.docs_site.status import entry_status

COLOURS = {"proved": "#2e7d32", "unproved": "#ef6c00", "gap": "#1565c0"}


def relation_edges(cat: SiteCatalog) -> list[tuple[str, str, str]]:
    """(source id, relation kind, target id) for every relation in the catalog."""
    return [(e.id, r.kind, r.target) for e in cat.entries for r in e.relations]


def relation_graph(cat: SiteCatalog):
    """A networkx MultiDiGraph; uses icon_registry.graph's builder when it exists."""
    import networkx as nx

    try:  # the catalog helper's module, if present
        from icon_registry import graph as catalog_graph

        builder = getattr(catalog_graph, "relation_graph", None) or getattr(catalog_graph, "build_graph", None)
        if builder is not None:
            graph = builder(cat.entries)
            if isinstance(graph, nx.Graph):
                return graph
    except Exception:  # noqa: BLE001 - fall back to our own (same information)
        pass
    graph = nx.MultiDiGraph()
    for e in cat.entries:
        graph.add_node(e.id)
    for a, kind, b in relation_edges(cat):
        graph.add_edge(a, b, kind=kind)
    return graph


def render_graph(cat: SiteCatalog, out: Path, results: Optional[dict] = None) -> Optional[str]:
    """Write the graph to ``out`` (SVG); return its file name, or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
        import networkx as nx
    except ImportError:
        return None
    results = results or {}
    graph = relation_graph(cat)
    names = {e.id: e.name for e in cat.entries}
    n = max(graph.number_of_nodes(), 1)
    size = min(6 + 0.35 * n, 22)
    fig, ax = plt.subplots(figsize=(size, size * 0.7))
    pos = nx.spring_layout(graph, seed=7, k=1.8 / max(n, 1) ** 0.5)
    colours = [COLOURS.get(entry_status(cat.get(node), results.get(node)) if cat.get(node) else "", "#9e9e9e") for node in graph.nodes]
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colours, node_size=380, alpha=0.9)
    nx.draw_networkx_edges(graph, pos, ax=ax, arrows=True, arrowstyle="-|>", arrowsize=12, edge_color="#78909c", node_size=380)
    nx.draw_networkx_labels(graph, pos, ax=ax, labels={k: names.get(k, k) for k in graph.nodes}, font_size=8)
    kinds = {}
    for a, b, data in graph.edges(data=True):
        kinds.setdefault((a, b), []).append(str(data.get("kind", "")).replace("_", " "))
    nx.draw_networkx_edge_labels(graph, pos, ax=ax, edge_labels={k: ", ".join(v) for k, v in kinds.items()}, font_size=6, font_color="#455a64")
    for status, colour in COLOURS.items():
        ax.scatter([], [], c=colour, label={"proved": "published & proved", "unproved": "published, unproved", "gap": "gap, compiled"}[status])
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.set_axis_off()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return out.name
