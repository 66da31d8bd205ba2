"""``icon fit ENTRY --data NAME|FILE``: train any catalog entry with a suitable mapper and Adam."""

from __future__ import annotations

import math
import os

from icon_registry.commands import json_text, print_json, reuse_freed_memory
from icon_registry.commands.options import integer, output_folder, real, seed

#: Largest --dim: an mlp's last layer holds 256 x dim weights and a lookup n x dim, so a mistyped
#: dimension would fail in an allocation after the data is loaded.
MAX_DIM = 65536
#: The held-out share of the rows for the label metrics, and the neighbours of the kNN vote.
TEST_FRACTION, KNN_K = 0.3, 5
#: Every file icon fit writes into --out: an earlier run's marker is trusted for these names only.
OUTPUTS = frozenset({"embedding.npy", "assignments.npy", "probabilities.npy", "metrics.json", "plot.png"})
#: Neighbours per row in the kNN graph that an entry reading a graph (sne_graph, normalized_cuts) trains on.
GRAPH_K = 15
#: trustworthiness: at most this many neighbours (fewer than n / 2 on small data), and rows (its cost grows as n^2).
TRUST_K, TRUST_MAX_ROWS = 10, 5000


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="train a catalog entry on a dataset (Adam) and write the embedding, metrics and a plot",
        description="Compile ENTRY (icon_registry.compile_loss) and train it with a mapper chosen from the "
        "entry's mapper field (lookup: one free vector per item; linear; mlp; cluster: a cluster head). "
        "Entries whose q is one joint distribution over free points (tsne, tsne_uniform, ...) run "
        "scikit-learn's t-SNE schedule instead of Adam: early exaggeration 12 for 250 iterations (a quarter of a "
        "shorter run), momentum 0.5 then 0.8, adaptive gains, learning rate max(n / 48, 50) (icon_registry.training.tsne), and, "
        "like openTSNE, for an entry with perplexity and nearest parameters (tsne), P on each point's 3 perplexity "
        "nearest neighbours (--set nearest=0: the exact P over every pair) and from 3,000 points q's normalizer "
        "interpolated on a grid (--set interpolation=0: summed exactly). "
        f"Entries that read a graph (sne_graph, normalized_cuts, ...) train on the data's symmetric {GRAPH_K}-nearest-"
        "neighbour graph (euclidean, weights 1). "
        "Entries that read labels (supcon, cross_entropy, ...) train on 70% of the rows (stratified) when the mapper "
        "embeds new rows (linear, mlp, a cluster head on x), so that their metrics are measured on the held-out 30%; "
        "with a lookup table they train on every row and their metrics are named as a fit of the training labels. "
        "A metric the data cannot support is left out with its reason (metrics.json: metrics_skipped). "
        "Progress goes to stderr. Writes embedding.npy (or assignments.npy + probabilities.npy for cluster "
        "heads), metrics.json and plot.png into --out: a folder icon fit owns (see --out).",
    )
    parser.add_argument("entry", metavar="ENTRY", help="catalog entry id or alias (see `icon list`; --catalog DIR for your own), or an entry file (path/to/id.yaml)")
    parser.add_argument("--source", choices=("objective", "formula"), default="objective",
                        help="objective (default): the entry's I-Con objective sum_i KL(p_i || q_i); formula: its "
                        "published loss.formula, compiled as written")
    parser.add_argument("--data", required=True, metavar="NAME|FILE",
                        help="digits, iris, wine, breast_cancer, or a .npy/.npz/.pt features file")
    parser.add_argument("--labels", metavar="FILE", help="labels for a features file (evaluation / supervised entries)")
    parser.add_argument("--mapper", choices=("lookup", "linear", "mlp", "cluster"), default=None,
                        help="default: from the entry's mapper field")
    parser.add_argument("--dim", type=integer(1, MAX_DIM), default=None,
                        help=f"output dimension, at most {MAX_DIM} (default: 2 for lookup/linear, 16 for mlp, the "
                        "class count for cluster). A lookup table (and t-SNE) starts from the data's PCA; past its "
                        "principal components (min(rows, features)) the start's coordinates are small random values, "
                        "as scikit-learn's TSNE with more components than features (metrics.json's init says so)")
    parser.add_argument("--epochs", type=integer(1), default=None,
                        help="default: 300 full-batch steps, or 30 epochs with --batch; t-SNE-like entries: 1000 "
                        "iterations, of which 250 exaggerated (a quarter of a shorter run)")
    parser.add_argument("--batch", type=integer(2), default=None, help="batch size, >= 2 (default: full batch; 256 for mlp)")
    parser.add_argument("--lr", type=real(0, low_open=True), default=None,
                        help="Adam learning rate (default: by mapper); for t-SNE-like entries the gradient descent's")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override an entry parameter, e.g. --set tau=0.2 (repeatable)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    parser.add_argument("--out", default="icon-fit-out", metavar="DIR", type=output_folder,
                        help="folder for the embedding or assignments, metrics.json and plot.png (default "
                        "icon-fit-out). It must be new, empty, or an earlier output of icon fit (its .icon-fit.json lists "
                        "the files written): a folder holding anything else is refused before training, never "
                        "overwritten. The files are written to a temporary folder beside it and swapped in at the end, "
                        "so no file or symlink in it is written through")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def _overrides(pairs, entry):
    """--set NAME=VALUE pairs checked against the entry's parameters (names, ranges, integers)."""
    from icon_registry.errors import UsageError, quote, suggest

    out = {}
    for item in pairs:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"argument --set: expected NAME=VALUE, got {quote(item)}", argument="--set")
        spec = entry.parameters.get(name)
        if spec is None:
            known = ", ".join(sorted(entry.parameters)) or "none"
            raise UsageError(f"argument --set: {entry.id} has no parameter {quote(name)}{suggest(name, entry.parameters)} "
                             f"(its parameters: {known})", argument="--set")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise UsageError(f"argument --set: {name}: expected a finite number, got {quote(value)}", argument="--set")
        try:
            out[name] = spec.check(name, int(number) if spec.integer and number == int(number) else number)
        except ValueError as err:
            raise UsageError(f"argument --set: {err}", argument="--set") from None
    return out


