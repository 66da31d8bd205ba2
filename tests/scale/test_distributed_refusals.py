"""distributed=True: an argument refused on ONE rank stops EVERY rank with an IconError, instead of
stopping that rank alone and leaving the others to fail in the next collective with a raw gloo
error ("Connection closed by peer") or to hang. A label out of range of the class prototypes gives
every rank the error the single-process loss gives on the concatenated batch; an argument a rank's
own checks refuse gives that rank its error and the others the same error, naming the rank."""

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


def _labels_call(rank, chunk_size):
    loss = compile_loss("cross_entropy", num_classes=3, dim=4, distributed=True, chunk_size=chunk_size)
    labels = torch.tensor(LABELS[rank])
    return loss(torch.randn(len(labels), 4, requires_grad=True), labels=labels)


#: case -> (entry id, rank -> its call's arguments): rank 1's are refused by its own checks (rank 0's
#: are fine), and the last case's z is fine on each rank alone but not as a gathered batch
REFUSED_ON_RANK_1 = {
    "neighbors": ("lgsimclr", lambda rank: {"z": torch.randn(3, 4), "neighbors": torch.tensor([[1], [2], [0]])
                                            if rank == 0 else torch.tensor([[1], [2], [7]])}),
    "missing": ("simclr", lambda rank: {"z": torch.randn(4, 4)} | ({"ids": torch.tensor([0, 1, 0, 1])}
                                                                   if rank == 0 else {})),
    "width": ("simclr", lambda rank: {"z": torch.randn(4, 4 + rank), "ids": torch.tensor([0, 1, 0, 1])}),
}


def _refused_call(rank, case):
    entry_id, arguments = REFUSED_ON_RANK_1[case]
    given = arguments(rank)
    z = given.pop("z").requires_grad_()
    return compile_loss(entry_id, distributed=True)(z, **given)


def refusal_worker(rank, world, port, call, case, results):
    torch.set_num_threads(1)
    # (a short timeout: without the global check, rank 0 waits in the loss's collective while rank 1,
    # which raised, waits in the barrier below; that would otherwise hang for gloo's 30 minutes)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=30))
    try:
        try:
            call(rank, case).backward()
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
    mp.spawn(refusal_worker, args=(2, _free_port(), _labels_call, chunk_size, results), nprocs=2, join=True)
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


@pytest.mark.parametrize("case", sorted(REFUSED_ON_RANK_1))
def test_an_argument_refused_on_one_rank_stops_every_rank(case):
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.spawn(refusal_worker, args=(2, _free_port(), _refused_call, case, results), nprocs=2, join=True)
    (_, message_0, argument_0), (_, message_1, argument_1) = sorted(results.get() for _ in range(2))
    if case == "width":
        expected = ("simclr: argument 'z' differs in width or element size between the ranks (rank 0: 4 features of "
                    "4 bytes, rank 1: 5 features of 4 bytes); distributed=True gathers the same row layout from "
                    "every rank")
        assert (message_0, argument_0) == (message_1, argument_1) == (expected, "z")
        return
    entry_id, arguments = REFUSED_ON_RANK_1[case]
    given = arguments(1)
    with pytest.raises(IconError) as err:  # the single-process loss refuses rank 1's arguments alike
        compile_loss(entry_id)(given.pop("z"), **given)
    assert (message_1, argument_1) == (str(err.value), err.value.argument)
    assert message_0 == f"rank 1 refused its arguments, so every rank stops (distributed=True): {message_1}"
    assert argument_0 == argument_1
