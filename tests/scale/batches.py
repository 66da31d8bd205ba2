"""Deterministic batches for the scale tests (the same on every rank)."""

from __future__ import annotations

import torch

D_IN, D = 6, 4


def global_batch(sizes, *, seed=0):
    """A batch made of per-rank parts: rank r holds rows offset_r : offset_r + sizes[r].

    Neighbours are drawn inside each rank's part (the distributed loss reads them as local
    indices); ``local_neighbors`` gives them per rank.
    """
    g = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    data = {
        "inputs": torch.randn(n, D_IN, dtype=torch.float64, generator=g),
        "x": torch.randn(n, 5, dtype=torch.float64, generator=g),
        "ids": torch.arange(n) // 2,
        "labels": torch.randint(0, 3, (n,), generator=g),
        "modality": torch.arange(n) % 2,
    }
    local, offset = [], 0
    for size in sizes:
        local.append(torch.randint(0, max(size, 1), (size, 3), generator=g))  # a rank may hold 0 rows
        offset += size
    data["local_neighbors"] = local
    starts = [sum(sizes[:r]) for r in range(len(sizes))]
    data["neighbors"] = torch.cat([nb + s for nb, s in zip(local, starts)])
    return data


def rank_part(data, sizes, rank):
    start = sum(sizes[:rank])
    stop = start + sizes[rank]
    part = {k: v[start:stop] for k, v in data.items() if k not in ("neighbors", "local_neighbors")}
    part["neighbors"] = data["local_neighbors"][rank]
    return part


def loss_kwargs(loss, batch):
    return {k: v for k, v in batch.items() if k in loss.requires}