def _no_labels(entry, data_name):
    """The usage error for an entry that reads labels given a features file without them."""
    from icon_registry.errors import UsageError, quote_path

    return UsageError(f"argument --labels: {entry.id} reads labels (a supervised entry) and {quote_path(data_name)} holds "
                      "none: give --labels FILE, or a .npz/.pt file with a labels key", argument="--labels")


def run(args) -> int:
    reuse_freed_memory()  # large tensors every step: see its docstring
    import numpy as np
    import torch

    from icon_registry.training import augment, data, mappers, trainer, tsne
    from icon_registry.training import knn as knn_mod
    from icon_registry.errors import IconError, UsageError, quote_path
    from icon_registry.output_folder import OutputFolder
    from icon_registry.training.losses import compiled_loss
    from icon_registry.training.progress import Progress, note

    from icon_registry.commands import entries_from_args

    folder = OutputFolder(args.out, name="icon-fit", written_by="icon fit", owns=OUTPUTS.__contains__)
    catalog, (entry_id,) = entries_from_args(args, [args.entry], single=True)  # unknown: a suggestion
    entry = catalog.get(entry_id)
    params = _overrides(args.set, entry)
    torch.manual_seed(args.seed)
    ds = data.load_dataset(args.data, args.labels)
    kind = args.mapper or mappers.CATALOG_MAPPER.get(entry.mapper, "mlp")
    if kind == "lookup" and not np.ptp(ds.features, axis=0).any():
        # a lookup table (and t-SNE) starts from the data's PCA: identical rows have no direction to start from
        raise UsageError(f"argument --data: {args.data}: every row holds the same values (the features do not vary), so "
                         "there is nothing to embed: the lookup mapper starts from the data's PCA", argument="--data")
    n_classes = ds.num_classes
    if kind == "cluster":
        dim = args.dim or n_classes
        if dim is None:
            raise UsageError("argument --dim: a cluster head needs --dim (the number of clusters) when the data "
                             "has no labels", argument="--dim")
        if dim > ds.n:  # as icon cluster refuses --clusters past the points: some clusters could never be used
            raise UsageError(f"argument --dim: {dim} clusters exceed the {ds.n} rows of {quote_path(args.data)}",
                             argument="--dim")
    else:
        dim = args.dim or (16 if kind == "mlp" else 2)
    if kind == "linear" and entry.id == "pca" and dim > ds.dim:
        raise UsageError(f"argument --dim: the pca entry's linear map is orthonormal, and no orthonormal map takes the "
                         f"{ds.dim} features of {quote_path(args.data)} to {dim} dimensions; give --dim {ds.dim} or less",
                         argument="--dim")
    extra = {}
    if entry.mapper == "prototypes":
        if n_classes is None:
            raise _no_labels(entry, args.data)
        extra = {"num_classes": n_classes, "dim": dim}
    # A joint neighbour embedding (t-SNE) on free points runs the references' optimizer on d KL / dy
    # (the objective's sum; a published formula carries its own reduction and no exaggeration).
    embedding = kind == "lookup" and args.source == "objective" and tsne.uses_joint_q(entry)
    settings = tsne.references_settings(entry, params, ds.n, dim) if embedding else {}
    params.update(settings)
    if "nearest" in settings:
        note(f"note: P on each point's {settings['nearest']} nearest neighbours ({tsne.NEIGHBOURS_PER_PERPLEXITY} "
             "perplexity, as scikit-learn's Barnes-Hut t-SNE and openTSNE); --set nearest=0 for the exact P",
             not args.quiet)
    if "interpolation" in settings:
        note(f"note: q's normalizer interpolated on a grid of {settings['interpolation']} nodes per unit length "
             f"(FIt-SNE's repulsion, from {tsne.GRID_FROM_POINTS:,} points); --set interpolation=0 to sum it over "
             "every pair", not args.quiet)
    loss = compiled_loss(entry, source=args.source, **extra, **params, **({"reduction": "sum"} if embedding else {}))
    requires = set(loss.requires)
    unbuilt = trainer.unbuildable(requires)
    if unbuilt:  # memory banks, teachers, DINO's centre: state of a training loop icon fit does not run
        raise IconError(f"icon fit cannot train {entry.id}: its loss reads {', '.join(sorted(unbuilt))}, which icon fit "
                        f"does not build (it builds {', '.join(trainer.KNOWN_INPUTS)}); pass them to "
                        f"icon_registry.compile_loss('{entry.id}') in a training loop of your own", entry=entry.id)
    if "labels" in requires and ds.labels is None:
        raise _no_labels(entry, args.data)
    perplexity = getattr(loss, "params", {}).get("perplexity")
    if perplexity is not None and perplexity >= ds.n:
        raise UsageError(f"argument --set: perplexity {perplexity:g} is not less than the {ds.n} rows of the data "
                         "(scikit-learn's rule: a point's effective number of neighbours must be smaller than the "
                         "points there are); lower it with --set perplexity=VALUE", argument="--set")
    batch = args.batch if args.batch is not None else (256 if kind == "mlp" else None)
    if kind in ("lookup",) or (kind == "cluster" and "x" in requires):
        if batch is not None and batch < ds.n:
            note(f"note: the {kind} mapper with data-space affinities trains full batch; --batch ignored", not args.quiet)
        batch = None
    # An entry that reads labels is measured on rows it never saw, when its mapper can embed them (a lookup
    # table or free per-item logits cannot): it trains on the split's training rows only.
    free = kind == "cluster" and batch is None and "x" in requires
    split = data.train_test_split_indices(ds.labels, ds.n, TEST_FRACTION, args.seed) if ds.labels is not None else None
    held_out = "labels" in requires and split is not None and kind != "lookup" and not free and split[0].size >= 2
    train = ds.subset(split[0]) if held_out else ds
    if entry.cell.column == "classes" and "labels" in requires and np.bincount(train.labels).max() < 2:
        # p is uniform over the other rows of the anchor's class: with every class once, no row has a positive
        rows = (f"the {train.n} rows of its training split (the other {ds.n - train.n} are held out to measure it)"
                if held_out else f"the {train.n} rows it trains on")
        raise UsageError(f"argument --labels: {entry.id}'s positives are other rows of the anchor's class, and no class "
                         f"has two of {rows}: give more rows per class", argument="--labels")
    epochs = args.epochs or (tsne.Schedule.iterations if embedding else 300 if batch is None else 30)
    lr = args.lr or {"lookup": 1.0, "linear": 5e-2, "mlp": 1e-3, "cluster": 1e-1 if batch is None else 1e-2}[kind]
    if embedding:
        lr = args.lr  # None: the schedule's "auto" rate
    init = None
    if kind == "lookup":
        random_columns = mappers.padded_columns(ds.features, dim)
        if random_columns:
            init = (f"PCA ({dim - random_columns} principal components) + {random_columns} small random columns "
                    f"(--dim {dim} exceeds the data's {dim - random_columns} components)")
            note(f"note: the start is the data's PCA in {dim - random_columns} dimensions, plus {random_columns} "
                 f"small random coordinates up to --dim {dim}", not args.quiet)
        mapper = mappers.Lookup(ds.n, dim, mappers.pca_init(ds.features, dim, std=1.0, seed=args.seed), args.seed)
    elif kind == "cluster":
        mapper = mappers.ClusterHead(ds.dim, dim, free=free, n=ds.n, seed=args.seed)
    else:
        mapper = mappers.build_mapper(kind, n=train.n, d_in=ds.dim, d_out=dim, seed=args.seed, x=train.features,
                                      orthonormal=kind == "linear" and entry.id == "pca")
    x = torch.as_tensor(train.features)
    labels = None if train.labels is None else torch.as_tensor(train.labels)
    neighbors = None
    if "neighbors" in requires:
        k = int(loss.params.get("k", 15)) if hasattr(loss, "params") else 15
        if k >= train.n:  # a point has n - 1 others: fewer neighbours than k would silently change the entry
            raise UsageError(f"argument --set: k {k} is not less than the {train.n} rows it trains on (a point has "
                             f"at most {train.n - 1} neighbours); lower it with --set k=VALUE", argument="--set")
        neighbors = knn_mod.knn(x, k, metric="euclidean")[0].numpy()
    graph = None
    if "graph" in requires:
        # Feature rows come with no graph of their own: the kNN graph of the data stands in, symmetric
        # (W_ij = W_ji = 1 when either is among the other's GRAPH_K nearest), as spectral embeddings build it.
        k = min(GRAPH_K, train.n - 1)
        adjacency = knn_mod.adjacency(knn_mod.knn(x, k, metric="euclidean")[0], train.n)
        graph = adjacency.maximum(adjacency.T).tocsr()
    views = 2 if "ids" in requires else 1
    aug = augment.default_augment(ds) if views > 1 else None
    builder = trainer.BatchBuilder(x, requires, labels=labels, views=views, augment=aug, neighbors=neighbors,
                                   generator=torch.Generator().manual_seed(args.seed), graph=graph)
    bar = Progress(epochs * trainer.steps_per_epoch(train.n, batch), f"fit {entry.id}", enabled=not args.quiet)
    schedule = None
    if embedding:
        schedule = tsne.Schedule.for_iterations(epochs, lr)
        if schedule.exaggeration_iterations < tsne.Schedule.exaggeration_iterations:
            note(f"note: {epochs} iterations: early exaggeration for the first {schedule.exaggeration_iterations} "
                 f"(a quarter, as the references' 250 of 1000)", not args.quiet)
        lr = schedule.rate(ds.n)
        result = tsne.fit(loss, ds.features, builder.build(torch.arange(ds.n))[2], dim, schedule, progress=bar,
                          seed=args.seed)
        z = result.embedding
    else:
        result = trainer.train(loss, mapper, builder, n=train.n, epochs=epochs, batch_size=batch, lr=lr,
                               seed=args.seed, progress=bar)
        z = trainer.embed(mapper, torch.as_tensor(ds.features))
    if not np.isfinite(z).all():  # finite loss and gradients, then an update that overflowed (a huge --lr)
        raise IconError(f"the trained {kind} mapper gives NaN or inf outputs: the steps were too large; lower the "
                        f"learning rate (now {lr:g}, --lr)", argument="--lr")
    setup = {"epochs": epochs, "batch": batch, "lr": lr, "init": init, "split": split, "held_out": held_out,
             "labels_read": "labels" in requires, "schedule": schedule}

    with folder.staging() as work:
        out = work / "out"
        out.mkdir()
        report = _write_outputs(args, out, entry, ds, kind, dim, setup, loss, result, z)
        written = folder.publish(out, work)
    print_json({k: round(v, 4) if isinstance(v, float) else v for k, v in report["metrics"].items()})
    note(f"wrote {', '.join(os.path.join(args.out, w) for w in written)}", not args.quiet)
    return 0


