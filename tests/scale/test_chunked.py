"""Chunked evaluation equals the unchunked objective: value and gradients, float64, 1e-10."""

from __future__ import annotations

import numpy as np
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
    # at most 11 rows fit (11.5 rows' worth): 3 blocks of 8, 8, 7 (12 rows would not fit)
    assert chunked.block_size(entry, inputs, None) == 8
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


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_blocks_evaluate_p_and_q_once_and_q_again_only_for_per_anchor_gradients(monkeypatch, reduction):
    """Flash-style blocks. Per-anchor terms (reduction 'none'): the forward evaluates each block's p
    and q once without a graph and the backward recomputes q only (p, one target per row here, is
    kept from the forward). A sum or a mean: each block is evaluated once, its gradient taken in
    the forward, and the backward evaluates nothing."""
    from icon_registry.distributions.normalize import Normalize

    entry, _ = CHUNKABLE[0]  # simclr: p uniform over the other view
    batch = global_batch([N])
    calls = []
    original = Normalize.evaluate
    monkeypatch.setattr(Normalize, "evaluate", lambda self, inputs: calls.append(self.kernel.kind) or original(self, inputs))
    z = torch.randn(N, D, dtype=torch.float64, requires_grad=True)
    value = compile_loss(entry, chunk_size=10, reduction=reduction).double()(z, ids=batch["ids"])  # blocks 10, 10, 3
    forward = list(calls)
    value.sum().backward()
    backward = calls[len(forward):]
    assert forward.count("same_id") == 1 + 3 and forward.count("gaussian_dot") == 1 + 3  # one-row pass + blocks
    assert backward == (["gaussian_dot"] * 3 if reduction == "none" else [])


def test_a_summed_chunked_loss_scales_its_forward_gradient_by_the_incoming_one():
    """The gradient taken in the forward is that of the sum; the backward multiplies it by the
    gradient that reaches the loss (2 * loss, say), and a second backward with retain_graph
    gives the same again."""
    entry, _ = CHUNKABLE[0]
    batch = global_batch([N])
    z = torch.randn(N, D, dtype=torch.float64, requires_grad=True)
    chunked_value = compile_loss(entry, chunk_size=7)(z, ids=batch["ids"])
    (grad,) = torch.autograd.grad(3.0 * chunked_value ** 2, z, retain_graph=True)
    (again,) = torch.autograd.grad(3.0 * chunked_value ** 2, z)
    dense_value = compile_loss(entry, chunk_size=0)(z, ids=batch["ids"])
    (want,) = torch.autograd.grad(3.0 * dense_value ** 2, z)
    torch.testing.assert_close(grad, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(again, want, rtol=1e-10, atol=1e-12)


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


def _catalog_batch(n, g):
    """Every argument a catalog entry may read, for a batch of n items and z of 4 features."""
    graph = torch.rand(n, n, generator=g, dtype=torch.float64)
    graph = (graph + graph.T) / 2
    graph.fill_diagonal_(0)
    return {
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


def _class_shape(entry):
    trees = entry.p.model_dump_json() + entry.q.model_dump_json()
    return {"num_classes": 3, "dim": 4} if '"prototypes"' in trees else {}


@pytest.mark.parametrize("entry", _catalog_chunkable(), ids=lambda e: e.id)
def test_every_chunkable_catalog_entry_chunks_exactly(entry):
    """The whole built-in catalog: what chunk_obstacles accepts, chunking reproduces."""
    n = 14
    g = torch.Generator().manual_seed(0)
    batch = _catalog_batch(n, g)
    kwargs = _class_shape(entry)
    whole = compile_loss(entry, chunk_size=0, **kwargs).double()
    loss = compile_loss(entry, chunk_size=3, **kwargs).double()
    loss.load_state_dict(whole.state_dict())
    z = torch.randn(n, 4, generator=g, dtype=torch.float64)
    ref_value, ref_grads = _run(whole, z, batch)
    value, grads = _run(loss, z, batch)
    torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-12)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10 * want.abs().max().item())


#: The floating-point arguments a caller may want the gradient of (besides z and the prototypes).
_FLOAT_INPUTS = ("x", "graph", "teacher", "center", "bank", "keys")


def _reads_float_input(entry):
    return bool((entry.p.inputs_used() | entry.q.inputs_used()) & set(_FLOAT_INPUTS))


