"""TorchBackend's log-space primitives against float64 references written out by hand."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from icon_registry.backends import torch_backend
from icon_registry.backends.torch_backend import TorchBackend as B
from icon_registry.errors import IconError


def _reference_log_matmul_exp(a, b):
    """log sum_k exp(a_ik + b_kj) with all n x k x m terms in float64: exact to rounding."""
    return torch.logsumexp(a.double()[:, :, None] + b.double()[None, :, :], dim=1)


@pytest.mark.parametrize("scale", [1.0, 50.0, 1e4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_matmul_exp_matches_the_float64_reference(scale, dtype):
    """Cluster-like inputs (log-softmax rows): at scale 50 and 1e4 the rows' and the columns'
    largest terms sit at different k, where one shift per row and per column underflows."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 5, generator=g, dtype=torch.float64) * scale
    log_phi = torch.log_softmax(logits, 1)
    a = (log_phi - torch.logsumexp(log_phi, 0, keepdim=True)).to(dtype).requires_grad_(True)
    b = log_phi.T.contiguous().to(dtype).requires_grad_(True)
    weights = torch.rand(12, 12, generator=g, dtype=torch.float64)
    out = B.log_matmul_exp(a, b)
    (out.double() * weights).sum().backward()
    a64, b64 = a.detach().double().requires_grad_(True), b.detach().double().requires_grad_(True)
    want = _reference_log_matmul_exp(a64, b64)
    (want * weights).sum().backward()
    assert bool(torch.isfinite(out).all()) and bool(torch.isfinite(a.grad).all()) and bool(torch.isfinite(b.grad).all())
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(out.double(), want, rtol=tol, atol=tol * max(1.0, scale))
    assert torch.allclose(a.grad.double(), a64.grad, rtol=tol, atol=tol * 10)
    assert torch.allclose(b.grad.double(), b64.grad, rtol=tol, atol=tol * 10)


def test_log_matmul_exp_in_plain_ops_has_exact_second_derivatives():
    """Under second_order=True (plain_ops_only) the underflowed entries are a plain logsumexp:
    gradgradcheck against finite differences, on inputs whose entries underflow (scale 1e4)."""
    g = torch.Generator().manual_seed(0)
    log_phi = torch.log_softmax(torch.randn(6, 4, generator=g, dtype=torch.float64) * 1e4, 1)
    a = (log_phi - torch.logsumexp(log_phi, 0, keepdim=True)).requires_grad_(True)
    b = log_phi.T.contiguous().requires_grad_(True)
    with torch_backend.plain_ops_only():
        assert torch.allclose(B.log_matmul_exp(a, b), _reference_log_matmul_exp(a, b), rtol=1e-12, atol=1e-8)
        assert torch.autograd.gradgradcheck(B.log_matmul_exp, (a, b))
    with pytest.raises(IconError, match="exact log-sum-exp of underflowed cluster scores has no second derivative"):
        torch.autograd.grad(B.log_matmul_exp(a, b).sum(), a, create_graph=True)


def test_log_matmul_exp_underflow_is_recomputed_only_where_needed():
    """Moderate inputs take the matmul alone; the result equals the reference either way."""
    a = torch.tensor([[0.0, -200.0], [-200.0, 0.0]])
    b = torch.tensor([[-200.0, 0.0], [0.0, -200.0]])
    out = B.log_matmul_exp(a, b)
    # (0,0): exp(0 - 200) + exp(-200 + 0): log 2 - 200, which the shifted product (e^-200) loses in float32
    assert torch.allclose(out, torch.tensor([[math.log(2) - 200, 0.0], [0.0, math.log(2) - 200]]), atol=1e-4)


@pytest.mark.parametrize("terms", [1, 10, 1 << 24], ids=["1 entry per block", "2 entries per block", "one block"])
def test_exact_entries_in_blocks_equal_one_logsumexp_with_gradients(monkeypatch, terms):
    """The exact fallback's blocks (``_EXACT_TERMS`` terms at a time, forward and backward) give
    the values and gradients of a single logsumexp over every entry's terms."""
    monkeypatch.setattr(torch_backend, "_EXACT_TERMS", terms)
    g = torch.Generator().manual_seed(2)
    a = (torch.randn(6, 5, generator=g, dtype=torch.float64) * 30).requires_grad_(True)
    b = (torch.randn(5, 4, generator=g, dtype=torch.float64) * 30).requires_grad_(True)
    rows = torch.tensor([0, 0, 3, 5, 5, 2, 0])  # repeated rows and columns: gradients accumulate
    cols = torch.tensor([1, 1, 0, 3, 2, 2, 3])
    out = torch_backend._LogMatmulExpAt.apply(a, b, rows, cols)
    weights = torch.rand(7, generator=g, dtype=torch.float64)
    (out * weights).sum().backward()
    a_ref, b_ref = a.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)
    want = torch.logsumexp(a_ref[rows] + b_ref.T[cols], dim=1)
    (want * weights).sum().backward()
    assert torch.allclose(out, want, rtol=1e-12, atol=1e-12)
    assert torch.allclose(a.grad, a_ref.grad, rtol=1e-12, atol=1e-12)
    assert torch.allclose(b.grad, b_ref.grad, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda a, b: torch_backend._LogMatmulExpAt.apply(a, b, rows, cols), (a, b))


