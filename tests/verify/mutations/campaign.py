"""A mutation campaign: generate, select (all, or the CI sample), judge with the oracle, run
the verifier, and tabulate. Used by ``test_mutations.py`` and ``python -m tests.verify.mutations``.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field

from icon_registry.verify.runner import process_pool

from .neutral import neutral_rewrites
from .oracle import NUM_BATCHES, judge_group
from .wrong import wrong_variants

#: variants the CI run checks (the full run, ICON_MUTATIONS=full, checks every variant)
CI_WRONG = 250
CI_NEUTRAL = 70
#: operators the issue (13) reports as slipping through: the CI sample keeps more of them
ISSUE_OPERATORS = ("mean_to_sum", "l_out_to_l_in", "constant_negated", "constant_zero", "constant_doubled",
                   "loss_negated", "offset_zero", "offset_plus_one", "objective_swap", "constant_to_identity",
                   "anchors_with_dropped")
VERIFIED_OK = ("pass", "unproved")
VERIFIED_WRONG = ("fail", "error")


def mode_from_environment() -> str:
    return "full" if os.environ.get("ICON_MUTATIONS", "").strip().lower() == "full" else "ci"


def _rank(variant) -> str:
    return hashlib.sha1(variant.key.encode()).hexdigest()


def sample(variants, budget: int, favoured=()) -> list:
    """A deterministic sample of ``budget`` variants covering every operator and entry.

    Each operator first gets a floor (two variants; six for ``favoured`` ones, one for a
    budget below twice the number of operators; the largest floors shrink while they exceed
    the budget), the rest of the budget is shared in proportion to what each has left; within
    an operator, entries take turns in a hashed order.
    """
    by_operator = defaultdict(list)
    for variant in variants:
        by_operator[variant.operator].append(variant)
    if budget >= len(variants):
        return list(variants)
    small = budget < 2 * len(by_operator)
    quota = {op: min(len(group), 1 if small else 6 if op in favoured else 2) for op, group in by_operator.items()}
    while sum(quota.values()) > budget and max(quota.values()) > 1:
        largest = max(sorted(quota), key=quota.get)
        quota[largest] -= 1
    left = {op: len(group) - quota[op] for op, group in by_operator.items()}
    spare = max(budget - sum(quota.values()), 0)
    total_left = sum(left.values())
    if spare and total_left:
        shares = {op: spare * left[op] / total_left for op in by_operator}
        extra = {op: math.floor(share) for op, share in shares.items()}
        for op in sorted(by_operator, key=lambda op: extra[op] - shares[op])[: spare - sum(extra.values())]:
            extra[op] += 1
        for op in by_operator:
            quota[op] += min(extra[op], left[op])
    chosen = []
    for operator, group in sorted(by_operator.items()):
        by_entry = defaultdict(list)
        for variant in sorted(group, key=_rank):
            by_entry[variant.entry_id].append(variant)
        turns = sorted(by_entry, key=lambda entry_id: hashlib.sha1(f"{operator}|{entry_id}".encode()).hexdigest())
        picked = []
        while len(picked) < quota[operator]:
            for entry_id in turns:
                if by_entry[entry_id] and len(picked) < quota[operator]:
                    picked.append(by_entry[entry_id].pop(0))
        chosen += picked
    order = {variant.key: k for k, variant in enumerate(variants)}
    return sorted(chosen, key=lambda variant: order[variant.key])


@dataclass
class Row:
    """One variant with the oracle's decision and the verifier's results (None: not run)."""

    variant: object
    decision: object
    results: list | None = None

    @property
    def caught(self) -> bool:
        """A wrong variant is caught when every claim the oracle refuted fails (or errors)."""
        return self.results is not None and all(self.results[k].status in VERIFIED_WRONG for k in self.decision.refuted)

    @property
    def passed(self) -> bool:
        return self.results is not None and all(r.status in VERIFIED_OK for r in self.results)

    def verifier_words(self) -> str:
        if self.results is None:
            return "not verified"
        return ", ".join(f"{r.claim} {r.status.upper()}" + (f" [{claim_label(r)}]" if claim_label(r) else "")
                         for r in self.results)


def claim_label(result) -> str:
    """The verifier's label for how a claim passed (its proof label where it gives one)."""
    return result.proof or ""


@dataclass
class Campaign:
    mode: str
    wrong: list = field(default_factory=list)  # Rows
    neutral: list = field(default_factory=list)
    generated: dict = field(default_factory=dict)  # kind -> number generated before sampling
    dropped: dict = field(default_factory=dict)  # kind -> {operator: count}
    rejected: dict = field(default_factory=dict)  # operator -> wrong variants icon validate rejects
    seconds: dict = field(default_factory=dict)  # phase -> wall seconds

    def rows(self, kind: str) -> list:
        return self.wrong if kind == "wrong" else self.neutral


