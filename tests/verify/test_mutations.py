"""Mutation testing of ``icon verify`` (issue 13, item 5): every WRONG variant of a catalog
entry must fail, every NEUTRAL rewrite must pass.

A variant counts as wrong only when the independent oracle (``mutations/oracle.py``: compiled
torch loss against the formula evaluator on random float64 batches) finds a counterexample
to one of its claims; the verifier must then report ``fail`` or ``error`` on each refuted
claim. Undecided variants (no counterexample) are not asserted on; the report lists them.

CI runs a deterministic sample (``campaign.CI_WRONG`` wrong variants, ``campaign.CI_NEUTRAL``
neutral rewrites, every operator and entry represented); ``ICON_MUTATIONS=full`` runs every
variant. ``ICON_MUTATION_JOBS`` sets the processes (default 2). The counts by operator:
``python -m tests.verify.mutations --report [--full]``.
"""

from __future__ import annotations

import os

import pytest

from icon_registry.catalog import load_catalog

from .mutations.campaign import evaluate, mode_from_environment, select
from .conftest import CAMPAIGN_REPORT
from .mutations.report import format_report

pytestmark = pytest.mark.mutation

CATALOG = load_catalog(use_env=False)
SELECTION = select(CATALOG.entries(), mode_from_environment())
WRONG_ENTRIES = sorted({variant.entry_id for variant in SELECTION.wrong})
NEUTRAL_ENTRIES = sorted({variant.entry_id for variant in SELECTION.neutral})
JOBS = int(os.environ.get("ICON_MUTATION_JOBS", "2"))


@pytest.fixture(scope="module")
def campaign(request):
    """Oracle and verifier for the variants of the entries this session runs (all by default)."""
    wanted = {item.callspec.params["entry_id"] for item in request.session.items
              if getattr(item, "module", None) is request.module and hasattr(item, "callspec")}
    result = evaluate(SELECTION, {entry.id: entry for entry in CATALOG.entries()}, JOBS, only=wanted or None)
    request.config.stash[CAMPAIGN_REPORT] = format_report(result)  # the headline goes into the terminal summary
    return result


@pytest.mark.parametrize("entry_id", WRONG_ENTRIES)
def test_wrong_variants_fail(campaign, entry_id):
    rows = [row for row in campaign.wrong if row.variant.entry_id == entry_id]
    decided = [row for row in rows if row.decision.verdict == "wrong"]
    missed = [row for row in decided if not row.caught]
    lines = [f"  {row.variant.line()}\n    verifier: {row.verifier_words()}\n    counterexample: "
             + "; ".join(f"claim {k}: {words}" for k, words in row.decision.refuted.items()) for row in missed]
    if missed:
        pytest.fail(f"{len(missed)} of {len(decided)} wrong variants of {entry_id} pass the verifier "
                    f"({len(rows) - len(decided)} more undecided):\n" + "\n".join(lines), pytrace=False)


@pytest.mark.parametrize("entry_id", NEUTRAL_ENTRIES)
def test_neutral_rewrites_pass(campaign, entry_id):
    rows = [row for row in campaign.neutral if row.variant.entry_id == entry_id]
    assert rows
    refuted = [row for row in rows if row.decision.verdict != "confirmed"]
    if refuted:
        pytest.fail("the oracle refutes rewrites meant to be neutral (a generator bug):\n" + "\n".join(
            f"  {row.variant.line()}: {row.decision.refuted}" for row in refuted), pytrace=False)
    failing = [row for row in rows if not row.passed]
    if failing:
        pytest.fail(f"{len(failing)} of {len(rows)} neutral rewrites of {entry_id} do not pass:\n" + "\n".join(
            f"  {row.variant.line()}\n    verifier: {row.verifier_words()}\n    "
            + "; ".join(f"{r.claim}: {r.detail[:240]}" for r in row.results if r.status not in ("pass", "unproved"))
            for row in failing), pytrace=False)