def test_float32_products_that_underflow_are_formed_again_in_float64_before_any_exact_entry(monkeypatch):
    """log-gaps of ~200 underflow float32's shifted product (e^-200 < e^-43) but not float64's:
    the second matmul settles them and no entry is computed term by term."""
    exact_calls = []
    original = torch_backend._LogMatmulExpAt.apply
    monkeypatch.setattr(torch_backend._LogMatmulExpAt, "apply", lambda *args: exact_calls.append(1) or original(*args))
    a = torch.tensor([[0.0, -200.0], [-200.0, 0.0]])
    b = torch.tensor([[-200.0, 0.0], [0.0, -200.0]])
    out = B.log_matmul_exp(a, b)
    assert not exact_calls
    assert torch.allclose(out, _reference_log_matmul_exp(a, b).float(), atol=1e-4)
    B.log_matmul_exp(a * 10, b * 10)  # gaps of 2,000: beyond float64's range too
    assert exact_calls == [1]


def test_plogp_is_zero_for_zero_probability():
    prob = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    log_prob = torch.tensor([[math.log(0.5), math.log(0.5), -math.inf, -math.inf]])
    mask = torch.tensor([[True, True, True, False]])
    assert torch.equal(B.plogp(prob, log_prob, mask), torch.tensor([[0.5 * math.log(0.5)] * 2 + [0.0, 0.0]]))


def test_log_sqdist_is_finite_at_distance_zero():
    d2 = torch.tensor([0.0, 1.0], requires_grad=True)
    out = B.log_sqdist(d2)
    out.sum().backward()
    assert bool(torch.isfinite(out).all()) and bool(torch.isfinite(d2.grad).all())
    assert out[1] == 0.0


