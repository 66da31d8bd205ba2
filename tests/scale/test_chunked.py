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


def test_automatic_chunking_by_memory(monkeypatch):
    """chunk_size=None splits the anchors into the fewest blocks whose dense evaluation fits the
    memory budget (chunk_memory, else MEMORY_FRACTION of what the device has), never otherwise."""
    entry, _ = CHUNKABLE[0]
    batch = global_batch([N])
    z = torch.randn(N, D, dtype=torch.float64)
    whole = compile_loss(entry, chunk_size=0).double()
    inputs = whole._inputs(z, None, None, batch["ids"], None, None, None)
    need = N * N * 8 * chunked.DENSE_BUFFERS
    assert chunked.dense_bytes(chunked.candidate_supports(entry), inputs) == need

    def no_query(device):
        raise AssertionError("a small batch must not query the device")

    monkeypatch.setattr(chunked, "available_bytes", no_query)
    assert chunked.block_size(entry, inputs, None) == 0  # far below any budget: dense
    assert chunked.block_size(entry, inputs, None, chunk_memory=need) == 0  # fits exactly
    # 4.5 budgets: 5 blocks of ceil(23 / 5) = 5 rows
    assert chunked.block_size(entry, inputs, None, chunk_memory=need / 4.5) == 5
    assert chunked.block_size(entry, inputs, 0, chunk_memory=1) == 0  # 0 never chunks
    monkeypatch.setattr(chunked, "_NEVER_CHUNK_BYTES", 0)
    monkeypatch.setattr(chunked, "available_bytes", lambda device: need)  # budget: half of it
    assert chunked.block_size(entry, inputs, None) == 12
    calls = []
    original = chunked.chunked_terms
    monkeypatch.setattr(chunked, "chunked_terms", lambda *a, **k: calls.append(k["chunk_size"]) or original(*a, **k))
    value = compile_loss(entry, chunk_memory=need / 4.5).double()(z, ids=batch["ids"])
    assert calls == [5]
    torch.testing.assert_close(value, whole(z, ids=batch["ids"]), rtol=1e-10, atol=0)


def test_automatic_chunking_counts_the_real_candidates():
    """Class prototypes: n x C pairs, not n x n (a 16,384 x 10 problem is no n^2 problem)."""
    entry, kwargs = next(case for case in CHUNKABLE if case[0].id == "cross_entropy")
    loss = compile_loss(entry, **kwargs)
    n = 16384
    z = torch.randn(n, kwargs["dim"])
    inputs = loss._inputs(z, None, torch.zeros(n, dtype=torch.long), None, None, None, None)
    supports = chunked.candidate_supports(entry)
    assert supports == ("prototypes",) and chunked.candidate_count(supports, inputs) == kwargs["num_classes"]
    assert chunked.dense_bytes(supports, inputs) == n * kwargs["num_classes"] * 4 * chunked.DENSE_BUFFERS
    assert chunked.block_size(entry, inputs, None) == 0


def test_blocks_evaluate_p_once_and_q_once_more_in_the_backward(monkeypatch):
    """Flash-style blocks: the forward evaluates each block's p and q once without a graph; the
    backward recomputes q only (p, one target per row here, is kept from the forward)."""
    from icon_registry.distributions.normalize import Normalize

    entry, _ = CHUNKABLE[0]  # simclr: p uniform over the other view
    batch = global_batch([N])
    calls = []
    original = Normalize.evaluate
    monkeypatch.setattr(Normalize, "evaluate", lambda self, inputs: calls.append(self.kernel.kind) or original(self, inputs))
    z = torch.randn(N, D, dtype=torch.float64, requires_grad=True)
    value = compile_loss(entry, chunk_size=10).double()(z, ids=batch["ids"])  # blocks of 10, 10, 3
    forward = list(calls)
    value.backward()
    backward = calls[len(forward):]
    assert forward.count("same_id") == 1 + 3 and forward.count("gaussian_dot") == 1 + 3  # one-row pass + blocks
    assert backward == ["gaussian_dot"] * 3


@pytest.mark.parametrize("bad", [0, -5, "1GB", True])
def test_bad_chunk_memory(bad):
    with pytest.raises(IconError, match="chunk_memory"):
        compile_loss(CHUNKABLE[0][0], chunk_memory=bad)


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


def _catalog_chunkable():
    from icon_registry import load_catalog

    catalog = load_catalog()
    entries = [catalog.get(i) for i in sorted(catalog.list("*"))]
    return [e for e in entries if not chunked.chunk_obstacles(e)]


@pytest.mark.parametrize("entry", _catalog_chunkable(), ids=lambda e: e.id)
def test_every_chunkable_catalog_entry_chunks_exactly(entry):
    """The whole built-in catalog: what chunk_obstacles accepts, chunking reproduces."""
    n = 14
    g = torch.Generator().manual_seed(0)
    graph = torch.rand(n, n, generator=g, dtype=torch.float64)
    graph = (graph + graph.T) / 2
    graph.fill_diagonal_(0)
    batch = {
        "x": torch.randn(n, 5, generator=g, dtype=torch.float64),
        "labels": torch.arange(n) % 3,
        "ids": torch.arange(n) // 2,
        "modality": torch.arange(n) % 2,
        "neighbors": torch.stack([(torch.arange(n) + s) % n for s in (1, 2)], 1),
        "graph": graph,
        # scores over z's 4 outputs, a bank with the anchors' positives and negatives, keys (the
        # anchor-indexed ones are sliced per block, the bank is shared)
        "teacher": torch.rand(n, 4, generator=g, dtype=torch.float64) + 0.05,
        "center": torch.randn(4, generator=g, dtype=torch.float64),
        "bank": torch.randn(n + 3, 4, generator=g, dtype=torch.float64),
        "bank_ids": torch.cat([torch.arange(n) // 2, torch.full((3,), -1)]),
        "bank_labels": torch.cat([torch.arange(n) % 3, torch.full((3,), -1)]),
        "keys": torch.randn(n, 4, generator=g, dtype=torch.float64),
    }
    trees = entry.p.model_dump_json() + entry.q.model_dump_json()
    kwargs = {"num_classes": 3, "dim": 4} if '"prototypes"' in trees else {}
    whole = compile_loss(entry, chunk_size=0, **kwargs).double()
    loss = compile_loss(entry, chunk_size=3, **kwargs).double()
    loss.load_state_dict(whole.state_dict())
    z = torch.randn(n, 4, generator=g, dtype=torch.float64)
    ref_value, ref_grads = _run(whole, z, batch)
    value, grads = _run(loss, z, batch)
    torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-12)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10 * want.abs().max().item())


def test_unchunkable_catalog_entries_refuse_chunk_size():
    from icon_registry import load_catalog

    catalog = load_catalog()
    refused = []
    for entry_id in sorted(catalog.list("*")):
        entry = catalog.get(entry_id)
        if chunked.chunk_obstacles(entry):
            with pytest.raises(IconError, match=f"{entry_id}: cannot evaluate this entry in anchor-row blocks"):
                compile_loss(entry, chunk_size=64)
            refused.append(entry_id)
    assert "tsne" in refused
