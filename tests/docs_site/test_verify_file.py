"""results/verify.json is matched to an entry's claims by claim label and kind, not by position:
a file written for some of an entry's claims, or for an earlier version of it, gave one claim
another claim's verdict ("proved for every batch" on a claim nobody checked, and
``verified: true`` in catalog.json)."""

from __future__ import annotations

import json

import pytest

from icon_registry.catalog import load_catalog
from icon_registry.cli import main
from icon_registry.docs_site import downloads, pages, verification
from icon_registry.docs_site.catalog_view import load_site_catalog
from icon_registry.docs_site.status import entry_status
from icon_registry.verify.cache import entry_hash


@pytest.fixture(scope="module")
def cat():
    return load_site_catalog()


def _entry(cat, entry_id):
    return next(e for e in cat.entries if e.id == entry_id)


def _results(tmp_path, cat, rows):
    (tmp_path / "verify.json").write_text(json.dumps(rows), encoding="utf-8")
    return verification.collect(cat.entries, mode="off", results_dir=tmp_path)


def _row(entry_id, claim, kind, proof="all_n"):
    return {"id": entry_id, "claim": claim, "kind": kind, "status": "pass", "proof": proof, "detail": f"{claim} checked"}


def _claims_section(md: str) -> list[str]:
    """The text of each claim's section on a method page."""
    section = md.split("## Claims", 1)[1].split("\n## ", 1)[0]
    return section.split("\n### ")[1:]


def test_a_result_for_the_second_claim_is_not_shown_on_the_first(tmp_path, cat):
    simclr = _entry(cat, "simclr")
    assert [c.kind for c in simclr.claims] == ["identity", "up_to_constant"]
    results = _results(tmp_path, cat, [_row("simclr", "up_to_constant", "up_to_constant")])
    first, second = _claims_section(pages.method_page(simclr, cat, results.get("simclr")))
    assert first.startswith("1. identity") and "Not verified in this build" in first and "proved" not in first
    assert second.startswith("2. up to constant") and "proved for every batch" in second
    claims = downloads.catalog_json(cat, results)["entries"]
    (row,) = [e for e in claims if e["entry"]["id"] == "simclr"]
    assert [(c["id"], c["verified"]) for c in row["claims"]] == [("identity", False), ("up_to_constant", True)]
    assert entry_status(simclr, results["simclr"]) == "unverified"


def test_results_in_another_order_follow_their_labels(tmp_path, cat):
    pmi = _entry(cat, "pmi_clustering")
    assert [c.kind for c in pmi.claims] == ["up_to_constant", "up_to_constant"]
    rows = [_row("pmi_clustering", "up_to_constant#2", "up_to_constant", "numeric"),
            _row("pmi_clustering", "up_to_constant#1", "up_to_constant", "all_n")]
    results = _results(tmp_path, cat, rows)["pmi_clustering"]
    assert [r.claim for r in results] == ["up_to_constant#1", "up_to_constant#2"]
    first, second = _claims_section(pages.method_page(pmi, cat, results))
    assert "proved for every batch" in first and "checked numerically" in second


def test_a_result_of_another_kind_is_not_lent_to_a_claim(tmp_path, cat):
    """An earlier version of the entry whose first claim was a limit: its verdict is not the identity's."""
    simclr = _entry(cat, "simclr")
    rows = [_row("simclr", "identity", "limit"), _row("simclr", "up_to_constant", "up_to_constant")]
    results = _results(tmp_path, cat, rows)["simclr"]
    assert results[0] is None and results[1].claim == "up_to_constant"
    assert entry_status(simclr, results) == "unverified"


def test_unlabelled_results_keep_their_order(tmp_path, cat):
    """Records without a claim label (a hand-written file) are matched by position, as before."""
    simclr = _entry(cat, "simclr")
    rows = [{"id": "simclr", "status": "pass", "proof": "all_n"}, {"id": "simclr", "status": "pass", "proof": "instances"}]
    results = _results(tmp_path, cat, rows)["simclr"]
    assert [r.proof for r in results] == ["all_n", "instances"]
    assert entry_status(simclr, results) == "instances"


def test_extra_results_beyond_the_claims_do_not_colour_the_entry():
    simclr = load_catalog(use_env=False).get("simclr")
    proved = [verification.SimpleNamespace(status="pass", proof="all_n") for _ in simclr.claims]
    extra = verification.SimpleNamespace(status="pass", proof="numeric")
    assert entry_status(simclr, proved + [extra]) == "proved"


def test_a_result_written_for_another_version_of_the_entry_is_not_shown(tmp_path, cat, capsys):
    """`icon verify --json` rows carry the entry's digest: after an edit of the entry (same claim labels and
    kinds) the file's verdicts no longer count; rows of the same version and rows without a digest do."""
    simclr = _entry(cat, "simclr")
    assert main(["verify", "simclr", "--json", "--no-cache"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["entry_digest"] for row in rows] == [entry_hash(simclr)] * 2
    assert [(r.status, r.proof) for r in _results(tmp_path, cat, rows)["simclr"]] == [("pass", "all_n")] * 2
    edited = [dict(row, entry_digest=entry_hash(simclr.model_copy(update={"notes": "edited"}))) for row in rows]
    results = _results(tmp_path, cat, edited)
    assert results["simclr"] == [None, None] and entry_status(simclr, results["simclr"]) == "unverified"
    undated = [{key: value for key, value in row.items() if key != "entry_digest"} for row in rows]
    assert [r.status for r in _results(tmp_path, cat, undated)["simclr"]] == ["pass", "pass"]