@pytest.mark.parametrize("entry", [e for e in _catalog_chunkable() if _reads_float_input(e)], ids=lambda e: e.id)
def test_chunked_gradients_reach_every_input(entry):
    """Every floating-point argument with requires_grad gets, in blocks, the gradient of the unchunked
    evaluation (a bank, MoCo's keys, a teacher, a center, x, a graph): each is a leaf of the block
    Function, the anchor-indexed ones through their block's rows. A p-side argument has none either
    way (p is supervisory: evaluated without gradients)."""
    n = 13  # no block size below divides it: the last block is short
    g = torch.Generator().manual_seed(1)
    batch = _catalog_batch(n, g)
    z = torch.randn(n, 4, generator=g, dtype=torch.float64)
    kwargs = _class_shape(entry)
    reads = sorted((entry.p.inputs_used() | entry.q.inputs_used()) & set(_FLOAT_INPUTS))
    whole = compile_loss(entry, chunk_size=0, **kwargs).double()

    def run(loss):
        wanted = {"z": z.clone().requires_grad_()}
        wanted.update({name: batch[name].clone().requires_grad_() for name in reads})
        given = {name: wanted.get(name, batch[name]) for name in loss.requires}
        value = loss(wanted["z"], **given)
        grads = torch.autograd.grad(value, list(wanted.values()), allow_unused=True)
        return value.detach(), dict(zip(wanted, grads))

    ref_value, ref_grads = run(whole)
    q_side = sorted(entry.q.inputs_used() & set(_FLOAT_INPUTS))
    assert [name for name in reads if ref_grads[name] is not None] == q_side
    assert all(bool(ref_grads[name].abs().max() > 0) for name in q_side), "q must depend on its arguments"
    for size in (1, 3, 5):
        loss = compile_loss(entry, chunk_size=size, **kwargs).double()
        loss.load_state_dict(whole.state_dict())
        value, grads = run(loss)
        torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-12)
        for name, want in ref_grads.items():
            if want is None:
                assert grads[name] is None, (name, size)
                continue
            torch.testing.assert_close(grads[name], want, rtol=1e-10, atol=1e-10 * want.abs().max().item(),
                                       msg=lambda m, name=name, size=size: f"{name}, chunk_size={size}: {m}")


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


@pytest.mark.parametrize("entry_id, width", [("moco_v2", 1 + 1000), ("npair", 1000), ("dino", 500)])
def test_chunk_memory_counts_the_bank_and_the_outputs(entry_id, width, monkeypatch):
    """A bank (m rows, 1 + m with MoCo's own key) or z's K outputs can be far wider than the batch:
    the blocks chunk_memory chooses keep their dense evaluation, counted over those candidates,
    within it, and the blocks evaluate what the dense evaluation does."""
    from icon_registry import load_catalog

    entry = load_catalog().get(entry_id)
    n, d = 64, 4
    g = torch.Generator().manual_seed(2)
    k = 500 if entry_id == "dino" else d
    z = torch.randn(n, k, generator=g, dtype=torch.float64)
    batch = {
        "ids": torch.arange(n),
        "bank": torch.randn(1000, d, generator=g, dtype=torch.float64),
        "bank_ids": torch.cat([torch.arange(n), torch.full((1000 - n,), -1)]),
        "keys": torch.randn(n, d, generator=g, dtype=torch.float64),
        "teacher": torch.randn(n, k, generator=g, dtype=torch.float64),
        "center": torch.randn(k, generator=g, dtype=torch.float64),
    }
    loss = compile_loss(entry, chunk_size=0).double()
    given = {name: batch[name] for name in loss.requires}
    inputs = loss._batch(z, given)
    supports = chunked.candidate_supports(entry)
    assert chunked.candidate_count(supports, inputs) == width
    need = n * width * 8 * chunked.DENSE_BUFFERS
    assert chunked.dense_bytes(supports, inputs) == need
    for budget in (need / 2.5, need / 7, need / n):
        size = chunked.block_size(entry, inputs, None, chunk_memory=budget)
        assert 0 < size < n and size * width * 8 * chunked.DENSE_BUFFERS <= budget, (budget, size)
    calls = []
    original = chunked.chunked_terms
    monkeypatch.setattr(chunked, "chunked_terms", lambda *a, **kw: calls.append(kw["chunk_size"]) or original(*a, **kw))
    value = compile_loss(entry, chunk_memory=need / 7).double()(z, **given)
    assert calls == [chunked.block_size(entry, inputs, None, chunk_memory=need / 7)]
    torch.testing.assert_close(value, loss(z, **given), rtol=1e-10, atol=0)


@pytest.mark.parametrize("option, value", [("chunk_size", np.int64(3)), ("chunk_size", torch.tensor(3)),
                                           ("chunk_memory", np.int64(10_000)), ("chunk_memory", torch.tensor(1e4))])
def test_numpy_and_torch_scalars_are_accepted_as_numbers(option, value):
    """As num_classes and dim are: one check for every numeric option."""
    entry, _ = CHUNKABLE[0]
    batch = global_batch([N])
    z = torch.randn(N, D, dtype=torch.float64)
    got = compile_loss(entry, **{option: value})(z, ids=batch["ids"])
    torch.testing.assert_close(got, compile_loss(entry, chunk_size=0)(z, ids=batch["ids"]), rtol=1e-10, atol=0)
    assert compile_loss(entry, source="formula", chunk_size=np.int64(0)).chunk_size == 0
    prototypes = compile_loss(CHUNKABLE[3][0], num_classes=torch.tensor(3), dim=np.int64(4))
    assert tuple(prototypes.prototypes.shape) == (3, 4)