def _judge_task(args):
    original, variants, num_batches = args
    return judge_group(original, variants, num_batches)


def judge(originals: dict, variants, jobs: int = 2, num_batches: int = NUM_BATCHES, progress=None) -> dict:
    """variant key -> Decision; the variants of one entry are judged together (one process)."""
    groups = defaultdict(list)
    for variant in variants:
        groups[variant.entry_id].append(variant)
    tasks = sorted(groups.items(), key=lambda item: -len(item[1]))
    decisions = {}
    if jobs > 1 and len(tasks) > 1:
        with process_pool(jobs) as pool:
            futures = {entry_id: pool.submit(_judge_task, (originals[entry_id], group, num_batches))
                       for entry_id, group in tasks}
            for entry_id, group in tasks:
                for variant, decision in zip(group, futures[entry_id].result()):
                    decisions[variant.key] = decision
                if progress:
                    progress(f"oracle: {entry_id} ({len(group)} variants)")
    else:
        for entry_id, group in tasks:
            for variant, decision in zip(group, judge_group(originals[entry_id], group, num_batches)):
                decisions[variant.key] = decision
            if progress:
                progress(f"oracle: {entry_id} ({len(group)} variants)")
    return decisions


def verify(variants, jobs: int = 2, progress=None) -> dict:
    """variant key -> the verifier's ClaimResults (``verify_entry``, no cache), ``jobs`` processes."""
    from icon_registry.verify import verify_entries

    done = [0]

    def step(entry_id, results):
        done[0] += 1
        if progress and (done[0] % 10 == 0 or done[0] == len(variants)):
            progress(f"verifier: {done[0]}/{len(variants)} variants")

    flat = verify_entries([variant.entry for variant in variants], jobs=jobs, cache=None, progress=step)
    out, position = {}, 0
    for variant in variants:
        count = len(variant.entry.claims)
        out[variant.key] = flat[position:position + count]
        position += count
    return out


@dataclass
class Selection:
    """The variants a campaign checks, chosen before anything is evaluated."""

    mode: str
    wrong: list
    neutral: list
    generated: dict
    dropped: dict
    rejected: dict


def select(entries, mode: str = "ci") -> Selection:
    """Generate the variants of ``entries``; keep the CI sample (mode "ci") or all ("full")."""
    wrong, neutral = wrong_variants(entries), neutral_rewrites(entries)
    chosen_wrong, chosen_neutral = wrong.variants, neutral.variants
    if mode == "ci":
        chosen_wrong = sample(wrong.variants, CI_WRONG, ISSUE_OPERATORS)
        chosen_neutral = sample(neutral.variants, CI_NEUTRAL)
    return Selection(mode, chosen_wrong, chosen_neutral, {"wrong": len(wrong.variants), "neutral": len(neutral.variants)},
                     {"wrong": wrong.dropped, "neutral": neutral.dropped}, wrong.rejected)


def evaluate(selection: Selection, originals: dict, jobs: int = 2, only=None, progress=None) -> Campaign:
    """Judge the selected variants with the oracle, then run the verifier on the oracle-wrong
    ones and on every neutral rewrite. ``only``: entry ids to keep (None: all)."""
    keep = lambda variants: [v for v in variants if only is None or v.entry_id in only]  # noqa: E731
    chosen_wrong, chosen_neutral = keep(selection.wrong), keep(selection.neutral)
    campaign = Campaign(selection.mode, generated=selection.generated, dropped=selection.dropped,
                        rejected={op: [r for r in found if only is None or r[0] in only]
                                  for op, found in selection.rejected.items()})
    start = time.perf_counter()
    decisions = judge(originals, chosen_wrong + chosen_neutral, jobs, progress=progress)
    campaign.seconds["oracle"] = time.perf_counter() - start
    to_verify = [v for v in chosen_wrong if decisions[v.key].verdict == "wrong"] + chosen_neutral
    start = time.perf_counter()
    results = verify(to_verify, jobs, progress=progress) if to_verify else {}
    campaign.seconds["verifier"] = time.perf_counter() - start
    campaign.wrong = [Row(v, decisions[v.key], results.get(v.key)) for v in chosen_wrong]
    campaign.neutral = [Row(v, decisions[v.key], results.get(v.key)) for v in chosen_neutral]
    return campaign


def run(entries, mode: str = "ci", jobs: int = 2, only=None, progress=None) -> Campaign:
    """``select`` then ``evaluate``: the whole campaign over ``entries``."""
    start = time.perf_counter()
    selection = select(entries, mode)
    seconds = time.perf_counter() - start
    campaign = evaluate(selection, {entry.id: entry for entry in entries}, jobs, only, progress)
    campaign.seconds = {"generate": seconds, **campaign.seconds}
    return campaign
