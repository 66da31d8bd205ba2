"""Distributed evaluation: anchors stay on their rank, candidates come from every rank.

``compile_loss(entry, distributed=True)`` with ``torch.distributed`` initialized:

* The embeddings z of every rank are all-gathered into the global batch (ranks may hold
  different batch sizes; rank r's rows come after those of ranks 0..r-1). The gather is an
  autograd Function: its backward all-reduces (sums) the gradient of the whole gathered
  batch and returns the rank's own rows, so every rank's loss sends gradient to the owners
  of the candidates it used.
* The p-side inputs ``x``, ``labels``, ``ids``, ``modality`` are gathered the same way
  (without gradient: p is supervisory). ``neighbors`` hold indices into the rank's LOCAL
  batch; they are offset by the rank's first global row. A ``graph`` over the local batch has
  no edges to other ranks' items: graph entries refuse ``distributed=True``.
* ids must be globally meaningful: equal ids on different ranks are positives of each
  other. Pass global ids (e.g. the dataset index), or ``distributed_ids="local"``: each
  rank's ids are then shifted by rank * (max id over all ranks + 1), so views are only
  matched within the rank that holds them. A bank (``bank``, ``bank_ids``, ``bank_labels``)
  is not gathered: each rank's anchors meet their own rank's bank, and its local
  ``bank_ids`` are shifted by the same offset as the rank's ids (equal local ids stay equal).
* Each rank's anchors are its own rows, evaluated against all N candidates (and in blocks,
  with chunk_size, as in single-process chunked evaluation). Statistics over all candidates
  (cluster sizes sum_k phi_kc, kNN among all candidates) are exact: they are computed from
  the gathered batch, and their gradients flow back through the gather.

Loss convention (so that DistributedDataParallel, which AVERAGES gradients over the W
ranks, gives exactly the gradients of single-process training on the concatenated batch):

* reduction="mean": the rank-local loss is  W * (sum of the rank's anchor terms) / M,
  M = number of anchors with mass over ALL ranks (all-reduced). The average of the ranks'
  values is the global mean loss; each rank's value alone is NOT (it is W x its share).
* reduction="sum": the rank-local loss is  W * (sum of the rank's anchor terms); the average
  over ranks is the global sum.
* reduction="none": the rank's per-anchor terms, unscaled (multiply their sum by W
  yourself before backward to keep DDP's averaging exact).

Why: the loss L = sum_r l_r / W. Rank r's gathered z receives d l_r / d z_all; the gather's
backward sums over ranks, so rank s's z gets sum_r d l_r / d z_s = W dL/dz_s; DDP divides the
parameter gradients by W. Class prototypes (replicated parameters) get W x their local share,
averaged by DDP likewise.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.distributed as dist

from icon_registry.compiler.chunked import chunk_obstacles
from icon_registry.errors import IconError
from icon_registry.pairs import class_range_error

ID_SCOPES = ("global", "local")


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def distributed_obstacles(entry, requires) -> list[str]:
    reasons = [r for r in chunk_obstacles(entry)]
    if "graph" in requires:
        reasons.append("it reads a graph over the local batch, which has no edges to the other ranks' items")
    return reasons


def check_distributable(entry, requires) -> None:
    reasons = distributed_obstacles(entry, requires)
    if reasons:
        raise IconError(
            f"{entry.id}: cannot evaluate this entry with distributed=True (anchors on each rank against the "
            f"gathered batch): " + "; ".join(reasons),
            entry=entry.id,
            argument="distributed",
        )


def _exchange_device(group):
    """Where the ranks' small bookkeeping tensors travel: NCCL moves CUDA tensors only."""
    if dist.get_backend(group) == dist.Backend.NCCL:
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def checked_on_every_rank(entry_id, check_batch, group=None):
    """The rank's checked batch (``check_batch()``: its Inputs) and every rank's row count.

    A rank whose arguments are refused must not stop alone: the others would wait for it in the
    gather and then fail with a raw gloo/NCCL error, or hang until the process group's timeout.
    So each rank runs its own checks, and one all_gather (the one that exchanges the row counts)
    tells every rank whether any refused and how wide each rank's z is; then every rank raises:
    the refused rank its own error, the others that error named with its rank."""
    if not is_initialized():
        raise IconError(
            f"{entry_id}: distributed=True needs torch.distributed to be initialized "
            "(torch.distributed.init_process_group) before the loss is called",
            entry=entry_id,
            argument="distributed",
        )
    inputs, refusal = None, None
    try:
        inputs = check_batch()
        if inputs.graph is not None:
            raise IconError(f"{entry_id}: a graph cannot be split across ranks (distributed=True)", argument="graph")
    except IconError as err:
        refusal = err
    mine = [0, 0, 0, 1] if refusal else [inputs.n, inputs.z.shape[1], inputs.z.element_size(), 0]
    mine = torch.tensor(mine, dtype=torch.long, device=_exchange_device(group))
    out = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    dist.all_gather(out, mine, group=group)
    table = [row.tolist() for row in out]
    refused = [rank for rank, row in enumerate(table) if row[3]]
    if refused:
        reasons = [None] * len(table)
        dist.all_gather_object(reasons, (str(refusal), refusal.argument) if refusal else None, group=group)
        if refusal is not None:
            raise refusal
        message, argument = reasons[refused[0]]
        raise IconError(f"rank {refused[0]} refused its arguments, so every rank stops (distributed=True): {message}",
                        entry=entry_id, argument=argument)
    layouts = {(row[1], row[2]) for row in table}
    if len(layouts) > 1:
        shown = ", ".join(f"rank {rank}: {row[1]} features of {row[2]} bytes" for rank, row in enumerate(table))
        raise IconError(f"{entry_id}: argument 'z' differs in width or element size between the ranks ({shown}); "
                        "distributed=True gathers the same row layout from every rank", entry=entry_id, argument="z")
    return inputs, [row[0] for row in table]


