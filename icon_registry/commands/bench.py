"""`icon bench`: time compiled catalog losses against hand-written fused torch.

    icon bench                                  # suite core: SimCLR, SupCon, cross entropy, t-SNE; n = 256 ... 16,384
    icon bench --suite large                    # n = 16,384: default path, 8 anchor blocks, dense; vs hand-written
    icon bench --suite compile                  # torch.compile(ours) vs torch.compile(hand-written)
    icon bench --suite fresh                    # new ids / labels tensors per call vs the same loss with p cached
    icon bench --suite tsne                     # P calibration and end to end vs scikit-learn (and openTSNE)
    icon bench --suite cli                      # start-up of the catalog commands
    icon bench --sizes 1024 --repeats 3         # quicker
    icon bench --json                           # machine-readable on stdout
    icon bench --out results/bench.json         # write (merge) the results the docs site renders

Each size runs forward + backward of both implementations interleaved after a warm-up and
reports the median times and the ratio compiled / hand-written measured in the same run. A
timed sample averages as many calls as fill 0.2 s (small n: one call is a few ms).
Values and gradients of the two are checked to agree first.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from icon_registry.commands import print_json, reuse_freed_memory
from icon_registry.commands.options import device, integer, output_file, threads
from icon_registry.errors import UsageError, quote, suggest

#: n x n matrices a loss's forward and backward hold at least (logits, their softmax, the
#: gradient): a lower bound, so that only sizes that cannot run are refused.
MATRICES = 3
#: n x d matrices a compared suite holds at least beside them, n counted as at least
#: FEATURE_ROWS (cross entropy's prototypes: 10 x d): z, its copies and gradients in ours and in
#: the hand-written loss, over the suite's cases (a peak of 20-35 measured in the core, fresh and
#: compile suites at n = 8 and 256 with d = 10^6 and 10^7)
FEATURE_MATRICES = 16
FEATURE_ROWS = 10
#: The options of a compared suite (bench.SUITES: ours against hand-written torch) and their defaults.
COMPARED = {"sizes": None, "dim": 128, "dtype": "float32", "device": "cpu", "repeats": 5, "warmup": 1, "threads": None}
#: The options each other suite reads (beside --suite, --out, --json and --quiet); any other one given is
#: refused rather than ignored. cli times fresh interpreters: this process's threads are not theirs.
OTHER_SUITES = {"tsne": ("sizes", "repeats", "threads"), "cli": ("repeats",), "memory": ("sizes", "threads"),
                "cluster": ("sizes", "threads"), "distributed": (), "gpu": ()}


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench", help="time compiled losses against hand-written torch (forward + backward)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--suite", default="core", help="which suite to run (default: core)")
    parser.add_argument("--sizes", type=integer(4), nargs="+", metavar="N",
                        help="batch sizes, each >= 4 (default: the suite's); the tsne, memory and cluster suites "
                        "take them too (tsne: the calibration's n, then the end-to-end sizes)")
    parser.add_argument("--dim", "-d", type=integer(1), help="feature dimension d (default 128)")
    parser.add_argument("--dtype", choices=["float32", "float64"], help="default float32")
    parser.add_argument("--device", type=device, help="torch device (default cpu)")
    parser.add_argument("--repeats", type=integer(1), help="timed repeats per implementation (default 5)")
    parser.add_argument("--warmup", type=integer(0), help="untimed runs first (default 1)")
    parser.add_argument("--threads", type=threads, help="torch.set_num_threads (>= 1)")
    parser.add_argument("--json", action="store_true",
                        help="print the results as JSON (the suites other than core, formula, large, compile and "
                        "fresh always do)")
    parser.add_argument(
        "--out", metavar="FILE", default="results/bench.json", type=output_file,
        help="write the results to FILE, merged with the other suites there (default results/bench.json, which the docs "
        "site renders); an existing FILE that is not bench results (a JSON object of the suites icon bench writes) is "
        "refused before the run",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.epilog = ("An option a suite does not use is refused. The compared suites (core, formula, large,\n"
                     "compile, fresh) use them all; the others:\n" + "\n".join(
                         f"  {name}: {', '.join('--' + option for option in options) or 'none'}"
                         for name, options in OTHER_SUITES.items()))
    parser.set_defaults(func=run)
    return parser


def _options(args) -> dict:
    """The values of the suite's options (defaults filled in); UsageError naming an option that was
    given but that the suite does not use."""
    used = OTHER_SUITES.get(args.suite, tuple(COMPARED))
    for name in COMPARED:
        if getattr(args, name) is not None and name not in used:
            uses = (f"its options: {', '.join('--' + option for option in used)}" if used else
                    "it has no options beside --out, --json and --quiet")
            raise UsageError(f"argument --{name}: suite {quote(args.suite)} does not use it ({uses})", argument=f"--{name}")
    return {name: default if getattr(args, name) is None else getattr(args, name)
            for name, default in COMPARED.items() if name in used}


def _least_memory(suite: str, n: int, itemsize: int) -> tuple[int, str]:
    """Bytes a run of ``suite`` at size ``n`` holds at least, and what they are."""
    from icon_registry import bench_scale

    if suite == "memory":  # in anchor blocks: the features are what grows with n
        return n * bench_scale.DIM * 4, f"{n} x {bench_scale.DIM} float32 features"
    if suite == "cluster":
        return n * bench_scale.CLUSTER_DIM * 4, f"{n} x {bench_scale.CLUSTER_DIM} float32 features"
    if suite == "tsne":  # scikit-learn's exact P and trustworthiness: n x n float64
        return n * n * 8, f"a {n} x {n} float64 matrix"
    return MATRICES * n * n * itemsize, f"{MATRICES} matrices of {n} x {n}"


def _smallest(suite: str) -> tuple[int, str]:
    """The smallest size ``suite`` can run, and why (4: every suite)."""
    from icon_registry import bench_scale, bench_tsne

    if suite == "tsne":
        return bench_tsne.NEAREST + 2, f"scikit-learn's P takes {bench_tsne.NEAREST + 1} neighbours of each point"
    if suite == "cluster":
        return bench_scale.CLUSTER_K, f"it makes {bench_scale.CLUSTER_K} clusters"
    return 4, ""


def _check_sizes(suite: str, sizes, dtype, device: str, dim=None) -> None:
    """UsageError naming --sizes for a size the suite cannot run, or that cannot fit in the device's
    memory; naming --dim where the n x ``dim`` features of a compared suite are what does not fit."""
    import torch

    if not sizes:
        return
    smallest, why = _smallest(suite)
    if min(sizes) < smallest:
        raise UsageError(f"argument --sizes: suite {quote(suite)} needs n >= {smallest} ({why}), got {min(sizes)}",
                         argument="--sizes")
    if torch.device(device).type == "cuda":
        memory = torch.cuda.get_device_properties(torch.device(device)).total_memory
    else:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    itemsize = torch.empty((), dtype=dtype).element_size()
    for n in sizes:
        need, what = _least_memory(suite, n, itemsize)
        if need > memory:
            raise UsageError(f"argument --sizes: {n} needs at least {need / 2**30:.3g} GiB ({what}), more than the "
                             f"{memory / 2**30:,.1f} GiB of memory of {device}", argument="--sizes")
        rows = max(n, FEATURE_ROWS)
        features = 0 if dim is None else FEATURE_MATRICES * rows * dim * itemsize
        if need + features > memory:
            need += features
            raise UsageError(f"argument --dim: {dim} at n = {n} needs at least {need / 2**30:.3g} GiB ({what} and "
                             f"{FEATURE_MATRICES} of {rows} x {dim}), more than the {memory / 2**30:,.1f} GiB of memory "
                             f"of {device}", argument="--dim")


def _write_merged(path: Path, document: dict) -> None:
    """Merge ``document`` into the results at ``path`` (other suites' keys are kept), written to a
    temporary file first and swapped in (``files.write_file``)."""
    from icon_registry.bench import existing_results
    from icon_registry.commands import json_text
    from icon_registry.files import write_file

    merged = existing_results(path)  # again: the file may have changed during the run
    merged.update(document)
    write_file(path, json_text(merged) + "\n", replace=True)


def run(args) -> int:
    reuse_freed_memory()  # large tensors every step: see its docstring
    import torch

    from icon_registry import bench, bench_scale

    runners = bench.RUNNERS
    known = list(bench.SUITES) + list(runners) + list(bench_scale.SUITES)
    if args.suite not in known:
        raise UsageError(f"argument --suite: unknown suite {quote(args.suite)}{suggest(args.suite, known)}; "
                         f"suites: {', '.join(known)}", argument="--suite")
    options = _options(args)
    bench.existing_results(args.out)  # before the run: a file that is not ours is refused, not replaced
    dtype = getattr(torch, options.get("dtype", "float32"))
    sizes = options.get("sizes")
    if args.suite in bench.SUITES and not sizes:  # the suite's own sizes, checked against --dim
        sizes = sorted({n for case in bench.SUITES[args.suite] for n in case.sizes})
    _check_sizes(args.suite, sizes, dtype, options.get("device", "cpu"), dim=options.get("dim"))
    if args.suite in bench_scale.SUITES:
        results = bench_scale.run((args.suite,), args.out, quiet=args.quiet, **options)
        print_json(results[args.suite])
        return 0
    if options.get("threads"):
        torch.set_num_threads(options["threads"])
    show = not args.quiet and sys.stderr.isatty()

    def progress(message):
        if show:
            print(f"\r{message[:60]:<60}", end="", file=sys.stderr, flush=True)

    load_before = os.getloadavg()[0]
    if args.suite in runners:
        result = runners[args.suite](progress=progress, sizes=options.get("sizes"), repeats=options["repeats"])
        document = {args.suite: {**result, "environment": bench.environment(load_before)}}
    else:
        rows = bench.run_suite(
            args.suite, sizes=options["sizes"], d=options["dim"], dtype=dtype, device=options["device"],
            repeats=options["repeats"], warmup=options["warmup"], progress=progress,
        )
        document = bench.report(rows, suite=args.suite, load_before=load_before)
    if show:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
    _write_merged(Path(args.out), document)
    if args.json or args.suite in runners:
        print_json(document)
    else:
        print(bench.format_table(rows))
        worst = max(r["ratio"] for r in rows)
        print(f"\nworst ratio {worst:.2f} (target <= {bench.target_ratio(args.suite)}); "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average {load_before:.2f} at the start")
        print(f"wrote {args.out}")
    return 0
