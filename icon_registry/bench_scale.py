"""Scale benchmarks: memory, time, distributed overhead and GPU timings of compiled losses.

Suites (``SUITES``; registered by ``icon bench --suite NAME`` or run as
``python -m icon_registry.bench_scale [--suite memory,distributed,gpu] [--quick]``):

* ``memory``: InfoNCE (SimCLR's p and q) forward + backward on CPU, d = 128, n up to 65,536,
  evaluated in anchor blocks of 2^24 pairs (chunk_size = 2^24 // n: 256 anchors at 65,536; each
  block's buffers then are 64 MiB, whatever the machine has). Every n runs
  in a fresh subprocess; its peak RSS comes from ``os.wait4`` (the child's own rusage, not
  the running maximum over children that RUSAGE_CHILDREN gives). The time is compared with
  the n^2 d scaling of the n = 8,192 run. Steady state: the peak RSS of 30 dense training steps
  against that of one (n = 4,096): a step must free what it made.
* ``distributed``: the same loss, global batch 8,192, on 2 gloo processes (1 thread each)
  against one process with 2 threads, and the time the collectives alone take.
* ``gpu``: float32 / bfloat16 forward + backward at n up to 65,536 with torch.compile off and
  on; skipped with a message when no CUDA device is present.
* ``cluster``: ``icon cluster``'s default recipe on 10^5 x 768 synthetic features (1,000
  clusters): kNN seconds, seconds per epoch at both ends of the batch schedule, peak RSS, and
  the extrapolation to the paper's 1.28 M x 768.

Results are written as JSON (default ``results/bench.json``, merged by suite with ``icon bench``'s core suite; the docs site renders it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

from icon_registry.commands import json_text
from icon_registry.errors import IconError
from icon_registry.files import write_file

DEFAULT_OUTPUT = Path("results/bench.json")
MEMORY_SIZES = (1024, 2048, 4096, 8192, 16384, 32768, 65536)
QUICK_SIZES = (1024, 2048, 4096, 8192)
REFERENCE_N = 8192
DIM = 128
#: Anchor x candidate pairs per block in the CPU runs (n = 65,536: 256 anchors per block).
BLOCK_PAIRS = 1 << 24
#: glibc's dynamic mmap threshold keeps freed multi-MiB blocks in the heap, where they
#: fragment: RSS then grows with the number of blocks although live memory does not. A fixed
#: threshold returns them to the OS, so peak RSS measures what the loss actually holds.
CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}
GPU_SIZES = (8192, 16384, 32768, 65536)
#: Over STEADY_STEPS training steps the peak may grow by this factor at most: a step frees what it made.
TARGETS = {"peak_rss_gib_at_65536": 2.0, "time_over_n2_scaling_at_65536": 1.3, "steady_state_growth": 1.1}
STEADY_N, STEADY_STEPS = 4096, 30


def infonce_entry():
    """SimCLR's I-Con pair: p uniform over the other views of the same image, q a softmax of
    cosine similarities over all other items (from the catalog when it has 'simclr')."""
    try:
        from icon_registry.catalog import load_catalog

        return load_catalog().get("simclr")
    except Exception:  # the catalog is optional here: the bench needs only the p/q tree
        from icon_registry.schema import Entry

        return Entry.model_validate(
            {
                "id": "simclr",
                "name": "InfoNCE",
                "summary": "InfoNCE",
                "status": "new",
                "cell": {"row": "gaussian", "column": "augmentation"},
                "mapper": "network",
                "p": {"kind": "normalize", "support": "others", "kernel": {"kind": "same_id"}},
                "q": {"kind": "normalize", "support": "others", "kernel": {"kind": "gaussian_dot", "temperature": "tau"}},
                "parameters": {"tau": {"default": 0.1, "min": 0, "description": "temperature"}},
                "loss": {"formula": "0", "description": "InfoNCE"},
                "claims": [{"kind": "unproved", "statement": "bench entry", "reason": "bench fixture"}],
            }
        )


def _progress(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(f"[bench_scale] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# one measurement, in a child process


def _step_time(loss, z, ids, repeats: int, sync=lambda: None, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeats):
        zz = z.detach().requires_grad_()
        sync()
        start = clock()
        loss(zz, ids=ids).backward()
        sync()
        best = min(best, clock() - start)
    return best


def _child_cpu(n: int, d: int, chunk, threads: int) -> dict:
    from icon_registry.compiler import compile_loss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    z = torch.randn(n, d)
    ids = torch.arange(n, device=z.device) // 2
    loss = compile_loss(infonce_entry(), chunk_size=chunk)
    repeats = 3 if n <= 4096 else 1
    if n <= 4096:
        _step_time(loss, z, ids, 1)  # warm-up
    cpu_start = time.process_time()
    seconds = _step_time(loss, z, ids, repeats)
    cpu = (time.process_time() - cpu_start) / repeats if repeats == 1 else None
    import resource

    # process (CPU) time is what the step costs when other work shares the cores
    return {"seconds": seconds, "cpu_seconds": cpu, "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def _child_steps(n: int, d: int, steps: int, threads: int) -> dict:
    """``steps`` dense InfoNCE steps, each on a new batch with new ids (as a training loop builds
    them): whatever one step leaves alive for the next shows in the process's peak RSS."""
    from icon_registry.compiler import compile_loss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    loss = compile_loss(infonce_entry(), chunk_size=0)
    start = time.perf_counter()
    for _ in range(steps):
        loss(torch.randn(n, d, requires_grad=True), ids=torch.arange(n) // 2).backward()
    return {"seconds": time.perf_counter() - start}


def _run_child(args: list[str], env=None) -> tuple[dict, float]:
    """Run ``python -m icon_registry.bench_scale --child ...``; its JSON and peak RSS (GiB)."""
    env = {**os.environ, **CHILD_ENV, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "icon_registry.bench_scale", "--child", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"bench child {' '.join(args)} failed ({proc.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 2**20  # KiB on Linux


# ---------------------------------------------------------------------------------------
# suites


def run_memory(sizes=MEMORY_SIZES, quiet=False, threads=None) -> dict:
    threads = threads or torch.get_num_threads()
    rows = []
    for n in sizes:
        chunk = max(1, BLOCK_PAIRS // n)  # past 2^24 one anchor a block (0 would mean dense: n x n)
        label = f"chunk_size={chunk}" if chunk < n else "one block"
        _progress(f"memory: InfoNCE n={n} d={DIM} ({label}, {threads} threads) ...", quiet)
        load = os.getloadavg()[0]  # wall time is only as good as the machine is quiet: keep the evidence
        result, rss = _run_child(["cpu", str(n), str(DIM), str(chunk), str(threads)])
        rows.append(
            {
                "n": n,
                "d": DIM,
                "chunked": True,
                "chunk_size": min(chunk, n),
                "seconds": round(result["seconds"], 4),
                "cpu_seconds": None if result.get("cpu_seconds") is None else round(result["cpu_seconds"], 4),
                "peak_rss_gib": round(rss, 3),
                "load_average_before": round(load, 2),
            }
        )
        _progress(f"memory: n={n}: {result['seconds']:.2f} s forward+backward, peak RSS {rss:.2f} GiB", quiet)
    for n in [n for n in sizes if n == REFERENCE_N]:
        _progress(f"memory: n={n} unchunked, for comparison ...", quiet)
        result, rss = _run_child(["cpu", str(n), str(DIM), "0", str(threads)])
        rows.append(
            {"n": n, "d": DIM, "chunked": False, "chunk_size": None, "seconds": round(result["seconds"], 4), "peak_rss_gib": round(rss, 3)}
        )
    _scaling(rows)
    steady = _steady_state(min(STEADY_N, max(sizes)), threads, quiet)
    return {
        "description": "InfoNCE forward+backward on CPU, float32, anchor blocks of about 2^24 pairs; "
        "peak RSS of a fresh process per n (os.wait4)",
        "threads": threads,
        "child_env": CHILD_ENV,
        "rows": rows,
        "summary": summarize(rows),
        "targets": TARGETS,
        "steady_state": steady,
    }


def _steady_state(n: int, threads: int, quiet: bool) -> dict:
    """Peak RSS of one training step against that of ``STEADY_STEPS`` steps (fresh processes)."""
    _progress(f"memory: n={n}, 1 and {STEADY_STEPS} dense steps (steady state) ...", quiet)
    peaks = {steps: _run_child(["steps", str(n), str(DIM), str(steps), str(threads)])[1] for steps in (1, STEADY_STEPS)}
    growth = peaks[STEADY_STEPS] / peaks[1]
    _progress(f"memory: steady state: peak RSS {peaks[1]:.2f} GiB after 1 step, {peaks[STEADY_STEPS]:.2f} GiB after "
              f"{STEADY_STEPS}", quiet)
    return {
        "description": f"peak RSS of a fresh process running 1 and {STEADY_STEPS} dense InfoNCE steps (a new batch "
        "and new ids each step, as in a training loop): what one step leaves alive for the next",
        "n": n,
        "steps": STEADY_STEPS,
        "peak_rss_gib_one_step": round(peaks[1], 3),
        "peak_rss_gib_after_steps": round(peaks[STEADY_STEPS], 3),
        "growth": round(growth, 3),
        "growth_target_met": growth <= TARGETS["steady_state_growth"],
    }


def summarize(rows) -> dict:
    """The largest chunked run against the targets. Wall time counts whatever else runs on
    the machine; CPU (process) time of the single-threaded step does not."""
    largest = max((r for r in rows if r["chunked"]), key=lambda r: r["n"])
    summary = {
        "largest_n": largest["n"],
        "peak_rss_gib": largest["peak_rss_gib"],
        "time_over_n2_scaling": largest.get("time_over_n2_scaling"),
        "cpu_time_over_n2_scaling": largest.get("cpu_time_over_n2_scaling"),
    }
    if largest["n"] == 65536:
        limit = TARGETS["time_over_n2_scaling_at_65536"]
        summary["rss_target_met"] = largest["peak_rss_gib"] < TARGETS["peak_rss_gib_at_65536"]
        for kind in ("time", "cpu_time"):
            ratio = largest.get(f"{kind}_over_n2_scaling")
            summary[f"{kind}_target_met"] = None if ratio is None else ratio <= limit
    return summary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dist_worker(rank, world, port, n_local, d, repeats, queue):
    import torch.distributed as dist

    from icon_registry.compiler import compile_loss
    from icon_registry.compiler.distributed import gather

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.manual_seed(rank)
        z = torch.randn(n_local, d)
        ids = torch.arange(n_local) // 2 + rank * n_local
        loss = compile_loss(infonce_entry(), distributed=True)
        _step_time(loss, z, ids, 1, dist.barrier)
        seconds = _step_time(loss, z, ids, repeats, dist.barrier)
        # the collectives alone: gather forward + all-reduce of the gathered gradient
        sizes = [n_local] * world
        best = float("inf")
        for _ in range(repeats):
            zz = z.detach().requires_grad_()
            dist.barrier()
            start = time.perf_counter()
            gather(zz, sizes).sum().backward()
            dist.barrier()
            best = min(best, time.perf_counter() - start)
        if rank == 0:
            queue.put({"seconds": seconds, "collectives_seconds": best})
    finally:
        dist.destroy_process_group()


def run_distributed(n=REFERENCE_N, world=2, quiet=False) -> dict:
    import torch.multiprocessing as mp

    _progress(f"distributed: InfoNCE global n={n} d={DIM}, single process ({world} threads) ...", quiet)
    single, _ = _run_child(["cpu", str(n), str(DIM), "auto", str(world)])
    _progress(f"distributed: {world} gloo processes x n={n // world} (1 thread each) ...", quiet)
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.spawn(_dist_worker, args=(world, _free_port(), n // world, DIM, 2, queue), nprocs=world, join=True)
    result = queue.get()
    overhead = result["seconds"] / single["seconds"]
    _progress(
        f"distributed: {result['seconds']:.2f} s per step vs {single['seconds']:.2f} s single process "
        f"(x{overhead:.2f}); collectives {result['collectives_seconds'] * 1000:.1f} ms",
        quiet,
    )
    return {
        "description": f"InfoNCE forward+backward, global batch {n}, d={DIM}: {world} gloo CPU processes vs one process",
        "n": n,
        "world_size": world,
        "single_process_seconds": round(single["seconds"], 4),
        "distributed_seconds": round(result["seconds"], 4),
        "ratio": round(overhead, 3),
        "collectives_seconds": round(result["collectives_seconds"], 5),
        "collectives_fraction": round(result["collectives_seconds"] / result["seconds"], 4),
    }


def run_gpu(sizes=GPU_SIZES, quiet=False) -> dict:
    if not torch.cuda.is_available():
        message = "skipped: no CUDA device on this machine (the GPU suite needs torch.cuda.is_available())"
        _progress(f"gpu: {message}", quiet)
        return {"skipped": message}
    from icon_registry.compiler import compile_loss

    device = torch.device("cuda")
    rows = []
    for compiled in (False, True):
        for dtype in (torch.float32, torch.bfloat16):
            for n in sizes:
                label = f"n={n} {str(dtype).removeprefix('torch.')} compile={'on' if compiled else 'off'}"
                _progress(f"gpu: {label} ...", quiet)
                loss = compile_loss(infonce_entry()).to(device)
                fn = torch.compile(loss) if compiled else loss
                torch.manual_seed(0)
                z = torch.randn(n, DIM, device=device, dtype=dtype)
                ids = torch.arange(n, device=device) // 2
                torch.cuda.reset_peak_memory_stats(device)
                try:
                    _step_time(fn, z, ids, 1, torch.cuda.synchronize)  # warm-up / compilation
                    seconds = _step_time(fn, z, ids, 3, torch.cuda.synchronize)
                    error = None
                except Exception as err:  # report, keep measuring the other settings
                    seconds, error = None, f"{type(err).__name__}: {str(err)[:200]}"
                rows.append(
                    {
                        "n": n,
                        "dtype": str(dtype).removeprefix("torch."),
                        "compile": compiled,
                        "seconds": None if seconds is None else round(seconds, 5),
                        "peak_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 3),
                        "error": error,
                    }
                )
                _progress(f"gpu: {label}: {rows[-1]}", quiet)
    return {"device": torch.cuda.get_device_name(device), "d": DIM, "rows": rows}


#: icon cluster at scale: n x 768 synthetic features (1,000 clusters), the default recipe.
CLUSTER_SIZES = (100_000,)
CLUSTER_DIM, CLUSTER_K = 768, 1000
#: the setting the paper clusters: ImageNet-1k's 1.28 M DINO features, 768-D
PAPER_N = 1_281_167


def synthetic_features(n: int, d: int = CLUSTER_DIM, clusters: int = CLUSTER_K, seed: int = 0):
    """Unit-norm cluster centres plus noise, like pretrained features (cosine similarity to the own
    centre about 0.7): a stand-in with the paper's shape, n x 768, 1,000 classes."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(clusters, d, generator=g), dim=1)
    labels = torch.randint(0, clusters, (n,), generator=g)
    return centres[labels] + torch.randn(n, d, generator=g) / d**0.5, labels


def _child_cluster(n: int, d: int, clusters: int, threads: int) -> dict:
    """The default recipe's first (4 anchors) and last (64 anchors) epochs on one head: their
    seconds, the kNN graph's, and the step counts of every epoch of the default schedule."""
    from dataclasses import replace

    from icon_registry.training import clustering

    torch.set_num_threads(threads)
    x, labels = synthetic_features(n, d, clusters)
    default = clustering.ClusterConfig(clusters=clusters)
    probe = replace(default, epochs=2, heads=1)  # the schedule's two ends: 4, then 64 anchors
    result = clustering.fit_clusters(x.numpy(), probe, labels=labels.numpy())
    schedule = clustering.epoch_batches(default)
    return {
        "knn_seconds": result.seconds["knn"],
        "epoch_seconds": dict(zip(map(str, clustering.epoch_batches(probe)), result.seconds["per_epoch"])),
        "default_schedule": schedule,
        "default_steps": [-(-n // b) for b in schedule],
        "default_heads": default.heads,
        "hungarian_accuracy_after_two_epochs": result.metrics.get("hungarian_accuracy"),
    }


def run_cluster(sizes=CLUSTER_SIZES, quiet=False, threads=None) -> dict:
    """``icon cluster``'s default recipe on n x 768 synthetic features: seconds per epoch at both
    ends of the batch schedule, the kNN graph, peak memory (a fresh process per n), the whole
    default run estimated from the per-step times, and its extrapolation to the paper's 1.28 M."""
    threads = threads or torch.get_num_threads()
    rows = []
    for n in sizes:
        _progress(f"cluster: n={n} d={CLUSTER_DIM} {CLUSTER_K} clusters ({threads} threads) ...", quiet)
        load = os.getloadavg()[0]
        result, rss = _run_child(["cluster", str(n), str(CLUSTER_DIM), str(CLUSTER_K), str(threads)])
        first, last = (result["epoch_seconds"][str(b)] for b in (result["default_schedule"][0], result["default_schedule"][-1]))
        schedule, steps = result["default_schedule"], result["default_steps"]
        # per-step time interpolated linearly in the anchors per batch between the two measured ends
        step_first, step_last = first / steps[0], last / steps[-1]
        span = max(schedule[-1] - schedule[0], 1)
        train = result["default_heads"] * sum(
            s * (step_first + (b - schedule[0]) / span * (step_last - step_first)) for b, s in zip(schedule, steps)
        )
        scale = PAPER_N / n
        rows.append({
            "n": n, "d": CLUSTER_DIM, "clusters": CLUSTER_K, "threads": threads,
            "knn_seconds": round(result["knn_seconds"], 1),
            "first_epoch_seconds (4 anchors/batch)": round(first, 1),
            "last_epoch_seconds (64 anchors/batch)": round(last, 1),
            "samples_per_second (64 anchors/batch)": round(n / last, 1),
            "default_run_seconds_estimated": round(result["knn_seconds"] + train, 1),
            "peak_rss_gib": round(rss, 3),
            "paper_scale_cpu_seconds_extrapolated": round(result["knn_seconds"] * scale**2 + train * scale, 1),
            "load_average_before": round(load, 2),
        })
        _progress(f"cluster: n={n}: {rows[-1]}", quiet)
    return {
        "description": "icon cluster's default recipe (k=10, anchors 4 -> 64 over 20 epochs, 2 heads) on synthetic "
        "n x 768 features, CPU. The first and last epochs of the schedule are measured on one head; the whole run "
        "is estimated from their per-step times; extrapolation to 1,281,167 x 768: kNN ~ n^2, training ~ n",
        "rows": rows,
    }


SUITES = {"memory": run_memory, "distributed": run_distributed, "gpu": run_gpu, "cluster": run_cluster}


def _has_rows(old) -> bool:
    """Earlier memory results whose rows a run of some sizes keeps (rows as ``run_memory`` writes them);
    anything else there is replaced by the new run's, as a run of every size replaces them."""
    rows = old.get("rows") if isinstance(old, dict) else None
    return isinstance(rows, list) and all(
        isinstance(row, dict) and isinstance(row.get("n"), int) and isinstance(row.get("chunked"), bool)
        and all(isinstance(row.get(key), (int, float)) for key in ("seconds", "peak_rss_gib")) for row in rows)


def _merge_rows(old: dict, new: dict) -> dict:
    """Keep earlier memory rows for the sizes this run did not measure, and recompute the ratios."""
    measured = {(r["n"], r["chunked"]) for r in new["rows"]}
    rows = [r for r in old.get("rows", []) if (r["n"], r["chunked"]) not in measured] + new["rows"]
    new["rows"] = sorted(rows, key=lambda r: (r["n"], not r["chunked"]))
    _scaling(new["rows"])
    new["summary"] = summarize(new["rows"])
    return new


def _scaling(rows) -> None:
    """time(n) / (time(8192) (n / 8192)^2), for wall time and, where measured, CPU time."""
    reference = next((r for r in rows if r["n"] == REFERENCE_N and r["chunked"]), None)
    if reference is None:
        return
    for row in rows:
        if not row["chunked"]:
            continue
        growth = (row["n"] / REFERENCE_N) ** 2
        row["time_over_n2_scaling"] = round(row["seconds"] / (reference["seconds"] * growth), 3)
        if row.get("cpu_seconds") and reference.get("cpu_seconds"):
            row["cpu_time_over_n2_scaling"] = round(row["cpu_seconds"] / (reference["cpu_seconds"] * growth), 3)


def run(
    suites=("memory", "distributed", "gpu"), output=DEFAULT_OUTPUT, quick=False, quiet=False, threads=None, sizes=None
) -> dict:
    """Run the named suites and write their results, merged into the bench results at ``output``:
    anything else there is a UsageError naming --out before the first suite runs, and again before
    each write (``bench.existing_results``), and is never replaced."""
    from icon_registry.bench import existing_results

    output = Path(output)
    unknown = [name for name in suites if name not in SUITES]
    if unknown:
        raise ValueError(f"unknown bench suite {unknown[0]!r}; known: {', '.join(SUITES)}")
    existing_results(output)
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    results = {}
    for name in suites:
        started = time.perf_counter()
        if name == "memory":
            result = run_memory(sizes or (QUICK_SIZES if quick else MEMORY_SIZES), quiet=quiet, threads=threads)
        elif name == "gpu":
            result = run_gpu(GPU_SIZES[:1] if quick else GPU_SIZES, quiet=quiet)
        elif name == "cluster":
            result = run_cluster(sizes or CLUSTER_SIZES, quiet=quiet, threads=threads)
        else:
            result = SUITES[name](quiet=quiet)
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        results = existing_results(output)  # again: the file may have changed during the run
        if name == "memory" and sizes and _has_rows(results.get("memory")):
            result = _merge_rows(results["memory"], result)
        results.update({"machine": machine, name: result})
        write_file(output, json_text(results) + "\n", replace=True)  # a temporary file, swapped in
        _progress(f"{name}: done in {result['wall_seconds']} s; results in {output}", quiet)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m icon_registry.bench_scale", description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="memory,distributed,gpu", help="comma-separated: " + ", ".join(SUITES))
    parser.add_argument("--out", "--output", dest="output", default=str(DEFAULT_OUTPUT),
                        help="bench results to merge into (never another file)")
    parser.add_argument("--quick", action="store_true", help="n up to 8,192 only (about a minute)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per CPU run (default: torch's)")
    parser.add_argument("--sizes", default=None, help="memory suite: comma-separated n (merged into earlier results)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, n, d, setting, threads = args.child  # setting: the clusters, the steps or the chunk size
        if kind == "cluster":
            result = _child_cluster(int(n), int(d), int(setting), int(threads))
        elif kind == "steps":
            result = _child_steps(int(n), int(d), int(setting), int(threads))
        else:
            result = _child_cpu(int(n), int(d), None if setting == "auto" else int(setting), int(threads))
        print(json.dumps(result))
        return 0
    try:
        suites = [s.strip() for s in args.suite.split(",") if s.strip()]
        sizes = tuple(int(v) for v in args.sizes.split(",")) if args.sizes else None
        run(suites, args.output, quick=args.quick, quiet=args.quiet, threads=args.threads, sizes=sizes)
    except (ValueError, IconError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
