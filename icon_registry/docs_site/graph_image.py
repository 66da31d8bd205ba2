"""The relation graph as SVG, written at build time (no matplotlib): every node a link to its
method page, labels that never overlap, one edge per related pair.

Layout: networkx's Kamada-Kawai layout (a seeded spring layout without scipy: the same catalog
draws the same picture), scaled to pixels, then overlap removal: each node's box (its dot and its label below it) is pushed away
from every box it overlaps until none does. Text widths are estimated generously (the font is
the page's sans-serif at ``FONT_PX``); the browser test measures the real boxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from icon_registry.docs_site.catalog_view import SiteCatalog
from icon_registry.docs_site.escape import label as attribute
from icon_registry.docs_site.escape import one_line, text
from icon_registry.docs_site.status import STATUS_LABELS, entry_status
from icon_registry.graph import PHRASES, relation_pairs

FONT_PX = 12
CHAR_PX = 7.4  # wider than the average sans-serif character at 12 px: boxes err on the large side
NODE_R = 6
GAP = 6  # minimal free space between two boxes
#: the status colours of site/assets/icon.css (light scheme), for the SVG file opened on its own;
#: on the graph page the site's CSS colours the dots for either scheme
STATUS_FILL = {"proved": "#2e7d32", "instances": "#00796b", "numeric": "#827717", "unproved": "#c25400",
               "failed": "#c62828", "unverified": "#616161", "new": "#6a1b9a", "gap": "#1565c0"}
EDGE_COLOURS = {"special_case_of": "#1f77b4", "generalizes": "#1f77b4", "limit_of": "#d62728", "variant_of": "#2ca02c",
                "corrected_by": "#9467bd", "same_objective_as": "#8c564b"}


def relation_edges(cat: SiteCatalog) -> list[tuple[str, str, str, str, Optional[str]]]:
    """Each related pair once (``icon_registry.graph.relation_pairs``) whose two ends are both in
    this catalog: (a, kind, b, a's note, b's note)."""
    return [r for r in relation_pairs(cat.entries) if cat.get(r[0]) and cat.get(r[2])]


@dataclass
class Box:
    node: str
    x: float  # dot centre
    y: float
    width: float  # of the label
    label: str

    def rect(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) of the dot and the label under it."""
        half = max(self.width / 2, NODE_R)
        return self.x - half, self.y - NODE_R, self.x + half, self.y + NODE_R + 4 + FONT_PX + 2


def _overlap(a: Box, b: Box) -> tuple[float, float]:
    """How far the two boxes (plus GAP) overlap along x and y; (0, 0) when they do not."""
    al, at, ar, ab = a.rect()
    bl, bt, br, bb = b.rect()
    dx = min(ar, br) - max(al, bl) + GAP
    dy = min(ab, bb) - max(at, bt) + GAP
    return (dx, dy) if dx > 0 and dy > 0 else (0.0, 0.0)


def remove_overlaps(boxes: list[Box], rounds: int = 2000) -> int:
    """Push overlapping boxes apart along the axis where they overlap least; returns the number
    of overlapping pairs left (0 unless ``rounds`` ran out)."""
    for _ in range(rounds):
        moved = 0
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                dx, dy = _overlap(a, b)
                if not dx:
                    continue
                moved += 1
                if dx < dy:
                    shift = dx / 2 + 0.5
                    sign = 1 if a.x >= b.x else -1
                    a.x += sign * shift
                    b.x -= sign * shift
                else:
                    shift = dy / 2 + 0.5
                    sign = 1 if a.y >= b.y else -1
                    a.y += sign * shift
                    b.y -= sign * shift
        if not moved:
            return 0
    return sum(1 for i, a in enumerate(boxes) for b in boxes[i + 1:] if _overlap(a, b)[0])


