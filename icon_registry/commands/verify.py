"""``icon verify [ID ...] [--all] [--json] [--jobs N]``: check every claim of catalog entries.

Per entry and claim: pass / fail / unproved / error with seconds. Exit 1 if any claim fails
(or its check errors), 0 otherwise, 2 for bad usage. Results are cached by the hash of the
entry, of the verifier/kernel/formula sources and of the Python, SymPy, torch and icon-registry
versions ($ICON_CACHE_DIR or ~/.cache/icon-registry); ``--no-cache`` checks every claim afresh.
"""

from __future__ import annotations

import sys
import time

from icon_registry.commands.options import integer, output_file, output_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check the claims of catalog entries (symbolically and numerically)",
        description="Check each claim of the given entries (or of every entry with --all). identity, "
        "up_to_constant and decomposition claims are proved for every batch where the prover can rewrite both "
        "sides to one normal form ('proved for every batch'; --explain prints the derivation), else checked "
        "exactly on symbolic instances ('checked on instances'); limit, bound and reverse_kl_entropy claims are "
        "checked on instances or numerically. Every claim is also checked on float64 batches (three views, single "
        "views, classes of sizes 1-3, random structures, a batch of 20-30 items and one with 6 views and a class of "
        "8) against the compiled torch loss, with the real parameters at their defaults, near them, at the ends of "
        "their declared ranges (100x the default where a range is open) and at random points inside them; the exact instances "
        "sample the same range. unproved claims are "
        "listed with their reason and never count as verified. Exit code 1 if anything fails.",
    )
    parser.add_argument("ids", nargs="*", metavar="ID", help="entry ids or aliases, or entry files (path/to/id.yaml)")
    parser.add_argument("--all", action="store_true", help="verify every entry of the catalog")
    parser.add_argument("--junit", metavar="FILE", type=output_file,
                        help="also write the results as JUnit XML to FILE (one test case per claim: failures and "
                        "errors with their detail, unproved claims skipped), for CI; an existing FILE that is not a "
                        "JUnit XML report is refused before the run, never replaced")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON list of {id, claim, kind, status, seconds, detail, proof, steps, ..., entry_digest} (the digest of the entry as checked: icon site build shows a row only for that version)")
    parser.add_argument("--jobs", "-j", type=integer(1, 1024), default=1, metavar="N",
                        help="verify N entries in parallel (worker processes)")
    parser.add_argument("--no-cache", action="store_true",
                        help="check every claim afresh, never reusing a cached verdict (the fresh results are "
                        "still stored, for `icon site build`)")
    parser.add_argument("--cache-dir", metavar="DIR", default=None, type=output_folder,
                        help="result cache folder (default $ICON_CACHE_DIR or ~/.cache/icon-registry)")
    parser.add_argument("--no-builtin", action="store_true", help="do not load the built-in catalog")
    parser.add_argument("--steps", action="store_true", help="also print each claim's proof sketch")
    parser.add_argument("--explain", action="store_true",
                        help="print each claim's derivation: the rewriting steps, each naming its rule, that turn "
                        "the objective and the formula into one normal form (or where they stop)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def explanation(result) -> list:
    """The derivation of one claim as printed lines (``--explain``)."""
    from icon_registry.errors import one_line

    derivation = result.derivation
    if result.status == "unproved":
        return ["(an unproved claim: nothing to derive)"]
    if not derivation:
        return [f"no derivation for every batch ({result.kind} claims are checked on instances)"]
    head = "proof for every batch:" if derivation["proved"] else f"no proof for every batch ({derivation['reason']}):"
    lines = [head]
    lines += [f"  assume {one_line(a)}" for a in derivation["assumptions"]]
    lines.append(f"  objective = {one_line(derivation['objective'])}")
    lines.append(f"  loss      = {one_line(derivation['loss'])}")
    for number, step in enumerate(derivation["steps"], 1):
        lines.append(f"  {number:2d}. [{step['side']}] {step['rule']} ({step['count']}x)")
        lines.append(f"      = {one_line(step['expression'])}")
    if derivation["proved"]:
        lines.append(f"  both sides have the normal form {one_line(derivation['normal_form'])}")
    elif derivation.get("residual"):
        lines.append(f"  the normal forms differ by {one_line(derivation['residual'])}")
    return lines


def _earlier_report(path: str) -> None:
    """UsageError naming --junit unless ``path`` is new or holds a JUnit XML report (this command's
    or another tool's: replaced); a user's file there is never overwritten."""
    import xml.etree.ElementTree as ET

    from icon_registry.files import earlier_output

    def parse(text: str):
        try:
            return ET.fromstring(text)
        except ET.ParseError as err:  # a SyntaxError, which earlier_output does not expect
            raise ValueError(f"not XML: {err}") from None

    earlier_output(path, "a JUnit XML report",
                   lambda root: None if root.tag in ("testsuites", "testsuite")
                   else f"its root element is <{root.tag}>, not <testsuites> or <testsuite>",
                   option="--junit", parse=parse)


def run(args) -> int:
    from icon_registry.commands import entries_from_args, print_json
    from icon_registry.errors import IconError, UsageError, one_line
    from icon_registry.verify import ResultCache, verify_entries
    from icon_registry.verify.results import PROOF_LABELS

    if not args.ids and not args.all:
        raise UsageError("give entry ids or --all", argument="ids")
    if args.junit:
        _earlier_report(args.junit)  # before any work: a file that is not a report is refused, not replaced
    catalog, names = entries_from_args(args, args.ids, include_builtin=not args.no_builtin)
    if args.all:
        names = list(catalog.ids)
    if not names:
        raise IconError("icon verify: the catalog has no entries")
    entries = [catalog.get(name) for name in names]
    cache = ResultCache(args.cache_dir, reuse=not args.no_cache)
    show_progress = args.all and not args.quiet and sys.stderr.isatty()
    done = [0]
    start = time.perf_counter()

    def progress(entry_id, results):
        done[0] += 1
        if show_progress:
            seconds = sum(r.seconds for r in results)
            cached = " (cached)" if results and all(r.cached for r in results) else ""
            print(f"[{done[0]}/{len(entries)}] {entry_id} {seconds:.1f}s{cached}", file=sys.stderr, flush=True)

    results = verify_entries(entries, jobs=args.jobs, cache=cache, progress=progress)
    failed = [r for r in results if r.status in ("fail", "error")]
    if args.junit:
        from icon_registry.verify.junit import write_junit

        _earlier_report(args.junit)  # again: the file may have appeared during the run
        write_junit(results, args.junit)
    if args.json:
        print_json([r.to_json() for r in results])
    else:
        width = max([len(f"{r.entry} {r.claim}") for r in results] + [10])
        for r in results:
            label = f"{r.entry} {r.claim}".ljust(width)
            how = f" [{r.label}]" if r.status == "pass" else ""
            cached = " (cached)" if r.cached else ""
            print(one_line(f"{label}  {r.status.upper():8s} {r.seconds:6.2f}s{how}{cached}"))
            if r.status != "pass" or args.steps:
                print(f"    {one_line(r.detail)}")
            if args.steps:
                for step in r.steps:
                    print(f"      - {one_line(step)}")
            if args.explain:
                for line in explanation(r):
                    print(f"      {line}")
        counts = {s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "error", "unproved")}
        proofs = [sum(1 for r in results if r.status == "pass" and r.proof == p) for p in PROOF_LABELS]
        how = ", ".join(f"{k} {label}" for k, label in zip(proofs, PROOF_LABELS.values()) if k)
        entry_word, claim_word = ("entry" if len(entries) == 1 else "entries"), ("claim" if len(results) == 1 else "claims")
        print(f"{len(entries)} {entry_word}, {len(results)} {claim_word}: {counts['pass']} pass" + (f" ({how})" if how else "")
              + f", {counts['fail']} fail, {counts['error']} error, {counts['unproved']} unproved "
              f"({time.perf_counter() - start:.1f}s)")
    return 1 if failed else 0
