"""The cached p (objective.SupervisoryCache) and the formula source's cached beta are reused only
for the values they were computed from, whatever the tensor's version counter says; the
perplexity calibration on identical and duplicated points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from icon_registry.backends.torch_backend import TorchBackend

from . import conformance as C
from . import references as ref

NEW_IDS = [0, 0, 1, 1, 2, 2, 3, 3]


def _write_data(t, values):
    t.data[:] = torch.as_tensor(values, dtype=t.dtype)


def _write_numpy(t, values):
    t.numpy()[:] = np.asarray(values)


# writes that leave the tensor's version counter unchanged
WRITES = {"data": _write_data, "numpy": _write_numpy}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_ids_written_without_a_version_bump_are_not_served_the_old_p(write):
    z = C.randn(8, 4, seed=1)
    ids = torch.arange(8) % 4
    loss = C.compiled("simclr")
    before = loss(z, ids=ids)
    version = ids._version
    WRITES[write](ids, NEW_IDS)
    assert ids._version == version and ids.tolist() == NEW_IDS  # the write the counter misses
    fresh = C.compiled("simclr")(z, ids=torch.tensor(NEW_IDS))
    assert fresh != before
    assert loss(z, ids=ids) == fresh


def test_a_numpy_buffer_shared_by_from_numpy_rewritten_is_not_served_the_old_p():
    """A data loader's pattern: one numpy buffer, refilled each step, seen through torch.from_numpy."""
    z = C.randn(8, 4, seed=1)
    buffer = np.arange(8) % 4
    ids = torch.from_numpy(buffer)
    loss = C.compiled("simclr")
    loss(z, ids=ids)
    buffer[:] = NEW_IDS
    assert loss(z, ids=ids) == C.compiled("simclr")(z, ids=torch.tensor(NEW_IDS))


@pytest.mark.parametrize("source", ["objective", "formula"])
@pytest.mark.parametrize("write", sorted(WRITES))
def test_x_written_without_a_version_bump_is_recalibrated(source, write):
    """t-SNE's p (objective) and beta (formula) follow the new x, as a fresh loss computes them."""
    x, y = C.sne_data(9)
    kw = {"reduction": "sum"} if source == "objective" else {}
    loss = C.compiled("tsne", perplexity=3.0, source=source, **kw)
    before = loss(y, x=x)
    moved = x.clone()
    moved[0] += 5.0
    WRITES[write](x, moved)
    fresh = C.compiled("tsne", perplexity=3.0, source=source, **kw)(y, x=x.clone())
    assert not torch.allclose(fresh, before)
    assert loss(y, x=x) == fresh
    assert torch.allclose(fresh, torch.tensor(ref.tsne(moved.numpy(), y.numpy(), 3.0), dtype=y.dtype), rtol=1e-9)


@pytest.mark.parametrize("source", ["objective", "formula"])
def test_the_same_unchanged_x_reuses_its_calibration(source, monkeypatch):
    calls = []
    real = TorchBackend.calibrate_log_precision
    monkeypatch.setattr(TorchBackend, "calibrate_log_precision", lambda *a, **k: calls.append(1) or real(*a, **k))
    x, y = C.sne_data(9)
    loss = C.compiled("tsne", perplexity=3.0, source=source)
    first = loss(y, x=x)
    assert loss(y, x=x) == first and loss(y, x=x.clone()) == first and len(calls) == 1


def test_inference_tensors_are_accepted_and_their_in_place_edits_seen():
    """Inference tensors keep no version counter: the cache compares their values alone."""
    z = C.randn(8, 4, seed=1)
    with torch.inference_mode():
        loss = C.compiled("simclr")
        ids = torch.arange(8) % 4
        first = loss(z, ids=ids)
        assert loss(z, ids=ids) == first
        ids.copy_(torch.tensor(NEW_IDS))
        assert loss(z, ids=ids) == C.compiled("simclr")(z, ids=torch.tensor(NEW_IDS))
    assert first == C.compiled("simclr")(z, ids=torch.arange(8) % 4)