def _gather(tensor, sizes, group):
    """Concatenate every rank's tensor along dim 0 (sizes may differ: padded to the max)."""
    longest = max(sizes)
    tensor = tensor.contiguous()
    if tensor.shape[0] < longest:
        pad = tensor.new_zeros((longest - tensor.shape[0], *tensor.shape[1:]))
        tensor = torch.cat([tensor, pad])
    out = [torch.empty_like(tensor) for _ in sizes]
    dist.all_gather(out, tensor, group=group)
    return torch.cat([part[:size] for part, size in zip(out, sizes)])


class GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the gathered gradient over ranks and keeps the own rows."""

    @staticmethod
    def forward(ctx, tensor, sizes, group):
        rank = dist.get_rank(group)
        ctx.start = sum(sizes[:rank])
        ctx.stop = ctx.start + sizes[rank]
        ctx.group = group
        return _gather(tensor, sizes, group)

    @staticmethod
    def backward(ctx, grad):
        if torch.is_grad_enabled():  # create_graph=True: the all-reduce below is outside autograd
            raise IconError("distributed=True has no second derivative (backward with create_graph=True): the "
                            "gathered batch's gradient is summed over the ranks outside autograd", argument="distributed")
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        return grad[ctx.start : ctx.stop], None, None


def gather(tensor, sizes, group=None):
    if tensor.requires_grad and torch.is_grad_enabled():
        return GatherWithGrad.apply(tensor, sizes, group)
    with torch.no_grad():
        return _gather(tensor, sizes, group)


def gather_inputs(inputs, sizes, *, ids: str = "global", group=None):
    """The global batch as candidates, the rank's own rows as anchors (``Inputs.rows``); ``sizes``:
    every rank's row count (``checked_on_every_rank``)."""
    entry_id = inputs.entry_id
    z = inputs.z
    if sum(sizes) < 2:  # every rank sees the same sizes, so every rank raises (none waits for a peer)
        raise IconError(
            f"{entry_id}: argument 'z' holds {sum(sizes)} row(s) over all {len(sizes)} ranks (local batch sizes "
            f"{sizes}); the global batch needs n >= 2",
            argument="z",
        )
    rank = dist.get_rank(group)
    start = sum(sizes[:rank])
    changes = {"z": gather(z, sizes, group), "n": sum(sizes), "rows": (start, start + inputs.n), "_cache": {}, "_global": {}}
    local_ids = inputs.ids
    if local_ids is not None and ids == "local":
        top = local_ids.max().reshape(1) + 1 if local_ids.numel() else local_ids.new_zeros(1)
        dist.all_reduce(top, op=dist.ReduceOp.MAX, group=group)
        local_ids = local_ids + rank * top
        if inputs.bank_ids is not None:
            # the bank stays on its rank and only this rank's anchors meet it: shifted alike, an
            # anchor and a bank row match exactly when their local ids do
            changes["bank_ids"] = inputs.bank_ids + rank * top
    for name, value in (("x", inputs.x), ("labels", inputs.labels), ("ids", local_ids), ("modality", inputs.modality)):
        if value is not None:
            changes[name] = gather(value.detach(), sizes, group)
    if inputs.prototypes is not None and "labels" in changes:
        check_class_labels(entry_id, changes["labels"], inputs.prototypes.shape[0], sizes)
    if inputs.neighbors is not None:
        changes["neighbors"] = inputs.neighbors + start
    return replace(inputs, **changes)


def check_class_labels(entry_id, labels, classes, sizes):
    """The gathered labels of a class-prototype entry name its classes (a negative one: no class).

    Each rank's evaluation checks only its own anchors' labels, so one rank's bad label would
    stop that rank alone while the others wait for it in the next collective (and then fail with
    a raw gloo/NCCL error or hang). The gathered labels are the same on every rank: checked here,
    every rank raises the same error, the one the single-process loss gives on the concatenated
    batch, and names the rank that holds the label. (Eager only: under torch.compile the check
    would be a data-dependent graph break.)"""
    if torch.compiler.is_compiling() or not labels.numel():
        return
    high = int(labels.max())
    if high < classes:
        return
    row = int((labels >= classes).nonzero()[0, 0])
    owner = next(r for r in range(len(sizes)) if row < sum(sizes[: r + 1]))
    raise class_range_error(entry_id, "labels", classes, high, where=f" (rank {owner} holds {int(labels[row])}; "
                            "distributed=True checks every rank's labels on every rank)")


def count_over_ranks(has_mass, dtype, group=None):
    """Anchors with supervisory mass over ALL ranks (the same number on every rank)."""
    count = has_mass.sum().to(dtype).detach().reshape(1)
    dist.all_reduce(count, op=dist.ReduceOp.SUM, group=group)
    return count[0]


def reduce(values, anchors, reduction: str, group=None):
    """The rank-local loss under the convention above (``anchors``: ``count_over_ranks``)."""
    if reduction == "none":
        return values
    world = dist.get_world_size(group)
    total = values.sum() * world
    if reduction == "sum":
        return total
    return total / anchors
