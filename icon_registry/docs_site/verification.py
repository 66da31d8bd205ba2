"""Claim results from the verifier (icon_registry.verify), for claim badges and proof sketches.

Results carry ``status`` (pass | fail | unproved | error), ``detail`` and ``steps``. The site
takes them, in this order, from: the verifier run in-process (``mode="run"``, using its cache
when it has one), or a results file written by ``icon verify`` (``results/verify.json``).
Absent both, claims show "not verified in this build" and the table uses the claims' kinds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Optional

_ENTRY_FUNCTIONS = ("verify_entry", "check_entry", "verify_claims", "verify")


def _verifier() -> Optional[Callable]:
    try:
        import icon_registry.verify as verify
    except Exception:  # noqa: BLE001 - the verifier is optional for the site
        return None
    for name in _ENTRY_FUNCTIONS:
        fn = getattr(verify, name, None)
        if callable(fn):
            return fn
    return None


def _from_file(path: Path) -> dict[str, list]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    records = data.get("results", data) if isinstance(data, dict) else data
    out: dict[str, list] = {}
    if isinstance(records, dict):  # {entry: [results]}
        records = [dict(r, id=k) for k, rs in records.items() for r in rs]
    for rec in records if isinstance(records, list) else []:
        if not isinstance(rec, dict):
            continue
        entry = rec.get("id") or rec.get("entry")
        if entry:
            out.setdefault(entry, []).append(SimpleNamespace(**{"detail": "", "steps": [], **rec}))
    return out


def collect(entries, *, mode: str = "run", results_dir: Optional[Path] = None, progress=None, budget_s: float = 40.0) -> dict[str, list]:
    """{entry id: [result per claim, in claim order]}; entries without results are absent."""
    out: dict[str, list] = {}
    if results_dir is not None:
        out.update(_from_file(Path(results_dir) / "verify.json"))
    if mode != "run":
        return out
    fn = _verifier()
    if fn is None:
        return out
    start = time.monotonic()
    for k, entry in enumerate(entries, 1):
        if progress:
            progress(f"verifying claims {k}/{len(entries)}: {entry.id}")
        if time.monotonic() - start > budget_s:
            break
        try:
            results = fn(entry)
        except Exception:  # noqa: BLE001 - a verifier crash must not break the docs
            continue
        if results is not None and not isinstance(results, (list, tuple)):
            results = getattr(results, "results", None) or getattr(results, "claims", None)
        if results:
            out[entry.id] = list(results)
    return out