@pytest.mark.parametrize("source", ["objective", "formula"])
def test_an_inference_tensor_x_outside_inference_mode(source):
    x, y = C.sne_data(9)
    with torch.inference_mode():
        frozen = x.clone()
    loss = C.compiled("tsne", perplexity=3.0, source=source)
    expected = C.compiled("tsne", perplexity=3.0, source=source)(y, x=x)
    for _ in range(2):  # computed, then reused
        point = y.clone().requires_grad_(True)
        value = loss(point, x=frozen)
        value.backward()
        reference = y.clone().requires_grad_(True)
        C.compiled("tsne", perplexity=3.0, source=source)(reference, x=x).backward()
        assert value == expected and torch.equal(point.grad, reference.grad)


def _graph(seed=3):
    w = torch.rand(8, 8, generator=C.rng(seed), dtype=torch.float64)
    return (w + w.T).fill_diagonal_(0.0)


def test_a_sparse_graph_again_dense_then_sparse_and_edited():
    z = C.randn(8, 4, seed=1)
    w = _graph()
    expected = C.compiled("sne_graph")(z, graph=w)
    loss = C.compiled("sne_graph")
    assert loss(z, graph=w.to_sparse()) == expected
    assert loss(z, graph=w.to_sparse()) == expected
    assert loss(z, graph=w) == expected
    assert loss(z, graph=w.to_sparse()) == expected
    # the same entries, uncoalesced (each weight given as two halves): the same graph
    indices, values = w.to_sparse().indices(), w.to_sparse().values()
    halves = torch.sparse_coo_tensor(torch.cat([indices, indices], 1), torch.cat([values, values]) / 2, (8, 8),
                                     check_invariants=True)
    assert loss(z, graph=halves) == expected
    edited = w.clone()
    edited[0, 1] = edited[1, 0] = 5.0
    sparse = w.to_sparse()
    loss(z, graph=sparse)
    sparse.values()[0] = 5.0  # the stored entry (0, 1): written through a view, no version bump
    sparse.values()[7] = 5.0  # (1, 0)
    assert torch.equal(sparse.to_dense(), edited)
    assert loss(z, graph=sparse) == C.compiled("sne_graph")(z, graph=edited) != expected


@pytest.mark.parametrize("layout", ["to_sparse_csr", "to_sparse_csc", "to_sparse_bsr"])
def test_a_compressed_sparse_graph_is_the_dense_one_and_its_edits_are_seen(layout):
    z = C.randn(8, 4, seed=1)
    w = _graph()
    expected = C.compiled("sne_graph")(z, graph=w)
    loss = C.compiled("sne_graph")
    convert = getattr(w, layout)
    compressed = convert((2, 2)) if layout == "to_sparse_bsr" else convert()
    assert loss(z, graph=compressed) == expected
    assert loss(z, graph=compressed) == expected  # p reused for the same values
    assert loss(z, graph=w) == expected
    compressed.values().view(-1)[:3] = 5.0  # written through a view, no version bump
    assert not torch.equal(compressed.to_dense(), w)
    assert loss(z, graph=compressed) == C.compiled("sne_graph")(z, graph=compressed.to_dense()) != expected


def _uniform_sne(y):
    """sum_i KL(u || q_i), u uniform over the n - 1 others: SNE's loss when every x is the same."""
    n = y.shape[0]
    log_q = torch.log_softmax((-torch.cdist(y, y) ** 2).fill_diagonal_(-math.inf), dim=1)
    others = ~torch.eye(n, dtype=torch.bool)
    return (-math.log(n - 1) - log_q[others]).sum() / (n - 1)


def _uniform_tsne(y):
    """KL(P || Q) with P_ij = 1 / (n (n - 1)): t-SNE's loss when every x is the same."""
    n = y.shape[0]
    others = ~torch.eye(n, dtype=torch.bool)
    w = (1.0 / (1.0 + torch.cdist(y, y) ** 2))[others]
    p = 1.0 / (n * (n - 1))
    return (p * (math.log(p) - (w / w.sum()).log())).sum()


