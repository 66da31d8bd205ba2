"""Colour classes of the periodic table, from what the verifier showed for an entry's claims.

A published entry is only ever called proved when every claim passed with a derivation for
every batch; "checked on instances" and "checked numerically" say exactly what weaker
evidence there is; without verification results at hand an entry is "not verified in this
build", never proved.
"""

from __future__ import annotations

from typing import Optional

STATUS_LABELS = {
    "proved": "proved for every batch",
    "instances": "checked on instances",
    "numeric": "checked numerically",
    "unproved": "published, unproved",
    "failed": "a check fails",
    "unverified": "not verified in this build",
    "new": "new method, compiled",
    "gap": "gap, compiled",
    "empty": "empty",
}

STATUS_HELP = {
    "proved": "a published loss whose every claim has a derivation by rewriting that holds for every batch "
    "(any size, any ids, labels or modalities), confirmed on float64 batches through the compiled loss",
    "instances": "a published loss whose claims hold exactly on the verifier's symbolic instances (three views, "
    "single views, classes of sizes 1-3, ...) and numerically on random batches, without a derivation for every batch",
    "numeric": "a published loss whose claims hold numerically only (e.g. a limit checked at small parameters)",
    "unproved": "a published loss whose I-Con form is stated but not shown (by analogy in the paper)",
    "failed": "an entry (published, new or a gap) a claim of which the verifier refuted or could not check: its "
    "I-Con form, as the entry states it, is wrong or unchecked",
    "unverified": "a published loss whose claims were not verified when this site was built (run icon verify)",
    "new": "a new method (status new: one the I-Con paper proposes, or your own), not a loss published before it: "
    "its objective, compiled from the kernels",
    "gap": "no one has published it: the cell's objective, compiled from the kernels",
    "empty": "the paper names no method for this combination",
}

#: strongest first: a cell shows its strongest method, an entry its weakest claim
ORDER = ("proved", "instances", "numeric", "unproved", "failed", "unverified", "new", "gap")
_PROOF_STATUS = {"all_n": "proved", "instances": "instances", "numeric": "numeric"}


def claim_passed(result) -> Optional[bool]:
    """True / False from a verifier result's ``status``; None when it says neither."""
    if result is None:
        return None
    status = str(getattr(result, "status", result)).lower().split(".")[-1]
    if status == "pass":
        return True
    if status in ("fail", "error"):
        return False
    return None


def claim_status(result) -> str:
    """One claim's colour: proved / instances / numeric for a pass, failed for a fail or an error,
    unproved otherwise (a claim stated without a derivation)."""
    passed = claim_passed(result)
    if passed is None:
        return "unproved"
    if not passed:
        return "failed"
    return _PROOF_STATUS.get(str(getattr(result, "proof", "")), "numeric")


def entry_status(entry, results=None) -> str:
    """The table colour of an entry. ``results``: the verifier's results for its claims, if any.
    A claim refuted (or not checkable) makes any entry "failed"; otherwise an entry that is not a
    published loss is "new" (a method of its own) or "gap" (a cell's objective), as ``icon
    table`` tells them apart."""
    if results and any(claim_passed(result) is False for result in results):
        return "failed"
    if entry.status == "new":
        return "new"
    if entry.status != "published":
        return "gap"
    shown = list(results or [])[:len(entry.claims)]
    if len(shown) == len(entry.claims) and all(result is not None for result in shown):
        return max((claim_status(r) for r in shown), key=ORDER.index)
    return "unproved" if any(c.kind == "unproved" for c in entry.claims) else "unverified"


def cell_status(statuses: list[str]) -> str:
    if not statuses:
        return "empty"
    return min(statuses, key=ORDER.index)
