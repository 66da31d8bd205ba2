"""verify_entry / verify_entries: run every claim of an entry, time it, cache the results."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections import Counter
from typing import Iterable, Optional

from icon_registry.errors import IconWarning
from icon_registry.inline_tex import to_text
from icon_registry.verify.results import ClaimResult


def claim_labels(entry) -> list[str]:
    counts = Counter(claim.kind for claim in entry.claims)
    seen: Counter = Counter()
    labels = []
    for claim in entry.claims:
        seen[claim.kind] += 1
        labels.append(claim.kind if counts[claim.kind] == 1 else f"{claim.kind}#{seen[claim.kind]}")
    return labels


def verify_entry(entry, *, cache=None) -> list[ClaimResult]:
    """Check every claim of ``entry`` (an ``Entry``); one ``ClaimResult`` per claim, in order.

    ``cache``: a ``ResultCache`` (or None): results are reused when neither the entry nor
    the verifier/kernel/formula sources changed.
    """
    if cache is not None:
        hit = cache.get(entry)
        if hit is not None:
            return hit
    from icon_registry.verify.algebra import parameter_ranges
    from icon_registry.verify.checks import CHECKS, CheckFailed, Context

    from icon_registry.verify.cache import entry_hash

    ctx = Context(entry)
    digest = entry_hash(entry)
    results = []
    for label, claim in zip(claim_labels(entry), entry.claims):
        start = time.perf_counter()
        result = ClaimResult(entry.id, label, claim.kind, "pass", entry_digest=digest)
        if claim.kind == "unproved":
            result.status = "unproved"
            result.detail = f"not verified: {to_text(claim.statement)} ({to_text(claim.reason)})"
            result.steps = [f"statement: {to_text(claim.statement)}", f"no proof: {to_text(claim.reason)}"]
        else:
            try:
                with warnings.catch_warnings(), parameter_ranges(entry.parameters):  # checking is not training
                    warnings.simplefilter("ignore", IconWarning)
                    outcome = CHECKS[claim.kind](ctx, claim)
                result.proof = outcome["proof"]
                result.steps = outcome["steps"]
                result.derivation = outcome.get("derivation")
                result.detail = _pass_detail(claim, outcome["proof"])
                # batches or exact points whose values are not finite: said, never silent
                skipped = list(outcome.get("skipped") or []) + [line for line in result.steps if "point left out" in line]
                if skipped:
                    result.detail += "; not checked where the values are not finite: " + "; ".join(skipped)
            except CheckFailed as failure:
                result.status = failure.status
                result.detail = failure.detail
                result.residual = failure.residual
                result.counterexample = failure.counterexample
            except Exception as err:  # a bug or an unsupported construct: say so, never crash the run
                result.status = "error"
                result.detail = f"the check could not run: {type(err).__name__}: {err}"
        result.seconds = round(time.perf_counter() - start, 3)
        results.append(result)
    if cache is not None:
        cache.put(entry, results)
    return results


def _pass_detail(claim, proof) -> str:
    how = {
        "all_n": "proved for every batch by rewriting both sides to one normal form; the compiled torch loss "
                 "agrees on every float64 batch checked",
        "instances": "not derived for every batch; exact on the symbolic instances and equal on every float64 "
                     "batch checked",
        "numeric": "checked numerically (random points at 30 digits and float64 batches through the compiled "
                   "torch loss); no exact derivation",
    }[proof]
    return f"{claim.kind}: {how}"


def _verify_one(args):
    entry_json, cache_dir, use_cache = args
    from icon_registry.schema import Entry
    from icon_registry.verify.cache import ResultCache

    entry = Entry.model_validate(entry_json)
    cache = ResultCache(cache_dir) if use_cache else None
    return [r.to_json() for r in verify_entry(entry, cache=cache)]


def _worker_setup() -> None:
    from icon_registry.interrupts import ignore_interrupts

    ignore_interrupts()
    import torch

    torch.set_num_threads(1)  # the workers are as many as the cores


@contextlib.contextmanager
def process_pool(jobs: int):
    """A pool of ``jobs`` fresh interpreters (spawned, not forked: a fork of a process whose
    torch, OpenMP or BLAS threads ever ran can wait forever on a lock that one of those
    threads held; a test session or a notebook is such a process). A Ctrl-C or SIGTERM while it
    works ends the workers, and is raised once the pool has shut down (``signals_end_workers``);
    a submit after it fails."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from icon_registry.interrupts import signals_deferred, signals_end_workers

    with signals_end_workers() as arrived:

        class Pool(ProcessPoolExecutor):
            def submit(self, *args, **kwargs):  # starts the workers (and the thread that tends them)
                if arrived:  # a signal before the first worker started ended none
                    raise BrokenProcessPool(f"the pool was interrupted by signal {arrived[0]}")
                with signals_deferred():
                    return super().submit(*args, **kwargs)

        with Pool(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                  initializer=_worker_setup) as pool:
            yield pool


def verify_entries(entries: Iterable, *, jobs: int = 1, cache=None, progress=None) -> list[ClaimResult]:
    """All claims of all entries (in entry order). ``jobs`` > 1 uses a process pool."""
    entries = list(entries)
    results: list[Optional[list]] = [None] * len(entries)
    todo = []
    for k, entry in enumerate(entries):
        hit = cache.get(entry) if cache is not None else None
        if hit is not None:
            results[k] = hit
            if progress:
                progress(entry.id, hit)
        else:
            todo.append(k)
    if jobs > 1 and len(todo) > 1:
        from concurrent.futures import as_completed

        cache_dir = str(cache.directory) if cache is not None else None
        with process_pool(jobs) as pool:
            futures = {
                pool.submit(_verify_one, (entries[k].model_dump(mode="json"), cache_dir, cache is not None)): k
                for k in todo
            }
            for future in as_completed(futures):
                k = futures[future]
                results[k] = [ClaimResult.from_json(r) for r in future.result()]
                if progress:
                    progress(entries[k].id, results[k])
    else:
        for k in todo:
            results[k] = verify_entry(entries[k], cache=cache)
            if progress:
                progress(entries[k].id, results[k])
    return [r for group in results for r in group]
