"""Proof sketches speak to readers: the verifier's real results for a few entries, rendered as
their method pages render them, hold no numpy or torch reprs."""

from __future__ import annotations

import re

import pytest

REPRS = re.compile(r"np\.(int|float|bool)\w*\(|array\(|tensor\(|dtype=|<class '")


@pytest.mark.parametrize("entry_id", ["simclr", "supcon", "tsne", "kmeans", "triplet"])
def test_proof_sketches_have_no_reprs(entry_id):
    from icon_registry.docs_site import load_site_catalog, pages
    from icon_registry.verify import verify_entries

    cat = load_site_catalog()
    entry = cat.get(entry_id)
    results = list(verify_entries([entry], jobs=1, cache=None))
    assert len(results) == len(entry.claims) and all(r.status in ("pass", "unproved") for r in results)
    text = pages.method_page(entry, cat, results)
    assert "Verifier:" in text
    found = REPRS.search(text)
    assert not found, f"{entry_id}: {text[max(0, found.start() - 80):found.end() + 40]!r}"
