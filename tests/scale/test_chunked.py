"""Chunked evaluation equals the unchunked objective: value and gradients, float64, 1e-10."""

from __future__ import annotations

import pytest
import torch

from icon_registry import IconError, compile_loss
from icon_registry.compiler import chunked

from batches import D, global_batch, loss_kwargs
from entries import chunkable_entries, unchunkable_entries

CHUNKABLE = chunkable_entries()
N = 23  # not a multiple of any chunk size below: the last block is short


def _run(loss, z, batch):
    z = z.clone().requires_grad_()
    value = loss(z, **loss_kwargs(loss, batch))
    grads = torch.autograd.grad(value.sum(), [z] + ([loss.prototypes] if loss.prototypes is not None else []))
    return value.detach(), grads


@pytest.mark.parametrize("case", CHUNKABLE, ids=[e.id for e, _ in CHUNKABLE])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_chunked_equals_unchunked(case, reduction):
    entry, kwargs = case
    batch = global_batch([N])
    torch.manual_seed(0)
    z = torch.randn(N, D, dtype=torch.float64)
    whole = compile_loss(entry, chunk_size=0, reduction=reduction, **kwargs).double()
    ref_value, ref_grads = _run(whole, z, batch)
    assert torch.isfinite(ref_value).all()
    for size in (1, 4, 10, N + 5):
        loss = compile_loss(entry, chunk_size=size, reduction=reduction, **kwargs).double()
        loss.load_state_dict(whole.state_dict())
        value, grads = _run(loss, z, batch)
        torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-12 * ref_value.abs().max().item())
        for got, want in zip(grads, ref_grads):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10 * want.abs().max().item())


def test_automatic_chunking_above_threshold(monkeypatch):
    entry, _ = CHUNKABLE[0]
    batch = global_batch([N])
    z = torch.randn(N, D, dtype=torch.float64)
    loss = compile_loss(entry).double()  # chunk_size=None: automatic
    whole = compile_loss(entry, chunk_size=0).double()
    inputs = loss._inputs(z, None, None, batch["ids"], None, None, None)
    assert chunked.block_size(entry, inputs, None) == 0
    monkeypatch.setattr(chunked, "AUTO_CHUNK_PAIRS", 100)
    monkeypatch.setattr(chunked, "AUTO_BLOCK_PAIRS", 5 * N)
    assert chunked.block_size(entry, inputs, None) == 5
    calls = []
    original = chunked.chunked_terms
    monkeypatch.setattr(chunked, "chunked_terms", lambda *a, **k: calls.append(k["chunk_size"]) or original(*a, **k))
    value = loss(z, ids=batch["ids"])
    assert calls == [5]
    torch.testing.assert_close(value, whole(z, ids=batch["ids"]), rtol=1e-10, atol=0)
    assert chunked.block_size(entry, inputs, 0) == 0  # 0 never chunks


def test_no_grad_and_detached_inputs_chunk_without_checkpoint():
    entry, _ = CHUNKABLE[0]
    batch = global_batch([N])
    z = torch.randn(N, D, dtype=torch.float64)
    with torch.no_grad():
        value = compile_loss(entry, chunk_size=3)(z, ids=batch["ids"])
    torch.testing.assert_close(value, compile_loss(entry, chunk_size=0)(z, ids=batch["ids"]), rtol=1e-10, atol=0)


@pytest.mark.parametrize("case", unchunkable_entries(), ids=[e.id for e, _ in unchunkable_entries()])
def test_unchunkable_entries_say_why(case):
    entry, words = case
    with pytest.raises(IconError) as err:
        compile_loss(entry, chunk_size=8)
    message = str(err.value)
    for word in words + ["chunk_size"]:
        assert word in message, message
    # automatic chunking silently evaluates them whole
    assert chunked.chunk_obstacles(entry)
    compile_loss(entry)


@pytest.mark.parametrize("bad", [-1, 2.5, "8", True])
def test_bad_chunk_size(bad):
    with pytest.raises(IconError, match="chunk_size"):
        compile_loss(CHUNKABLE[0][0], chunk_size=bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU path is checked on GPU machines only")
def test_cuda_inputs_stay_on_cuda():
    entry, _ = CHUNKABLE[6]  # k-means: cluster statistics + data-space kernel
    batch = {k: v.cuda() for k, v in global_batch([N]).items() if isinstance(v, torch.Tensor)}
    z = torch.randn(N, D, device="cuda", requires_grad=True)
    value = compile_loss(entry, chunk_size=4)(z, x=batch["x"].float())
    value.backward()
    assert value.device.type == "cuda" and z.grad.device.type == "cuda"
