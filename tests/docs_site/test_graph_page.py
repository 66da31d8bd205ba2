"""The relation graph page: every entry a node linking to its page, labels placed without
overlap, and each related pair listed once with the relation read from both sides."""

from __future__ import annotations

import re

from icon_registry.docs_site.graph_image import Box, remove_overlaps
from icon_registry.graph import PHRASES

from .helpers import table_with_header


def test_every_node_links_to_its_method_page(builtin_site):
    html = (builtin_site.out / "graph.html").read_text(encoding="utf-8")
    nodes = re.findall(r'<a class="icon-node" href="methods/(\w+)\.html" data-entry="(\w+)"', html)
    assert sorted(a for a, b in nodes) == sorted(e.id for e in builtin_site.catalog.entries)
    assert all(a == b for a, b in nodes)
    standalone = (builtin_site.out / "assets" / "relation-graph.svg").read_text(encoding="utf-8")
    assert len(re.findall(r'<a class="icon-node" href="\.\./methods/\w+\.html"', standalone)) == len(nodes)


def test_each_relation_once_read_both_ways(builtin_site):
    catalog = builtin_site.catalog
    rows = table_with_header(builtin_site.out / "graph.html",
                             ["Method", "Relation", "Other method", "From the other side", "Notes"])
    pairs = {frozenset((e.id, r.target)) for e in catalog.entries for r in e.relations}
    assert len(rows) == len(pairs) < sum(len(e.relations) for e in catalog.entries)  # some pairs are stated twice
    names = {" ".join(e.name.split()): e.id for e in catalog.entries}
    seen = set()
    for method, phrase, other, backwards, _ in rows:
        pair = frozenset((names[method], names[other]))
        assert pair not in seen, f"{method} / {other} listed twice"
        seen.add(pair)
        kind = next(k for k, (forward, _) in PHRASES.items() if forward == phrase)
        assert backwards == f"{other} {PHRASES[kind][1]} {method}"
    simclr = next(row for row in rows if {row[0], row[2]} == {"SimCLR (NT-Xent)", "InfoNCE (Contrastive Predictive Coding)"})
    assert simclr[1:2] + simclr[3:4] in (["generalizes", "SimCLR (NT-Xent) is a special case of InfoNCE (Contrastive Predictive Coding)"],
                                         ["is a special case of", "InfoNCE (Contrastive Predictive Coding) generalizes SimCLR (NT-Xent)"])


def test_overlap_removal_separates_every_box():
    boxes = [Box(f"n{k}", 100.0 + (k % 3), 100.0 + (k % 2), 80.0, "label") for k in range(12)]  # all on one spot
    assert remove_overlaps(boxes) == 0
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            al, at, ar, ab = a.rect()
            bl, bt, br, bb = b.rect()
            assert ar <= bl or br <= al or ab <= bt or bb <= at