@pytest.mark.parametrize("source", ["objective", "formula"])
@pytest.mark.parametrize("perplexity", [1.0, 3.0, 7.0, 30.0])
@pytest.mark.parametrize("scale", [0.0, 1e-170])  # 1e-170: every squared distance rounds to 0
def test_identical_points_have_the_uniform_p(source, perplexity, scale):
    _, y = C.sne_data(8)
    x = scale * C.randn(8, 5, seed=2)
    kw = {"reduction": "sum"} if source == "objective" else {}
    sne = C.compiled("sne", perplexity=perplexity, source=source, **kw)(y, x=x)
    tsne = C.compiled("tsne", perplexity=perplexity, source=source, **kw)(y, x=x)
    assert torch.allclose(sne, _uniform_sne(y), rtol=1e-12)
    assert torch.allclose(tsne, _uniform_tsne(y), rtol=1e-12)
    assert torch.allclose(sne, torch.tensor(ref.sne(x.numpy(), y.numpy(), perplexity), dtype=y.dtype), rtol=1e-12)


@pytest.mark.parametrize("source", ["objective", "formula"])
@pytest.mark.parametrize("perplexity", [1.0, 1.5, 4.0])
def test_duplicated_points_match_the_reference(source, perplexity):
    """Three groups of three identical points and three distinct ones: a perplexity below the
    duplicates' count is the uniform p over the twins (the limit beta -> infinity)."""
    x, y = C.sne_data(12)
    x[1] = x[2] = x[0]
    x[4] = x[5] = x[3]
    x[7] = x[8] = x[6]
    kw = {"reduction": "sum"} if source == "objective" else {}
    sne = C.compiled("sne", perplexity=perplexity, source=source, **kw)(y, x=x)
    tsne = C.compiled("tsne", perplexity=perplexity, source=source, **kw)(y, x=x)
    assert torch.allclose(sne, torch.tensor(ref.sne(x.numpy(), y.numpy(), perplexity), dtype=y.dtype), rtol=1e-9)
    assert torch.allclose(tsne, torch.tensor(ref.tsne(x.numpy(), y.numpy(), perplexity), dtype=y.dtype), rtol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_calibrated_precision_stays_finite(dtype):
    """A row of equal distances gets beta = 1 (any beta gives its uniform p); a row of distances
    too small for the beta its perplexity asks gets the largest finite one: -d2 * beta is never
    NaN, and the other rows are calibrated as alone."""
    tiny = torch.finfo(dtype).smallest_normal
    rows = torch.tensor([[0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 3.0, 3.0], [0.0, tiny, 2 * tiny, 4 * tiny],
                         [0.5, 1.0, 2.0, 4.0]], dtype=dtype)
    mask = torch.ones_like(rows, dtype=torch.bool)
    log_beta = TorchBackend.calibrate_log_precision(rows, mask, 2.0)
    assert log_beta[:2].tolist() == [[0.0], [0.0]]
    assert torch.isfinite(log_beta.exp()).all() and not torch.isnan(-rows * log_beta.exp()).any()
    assert torch.equal(log_beta[3:], TorchBackend.calibrate_log_precision(rows[3:], mask[3:], 2.0))


def test_off_the_cpu_only_the_tensor_p_was_computed_from_is_compared():
    """A comparison off the CPU is a host sync: another tensor there is taken for new values (p
    evaluated afresh, uncompared), and the tensor p was computed from is compared, never trusted
    on its version counter. Meta tensors stand in for a device: comparing them raises."""
    from icon_registry.objective import _Kept

    stored = torch.ones(3, device="meta")
    kept = _Kept(stored)
    assert not kept.holds(torch.ones(3, device="meta"))
    with pytest.raises(NotImplementedError):
        kept.holds(stored)
    stored.add_(1.0)
    assert not kept.holds(stored)  # its version moved: a known change, no comparison