def test_calibration_at_perplexity_one_is_finite():
    """Entropy log(1) = 0: the bisection drives the precision up until p is one-hot, where the
    row's other probabilities underflow to 0 next to log-probabilities of -inf (0 log 0 = 0)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20, 3, generator=g, dtype=torch.float64)
    d = B.sqdist(x, x)
    mask = ~torch.eye(20, dtype=torch.bool)
    log_beta = B.calibrate_log_precision(d, mask, 1.0)
    assert bool(torch.isfinite(log_beta).all())
    logp = torch.log_softmax((-d * log_beta.exp()).masked_fill(~mask, -math.inf), 1)
    entropy = -B.plogp(logp.exp(), logp, mask).sum(1)
    assert bool((entropy < 1e-3).all())


# --- t-SNE's Cauchy q: the fused form against the generic log-space path ----------------------


def _cauchy_case(entry_id, n, dtype, nearest=0):
    """(loss kwargs, compile kwargs) of a batch for a joint Student-t (nu = 1) entry."""
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    x[n // 2:] += 8.0  # two clusters far apart: many P_ij underflow to 0
    if entry_id == "tsne":
        return {"x": x.to(dtype)}, {"perplexity": 4.0, "nearest": nearest}
    if entry_id == "doubly_tsne":
        return {"x": x.to(dtype)}, {}
    if entry_id == "tsne_graph":
        graph = torch.rand(n, n, generator=g, dtype=torch.float64) * (torch.rand(n, n, generator=g) < 0.1)
        return {"graph": (graph + graph.T).to(dtype)}, {}
    neighbors = torch.stack([torch.randperm(n, generator=g)[:4] for _ in range(n)])
    return {"neighbors": neighbors}, {"k": 4}


CAUCHY_CASES = [("tsne", 0), ("tsne", 5), ("doubly_tsne", 0), ("tsne_graph", 0), ("tsne_uniform", 0)]


@pytest.mark.parametrize("blocks", [True, False], ids=["blocks", "whole"])
@pytest.mark.parametrize("entry_id, nearest", CAUCHY_CASES, ids=[f"{e}-nearest{k}" for e, k in CAUCHY_CASES])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction, objective, exaggeration", [
    ("sum", "kl", 1.0), ("mean", "kl", 12.0), ("none", "kl", 1.0), ("sum", "cross_entropy", 4.0)])
def test_cauchy_q_fused_equals_the_generic_path(monkeypatch, entry_id, nearest, dtype, reduction, objective,
                                                exaggeration, blocks):
    """t-SNE's q read from d2 (no exp, no log over the n x n matrix), or from the points in blocks of
    rows where P is read at its pairs, gives the values and gradients of the log-space softmax of
    -log(1 + d2), in dense and index forms of P."""
    import warnings

    from icon_registry import compile_loss
    from icon_registry.backends import torch_backend
    from icon_registry.kernels.student_t import StudentT

    inputs, params = _cauchy_case(entry_id, 150, dtype, nearest)
    y0 = torch.randn(150, 2, generator=torch.Generator().manual_seed(1), dtype=dtype)
    fused_calls = []
    for function in (torch_backend._CauchyCrossEntropy, torch_backend._BlockedCauchyCrossEntropy):
        real = function.apply
        monkeypatch.setattr(function, "apply", lambda *a, f=function, real=real: fused_calls.append(f) or real(*a))
    if not blocks:
        monkeypatch.setattr(torch_backend, "blocked_cauchy_applies", lambda *args: False)
    monkeypatch.setattr(torch_backend, "_CAUCHY_BLOCK", 150 * 16)  # blocks of 16 rows and a last one of 6
    results = []
    for fused in (True, False):
        if not fused:
            monkeypatch.setattr(StudentT, "cauchy_sqdist", lambda self, pairs: None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss = compile_loss(entry_id, reduction=reduction, objective=objective, **params)
        loss.exaggeration = exaggeration
        y = y0.clone().requires_grad_(True)
        value = loss(y, **inputs)
        (value * torch.linspace(0.5, 1.5, value.numel(), dtype=dtype).reshape(value.shape)).sum().backward()
        results.append((value.detach(), y.grad))
    assert len(fused_calls) == 1
    if not blocks:
        assert fused_calls == [torch_backend._CauchyCrossEntropy]
    elif (entry_id, nearest) == ("tsne", 5):  # P at its pairs: the blocks are what ran
        assert fused_calls == [torch_backend._BlockedCauchyCrossEntropy]
    (v_fused, g_fused), (v_generic, g_generic) = results
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert bool(torch.isfinite(v_fused).all()) and bool(torch.isfinite(g_fused).all())
    assert torch.allclose(v_fused, v_generic, rtol=tol, atol=tol)
    assert torch.allclose(g_fused, g_generic, rtol=tol, atol=tol * float(g_generic.abs().max()))


def _assert_blocked_equals_whole(y0, blocked_p, whole_p, scale, generator):
    """The blocked Cauchy form on ``blocked_p`` equals the whole-matrix fused form on ``whole_p``
    (values and the gradient of a random weighting of them, float64)."""
    from icon_registry.distributions.base import Softmax

    n = y0.shape[0]
    weights = torch.rand(n, generator=generator, dtype=torch.float64)
    results = []
    for blocked in (True, False):
        y = y0.clone().requires_grad_()
        if blocked:
            values = torch_backend.blocked_cauchy_cross_entropy(y, blocked_p, scale)
        else:
            d2 = torch.cdist(y, y) ** 2
            softmax = Softmax(None, diagonal=0, nonempty=True)
            values = torch_backend.cauchy_cross_entropy(d2, ~torch.eye(n, dtype=torch.bool), softmax, whole_p, scale)
        (values * weights).sum().backward()
        results.append((values.detach(), y.grad))
    (v_blocks, g_blocks), (v_whole, g_whole) = results
    torch.testing.assert_close(v_blocks, v_whole, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g_blocks, g_whole, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mass", [False, True])
def test_blocked_cauchy_reads_a_one_column_p(mass):
    """p one-hot on every row (``FixedP.target``), with and without per-row masses."""
    from icon_registry.objective import FixedP

    g = torch.Generator().manual_seed(4)
    n = 40
    y0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    target = (torch.arange(n) + 1 + torch.randint(0, n - 1, (n,), generator=g)) % n  # never the row itself
    fixed = FixedP(mass=torch.rand(n, generator=g, dtype=torch.float64) if mass else None, target=target)
    _assert_blocked_equals_whole(y0, fixed, fixed, 3.0, g)


@pytest.mark.parametrize("dim", [1, 3])
def test_blocked_cauchy_reads_an_index_p_in_any_order(dim):
    """p at pairs given in no particular order, some rows without any pair, with per-row masses
    (the blocked form takes each unordered pair once, ``unordered_pairs``), against the same p dense."""
    from icon_registry.objective import FixedP

    g = torch.Generator().manual_seed(5)
    n = 30
    y0 = torch.randn(n, dim, generator=g, dtype=torch.float64)
    dense = torch.rand(n, n, generator=g, dtype=torch.float64) * (torch.rand(n, n, generator=g) < 0.2)
    dense.fill_diagonal_(0.0)
    dense[[3, 17]] = 0.0  # rows without pairs
    rows, cols = dense.nonzero(as_tuple=True)
    order = torch.randperm(rows.numel(), generator=g)
    mass = dense.sum(1)
    index_p = FixedP(mass=mass, index=(rows[order], cols[order], dense[rows, cols][order]))
    _assert_blocked_equals_whole(y0, index_p, FixedP(mass=mass, dense=dense), 2.0, g)
    second, forward, backward, lengths = index_p.pairs_once
    assert second.shape[0] < rows.shape[0] and int(lengths.sum()) == second.shape[0]  # symmetric pairs counted once


def test_cauchy_fast_path_covers_index_and_dense_forms_of_p():
    """The cases above reach both forms of a fixed P (a failing split would test one twice)."""
    import warnings

    from icon_registry import compile_loss
    from icon_registry.objective import prepare_fixed

    forms = set()
    for nearest in (0, 5):
        inputs, params = _cauchy_case("tsne", 150, torch.float64, nearest)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss = compile_loss("tsne", reduction="sum", **params)
        loss(torch.randn(150, 2, dtype=torch.float64), **inputs)
        fixed = prepare_fixed(loss._p_cache.dist, "kl", inputs["x"])
        forms.add("index" if fixed.index is not None else "dense" if fixed.dense is not None else "other")
    assert forms == {"index", "dense"}


@pytest.mark.parametrize("same", [True, False], ids=["a-with-itself", "a-and-b"])
def test_squared_distance_gradient(same):
    """The custom backward of |a_i - b_j|^2 against gradcheck and against autograd through the
    expansion it replaces."""
    from icon_registry.backends.torch_backend import _plain_sqdist, _SquaredDistance

    g = torch.Generator().manual_seed(3)
    a = torch.randn(9, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = a if same else torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    inputs = (a,) if same else (a, b)
    assert torch.autograd.gradcheck(lambda *t: _SquaredDistance.apply(t[0], t[-1]), inputs)
    weights = torch.randn(9, b.shape[0], generator=g, dtype=torch.float64)
    ours = torch.autograd.grad((_SquaredDistance.apply(a, b) * weights).sum(), inputs)
    plain = torch.autograd.grad((_plain_sqdist(a, b) * weights).sum(), inputs)
    for mine, theirs in zip(ours, plain):
        assert torch.allclose(mine, theirs, rtol=1e-12, atol=1e-12)
    assert torch.equal(B.sqdist(a.detach(), b.detach()), _plain_sqdist(a.detach(), b.detach()))


def _equal_pairs_by_loop(values):
    values = values.tolist()
    found = [(i, j) for i in range(len(values)) for j in range(len(values)) if i != j and values[i] == values[j]]
    return [i for i, _ in found], [j for _, j in found]


@pytest.mark.parametrize(
    "values",
    [
        torch.tensor([5, -3, 5, 7, -3, 5]),
        torch.tensor([1, 1]),
        torch.tensor([0, 1, 2, 3]),  # every value once: no pair
        torch.zeros(6, dtype=torch.long),  # one class: every pair but the diagonal
        torch.tensor([2**40, 7, 2**40, -(2**40), 7]),  # values far outside any label range
        torch.randint(0, 7, (300,), generator=torch.Generator().manual_seed(0)),
    ],
)
def test_equal_value_pairs_are_the_mask_pairs_in_row_major_order(values, monkeypatch):
    monkeypatch.setattr(torch_backend, "_SORTED_PAIRS_FROM", 0)  # sort at every size
    rows, cols = B.equal_value_pairs(values)
    assert (rows.tolist(), cols.tolist()) == _equal_pairs_by_loop(values)
    mask = (values[:, None] == values[None, :]) & ~torch.eye(len(values), dtype=torch.bool)
    nonzero = mask.nonzero(as_tuple=True)
    assert torch.equal(rows, nonzero[0]) and torch.equal(cols, nonzero[1])


def test_a_small_batch_is_left_to_the_mask():
    assert B.equal_value_pairs(torch.zeros(256, dtype=torch.long)) is None
    assert B.equal_value_pairs(torch.zeros(363, dtype=torch.long)) is not None


def test_equal_value_pairs_are_left_to_the_mask_under_torch_compile(monkeypatch):
    monkeypatch.setattr(torch_backend, "_SORTED_PAIRS_FROM", 0)
    @torch.compile(backend="eager", fullgraph=True)
    def found(values):
        return B.equal_value_pairs(values) is None

    assert found(torch.tensor([1, 1, 2]))


@pytest.mark.parametrize("n", [2, 5, 8, 9, 300])
def test_traced_eye_masks_are_the_eye(n, monkeypatch):
    """Inside torch.compile on the CPU the eye and 'others' masks are built from a positions tensor
    (vectorizable, ``_traced_positions``); for more rows than it holds (here 8), from torch.eye.
    Either way they are the eye and its complement."""
    monkeypatch.setattr(torch_backend, "_POSITIONS", torch.arange(8))
    like = torch.zeros(1)

    @torch.compile(backend="eager", fullgraph=True)
    def masks(like):
        return B.eye_mask(n, like), B.others_mask(n, like), torch_backend._traced_positions(n, like) is None

    eye, others, from_torch_eye = masks(like)
    assert torch.equal(eye, torch.eye(n, dtype=torch.bool)) and torch.equal(others, ~eye)
    assert from_torch_eye == (n > 8)
    assert torch_backend._traced_positions(n, like) is None  # eager masks are cached instead


@pytest.mark.parametrize("axis", [1, None])
def test_dense_p_ignores_infinite_logits_off_its_mass_and_keeps_a_nan_on_it(axis):
    """sum_j p_ij logits_ij over a dense fixed p: a +-inf logit where p_ij = 0 (inside q's mask or
    outside it) is a pair without mass and adds nothing (not 0 * inf = NaN); a NaN logit where p
    has mass stays NaN. Against the sum over p's pairs alone, written out in float64."""
    from icon_registry.distributions.base import Softmax
    from icon_registry.objective import FixedP

    g = torch.Generator().manual_seed(6)
    n = 6
    logits = torch.randn(n, n, generator=g, dtype=torch.float64)
    mask = ~torch.eye(n, dtype=torch.bool)
    dense = torch.rand(n, n, generator=g, dtype=torch.float64) * (torch.rand(n, n, generator=g) < 0.6)
    dense = dense * mask
    dense[:, 0] = 0.0
    dense[1:, 5] = 0.0
    dense[0, 5] = 0.5
    logits[:, 0] = -math.inf  # in q's mask (rows 1..5), no mass anywhere
    logits.diagonal().fill_(math.inf)  # off q's mask, no mass
    mass = dense.sum(1)
    softmax = Softmax(axis, diagonal=0, nonempty=True)
    values = torch_backend.softmax_cross_entropy(logits, mask, softmax, FixedP(mass=mass, dense=dense))

    masked = logits.masked_fill(~mask, -math.inf)
    lse = torch.logsumexp(masked, 1) if axis == 1 else torch.logsumexp(masked.reshape(-1), 0).expand(n)
    on_pairs = torch.where(dense > 0, dense * logits, 0.0).sum(1)
    assert torch.isfinite(values).all()
    torch.testing.assert_close(values, mass * lse - on_pairs, rtol=1e-12, atol=1e-12)

    logits[0, 5] = math.nan  # on p's mass
    values = torch_backend.softmax_cross_entropy(logits, mask, softmax, FixedP(mass=mass, dense=dense))
    assert torch.isnan(values[0])


