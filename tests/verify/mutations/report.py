"""The campaign as text: counts by operator, the catch rate, and every variant that slipped."""

from __future__ import annotations

from collections import Counter, defaultdict

from .campaign import claim_label


def _table(rows, header):
    widths = [max(len(str(row[k])) for row in [header, *rows]) for k in range(len(header))]
    line = lambda row: "  ".join(str(v).rjust(w) if k else str(v).ljust(w)  # noqa: E731
                                 for k, (v, w) in enumerate(zip(row, widths)))
    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def _percent(part, whole) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _by_operator(rows) -> list:
    """(operator, its rows) in operator order, then ("TOTAL", every row)."""
    groups = defaultdict(list)
    for row in rows:
        groups[row.variant.operator].append(row)
    return sorted(groups.items()) + [("TOTAL", list(rows))]


def wrong_table(campaign) -> list:
    rows = []
    for operator, group in _by_operator(campaign.wrong):
        decided = [r for r in group if r.decision.verdict == "wrong"]
        caught = sum(r.caught for r in decided)
        rows.append([operator, len(group), len(decided), len(group) - len(decided), caught, _percent(caught, len(decided))])
    return _table(rows, ["wrong-variant operator", "generated", "oracle-wrong", "undecided", "verifier-caught",
                         "catch rate"])


def neutral_table(campaign) -> list:
    rows = []
    for operator, group in _by_operator(campaign.neutral):
        confirmed = sum(r.decision.verdict == "confirmed" for r in group)
        passed = sum(r.passed for r in group)
        rows.append([operator, len(group), confirmed, passed, _percent(passed, len(group))])
    return _table(rows, ["neutral rewrite rule", "generated", "oracle-confirmed", "neutral-passed", "pass rate"])


def missed_lines(campaign) -> list:
    """Wrong variants (oracle-refuted) that the verifier lets pass, with the counterexample."""
    lines = []
    for row in campaign.wrong:
        if row.decision.verdict == "wrong" and not row.caught:
            lines.append(f"{row.variant.line()}\n      verifier: {row.verifier_words()}\n      counterexample: "
                         + "; ".join(f"claim {k}: {words}" for k, words in row.decision.refuted.items()))
    return lines


def neutral_failure_lines(campaign) -> list:
    lines = []
    for row in campaign.neutral:
        if not row.passed or row.decision.verdict != "confirmed":
            details = "; ".join(f"{r.claim}: {r.detail[:300]}" for r in row.results or [] if r.status not in ("pass",
                                                                                                         "unproved"))
            oracle = "" if row.decision.verdict == "confirmed" else f"\n      ORACLE REFUTED IT: {row.decision.refuted}"
            lines.append(f"{row.variant.line()}\n      verifier: {row.verifier_words()}\n      {details}{oracle}")
    return lines


def undecided_lines(campaign) -> list:
    return [f"{row.variant.line()}  (batches where the original holds: {row.decision.tested})"
            for row in campaign.wrong if row.decision.verdict == "undecided"]


def format_report(campaign, verbose: bool = False) -> str:
    decided = [r for r in campaign.wrong if r.decision.verdict == "wrong"]
    caught = sum(r.caught for r in decided)
    passed = sum(r.passed for r in campaign.neutral)
    labels = Counter(claim_label(r.results[k]) or r.results[k].status for r in decided if not r.caught
                     for k in r.decision.refuted if r.results[k].status not in ("fail", "error"))
    out = [f"mutation campaign ({campaign.mode}): {len(campaign.wrong)} of {campaign.generated.get('wrong', 0)} "
           f"wrong variants and {len(campaign.neutral)} of {campaign.generated.get('neutral', 0)} neutral rewrites",
           "",
           *wrong_table(campaign), "", *neutral_table(campaign), "",
           f"catch rate: {caught}/{len(decided)} oracle-wrong variants fail in the verifier "
           f"({_percent(caught, len(decided))}); {len(decided) - caught} pass wrongly"
           + (f" (labels: {', '.join(f'{k} {v}' for k, v in labels.most_common())})" if labels else ""),
           f"neutral rewrites: {passed}/{len(campaign.neutral)} pass ({_percent(passed, len(campaign.neutral))})",
           "time: " + ", ".join(f"{phase} {seconds:.1f}s" for phase, seconds in campaign.seconds.items())]
    rejected = {op: len(found) for op, found in sorted(campaign.rejected.items()) if found}
    if rejected:
        out.append(f"rejected by icon validate before any check (every one of them, not sampled): "
                   f"{sum(rejected.values())} wrong variants ("
                   + ", ".join(f"{op} {count}" for op, count in rejected.items()) + ")")
    dropped = {kind: sum(counts.values()) for kind, counts in campaign.dropped.items() if counts}
    if dropped:
        out.append("dropped (left the language or the schema): "
                   + ", ".join(f"{count} {kind}" for kind, count in dropped.items()))
    missed = missed_lines(campaign)
    if missed:
        out += ["", f"wrong variants the verifier passes ({len(missed)}):", *[f"  {line}" for line in missed]]
    failures = neutral_failure_lines(campaign)
    if failures:
        out += ["", f"neutral rewrites that do not pass ({len(failures)}):", *[f"  {line}" for line in failures]]
    undecided = undecided_lines(campaign)
    if undecided:
        out += ["", f"undecided (no counterexample found; not counted as wrong): {len(undecided)}"]
        if verbose:
            out += [f"  {line}" for line in undecided]
    return "\n".join(out)
