"""What each rank runs in the distributed tests (a module of its own so that spawn can import it)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from icon_registry import compile_loss

from batches import D, D_IN, global_batch, loss_kwargs, rank_part
from entries import chunkable_entries


class Model(torch.nn.Module):
    """A linear map and the loss (which may own prototypes): DDP averages both's gradients."""

    def __init__(self, loss):
        super().__init__()
        torch.manual_seed(1)
        self.linear = torch.nn.Linear(D_IN, D).double()
        self.loss = loss.double()

    def forward(self, batch):
        return self.loss(self.linear(batch["inputs"]), **loss_kwargs(self.loss, batch))


def _cases():
    for entry, kwargs in chunkable_entries():
        yield entry, kwargs, {}
    simclr, _ = chunkable_entries()[0]
    yield simclr, {}, {"reduction": "sum"}
    yield simclr, {}, {"chunk_size": 2}
    yield simclr, {}, {"distributed_ids": "local"}


def worker(rank, world, port, sizes, results):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        data = global_batch(sizes)
        mine = rank_part(data, sizes, rank)
        report = []
        for entry, kwargs, options in _cases():
            local_ids = options.get("distributed_ids") == "local"
            reduction = options.get("reduction", "mean")
            # single process, the concatenated batch
            reference = Model(compile_loss(entry, chunk_size=0, reduction=reduction, **kwargs))
            batch = dict(data)
            if local_ids:  # rank r's local ids 0.. shifted by r * (max id + 1)
                local = [rank_part(data, sizes, r)["ids"] - sum(sizes[:r]) // 2 for r in range(world)]
                top = max(int(ids.max()) + 1 if ids.numel() else 0 for ids in local)  # a rank may hold no rows
                batch["ids"] = torch.cat(
                    [rank_part(data, sizes, r)["ids"] - sum(sizes[:r]) // 2 + r * top for r in range(world)]
                )
            want = reference(batch)
            want.backward()
            # distributed, DDP averaging the gradients
            extra = {k: v for k, v in options.items() if k != "reduction"}
            model = Model(compile_loss(entry, distributed=True, reduction=reduction, **kwargs, **extra))
            model.load_state_dict(reference.state_dict())
            ddp = torch.nn.parallel.DistributedDataParallel(model)
            part = dict(mine)
            if local_ids:
                part["ids"] = part["ids"] - sum(sizes[:rank]) // 2
            value = ddp(part)
            value.backward()
            total = value.detach().clone()
            dist.all_reduce(total)
            value_error = abs(float(total) / world - want.item()) / abs(want.item())
            # relative to the largest reference gradient: distance-based losses give the bias
            # a gradient that is zero up to rounding (they are translation invariant)
            scale = max(float(q.grad.abs().max()) for q in reference.parameters())
            grad_error = max(
                float((p.grad - q.grad).abs().max()) / scale for p, q in zip(model.parameters(), reference.parameters())
            )
            name = entry.id + "".join(f" {k}={v}" for k, v in options.items())
            report.append((name, value_error, grad_error))
            # DDP's reducer owns gloo work; free it while the process group still exists.
            del ddp, model
        if rank == 0:
            results.put(report)
        # Nobody tears the group down while another rank still talks to it (gloo aborts then).
        dist.barrier()
    finally:
        dist.destroy_process_group()


def too_small(rank, world, port, sizes, results):
    """Every rank calls the loss on a global batch of fewer than 2 rows and reports its error."""
    from icon_registry import IconError

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        simclr, _ = chunkable_entries()[0]
        loss = compile_loss(simclr, distributed=True)
        try:
            loss(torch.randn(sizes[rank], D, dtype=torch.float64), ids=torch.zeros(sizes[rank], dtype=torch.long))
            results.put((rank, "no error"))
        except IconError as err:
            results.put((rank, str(err)))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def local_bank_ids(rank, world, port, sizes, results):
    """instance_discrimination with distributed_ids="local": each rank's anchors against its own
    bank, whose local bank_ids name the rank's local ids. Reports the largest difference of the
    per-anchor values and of the gradients (z, bank) from this rank's batch alone, single process."""
    from icon_registry import load_catalog

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        entry = load_catalog().get("instance_discrimination")
        n = sizes[rank]
        g = torch.Generator().manual_seed(rank)
        z = torch.randn(n, D, generator=g, dtype=torch.float64)
        bank = torch.randn(n + 2, D, generator=g, dtype=torch.float64)  # the other views, and two negatives
        ids = torch.arange(n)
        bank_ids = torch.cat([torch.arange(n).flip(0), torch.full((2,), -1)])
        out = []
        for options in ({"distributed": True, "distributed_ids": "local"}, {}):
            leaf, rows = z.clone().requires_grad_(), bank.clone().requires_grad_()
            values = compile_loss(entry, reduction="none", **options)(leaf, ids=ids, bank=rows, bank_ids=bank_ids)
            values.sum().backward()
            out.append((values.detach(), leaf.grad, rows.grad))
        (values, z_grad, bank_grad), (want, want_z, want_bank) = out
        results.put((rank, float((values - want).abs().max()), float((z_grad - want_z).abs().max()),
                     float((bank_grad - want_bank).abs().max()), float(want.min())))
        dist.barrier()
    finally:
        dist.destroy_process_group()