def _reference_pool_logsumexp(a, mask, labels, classes):
    """log sum_{j: mask_ij, y_j = c} exp(a_ij) by loops over float64 scalars, each sum shifted by
    its own largest term; None where (i, c) has no term."""
    out = []
    for i in range(a.shape[0]):
        row = []
        for c in range(classes):
            terms = [a[i, j].double() for j in range(a.shape[1]) if mask[i, j] and int(labels[j]) == c]
            if terms:
                top = max(float(t.detach()) for t in terms)
                row.append(top + torch.log(sum(torch.exp(t - top) for t in terms)))
            else:
                row.append(None)
        out.append(row)
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pool_logsumexp_is_exact_for_a_class_far_below_the_row_maximum(dtype):
    """Classes whose every term sits 900 to 2,000 below the row's largest entry (past float64's
    e^-745, let alone float32's e^-103) keep their log-sum, and its gradient, as the float64
    reference; one shift per row would return the placeholder 0 for them. Column 4 is in no class
    (label -1) and, though the largest entry of row 0, must not shift class 0."""
    a = torch.tensor([[0.0, -900.0, 2.0, -1000.0, 5.0],
                      [3.0, 0.0, -2000.0, -2001.0, 2.0],
                      [1.0, 2.0, 0.0, 3.0, 4.0]], dtype=dtype, requires_grad=True)
    mask = torch.tensor([[0, 1, 1, 1, 1], [1, 0, 1, 1, 0], [1, 1, 0, 0, 0]], dtype=torch.bool)
    labels = torch.tensor([0, 0, 1, 1, -1])
    groups = labels[:, None] == torch.arange(3)[None, :]
    out = B.pool_logsumexp(a, mask, groups)
    want = _reference_pool_logsumexp(a.detach(), mask, labels, 3)
    weights = torch.arange(1.0, 10.0, dtype=torch.float64).reshape(3, 3)
    present = torch.tensor([[w is not None for w in row] for row in want])
    (out.double() * weights * present).sum().backward()
    a64 = a.detach().double().requires_grad_(True)
    want = _reference_pool_logsumexp(a64, mask, labels, 3)
    sum(weights[i, c] * v for i, row in enumerate(want) for c, v in enumerate(row) if v is not None).backward()
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    for i, row in enumerate(want):
        for c, v in enumerate(row):
            # an empty (row, class) is the documented placeholder 0
            expected = 0.0 if v is None else float(v.detach())
            assert abs(float(out.detach()[i, c]) - expected) <= tol * max(1.0, abs(expected)), (i, c)
    assert torch.allclose(a.grad.double(), a64.grad, rtol=tol, atol=tol)
    assert torch.autograd.gradcheck(lambda x: B.pool_logsumexp(x, mask, groups), (a64.detach().requires_grad_(True),))