def layout(cat: SiteCatalog, edges, width: float = 1100.0) -> list[Box]:
    """Boxes of every entry, placed by a seeded spring layout and spread until no two overlap."""
    import networkx as nx

    from icon_registry.docs_site.pages import short_name

    graph = nx.Graph()
    graph.add_nodes_from(sorted(e.id for e in cat.entries))
    graph.add_edges_from((a, b) for a, _, b, _, _ in edges)
    try:  # kamada-kawai keeps path lengths (chains stay readable); it needs scipy
        pos = nx.kamada_kawai_layout(graph)
    except ImportError:
        pos = nx.spring_layout(graph, seed=7, k=1.6 / math.sqrt(max(len(graph), 1)), iterations=300)
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    height = width * 0.7
    boxes = []
    for node in sorted(graph.nodes):
        name = short_name(one_line(cat.get(node).name))
        x = (pos[node][0] - min(xs)) / span_x * width
        y = (pos[node][1] - min(ys)) / span_y * height
        boxes.append(Box(node, x, y, len(name) * CHAR_PX + 4, name))
    left = remove_overlaps(boxes)
    if left:
        raise RuntimeError(f"the relation graph still has {left} overlapping labels")
    return boxes


def render_svg(cat: SiteCatalog, results: dict, link_prefix: str) -> str:
    """The graph as one SVG element; node links are ``link_prefix + "methods/<id>.html"``."""
    edges = relation_edges(cat)
    boxes = layout(cat, edges)
    at = {b.node: b for b in boxes}
    left = min(b.rect()[0] for b in boxes) - 10
    top = min(b.rect()[1] for b in boxes) - 10
    right = max(b.rect()[2] for b in boxes) + 10
    bottom = max(b.rect()[3] for b in boxes) + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="icon-graph" viewBox="{left:.0f} {top:.0f} '
           f'{right - left:.0f} {bottom - top:.0f}" role="img" '
           'aria-label="Relation graph of the catalog: click a method to open its page">',
           "<defs>"]
    for kind, colour in EDGE_COLOURS.items():
        out.append(f'<marker id="icon-arrow-{kind}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
                   f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>')
    out.append("</defs>")
    for a, kind, b, note, _ in edges:
        pa, pb = at[a], at[b]
        dx, dy = pb.x - pa.x, pb.y - pa.y
        length = math.hypot(dx, dy) or 1.0
        x2, y2 = pb.x - dx / length * (NODE_R + 2), pb.y - dy / length * (NODE_R + 2)
        arrow = "" if PHRASES[kind][0] == PHRASES[kind][1] else f' marker-end="url(#icon-arrow-{kind})"'
        title = f"{cat.get(a).name} {PHRASES[kind][0]} {cat.get(b).name}"
        out.append(f'<line class="icon-edge" data-kind="{kind}" x1="{pa.x:.1f}" y1="{pa.y:.1f}" x2="{x2:.1f}" '
                   f'y2="{y2:.1f}" stroke="{EDGE_COLOURS.get(kind, "#777")}"{arrow}><title>{text(one_line(title))}</title></line>')
    for box in boxes:
        entry = cat.get(box.node)
        status = entry_status(entry, results.get(box.node))
        out.append(f'<a class="icon-node" href="{link_prefix}methods/{box.node}.html" data-entry="{box.node}" '
                   f'data-status="{status}"><title>{text(one_line(entry.name))}: {text(STATUS_LABELS[status])}</title>'
                   f'<circle cx="{box.x:.1f}" cy="{box.y:.1f}" r="{NODE_R}" fill="{STATUS_FILL.get(status, "#9e9e9e")}"/>'
                   f'<text x="{box.x:.1f}" y="{box.y + NODE_R + 4 + FONT_PX - 2:.1f}" text-anchor="middle" '
                   f'font-size="{FONT_PX}">{text(box.label)}</text></a>')
    out.append("</svg>")
    return "".join(out)


def legend() -> str:
    """The edge kinds, in HTML beside the picture."""
    items = "".join(f'<span class="icon-edge-key" style="border-color: {colour}">{attribute(PHRASES[kind][0])}</span>'
                    for kind, colour in EDGE_COLOURS.items() if kind != "generalizes")
    return f'<div class="icon-graph-legend">{items}</div>'