def _write_outputs(args, out, entry, ds, kind, dim, setup, loss, result, z) -> dict:
    """Write the arrays, metrics.json and the plot into ``out`` (a fresh staging folder); returns the report."""
    import numpy as np
    import torch

    from icon_registry.training import mappers, metrics, plots

    report = {"entry": entry.id, "data": args.data, "n": ds.n, "dim_in": ds.dim, "mapper": kind, "dim": dim,
              "epochs": setup["epochs"], "batch": setup["batch"], "lr": setup["lr"], "seed": args.seed,
              "params": dict(getattr(loss, "params", {})), "loss_source": getattr(loss, "source", "objective"),
              "seconds": round(result.seconds, 3)}
    if setup["init"]:
        report["init"] = setup["init"]
    if setup["schedule"] is not None:
        report["exaggerated_iterations"] = setup["schedule"].exaggeration_iterations
    if setup["held_out"]:
        report["trained_on_rows"] = int(setup["split"][0].size)
    report.update({"final_loss": result.history[-1] if result.history else None, "history": result.history,
                   "metrics": {}, "metrics_skipped": {}})
    found, skipped = report["metrics"], report["metrics_skipped"]
    # What label metrics measure: rows never trained on; the labels training fitted (not an accuracy); or, for
    # entries that never read labels, a split of rows that were all embedded without them.
    if setup["held_out"]:
        rows, measured = setup["split"][1], f"held-out {TEST_FRACTION:.0%}"
    elif setup["labels_read"]:
        rows, measured = np.arange(ds.n), "labels used in training: a fit, not an accuracy"
    else:
        rows, measured = np.arange(ds.n), None
    if kind == "cluster":
        pred = z.argmax(1)
        probs = torch.softmax(torch.as_tensor(z), 1).numpy()
        np.save(os.path.join(out, "assignments.npy"), pred)
        np.save(os.path.join(out, "probabilities.npy"), probs.astype(np.float32))
        found["clusters_used"] = int(np.unique(pred).size)
        found["kmeans_cost"] = metrics.kmeans_cost(ds.features, pred)
        if ds.labels is not None:
            scores = metrics.clustering_report(pred[rows], ds.labels[rows])
            found.update({(name if measured is None else f"{name} ({measured})"): v for name, v in scores.items()})
    else:
        np.save(os.path.join(out, "embedding.npy"), z.astype(np.float32))
        k = min(TRUST_K, ds.n // 2 - 1)
        if ds.n > TRUST_MAX_ROWS:
            skipped[f"trustworthiness@{TRUST_K}"] = f"{ds.n} rows: measured up to {TRUST_MAX_ROWS} (its cost grows as n^2)"
        elif k < 1:
            skipped["trustworthiness"] = f"{ds.n} rows: it needs at least 4 (k neighbours, k < n / 2)"
        else:
            found[f"trustworthiness@{k}"] = metrics.trustworthiness(ds.features, z, k)
        if ds.labels is not None:
            tr, te = setup["split"]
            name = (f"knn_label_fit@{KNN_K} ({measured})" if setup["labels_read"] and not setup["held_out"] else
                    f"knn_accuracy@{KNN_K} ({measured or 'in-sample split'})")
            if tr.size < KNN_K:
                skipped[name] = f"{tr.size} training rows in the split, fewer than the k = {KNN_K} neighbours of a vote"
            else:
                found[name] = metrics.knn_accuracy(z[tr], ds.labels[tr], z[te], ds.labels[te], k=KNN_K,
                                                   metric=metrics.embedding_metric(entry))
    if not skipped:
        del report["metrics_skipped"]
    (out / "metrics.json").write_text(json_text(report) + "\n", encoding="utf-8")
    title = f"icon fit {entry.id} ({kind}) on {ds.name}"
    shown_as = os.path.join(args.out, "plot.png")
    if kind == "cluster":
        shown = _plane(ds.features, min(2, ds.dim))
        plots.scatter(shown, z.argmax(1), os.path.join(out, "plot.png"), title + " (data PCA, coloured by assignment)",
                      shown_as=shown_as)
    else:
        shown = z if z.shape[1] <= 2 else _plane(z)
        what = {1: " (the 1-d output, along x)", 2: ""}.get(z.shape[1], f" (PCA of the {z.shape[1]}-d output)")
        plots.scatter(shown, ds.labels, os.path.join(out, "plot.png"), title + what, shown_as=shown_as)
    return report


def _plane(z, dim=2):
    """The first ``dim`` principal components of ``z`` for the plot; its first ``dim`` columns when it
    has no spread (every row the same: a collapsed embedding or constant data, whose PCA divides by a
    zero std)."""
    import numpy as np

    from icon_registry.training import mappers

    with np.errstate(invalid="ignore", divide="ignore"):
        shown = mappers.pca_init(z, dim, std=1.0)
    return shown if np.isfinite(shown).all() else np.asarray(z[:, :dim], dtype=np.float32)