def _masks():
    g = torch.Generator().manual_seed(4)
    dense = torch.rand(37, 53, generator=g) > 0.7
    dense[5] = False  # an empty row
    dense[:, 7] = False
    return {
        "dense": dense,
        "transposed": dense.T,  # not contiguous
        "expanded": torch.ones((), dtype=torch.bool).expand(6, 9),  # one element, strides 0 (a full support)
        "sliced": dense[::3, 1::2],
        "empty rows": torch.zeros(4, 0, dtype=torch.bool),
        "no rows": torch.zeros(0, 5, dtype=torch.bool),
        "one dimension": dense[:, 3],
    }


@pytest.mark.parametrize("name", list(_masks()))
def test_mask_reductions_through_their_bytes_equal_torchs_own(name):
    """mask_as, mask_count and mask_any read a bool mask through a uint8 view of its bytes (torch's
    bool kernels are several times slower on the CPU): the same values as the plain ops, on any
    strides, for empty masks too, and the plain ops themselves under torch.compile."""
    mask = _masks()[name]
    for compiling in (False, True):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(torch_backend, "compiling", lambda: compiling)
            for dtype in (torch.float32, torch.float64, torch.uint8):
                cast = torch_backend.mask_as(mask, dtype)
                assert cast.dtype == dtype and torch.equal(cast, mask.to(dtype))
            assert torch.equal(torch_backend.mask_count(mask), mask.sum())
            assert torch.equal(torch_backend.mask_any(mask), mask.any())
            for dim in range(mask.dim()):
                counts = torch_backend.mask_count(mask, dim, keepdim=True)
                assert counts.dtype == torch.int64 and torch.equal(counts, mask.sum(dim, keepdim=True))
                assert torch.equal(torch_backend.mask_any(mask, dim), mask.any(dim))


