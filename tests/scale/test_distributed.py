"""distributed=True under DistributedDataParallel equals single-process training on the
concatenated batch (gloo, CPU processes; loss value and gradients to 1e-6)."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from icon_registry import IconError, compile_loss

import dist_worker
from entries import chunkable_entries, unchunkable_entries

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("sizes", [(5, 7), (3, 4, 5), (0, 7), (1, 6)], ids=["2-ranks", "3-ranks", "0-rows", "1-row"])
def test_ddp_gradients_equal_single_process(sizes):
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.spawn(dist_worker.worker, args=(len(sizes), _free_port(), list(sizes), results), nprocs=len(sizes), join=True)
    report = results.get()
    expected = {e.id for e, _ in chunkable_entries()}
    assert expected <= {name.split()[0] for name, _, _ in report}
    lines = [f"{name:40s} value rel err {v:.1e}  grad rel err {g:.1e}" for name, v, g in report]
    print(f"\n{len(sizes)} ranks, local batch sizes {sizes}:\n" + "\n".join(lines))
    bad = [line for line, (_, v, g) in zip(lines, report) if not (v < 1e-6 and g < 1e-6)]
    assert not bad, "\n".join(bad)


def test_distributed_needs_initialized_process_group():
    loss = compile_loss(chunkable_entries()[0][0], distributed=True)
    with pytest.raises(IconError, match="torch.distributed"):
        loss(torch.randn(4, 3), ids=torch.tensor([0, 0, 1, 1]))


@pytest.mark.parametrize("case", unchunkable_entries(), ids=[e.id for e, _ in unchunkable_entries()])
def test_undistributable_entries_say_why(case):
    entry, words = case
    with pytest.raises(IconError) as err:
        compile_loss(entry, distributed=True)
    for word in words + ["distributed"]:
        assert word in str(err.value)


def test_bad_id_scope():
    with pytest.raises(IconError, match="distributed_ids"):
        compile_loss(chunkable_entries()[0][0], distributed=True, distributed_ids="rank")


@pytest.mark.parametrize("sizes", [(1, 0), (0, 0)], ids=["1-row-in-all", "empty"])
def test_global_batch_below_two_rows_fails_on_every_rank(sizes):
    """Each rank raises the same IconError (none is left waiting for a peer that gave up)."""
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.spawn(dist_worker.too_small, args=(len(sizes), _free_port(), list(sizes), results), nprocs=len(sizes), join=True)
    messages = sorted(results.get() for _ in sizes)
    want = f"simclr: argument 'z' holds {sum(sizes)} row(s) over all 2 ranks (local batch sizes {list(sizes)}); " \
        "the global batch needs n >= 2"
    assert messages == [(0, want), (1, want)]


def test_local_ids_match_each_rank_against_its_own_bank():
    """distributed_ids="local" shifts bank_ids with the ids: on every rank (not only rank 0) each
    anchor keeps the positives of its own bank, values and gradients those of the rank alone."""
    sizes = [3, 5]
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.spawn(dist_worker.local_bank_ids, args=(len(sizes), _free_port(), sizes, results), nprocs=len(sizes), join=True)
    report = sorted(results.get() for _ in sizes)
    for rank, value_error, z_error, bank_error, smallest in report:
        assert smallest > 0, f"rank {rank}: an anchor lost its positive"
        assert max(value_error, z_error, bank_error) < 1e-12, report
