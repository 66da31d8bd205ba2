"""Claim results from the verifier (icon_registry.verify), for claim badges and proof sketches.

Results carry ``status`` (pass | fail | unproved | error), ``detail`` and ``steps``. The site
takes them, in this order, from: the verifier run in-process (``mode="run"``, using its cache
when it has one), or a results file written by ``icon verify`` (``results/verify.json``).
Absent both, claims show "not verified in this build" and the table uses the claims' kinds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

from icon_registry.docs_site.inputs import readable


def _from_file(path: Path) -> dict[str, list]:
    if not readable(path, path.parent):
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    records = data.get("results", data) if isinstance(data, dict) else data
    out: dict[str, list] = {}
    if isinstance(records, dict):  # {entry: [results]}
        records = [dict(r, id=k) for k, rs in records.items() if isinstance(rs, list) for r in rs if isinstance(r, dict)]
    for rec in records if isinstance(records, list) else []:
        if not isinstance(rec, dict):
            continue
        entry = rec.get("id") or rec.get("entry")
        if isinstance(entry, str) and entry:
            out.setdefault(entry, []).append(SimpleNamespace(**{"detail": "", "steps": [], **rec}))
    return out


def _aligned(entry, records: list) -> list:
    """The file's results for ``entry`` in claim order, None for a claim none matches. A record
    is matched by its claim label (``claim`` in ``icon verify --json``: "identity",
    "up_to_constant#2"), by position only when it has none, and never to a claim of another
    kind: a file written for an earlier version of the entry (claims added, removed or
    reordered) or for some of its claims lends no claim another one's verdict. A record that
    names the entry's digest (``entry_digest``, written by ``icon verify --json``) counts only
    for that version of the entry: a file older than an edit of the entry shows it not verified."""
    from icon_registry.verify.cache import entry_hash
    from icon_registry.verify.runner import claim_labels

    labels = claim_labels(entry)
    digest = entry_hash(entry)
    by_label: dict[str, object] = {}
    for k, record in enumerate(records):
        if getattr(record, "entry_digest", "") not in ("", digest):
            continue
        label = getattr(record, "claim", None)
        if not isinstance(label, str):
            label = labels[k] if k < len(labels) else None
        if label is not None:
            by_label.setdefault(label, record)
    out = []
    for claim, label in zip(entry.claims, labels):
        record = by_label.get(label)
        out.append(record if record is not None and getattr(record, "kind", claim.kind) == claim.kind else None)
    return out


def collect(entries, *, mode: str = "cache", results_dir: Optional[Path] = None, progress=None, jobs: int = 0) -> dict[str, list]:
    """{entry id: [ClaimResult per claim, in claim order]}; entries without results are absent.

    mode "cache": only results the verifier has cached (nothing is computed; fast).
    mode "run": run the verifier for entries it has not cached (fills its cache).
    mode "off": only ``results_dir/verify.json``, if present.
    """
    entries = list(entries)
    out: dict[str, list] = {}
    if results_dir is not None:
        recorded = _from_file(Path(results_dir) / "verify.json")
        out.update({entry.id: _aligned(entry, recorded[entry.id]) for entry in entries if entry.id in recorded})
    if mode == "off":
        return out
    try:
        from icon_registry.verify import ResultCache, verify_entries
    except Exception:  # noqa: BLE001 - the verifier is optional for the site
        return out
    cache = ResultCache()
    if mode == "run":
        jobs = jobs or max(1, min(8, os.cpu_count() or 1))
        done = [0]

        def tick(*_args, **_kwargs):
            done[0] += 1
            if progress:
                progress(f"verifying claims {done[0]}/{len(entries)}")

        try:
            results = verify_entries(entries, jobs=jobs, cache=cache, progress=tick)
        except TypeError:  # an older signature without progress
            results = verify_entries(entries, jobs=jobs, cache=cache)
        for result in results:
            out.setdefault(result.entry, []).append(result)
        return out
    for k, entry in enumerate(entries, 1):
        if progress:
            progress(f"cached claim results {k}/{len(entries)}")
        try:
            cached = cache.get(entry)
        except Exception:  # noqa: BLE001 - a broken cache only costs the badges
            cached = None
        if cached:
            out[entry.id] = list(cached)
    return out