def _integer_pairs():
    g = torch.Generator().manual_seed(5)
    labels = torch.randint(0, 100, (37,), generator=g)
    return {
        "labels against themselves": (labels, labels),
        "a block's rows against the batch": (labels[5:20], labels),
        "a span of exactly 255": (torch.tensor([-300, -45, -300, -46]), torch.tensor([-45, -300, -100])),
        "a span of 256 (compared as they are)": (torch.tensor([0, 256, 7]), torch.tensor([256, 0, 0, 7])),
        "int8 around zero": (torch.tensor([-128, 127, 0], dtype=torch.int8),
                             torch.tensor([127, -128], dtype=torch.int8)),
        "uint8 against int64 columns": (torch.tensor([3, 255, 0], dtype=torch.uint8), torch.arange(4)),
        "int64 values beyond int32": (torch.tensor([2**40, 2**40 + 3]), torch.tensor([2**40 + 3, 2**40, 2**40 + 200])),
        "a span beyond int32 (compared as they are)": (torch.tensor([2**40, 5]), torch.tensor([5, 2**40])),
        "int16 against int32": (torch.tensor([-5, 9], dtype=torch.int16), torch.tensor([9, -5, -5], dtype=torch.int32)),
        "no anchors": (torch.tensor([], dtype=torch.int64), labels),
        "floats (compared as they are)": (torch.tensor([0.5, 1.0]), torch.tensor([1.0, 0.5, 0.25])),
    }


