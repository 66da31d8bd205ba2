"""Colour classes of the periodic table: proved, unproved, gap (compiled), empty."""

from __future__ import annotations

from typing import Optional

STATUS_LABELS = {
    "proved": "published & proved",
    "unproved": "published, unproved",
    "gap": "gap, compiled",
    "empty": "empty",
}

STATUS_HELP = {
    "proved": "a published loss whose claims (identity, up to a constant, limit) are checked by icon verify",
    "unproved": "a published loss whose I-Con form is stated but not proved (by analogy, or the check failed)",
    "gap": "no one has published it: the cell's objective, compiled from the kernels",
    "empty": "the paper names no method for this combination",
}

PASSING = {"proved", "passed", "pass", "ok", "verified", "holds", "true"}


def claim_passed(result) -> Optional[bool]:
    """True / False from a verifier result's ``status``; None when it says neither."""
    if result is None:
        return None
    status = str(getattr(result, "status", result)).lower()
    status = status.split(".")[-1]
    if status in PASSING:
        return True
    if status in {"failed", "fail", "error", "false", "refuted", "disproved", "counterexample"}:
        return False
    return None


def entry_status(entry, results=None) -> str:
    """The table colour of an entry. ``results`` are the verifier's results for its claims, if any."""
    if entry.status != "published":
        return "gap"
    if any(c.kind == "unproved" for c in entry.claims):
        return "unproved"
    if results:
        if any(claim_passed(r) is not True for r in results):
            return "unproved"
    return "proved"


def cell_status(statuses: list[str]) -> str:
    if not statuses:
        return "empty"
    for best in ("proved", "unproved", "gap"):
        if best in statuses:
            return best
    return statuses[0]