@pytest.mark.parametrize("option, value", [("chunk_size", torch.tensor([3])), ("chunk_size", torch.tensor(3.0)),
                                           ("chunk_size", np.float64(3)), ("chunk_memory", torch.tensor(True)),
                                           ("num_classes", torch.tensor(0))])
def test_other_scalars_are_refused_naming_the_option(option, value):
    entry = CHUNKABLE[3][0] if option == "num_classes" else CHUNKABLE[0][0]
    extra = {"dim": 4} if option == "num_classes" else {}
    with pytest.raises(IconError, match=option) as err:
        compile_loss(entry, **{option: value}, **extra)
    assert err.value.argument == option


@pytest.mark.parametrize("source", ["objective", "formula"])
def test_a_bad_id_scope_is_refused_without_distributed(source):
    with pytest.raises(IconError, match="distributed_ids") as err:
        compile_loss("simclr", source=source, distributed_ids="bogus")
    assert err.value.argument == "distributed_ids"


def _cgroup_files(root, folder, files):
    target = root / folder
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text)


def test_cgroup_headroom_reads_v2_limits_of_the_cgroup_and_its_ancestors(tmp_path):
    """A container's memory limit caps what automatic chunking may use: limit - usage, the inactive
    page cache not counted as used, the least over the process's cgroup and its limited ancestors."""
    membership = tmp_path / "cgroup"
    membership.write_text("0::/jobs/train\n")
    root = tmp_path / "fs"
    _cgroup_files(root, "jobs/train", {"memory.max": "max\n", "memory.current": "5000\n"})
    _cgroup_files(root, "jobs", {"memory.max": "10000\n", "memory.current": "7000\n",
                                 "memory.stat": "anon 4000\ninactive_file 1500\nactive_file 100\n"})
    assert chunked.cgroup_headroom(str(root), str(membership)) == 10000 - (7000 - 1500)
    _cgroup_files(root, "jobs/train", {"memory.max": "4000\n"})  # the tighter of the two
    assert chunked.cgroup_headroom(str(root), str(membership)) == 0  # usage 5000 above the limit 4000
    _cgroup_files(root, "jobs/train", {"memory.max": "6000\n"})
    assert chunked.cgroup_headroom(str(root), str(membership)) == 1000


def test_cgroup_headroom_reads_v1_and_a_container_that_sees_its_cgroup_at_the_root(tmp_path):
    membership = tmp_path / "cgroup"
    membership.write_text("9:name=systemd:/\n4:cpu,memory:/docker/abc\n0::/\n")
    root = tmp_path / "fs"
    # the container mounts only its own cgroup: /docker/abc is not there, its root is
    _cgroup_files(root, "memory", {"memory.limit_in_bytes": "8192\n", "memory.usage_in_bytes": "3000\n",
                                   "memory.stat": "cache 900\ntotal_inactive_file 1000\n"})
    assert chunked.cgroup_headroom(str(root), str(membership)) == 8192 - (3000 - 1000)
    _cgroup_files(root, "memory", {"memory.limit_in_bytes": str(2**63 - 4096) + "\n"})  # v1's "no limit"
    assert chunked.cgroup_headroom(str(root), str(membership)) is None


def test_no_cgroup_means_no_headroom_and_the_machine_decides(tmp_path, monkeypatch):
    assert chunked.cgroup_headroom(str(tmp_path), str(tmp_path / "missing")) is None
    membership = tmp_path / "cgroup"
    membership.write_text("0::/\n")
    assert chunked.cgroup_headroom(str(tmp_path / "fs"), str(membership)) is None  # no files: no limit read
    monkeypatch.setattr(chunked, "_machine_available", lambda: 10 << 30)
    monkeypatch.setattr(chunked, "cgroup_headroom", lambda: None)
    assert chunked.available_bytes("cpu") == 10 << 30
    monkeypatch.setattr(chunked, "cgroup_headroom", lambda: 3 << 30)
    assert chunked.available_bytes("cpu") == 3 << 30


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_a_chunked_loss_refuses_a_second_derivative_instead_of_losing_part_of_it(reduction):
    entry, _ = CHUNKABLE[0]
    batch = global_batch([N])
    z = torch.randn(N, D, dtype=torch.float64, requires_grad=True)
    value = compile_loss(entry, chunk_size=7, reduction=reduction)(z, ids=batch["ids"]).sum()
    with pytest.raises(IconError, match="no second derivative.*chunk_size=0 and second_order=True"):
        torch.autograd.grad(value, z, create_graph=True)
    dense = compile_loss(entry, chunk_size=0, second_order=True, reduction=reduction)(z, ids=batch["ids"]).sum()
    (grad,) = torch.autograd.grad(dense, z, create_graph=True)
    assert grad.requires_grad  # the dense loss in plain ops has one (tests/compiler/test_second_order.py: exact)
