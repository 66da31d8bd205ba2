"""``icon cluster``: the paper's debiased InfoNCE clustering recipe on precomputed features."""

from __future__ import annotations

import os

from icon_registry.commands import json_text, print_json, reuse_freed_memory
from icon_registry.commands.options import device, integer, output_folder, real, seed
from icon_registry.training.recipe import CLUSTER

#: Every file icon cluster writes into --out: an earlier run's marker is trusted for these names only.
OUTPUTS = frozenset({"assignments.npy", "probabilities.npy", "metrics.json", "loss.png"})


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "cluster",
        help="cluster precomputed features with debiased InfoNCE clustering",
        description="Debiased InfoNCE clustering (I-Con): global kNN on the features (cosine or euclidean, "
        "computed in blocks), a linear cluster head, batches of anchors plus kNN neighbours, p uniform over "
        "positives (same point / propagated neighbours), q the uniform-on-clusters kernel, both mixed "
        "with the uniform distribution (alpha): the compiled catalog entry debiased_infonce_clustering, optional EMA teacher. Writes assignments.npy, "
        "probabilities.npy, metrics.json and a plot into --out: a folder icon cluster owns (see --out).",
    )
    parser.add_argument("--features", required=True, metavar="FILE",
                        help="(n, d) features: .npy, .npz (features/labels or X/y) or .pt; or a built-in set name (digits)")
    parser.add_argument("--labels", metavar="FILE", help="(n,) integer labels (.npy/.npz/.pt) for Hungarian accuracy, NMI, ARI")
    parser.add_argument("--clusters", type=integer(2), required=True, metavar="K", help="clusters, >= 2")
    parser.add_argument("--knn", type=integer(1), default=CLUSTER["knn"],
                        help="neighbours per point in the global kNN graph (default %(default)s)")
    parser.add_argument("--metric", default=CLUSTER["metric"],
                        help="cosine: kNN on centered, L2-normalized features (high-dimensional features, e.g. DINO); "
                        "euclidean: kNN on centered features divided by their std (low-dimensional maps, e.g. t-SNE's; "
                        "L2 normalization would project them onto a circle). Default %(default)s")
    parser.add_argument("--alpha", type=real(0, 1, high_open=True), default=CLUSTER["alpha"],
                        help="debiasing weight of p and q: p~ = (1-alpha) p + alpha/(N-1), q~ = (1-alpha) q + alpha/N "
                        "(default %(default)s)")
    parser.add_argument("--walks", type=integer(0, 10), default=CLUSTER["walks"],
                        help="kNN propagation steps (the entry's 'steps'; 1 = plain kNN; 0 = views only)")
    parser.add_argument("--ema", type=real(0, 1, low_open=True, high_open=True), default=None, metavar="M",
                        help="EMA teacher decay for the head, in (0, 1) (e.g. 0.99)")
    parser.add_argument("--heads", type=integer(1, 1000), default=CLUSTER["heads"],
                        help="independent heads (seeds); the one with the lowest loss on a fixed evaluation batch "
                        "(all points with their global kNN lists, no noise; no labels) is kept (default %(default)s)")
    parser.add_argument("--views", type=integer(1, 100), default=CLUSTER["views"],
                        help="noised views per point in a batch (default %(default)s)")
    parser.add_argument("--noise", type=real(0, 100), default=CLUSTER["noise"],
                        help="noise std of every view, the one of --views 1 too, relative to the features' scale "
                        "(default %(default)s)")
    parser.add_argument("--epochs", type=integer(1), default=CLUSTER["epochs"], help="default %(default)s")
    parser.add_argument("--batch", type=integer(2), default=CLUSTER["batch_anchors"],
                        help="anchors per batch (each brings 2 neighbours) in the last epoch (default %(default)s)")
    parser.add_argument("--batch-start", type=integer(2), default=CLUSTER["batch_anchors_start"], metavar="B0",
                        help="anchors per batch in the first epoch, growing geometrically to --batch by the last "
                        "(small noisy batches first explore; default %(default)s; equal to --batch: constant)")
    parser.add_argument("--lr", type=real(0, low_open=True), default=CLUSTER["lr"],
                        help="Adam learning rate (> 0, default %(default)s)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default=None, type=device, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--out", default="icon-cluster-out", metavar="DIR", type=output_folder,
                        help="folder for assignments.npy, probabilities.npy, metrics.json and loss.png (default "
                        "icon-cluster-out). It must be new, empty, or an earlier output of icon cluster (its "
                        ".icon-cluster.json lists the files written): a folder holding anything else is refused before "
                        "training, never overwritten. The files are written to a temporary folder beside it and swapped "
                        "in at the end, so no file or symlink in it is written through")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def run(args) -> int:
    reuse_freed_memory()  # large tensors every step: see its docstring
    import numpy as np
    import torch

    from icon_registry.output_folder import OutputFolder
    from icon_registry.training import clustering, data, plots
    from icon_registry.training.progress import Progress, note

    folder = OutputFolder(args.out, name="icon-cluster", written_by="icon cluster", owns=OUTPUTS.__contains__)
    ds = data.load_dataset(args.features, args.labels, option="--features")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = clustering.ClusterConfig(
        clusters=args.clusters, knn=args.knn, metric=args.metric, alpha=args.alpha, walks=args.walks,
        ema=args.ema, heads=args.heads, views=args.views, noise=args.noise, epochs=args.epochs,
        batch_anchors=args.batch, batch_anchors_start=args.batch_start, lr=args.lr, seed=args.seed, device=device,
    )
    cfg.validate(ds.n)
    bar = Progress(clustering.total_steps(cfg, ds.n), "cluster", enabled=not args.quiet)
    res = clustering.fit_clusters(ds.features, cfg, labels=ds.labels, progress=bar)
    report = {"features": args.features, "n": ds.n, "dim": ds.dim, "config": res.config, "metrics": res.metrics,
              "seconds": res.seconds, "loss": res.loss_source, "history": res.history}
    if ds.labels is not None:
        report["kmeans_baseline"] = clustering.kmeans_baseline(ds.features, args.clusters, ds.labels, args.seed)
    with folder.staging() as work:
        out = work / "out"
        out.mkdir()
        np.save(os.path.join(out, "assignments.npy"), res.assignments)
        np.save(os.path.join(out, "probabilities.npy"), res.probabilities.astype(np.float32))
        plots.loss_curve(res.history, os.path.join(out, "loss.png"), "debiased InfoNCE clustering: loss per epoch",
                         shown_as=os.path.join(args.out, "loss.png"))
        (out / "metrics.json").write_text(json_text(report) + "\n", encoding="utf-8")
        written = folder.publish(out, work)
    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in res.metrics.items()}
    print_json(shown)
    note(f"wrote {', '.join(os.path.join(args.out, name) for name in written)}", not args.quiet)
    return 0