@pytest.mark.parametrize("name", list(_integer_pairs()))
def test_equal_outer_compares_as_bytes_where_the_values_span_a_byte_and_equals_torchs_compare(name):
    """equal_outer(a, b) is a[:, None] == b[None, :]: on the CPU it compares shifted bytes when
    the values span at most 255, exactly for every integer dtype, and the plain compare otherwise
    and under torch.compile."""
    a, b = _integer_pairs()[name]
    for compiling in (False, True):
        byte_compares = []
        plain_eq = torch.eq

        def eq(x, y, **out):
            byte_compares.append(x.dtype == y.dtype == torch.uint8)
            return plain_eq(x, y, **out)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(torch_backend, "compiling", lambda: compiling)
            patch.setattr(torch, "eq", eq)
            mask = torch_backend.equal_outer(a, b)
        assert mask.dtype == torch.bool and mask.shape == (a.shape[0], b.shape[0])
        assert torch.equal(mask, a[:, None] == b[None, :])
        assert byte_compares == ([True] if not compiling and "as they are" not in name and a.numel() > 0 else [])


@pytest.mark.parametrize("rows, columns", [(1023, 10), (1024, 2), (1024, 10), (4096, 16), (4096, 17), (256, 10)])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_one_hot_cross_entropy_is_torchs_and_class_major_where_it_is_faster(rows, columns, reduction, dtype,
                                                                            monkeypatch):
    """Values, gradients and second derivatives equal F.cross_entropy's; few columns from 1,024 rows
    take the class-major path (torch's own function is not called there)."""
    g = torch.Generator().manual_seed(rows + columns)
    scores = (3.0 * torch.randn(rows, columns, generator=g, dtype=dtype)).requires_grad_(True)
    target = torch.randint(0, columns, (rows,), generator=g)
    expected = torch.nn.functional.cross_entropy(scores, target, reduction=reduction)
    (expected_grad,) = torch.autograd.grad(expected.sum(), scores, create_graph=True)

    calls = []
    original = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", lambda *a, **k: calls.append(1) or original(*a, **k))
    found = torch_backend.one_hot_cross_entropy(scores, target, reduction)
    monkeypatch.undo()
    assert bool(calls) == (columns > 16 or rows < 1024)

    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    assert torch.allclose(found, expected, rtol=rtol, atol=rtol)
    (grad,) = torch.autograd.grad(found.sum(), scores, create_graph=True)
    assert torch.allclose(grad, expected_grad, rtol=rtol, atol=rtol)
    direction = torch.randn(rows, columns, generator=g, dtype=dtype)
    (second,) = torch.autograd.grad((grad * direction).sum(), scores)
    (expected_second,) = torch.autograd.grad((expected_grad * direction).sum(), scores)
    assert torch.allclose(second, expected_second, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("rows, columns", [(1023, 10), (1024, 10), (4096, 16), (4096, 17), (8, 3)])
def test_dot_products_are_made_class_major_exactly_where_the_cross_entropy_reads_them_so(rows, columns):
    """a @ b.T in value and gradient; for few columns from many rows the product is the transpose of
    a class-major one, which one_hot_cross_entropy then reads without a copy."""
    g = torch.Generator().manual_seed(rows + columns)
    a = torch.randn(rows, 8, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(columns, 8, generator=g, dtype=torch.float64, requires_grad=True)
    found = B.dot_products(a, b)
    expected = a @ b.T
    assert found.T.is_contiguous() == torch_backend.class_major(rows, columns, a) == (columns <= 16 and rows >= 1024)
    assert torch.allclose(found, expected, rtol=1e-12, atol=1e-12)
    weights = torch.randn(rows, columns, generator=g, dtype=torch.float64)
    for got, want in zip(torch.autograd.grad((found * weights).sum(), (a, b)),
                         torch.autograd.grad((expected * weights).sum(), (a, b))):
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rows", [1023, 4096])
def test_the_cross_entropy_entry_equals_torchs_on_either_side_of_the_class_major_threshold(rows):
    """compile_loss('cross_entropy') against F.cross_entropy on the same logits z W^T: values and
    the gradients of z and W (the class-major product and cross entropy from 1,024 rows)."""
    from icon_registry.compiler import compile_loss

    g = torch.Generator().manual_seed(rows)
    loss = compile_loss("cross_entropy", num_classes=10, dim=16).double()
    z = torch.randn(rows, 16, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 10, (rows,), generator=g)
    found = loss(z, labels=labels)
    found_grads = torch.autograd.grad(found, (z, loss.prototypes))
    expected = torch.nn.functional.cross_entropy(z @ loss.prototypes.T, labels)
    expected_grads = torch.autograd.grad(expected, (z, loss.prototypes))
    assert torch.allclose(found, expected, rtol=1e-12)
    for got, want in zip(found_grads, expected_grads):
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-14)


def test_plain_squared_distances_keep_their_second_derivative_at_duplicate_rows():
    """Rounding takes the expansion |a|^2 + |b|^2 - 2ab of two equal rows slightly below 0; the
    clamp's zero Hessian there made second-order losses (second_order=True) 20% off at duplicates."""
    from icon_registry.backends.torch_backend import _expanded_sqdist, _plain_sqdist

    a = 3 * torch.randn(6, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    a[3] = a[1]
    assert _expanded_sqdist(a, a)[1, 3] < 0  # the case: rounded below 0
    w = torch.rand(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    hessian = torch.autograd.functional.hessian(lambda v: (w * _plain_sqdist(v, v)).sum(), a)
    exact = torch.autograd.functional.hessian(lambda v: (w * ((v[:, None] - v[None]) ** 2).sum(-1)).sum(), a)
    torch.testing.assert_close(hessian, exact, rtol=0, atol=1e-12)
    assert _plain_sqdist(a, a).min() == 0


def _loop_sqdist(a, b):
    """|a_i - b_j|^2 by loops over float64 differences (no expansion, nothing cancels)."""
    a, b = a.double().tolist(), b.double().tolist()
    return torch.tensor([[sum((u - v) ** 2 for u, v in zip(row, col)) for col in b] for row in a], dtype=torch.float64)


@pytest.mark.parametrize("plain", [False, True], ids=["fused", "plain"])
@pytest.mark.parametrize("same", [True, False], ids=["a-with-itself", "a-and-b"])
def test_squared_distances_of_rows_far_from_the_origin(same, plain):
    """float32 rows near 1000 with a spread of 0.3: |a|^2 ~ 5e6 cancels in the expansion
    |a|^2 + |b|^2 - 2 a.b down to float32's spacing there (0.5), larger than the distances
    (~0.2). Distances and gradients must keep float32's relative precision."""
    g = torch.Generator().manual_seed(5)
    a = 1000.0 + 0.3 * torch.randn(10, 5, generator=g, dtype=torch.float64)
    b = a if same else 1000.0 + 0.3 * torch.randn(7, 5, generator=g, dtype=torch.float64)
    weights = torch.rand(10, b.shape[0], generator=g, dtype=torch.float64)
    a32 = a.float().requires_grad_(True)
    b32 = a32 if same else b.float().requires_grad_(True)
    # the references are taken at the float32 inputs, so that only the computation's rounding counts
    want = _loop_sqdist(a32.detach(), b32.detach())
    with torch_backend.plain_ops_only() if plain else contextlib.nullcontext():
        found = B.sqdist(a32, b32)
    assert torch.allclose(found.double(), want, rtol=1e-4, atol=1e-4 * float(want.mean()))
    (found * weights.float()).sum().backward()
    a_ref = a32.detach().double()
    b_ref = a_ref if same else b32.detach().double()
    # d/da_i sum_j w_ij |a_i - b_j|^2 = 2 sum_j w_ij (a_i - b_j), and for b_j: -2 sum_i w_ij (a_i - b_j)
    diff = a_ref[:, None, :] - b_ref[None, :, :]
    grad_a = 2 * (weights[:, :, None] * diff).sum(1)
    grad_b = -2 * (weights[:, :, None] * diff).sum(0)
    expected = [grad_a + grad_b] if same else [grad_a, grad_b]
    for found_grad, want_grad in zip([a32.grad] if same else [a32.grad, b32.grad], expected):
        assert torch.allclose(found_grad.double(), want_grad, rtol=1e-3, atol=1e-3 * float(want_grad.abs().max()))


@pytest.mark.parametrize("plain", [False, True], ids=["fused", "plain"])
@pytest.mark.parametrize("offset", [0, 3])
def test_a_row_with_itself_is_at_distance_exactly_zero(offset, plain):
    """Rows of norm ~2e3 in float32: the expansion leaves a row's distance to itself at +-2 (a
    Student-t weight of 1/3 where it is 1). ``diagonal`` = o: the rows of a are b's rows o, o + 1, ...
    (a block of anchors against the whole batch); those pairs are 0, and so is their gradient."""
    g = torch.Generator().manual_seed(6)
    b = (1e3 * torch.randn(9, 5, generator=g)).requires_grad_(True)
    a = b if offset == 0 else b[offset:offset + 4]
    with torch_backend.plain_ops_only() if plain else contextlib.nullcontext():
        found = B.sqdist(a, b, diagonal=offset)
    assert torch.equal(found.diagonal(offset), torch.zeros(a.shape[0]))
    want = _loop_sqdist(a.detach(), b.detach())
    assert torch.allclose(found.double(), want, rtol=1e-5)
    weights = torch.zeros_like(found)
    weights.diagonal(offset).fill_(1.0)
    (found * weights).sum().backward()
    assert torch.equal(b.grad, torch.zeros_like(b))
