"""distributed=True with class prototypes: a label out of range on ONE rank stops EVERY rank with
the same IconError (the one the single-process loss gives on the concatenated batch), instead of
stopping that rank alone and leaving the others to fail in the next collective with a raw gloo
error ("Connection closed by peer") or to hang."""

from __future__ import annotations

import datetime
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from icon_registry import IconError, compile_loss

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")

#: rank -> its labels (3 classes): rank 1 holds a 5 (chunk_size 0 and 2: dense and in blocks)
LABELS = [[0, 1, 2, 1], [0, 5, 1]]


def labels_worker(rank, world, port, chunk_size, results):
    torch.set_num_threads(1)
    # (a short timeout: without the global check, rank 0 waits in the loss's collective while rank 1,
    # which raised, waits in the barrier below; that would otherwise hang for gloo's 30 minutes)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=30))
    try:
        loss = compile_loss("cross_entropy", num_classes=3, dim=4, distributed=True, chunk_size=chunk_size)
        labels = torch.tensor(LABELS[rank])
        try:
            loss(torch.randn(len(labels), 4, requires_grad=True), labels=labels).backward()
            results.put((rank, "no error", None))
        except IconError as err:
            results.put((rank, str(err), err.argument))
        except Exception as err:  # noqa: BLE001 - a raw torch error is what the test must not see
            results.put((rank, f"{type(err).__name__}: {err}", None))
        dist.barrier()  # every rank is still here: none gave up on the others
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("chunk_size", [0, 2])
def test_a_label_out_of_range_on_one_rank_stops_every_rank_alike(chunk_size):
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.spawn(labels_worker, args=(2, _free_port(), chunk_size, results), nprocs=2, join=True)
    report = sorted(results.get() for _ in LABELS)
    single = compile_loss("cross_entropy", num_classes=3, dim=4)
    with pytest.raises(IconError) as err:
        single(torch.randn(7, 4), labels=torch.tensor(LABELS[0] + LABELS[1]))
    head = str(err.value).split(", found 5")[0]  # the single-process message, up to the value found
    for rank, message, argument in report:
        assert message.startswith(head + ", found 5 (rank 1 holds 5;"), (rank, message)
        assert argument == "labels", (rank, message)
    assert report[0][1] == report[1][1]


def test_labels_in_range_and_negative_ones_pass_the_global_check():
    from icon_registry.compiler.distributed import check_class_labels

    check_class_labels("cross_entropy", torch.tensor([0, 2, -1, -100, 1]), 3, [2, 3])
    check_class_labels("cross_entropy", torch.zeros(0, dtype=torch.long), 3, [0, 0])
    with pytest.raises(IconError, match=r"found 3 \(rank 1 holds 3;") as err:
        check_class_labels("cross_entropy", torch.tensor([0, 2, -1, 3, 1]), 3, [2, 3])
    assert err.value.argument == "labels"
