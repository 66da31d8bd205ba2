"""python -m tests.verify.mutations --report [--full] [--jobs N] [--entries simclr,supcon] [--verbose]

Runs a mutation campaign over the built-in catalog (the CI sample, or every variant with
--full) and prints counts by operator: generated, oracle-wrong, undecided, verifier-caught,
neutral-passed; then every wrong variant the verifier lets pass. Progress goes to stderr.
Exit status 1 when a wrong variant passes or a neutral rewrite fails, else 0.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.verify.mutations", description=__doc__.split("\n\n")[1])
    parser.add_argument("--report", action="store_true", help="run the campaign and print the report (the default)")
    parser.add_argument("--full", action="store_true", help="every variant, not the CI sample")
    parser.add_argument("--jobs", type=int, default=2, help="processes for the oracle and the verifier (default 2)")
    parser.add_argument("--entries", default="", help="comma-separated entry ids (default: the whole catalog)")
    parser.add_argument("--verbose", action="store_true", help="also list the undecided variants")
    args = parser.parse_args(argv)

    from icon_registry.catalog import load_catalog

    from .campaign import run
    from .report import format_report

    catalog = load_catalog(use_env=False)
    only = {name.strip() for name in args.entries.split(",") if name.strip()} or None
    unknown = sorted((only or set()) - set(catalog.ids))
    if unknown:
        parser.error(f"unknown entry id(s): {', '.join(unknown)}")
    start = time.perf_counter()

    def progress(message):
        print(f"[{time.perf_counter() - start:6.1f}s] {message}", file=sys.stderr, flush=True)

    campaign = run(catalog.entries(), "full" if args.full else "ci", args.jobs, only=only, progress=progress)
    print(format_report(campaign, verbose=args.verbose))
    decided = [row for row in campaign.wrong if row.decision.verdict == "wrong"]
    clean = all(row.caught for row in decided) and all(
        row.passed and row.decision.verdict == "confirmed" for row in campaign.neutral)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
