"""The relation graph, rendered to SVG at build time with networkx + matplotlib (Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from icon_registry.docs_site.catalog_view import SiteCatalog
from icon_registry.docs_site.status import STATUS_LABELS, entry_status

#: the same colours as the table's (site/assets/icon.css)
COLOURS = {"proved": "#2e7d32", "instances": "#00796b", "numeric": "#827717", "unproved": "#ef6c00",
           "unverified": "#616161", "gap": "#1565c0"}


def relation_edges(cat: SiteCatalog) -> list[tuple[str, str, str]]:
    """(source id, relation kind, target id) for every relation in the catalog."""
    return [(e.id, r.kind, r.target) for e in cat.entries for r in e.relations]


def relation_graph(cat: SiteCatalog):
    """A networkx MultiDiGraph of the relations (icon_registry.graph.build_graph, table edges off)."""
    import networkx as nx

    try:  # the catalog helper's module (relation edges only: the table edges would hide them)
        from icon_registry.graph import build_graph

        return build_graph(cat.entries, table=False, strict=False)
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
    from icon_registry.docs_site.escape import one_line
    from icon_registry.docs_site.pages import short_name

    results = results or {}
    graph = relation_graph(cat)
    fig, ax = plt.subplots(figsize=(13, 9))
    try:
        pos = nx.kamada_kawai_layout(nx.Graph(graph))
    except Exception:  # noqa: BLE001 - kamada_kawai needs scipy
        pos = nx.spring_layout(graph, seed=7)
    colours = [COLOURS.get(entry_status(cat.get(node), results.get(node)) if cat.get(node) else "", "#9e9e9e") for node in graph.nodes]
    kinds = sorted({str(d.get("kind", "")) for *_, d in graph.edges(data=True)})
    palette = ["#455a64", "#8e24aa", "#00897b", "#c0ca33", "#6d4c41", "#e53935", "#3949ab"]
    for k, kind in enumerate(kinds):
        edges = [(a, b) for a, b, d in graph.edges(data=True) if str(d.get("kind", "")) == kind]
        nx.draw_networkx_edges(graph, pos, edgelist=edges, ax=ax, arrows=True, arrowstyle="-|>", arrowsize=12,
                               edge_color=palette[k % len(palette)], width=1.3, node_size=260, alpha=0.8)
        ax.plot([], [], color=palette[k % len(palette)], label=kind.replace("_", " "))
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colours, node_size=260, alpha=0.95)
    # a "$" would start matplotlib mathtext: catalog names are plain text
    labels = {k: short_name(one_line(cat.get(k).name)).replace("$", r"\$") if cat.get(k) else k for k in graph.nodes}
    nx.draw_networkx_labels(graph, pos, ax=ax, labels=labels, font_size=9, verticalalignment="bottom",
                            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})
    for status, colour in COLOURS.items():
        ax.scatter([], [], c=colour, s=60, label=STATUS_LABELS[status])
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False)
    ax.set_axis_off()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return out.name
