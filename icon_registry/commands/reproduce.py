"""``icon reproduce``: measured reproductions of the paper's claims on digits -> results/reproduce.json."""

from __future__ import annotations

import os

from icon_registry.commands import json_text, reuse_freed_memory
from icon_registry.commands.options import output_file


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="reproduce the paper's claims in miniature (digits) and write results/reproduce.json + PNGs",
        description="Trains compiled catalog entries on scikit-learn's digits next to scikit-learn baselines: "
        "(a) t-SNE vs sklearn TSNE, (b) SNE/t-SNE with uniform kNN affinities, (c) PCA vs sklearn PCA, "
        "(d) SimCLR/t-SimCLR, (e) SupCon/cross entropy, (f) K-Means vs sklearn KMeans, (g) the debiased "
        "InfoNCE clustering ablation. Every figure is measured; missed targets are recorded as "
        "target_met: false. --quick uses fewer seeds and steps (about 5-10 minutes on 2 CPU cores).",
    )
    parser.add_argument("--quick", action="store_true", help="fewer seeds, steps and a subset for the O(n^2) entries")
    parser.add_argument("--out", default=os.path.join("results", "reproduce.json"), metavar="FILE", type=output_file,
                        help="results file (default results/reproduce.json); PNGs are written next to it. An existing "
                        "file must be the results of an earlier icon reproduce, and an existing PNG of the same name a "
                        "figure of one (anything else is refused before any experiment runs); with --only, the "
                        "experiments run replace theirs in it and the others are kept, and its wall time is then the "
                        "sum of the experiments' own")
    parser.add_argument("--only", action="append", default=None, metavar="LETTER", choices=tuple("abcdefg"),
                        help="run only experiments starting with this letter (a..g); repeatable")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def run(args) -> int:
    reuse_freed_memory()  # large tensors every step: see its docstring
    from icon_registry.errors import UsageError
    from icon_registry.files import write_file
    from icon_registry.training import reproduce
    from icon_registry.training.progress import note

    previous = reproduce.previous_results(args.out)
    if args.only and previous is not None and bool(previous.get("quick")) != args.quick:
        mode = "--quick" if previous.get("quick") else "full (no --quick)"
        raise UsageError(f"argument --only: {args.out} holds a {mode} run; merging these results into it would mix the "
                         "two: run with the same mode, without --only, or give another --out", argument="--only")
    reproduce.check_plots(args.out, args.only, previous)
    results = reproduce.run(args.quick, args.out, only=args.only, verbose=not args.quiet)
    if args.only and previous is not None:
        results = reproduce.merge(previous, results)
    write_file(args.out, json_text(results) + "\n", replace=True)
    for row in results["summary"]:
        flag = "" if "target_met" not in row else ("  [target met]" if row["target_met"] else "  [TARGET MISSED]")
        print(f"({row['experiment']}) {row['method']:<42} {row['metric']:<36} {row['mean']:.4f} +- {row['std']:.4f}{flag}")
    summed = " (summed over the merged runs' experiments)" if "wall_seconds_note" in results else ""
    print(f"wall time {results['wall_seconds']:.1f}s{summed}; targets met {results['targets_met']}")
    note(f"wrote {args.out}", not args.quiet)
    return 0
