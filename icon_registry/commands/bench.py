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
import json
import os
import sys
from pathlib import Path

from icon_registry.commands import reuse_freed_memory
from icon_registry.commands.options import device, integer, output_file, threads
from icon_registry.errors import UsageError, quote, suggest
from icon_registry.files import earlier_output, write_file

#: n x n matrices a loss's forward and backward hold at least (logits, their softmax, the
#: gradient): a lower bound, so that only sizes that cannot run are refused.
MATRICES = 3


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench", help="time compiled losses against hand-written torch (forward + backward)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--suite", default="core", help="which suite to run (default: core)")
    parser.add_argument("--sizes", type=integer(4), nargs="+", metavar="N",
                        help="batch sizes, each >= 4 (default: the suite's)")
    parser.add_argument("--dim", "-d", type=integer(1), default=128, help="feature dimension d (default 128)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="default float32")
    parser.add_argument("--device", default="cpu", type=device, help="torch device (default cpu)")
    parser.add_argument("--repeats", type=integer(1), default=5, help="timed repeats per implementation (default 5)")
    parser.add_argument("--warmup", type=integer(0), default=1, help="untimed runs first (default 1)")
    parser.add_argument("--threads", type=threads, help="torch.set_num_threads (>= 1)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--out", metavar="FILE", default="results/bench.json", type=output_file,
        help="write the results to FILE, merged with the other suites there (default results/bench.json, which the docs "
        "site renders); an existing FILE that is not bench results (a JSON object of suites) is refused before the run",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.set_defaults(func=run)
    return parser


def _scale_suites():
    """The scale helper's suites (memory, distributed, gpu) in icon_registry.bench_scale, if present."""
    try:
        from icon_registry import bench_scale
    except ImportError:
        return {}
    return getattr(bench_scale, "SUITES", {})


def _run_scale(args) -> int:
    from icon_registry import bench_scale

    kwargs = {"quiet": args.quiet, "threads": args.threads}
    if args.sizes:
        kwargs["sizes"] = tuple(args.sizes)
    results = bench_scale.run((args.suite,), args.out or bench_scale.DEFAULT_OUTPUT, **kwargs)
    print(json.dumps(results.get(args.suite), indent=2))
    return 0


def _existing_results(path: Path) -> dict:
    """The bench results already in ``path`` (a JSON object of suites), {} when there is no file;
    UsageError naming --out for anything else, which is never replaced."""
    return earlier_output(path, "a bench results file",
                          lambda data: None if isinstance(data, dict) else "expected a JSON object of suites") or {}


def _write_merged(path: Path, document: dict) -> None:
    """Merge ``document`` into the results at ``path`` (other suites' keys are kept), written to a
    temporary file first and swapped in (``files.write_file``)."""
    merged = _existing_results(path)  # again: the file may have changed during the run
    merged.update(document)
    write_file(path, json.dumps(merged, indent=2) + "\n", replace=True)


def _check_sizes(sizes, dtype, device: str) -> None:
    """UsageError naming --sizes for a size whose n x n matrices cannot fit in the device's memory."""
    import torch

    if not sizes:
        return
    if torch.device(device).type == "cuda":
        memory = torch.cuda.get_device_properties(torch.device(device)).total_memory
    else:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    itemsize = torch.empty((), dtype=dtype).element_size()
    for n in sizes:
        need = MATRICES * n * n * itemsize
        if need > memory:
            raise UsageError(f"argument --sizes: {n} needs at least {need / 2**30:.3g} GiB ({MATRICES} matrices of "
                             f"{n} x {n}), more than the {memory / 2**30:,.1f} GiB of memory of {device}",
                             argument="--sizes")


def run(args) -> int:
    reuse_freed_memory()  # large tensors every step: see its docstring
    import torch

    from icon_registry import bench

    scale = _scale_suites()
    runners = bench.RUNNERS
    if args.suite in scale and args.suite not in bench.SUITES:
        return _run_scale(args)
    if args.suite not in bench.SUITES and args.suite not in runners:
        known = list(bench.SUITES) + list(runners) + [s for s in scale if s not in bench.SUITES]
        raise UsageError(f"argument --suite: unknown suite {quote(args.suite)}{suggest(args.suite, known)}; "
                         f"suites: {', '.join(known)}", argument="--suite")
    if args.out:
        _existing_results(Path(args.out))  # before the run: a file that is not ours is refused, not replaced
    if args.suite in bench.SUITES:
        _check_sizes(args.sizes, getattr(torch, args.dtype), args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    show = not args.quiet and sys.stderr.isatty()

    def progress(message):
        if show:
            print(f"\r{message[:60]:<60}", end="", file=sys.stderr, flush=True)

    load_before = os.getloadavg()[0]
    if args.suite in runners:
        result = runners[args.suite](progress=progress, sizes=args.sizes, repeats=args.repeats)
        document = {args.suite: {**result, "environment": bench.environment(load_before)}}
    else:
        rows = bench.run_suite(
            args.suite, sizes=args.sizes, d=args.dim, dtype=getattr(torch, args.dtype), device=args.device,
            repeats=args.repeats, warmup=args.warmup, progress=progress,
        )
        document = bench.report(rows, suite=args.suite, load_before=load_before)
    if show:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
    if args.out:
        _write_merged(Path(args.out), document)
    if args.json or args.suite in runners:
        print(json.dumps(document, indent=2))
    else:
        print(bench.format_table(rows))
        worst = max(r["ratio"] for r in rows)
        print(f"\nworst ratio {worst:.2f} (target <= {bench.target_ratio(args.suite)}); "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average {load_before:.2f} at the start")
    if args.out and not args.json:
        print(f"wrote {args.out}")
    return 0
