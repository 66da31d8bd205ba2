"""Torch primitives: log-space, masked, device- and dtype-agnostic."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math

import torch

from icon_registry.backends import cauchy_grid
from icon_registry.errors import IconError
from icon_registry.neighbors import knn

#: The floating dtype of the evaluation in progress (set by ``TorchBackend.float_dtype``):
#: counts of mask entries are made in it, so that log|S(i)| and 1/|S(i)| keep float64
#: precision for float64 inputs instead of torch's default float32 for integer tensors.
_FLOAT_DTYPE: contextvars.ContextVar = contextvars.ContextVar("icon_float_dtype", default=None)
#: Set while a chunked evaluation re-runs a block for its gradient (``gradients_only``): the
#: block's values are known already, so terminal nodes skip computing them.
_GRADIENTS_ONLY: contextvars.ContextVar = contextvars.ContextVar("icon_gradients_only", default=False)
_HALF = (torch.float16, torch.bfloat16)
#: Pairs in the batch from which ``equal_value_pairs`` sorts instead of comparing n x n (measured on
#: 2 CPU threads, 100 classes: 109 vs 115 us at n = 256, 129 vs 199 us at n = 384; at n = 256 the
#: sort made SupCon's whole step 5% slower).
_SORTED_PAIRS_FROM = 1 << 17
#: ``_FLOAT_DTYPE`` inside torch.compile's trace, where a ContextVar is opaque to Dynamo: a plain
#: module global, which Dynamo reads (and guards on) like a constant.
_traced_float_dtype = None


def compiling() -> bool:
    """Inside torch.compile's tracing: plain differentiable ops, which the compiler fuses, instead
    of the custom autograd Functions that win in eager mode."""
    return torch.compiler.is_compiling()


#: Bool masks pass through a uint8 view of their bytes for casts and reductions on the CPU, where
#: torch's bool kernels are not vectorized (measured, one thread, 4096 x 4096: any over rows 15.6 ms
#: against 0.6 ms for the bytes' amax, row counts 59 against 29 ms summed into int32; 256 x 256: a
#: cast to float32 38 against 7.7 us). Under torch.compile the plain ops, which the compiler fuses.


def mask_as(mask, dtype):
    """A bool mask as 0 / 1 in ``dtype``."""
    return mask.to(dtype) if compiling() else mask.view(torch.uint8).to(dtype)


def mask_count(mask, dim=None, keepdim: bool = False):
    """The True entries of a bool mask (int64), along ``dim`` or in all."""
    if compiling():
        return mask.sum(dim=dim, keepdim=keepdim)
    # a row's count fits int32, whose accumulation is twice as fast; the whole mask's need not
    total = torch.int32 if dim is not None and mask.shape[dim] < 2**31 else torch.int64
    counts = mask.view(torch.uint8).sum(dim=dim, keepdim=keepdim, dtype=total)
    return counts.long()


def mask_any(mask, dim=None):
    """Whether a bool mask holds a True entry, along ``dim`` (a bool tensor) or at all (a 0-d one)."""
    if compiling() or mask.numel() == 0:  # (amax refuses to reduce an empty tensor)
        return mask.any() if dim is None else mask.any(dim)
    as_bytes = mask.view(torch.uint8)
    return (as_bytes.amax() if dim is None else as_bytes.amax(dim)) > 0


#: Two integer vectors whose values span at most this many steps are compared as bytes on the CPU,
#: where torch compares into a bool tensor element by element but uint8 into uint8 vectorized
#: (measured, one thread, labels of 100 classes, the span's check included: 256 x 256 40 against
#: 16 us, 1024 x 1024 650 against 37 us, 4096 x 4096 9.8 against 0.44 ms). Wider spans compare as
#: they are.
_BYTE_SPAN = 255
_INTEGER_DTYPES = frozenset((torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64))


def equal_outer(a, b):
    """The (len(a), len(b)) bool mask of a[i] == b[j], for two vectors."""
    if (compiling() or a.device.type != "cpu" or a.dtype not in _INTEGER_DTYPES or b.dtype not in _INTEGER_DTYPES
            or a.numel() == 0 or b.numel() == 0):
        return a[:, None] == b[None, :]
    # in int64, which holds every value of the others: no wrap-around in the shift
    wide_a, wide_b = a.long(), b.long()
    low, high = (int(v) for v in torch.aminmax(wide_a if b is a else torch.cat((wide_a, wide_b))))
    if high - low > _BYTE_SPAN:
        return a[:, None] == b[None, :]
    as_bytes = (wide_a - low).to(torch.uint8)
    other = as_bytes if b is a else (wide_b - low).to(torch.uint8)
    out = torch.empty(a.shape[0], b.shape[0], dtype=torch.uint8, device=a.device)
    return torch.eq(as_bytes[:, None], other[None, :], out=out).view(torch.bool)


def gradients_only_active() -> bool:
    return not compiling() and _GRADIENTS_ONLY.get()


#: Set while a loss compiled with ``second_order=True`` evaluates: plain differentiable torch ops
#: instead of the fused autograd Functions, whose backward is not itself differentiable.
_PLAIN_OPS: contextvars.ContextVar = contextvars.ContextVar("icon_plain_ops", default=False)


def plain_ops() -> bool:
    """Evaluate with plain torch ops: inside torch.compile's trace (the compiler fuses them) and for
    a loss that must have a second derivative (``second_order=True``)."""
    return compiling() or _PLAIN_OPS.get()


def plain_ops_only():
    """Evaluate with plain torch ops (``plain_ops``) inside this block (a context manager)."""
    return _switched_on(_PLAIN_OPS)


def no_second_derivative(what: str):
    """Called first in a fused Function's backward: with create_graph=True (grad mode on in the
    backward) autograd would differentiate a gradient that holds no graph, and the second
    derivative would silently lose that part. A clear error instead."""
    if torch.is_grad_enabled():
        raise IconError(f"{what} has no second derivative (backward with create_graph=True): compile the loss "
                        "with second_order=True, which evaluates it with plain torch ops that have one",
                        argument="second_order")


def gradients_only():
    """Evaluate for the gradient alone (a context manager): the fused cross entropy returns zeros as
    its value (its output is terminal, so the gradient does not depend on it) and keeps only what
    its backward needs (the masked logits), skipping the normalizer and the dot product."""
    return _switched_on(_GRADIENTS_ONLY)


@contextlib.contextmanager
def _switched_on(flag: contextvars.ContextVar):
    """``flag`` True inside the block, back to what it was after."""
    token = flag.set(True)
    try:
        yield
    finally:
        flag.reset(token)


class TorchBackend:
    name = "torch"
    symbolic = False

    no_grad = staticmethod(torch.no_grad)
    log = staticmethod(torch.log)
    exp = staticmethod(torch.exp)
    log1p = staticmethod(torch.log1p)
    sqrt = staticmethod(torch.sqrt)

    @staticmethod
    def sum(a, axis=None, keepdims=False):
        if axis is None:
            return a.sum()
        return a.sum(dim=axis, keepdim=keepdims)

    @staticmethod
    def where(mask, a, fill):
        # masked_fill keeps the gradient of unmasked entries and never propagates NaN from
        # masked ones, unlike multiplying by the mask.
        return a.masked_fill(~mask, fill)

    @staticmethod
    def plogp(prob, log_prob, mask):
        """prob * log_prob on ``mask``, with 0 log 0 = 0: a probability that underflowed to 0
        next to a log-probability of -inf adds nothing (and no NaN to the gradient)."""
        return prob * log_prob.masked_fill(~mask | (prob == 0), 0.0)

    @staticmethod
    def masked_logsumexp(a, mask, axis, diagonal=None):
        # An empty row has logsumexp -inf; it only multiplies zero probability mass, and a
        # finite placeholder (0) keeps 0 * (-inf) = NaN out of the result and its gradient.
        if plain_ops():
            return _plain_masked_logsumexp(a, mask, axis, diagonal)
        return _MaskedLogSumExp.apply(a, mask, axis, diagonal)

    @staticmethod
    def concrete(value, fallback, why):
        """A parameter that shapes a support (k nearest): its value. (The abstract backend, whose
        parameters are symbols, uses ``fallback`` and states ``why`` as an assumption.)"""
        return value

    @staticmethod
    def deferred(compute):
        """``compute`` as a zero-argument callable run on first use, in the grad mode and
        evaluation dtype of now (``Dist.log_norm``: a fused objective never needs it)."""
        if compiling():  # Dynamo keeps the grad mode itself; the trace never needs the deferral
            return compute
        grad, dtype = torch.is_grad_enabled(), _FLOAT_DTYPE.get()

        def run():
            with torch.set_grad_enabled(grad), TorchBackend.float_dtype(dtype):
                return compute()

        return run

    @staticmethod
    def log_softmax(a, axis):
        return torch.log_softmax(a, dim=axis)

    @staticmethod
    def logsumexp(a, axis):
        return torch.logsumexp(a, dim=axis, keepdim=True)

    @staticmethod
    def log_add_exp(a, b, divide_by=1):
        """log((exp(a) + exp(b)) / divide_by), finite where a or b is."""
        return torch.logaddexp(a, b) - math.log(divide_by)

    @staticmethod
    def log_matmul_exp(a, b):
        """out_ij = log sum_k exp(a_ik + b_kj), finite (with finite gradients) for finite a, b.

        Fast path: one matmul of exp(a - max_k a_ik) and exp(b - max_k b_kj). Its product for
        (i, j) is exp(out_ij - rowmax_i - colmax_j), which underflows when i's and j's largest
        terms sit at different k (confident cluster assignments: log phi of -100 or -1e4). Where
        it falls below the square root of the dtype's smallest normal number, its dominant term
        may have underflowed: a float32 / half product is formed again in float64 (a range of
        e^-354 instead of e^-43, one more matmul), and what is still below float64's bound is
        computed exactly, a logsumexp over k per entry (``_LogMatmulExpAt``: blocks of entries,
        memory bounded however many there are). Above that bound the terms lost to underflow
        weigh less than k * sqrt(tiny) of the product (1e-19 in float32).
        """
        out, low = _shifted_log_matmul_exp(a, b)
        if low is None:
            return out
        if out.dtype != torch.float64:
            wide, wide_low = _shifted_log_matmul_exp(a.double(), b.double())
            out = torch.where(low, wide.to(out.dtype), out)
            if wide_low is None:
                return out
            low = wide_low & low
        rows, cols = low.nonzero(as_tuple=True)
        # second_order=True: differentiable twice, holding entries x k for its backward (not plain_ops():
        # under torch.compile the bounded blocks below run eagerly, as before)
        if _PLAIN_OPS.get():
            return out.index_put((rows, cols), torch.logsumexp(a[rows] + b.T[cols], 1))
        return out.index_put((rows, cols), _log_matmul_exp_at(a, b, rows, cols))

    @staticmethod
    def pool_logsumexp(a, mask, groups):
        """log sum_j mask_ij exp(a_ij) groups_jc: (rows, C) for (n, C) groups in which each column j
        is in at most one group (the one-hot classes of ``class_members``); 0 where a group has no
        masked entry (a placeholder: such pairs are outside the pooled mask).

        Each (row, group) is shifted by its own maximum, so its largest term is exp(0) = 1 and the
        sum is exact. One maximum per row would lose a whole group (exps all 0, the placeholder 0
        in place of a large negative log-weight) once its members sit more than ~103 (float32) or
        ~745 (float64) below the row's largest entry: a far classmate in NCA.
        """
        rows = a.shape[0]
        # Columns in no group (a negative label) add nothing to any sum; masking them keeps them
        # out of the maximum of group 0, where argmax of their all-False row would put them.
        masked = a.masked_fill(~(mask & mask_any(groups, 1)), -math.inf)
        group = mask_as(groups, torch.uint8).argmax(dim=1).expand(rows, -1)
        # The shift cancels in the value; detached, it adds nothing to the gradient either.
        top = torch.full((rows, groups.shape[1]), -math.inf, dtype=a.dtype, device=a.device)
        top = top.scatter_reduce(1, group, masked.detach(), "amax")
        top = top.masked_fill(~torch.isfinite(top), 0.0)
        total = torch.exp(masked - top.gather(1, group)) @ mask_as(groups, a.dtype)
        found = total != 0  # a NaN sum (a NaN in z) is no empty group: it must reach the loss, not read as 0
        return torch.log(total.masked_fill(~found, 1.0)) + top * found

    @staticmethod
    def normalize_rows(a):
        return torch.nn.functional.normalize(a, dim=-1)

    @staticmethod
    def dot_products(a, b):
        """(n, m) = a @ b.T; class-major (b @ a.T, seen transposed) where the cross entropy over
        these columns runs class-major (``class_major``), which then reads them without a copy."""
        if class_major(a.shape[0], b.shape[0], a):
            return (b @ a.T).T
        return a @ b.T

    @staticmethod
    def sqdist(a, b, diagonal=None):
        """|a_i - b_j|^2. ``diagonal``: the offset o when the rows of ``a`` are b's rows o, o + 1, ...
        (the batch with itself, or a block of its anchors): the pairs (r, r + o) of a row with itself
        are set to exactly 0, which the expansion misses by rounding (2.0 instead of 0 for float32
        rows of norm 1e3: a Student-t weight of 1/3 instead of 1 on the anchor itself)."""
        if plain_ops() or a.dim() != 2:  # plain ops: the compiler fuses them
            return _plain_sqdist(a, b, diagonal)
        return _SquaredDistance.apply(a, b, diagonal)

    @staticmethod
    def indicator(mask, like):
        """1 where the mask holds, 0 elsewhere, as numbers."""
        return mask.to(like.dtype)

    @staticmethod
    def output_scores(vectors):
        """The entries of the (rows, K) vectors as scores over K outputs (the abstract backend names them)."""
        return vectors

    @staticmethod
    def concat_columns(a, b):
        return torch.cat([a, b], dim=1)

    @staticmethod
    def clamp_min(a, value):
        return a.clamp_min(value)

    @staticmethod
    def log_sqdist(d2):
        """log of squared distances floored at sqrt(tiny) of the dtype (1e-19 in float32): a point
        ON another (z on its prototype) gets the largest finite logit, not log 0 = -inf, and the
        gradient 1 / d2 stays finite."""
        return torch.log(d2.clamp_min(math.sqrt(torch.finfo(d2.dtype).tiny)))

    @staticmethod
    def bool_matmul(a, b):
        return (mask_as(a, torch.float32) @ mask_as(b, torch.float32)) > 0

    @staticmethod
    def arange(m, like):
        return torch.arange(m, device=like.device)

    @staticmethod
    def equal_outer(a, b):
        return equal_outer(a, b)

    @staticmethod
    def value_range(values):
        """(lowest, highest) of an integer vector, as ints ((0, -1) when empty); None under
        torch.compile, where reading them would be a data-dependent graph break."""
        if compiling():
            return None
        if values.numel() == 0:
            return 0, -1
        return tuple(int(v) for v in torch.aminmax(values))

    @staticmethod
    def equal_value_pairs(values):
        """(rows, cols) of the pairs i != j with values[i] == values[j], in row-major order (as
        ``nonzero`` of that mask gives them), from one sort: O(n log n + pairs) instead of n x n.
        Each class's members sit together in sorted order; item i pairs with the other members
        of its class, in increasing index. None under torch.compile, and for a small batch, where
        one n x n compare costs less than the sort's twenty small operations."""
        n = values.shape[0]
        if compiling() or n * n < _SORTED_PAIRS_FROM:
            return None
        sorted_values, order = torch.sort(values, stable=True)
        _, class_of_sorted, sizes = torch.unique_consecutive(sorted_values, return_inverse=True, return_counts=True)
        starts = torch.cumsum(sizes, 0) - sizes
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n, device=values.device)  # each item's position in sorted order
        start = starts[class_of_sorted[rank]]  # where each item's class begins in sorted order
        others = sizes[class_of_sorted[rank]] - 1
        total = int(others.sum())
        rows = torch.repeat_interleave(others, output_size=total)
        # the k-th pair of row i is its class's k-th member, skipping i itself
        offset = torch.arange(total, device=values.device) - (torch.cumsum(others, 0) - others)[rows]
        offset += offset >= (rank - start)[rows]
        return rows, order[start[rows] + offset]

    @staticmethod
    def eye_mask(n, like):
        positions = _traced_positions(n, like)
        if positions is not None:
            return positions[:, None] == positions[None, :]
        return torch.eye(n, dtype=torch.bool, device=like.device)

    @staticmethod
    def others_mask(n, like):
        """Every pair but (i, i): a mask shared by every batch of n on this device (masks are never
        written to), so that 'others' costs no pass per call."""
        if compiling():
            positions = _traced_positions(n, like)
            if positions is not None:
                return positions[:, None] != positions[None, :]
            return ~torch.eye(n, dtype=torch.bool, device=like.device)
        return _others(n, like.device)

    @staticmethod
    def full_mask(shape, like):
        if compiling():
            return torch.ones(shape, dtype=torch.bool, device=like.device)
        return _all_true(tuple(shape), like.device)

    @staticmethod
    def float_dtype(dtype):
        """Evaluate with counts (and other dtype-less quantities) in ``dtype`` (a context manager)."""
        return _traced_float_dtype_context(dtype) if compiling() else _FloatDtype(dtype)

    @staticmethod
    def count(mask, axis):
        # Exact for counts below 2^24 (float32) or 2^53 (float64).
        # Outside an evaluation context (direct Distribution.evaluate calls) counts are float64.
        dtype = _traced_float_dtype if compiling() else _FLOAT_DTYPE.get()
        return mask_count(mask, axis, keepdim=True).to(dtype or torch.float64)

    @staticmethod
    def any(mask):
        return bool(mask_any(mask))

    @staticmethod
    def as_float(a, like):
        return a.to(dtype=like.dtype)

    @staticmethod
    @torch.no_grad()
    def calibrate_log_precision(sqdist, mask, perplexity, steps=64, tolerance=None):
        """Per-row log(beta), beta = 1/(2 sigma_i^2), whose conditional Gaussian over the mask has
        entropy log(perplexity) to ``tolerance`` nats (default: scikit-learn's 1e-5 in single or
        half precision, 1e-12 in float64, where the search is exact to rounding): every row at once.

        Each row's entropy is taken in log space from the distances shifted by the row's nearest,
        H = log Z + beta E[d] with Z = sum_j exp(-beta d_j) >= 1: the n x m passes in the
        distances' dtype, every per-row quantity in float64. The search is a bracketed Newton
        iteration in log(beta) (dH/dlog(beta) = -beta^2 Var(d)): a Newton step that leaves the
        bracket or fails to halve the previous one is replaced by bisection, so it converges like
        bisection at worst, in a handful of steps at best; it stops as soon as every row is
        within ``tolerance``.
        """
        target = math.log(perplexity)
        if tolerance is None:
            tolerance = 1e-12 if sqdist.dtype == torch.float64 else 1e-5
        d = _calibration_rows(sqdist.detach(), mask)
        d = d - d.amin(1, keepdim=True)  # >= 0, 0 at the nearest candidate: no overflow, Z >= 1
        finite = torch.isfinite(d)
        d = torch.where(finite, d, 0.0)  # excluded pairs: contribute nothing (their weight below is 0)
        weight_mask = None if bool(finite.all()) else mask_as(finite, d.dtype)
        squared = d * d
        count = d.shape[1] if weight_mask is None else weight_mask.sum(1, keepdim=True).to(torch.float64).clamp_min(1)
        masked_d = d if weight_mask is None else d * weight_mask
        mean = masked_d.sum(1, keepdim=True).to(torch.float64) / count
        # A row whose candidates are all at one distance (identical points) has the uniform
        # conditional, entropy log(count), whatever beta: no search, and beta = 1, finite times
        # any finite distance (1 / mean would be inf, and inf * 0 NaN).
        flat = mean == 0
        x = torch.where(flat, 0.0, -mean.log())  # log beta: start at 1 / (mean distance to the others)
        # beta stays finite in the distances' dtype: the search may push it up to where the
        # far candidates' weights underflow (duplicates nearer than the perplexity allows), and an
        # inf beta would make the duplicates' 0 * beta NaN
        lo, hi = x - 50.0, (x + 50.0).clamp_max(math.log(torch.finfo(d.dtype).max) - 1.0)
        x = x.clamp_max(hi)
        step = hi - lo
        e = torch.empty_like(d)
        # exp below this is subnormal (float32: 1e-38), where CPUs slow down by orders of
        # magnitude; such terms are below 1e-30 of Z >= 1 anyway
        floor = math.log(torch.finfo(d.dtype).tiny) + 8.0
        for _ in range(steps):
            beta = x.exp()
            torch.mul(d, -beta.to(d.dtype), out=e).clamp_(min=floor).exp_()
            if weight_mask is not None:
                e.mul_(weight_mask)
            z = e.sum(1, keepdim=True).to(torch.float64)
            first = torch.einsum("ij,ij->i", e, d)[:, None].to(torch.float64) / z  # E[d]
            second = torch.einsum("ij,ij->i", e, squared)[:, None].to(torch.float64) / z  # E[d^2]
            entropy = z.log() + beta * first
            gap = entropy - target
            done = (gap.abs() <= tolerance) | flat
            if bool(done.all()):
                break
            too_flat = gap > 0  # entropy too high: sharpen (larger beta)
            lo = torch.where(too_flat & ~done, x, lo)
            hi = torch.where(~too_flat & ~done, x, hi)
            slope = -(beta * beta) * (second - first * first)
            newton = x - gap / slope.clamp_max(-1e-300)
            # Newton only inside the bracket and while it at least halves the previous step
            # (Numerical Recipes' rtsafe); else bisection
            take = (newton > lo) & (newton < hi) & (slope < 0) & ((2 * gap).abs() <= (step * slope).abs())
            moved = torch.where(take, newton, (lo + hi) / 2)
            step = torch.where(done, step, (moved - x).abs())
            x = torch.where(done, x, moved)
        return x.to(sqdist.dtype)

    @staticmethod
    @torch.no_grad()
    def knn_mask(sqdist, candidates, k):
        d = sqdist.detach().masked_fill(~candidates, math.inf)
        idx = d.topk(k, dim=1, largest=False).indices
        mask = torch.zeros_like(candidates)
        mask.scatter_(1, idx, True)
        return mask & candidates

    @staticmethod
    def nearest_rows(vectors, k, cosine):
        """(indices (n, k), squared distances (n, k)) of each row's k nearest other rows (between the
        unit vectors with ``cosine``), found in blocks (``icon_registry.neighbors.knn``: no n x n
        matrix). The distances carry no gradient: None when the vectors need one, and under
        torch.compile, whose trace keeps the dense k-nearest mask (``knn_mask``)."""
        if compiling() or (vectors.requires_grad and torch.is_grad_enabled()):
            return None
        indices, scores = knn(vectors.detach(), k, metric="cosine" if cosine else "euclidean")
        # the search's scores are -d2, or the cosine s with d2 = 2 - 2 s between unit vectors
        return indices, (2.0 - 2.0 * scores if cosine else -scores).clamp_min_(0.0)

    @staticmethod
    def dense_from_entries(rows, cols, values, shape, fill):
        """The (n, m) matrix that holds ``values`` (a tensor, or one value) at (rows, cols) and ``fill``
        elsewhere."""
        values = torch.as_tensor(values, device=rows.device)
        return torch.full(shape, fill, dtype=values.dtype, device=rows.device).index_put_((rows, cols), values)

    @staticmethod
    def symmetrize_entries(rows, cols, log_prob, n):
        """log((p_ij + p_ji) / 2n) at every pair (i, j) where p_ij or p_ji is given, as (rows, cols,
        log P) in row-major order. ``log_prob`` holds log p_ij at distinct pairs (rows, cols); each
        pair then appears at most twice (given, and transposed), and the two are added in log space
        (two conditionals that underflow keep a finite log P, as the dense symmetrization does)."""
        key = torch.cat([rows * n + cols, cols * n + rows])
        key, order = key.sort()
        values = torch.cat([log_prob, log_prob])[order]
        first = torch.ones_like(key, dtype=torch.bool)
        first[1:] = key[1:] != key[:-1]
        joint = values[first]
        second = ~first
        group = first.cumsum(0)[second] - 1
        joint[group] = torch.logaddexp(joint[group], values[second])
        key = key[first]
        return key // n, key % n, joint - math.log(2 * n)

    @staticmethod
    def neighbor_mask(neighbors, n):
        mask = torch.zeros((neighbors.shape[0], n), dtype=torch.bool, device=neighbors.device)
        mask.scatter_(1, neighbors.long(), True)
        return mask


class _FloatDtype:
    """``TorchBackend.float_dtype`` in eager mode: a plain class, whose enter and exit cost a
    fraction of a generator-based context manager's (it is entered on every call of a loss)."""

    __slots__ = ("dtype", "token")

    def __init__(self, dtype):
        self.dtype = dtype

    def __enter__(self):
        self.token = _FLOAT_DTYPE.set(self.dtype)

    def __exit__(self, *exc):
        _FLOAT_DTYPE.reset(self.token)


@contextlib.contextmanager
def _traced_float_dtype_context(dtype):
    """``TorchBackend.float_dtype`` inside torch.compile's trace (see ``_traced_float_dtype``)."""
    global _traced_float_dtype
    previous, _traced_float_dtype = _traced_float_dtype, dtype
    try:
        yield
    finally:
        _traced_float_dtype = previous


def _calibration_rows(sqdist, mask):
    """(n, m') rows of the distances a calibration sees. When every row has the same number of
    pairs (every other item; the k nearest), just those, gathered: no masked entries to carry
    through every step. Otherwise the whole rows with +inf outside the mask."""
    counts = mask_count(mask, 1)
    width = int(counts[0]) if counts.numel() else 0
    if width and bool((counts == width).all()):
        columns = mask.nonzero(as_tuple=True)[1].view(mask.shape[0], width)
        return sqdist.gather(1, columns)
    return sqdist.masked_fill(~mask, math.inf)


@functools.lru_cache(maxsize=32)
def _all_true(shape, device):
    """A read-only all-True mask: one element expanded (writing to it is an error), shared by every
    call with this shape, so a full support costs no pass and no allocation."""
    return torch.ones((), dtype=torch.bool, device=device).expand(shape)


#: 0, 1, 2, ...: the row and column numbers of an eye inside torch.compile on the CPU (see
#: ``_traced_positions``).
_POSITIONS = torch.arange(1 << 16)


def _traced_positions(n, like):
    """Inside torch.compile on the CPU, for n <= 65,536: positions 0..n-1 read from a tensor, from
    which the compiler builds a vectorized (i != j) compare. Its own eye compares the loop indices
    themselves, converted to uint16, and inductor's C++ vectorizer gives up on that: the loops over
    n x n that read the mask (p's masked sums, forward and backward) ran scalar (SimCLR compiled,
    2 threads: 1.19x -> 0.96x of compiled hand-written NT-Xent at n = 1,024, 1.27x -> 1.07x at
    4,096). None elsewhere: eager masks are cached, and GPU code generation vectorizes the eye."""
    if not compiling() or like.device.type != "cpu" or n > _POSITIONS.shape[0]:
        return None
    return _POSITIONS[:n]


@functools.lru_cache(maxsize=8)
def _others(n, device):
    return ~torch.eye(n, dtype=torch.bool, device=device)


def _expanded_sqdist(a, b):
    sq_a = (a * a).sum(-1)
    sq_b = sq_a if a is b else (b * b).sum(-1)
    # |a|^2 + |b|^2 - 2 a.b with the product accumulated in place into the sum: one n x m
    # tensor allocated, and two passes over it fewer than a separate product, scale and add.
    # The expansion can dip below zero by rounding; a distance never does: the callers clamp.
    return (sq_a[:, None] + sq_b[None, :]).addmm_(a, b.T, alpha=-2.0)


def distance_shift(b):
    """The vector both operands of a squared distance are shifted by before its expansion
    (``_centered``): the mean of b's rows (b: (m, d)), outside the autograd graph."""
    return b.detach().mean(0) if b.shape[0] else b.new_zeros(b.shape[1:])


def _centered(a, b, shift):
    """a and b minus one vector: the distances are the same, but the expansion no longer cancels a
    common offset. Rows near 1000 with a spread of 0.3 lost their distances to float32 rounding
    (|a|^2 ~ 5e6 against distances ~ 0.2), and the losses read from them were off by 40-80%."""
    centered = a - shift
    return centered, centered if a is b else b - shift


def _zero_diagonal(d2, diagonal):
    if diagonal is not None:
        d2.diagonal(diagonal, -2, -1).zero_()
    return d2


def _plain_sqdist(a, b, diagonal=None):
    """The expansion with its value clamped at 0 and its own derivatives: rounding takes a pair of
    equal rows slightly below 0, where a clamp's zero gradient and Hessian would replace the
    distance's (2 I: second-order losses were 20% off at duplicate rows). ``_SquaredDistance``
    does the same in its backward. (A row with itself, ``diagonal``, is 0 with every derivative 0.)"""
    d2 = _expanded_sqdist(*_centered(a, b, distance_shift(b)))
    return _zero_diagonal(torch.where(d2 < 0, d2 - d2.detach(), d2), diagonal)


class _SquaredDistance(torch.autograd.Function):
    """|a_i - b_j|^2 for rows a (n, d) and b (m, d), with the gradient of the distance itself:
    for G = dL/dd2, dL/da = 2 (rowsum(G) a - G b) and dL/db = 2 (colsum(G) b - G^T a). Autograd
    through the expansion would also pass G through the clamp (two more passes over n x m) and
    multiply the n x m G by the thin b as torch's addmm backward lays it out, several times
    slower on the CPU than the thin-on-the-left products used here."""

    @staticmethod
    def forward(ctx, a, b, diagonal=None):
        same = a is b
        shift = distance_shift(b)
        out = _zero_diagonal(_expanded_sqdist(*_centered(a, b, shift)).clamp_min_(0.0), diagonal)
        ctx.same = same
        ctx.save_for_backward(a, shift) if same else ctx.save_for_backward(a, b, shift)
        return out

    @staticmethod
    def backward(ctx, g):
        # plain ops on the saved inputs: differentiable again (create_graph=True) as they are.
        # The gradient 2 sum_j G_ij (a_i - b_j) is the same for shifted rows, and exact only for them.
        if ctx.same:
            a, shift = ctx.saved_tensors
            b = a
        else:
            a, b, shift = ctx.saved_tensors
        a, b = _centered(a, b, shift)
        # [G b, rowsum G] and [G^T a, colsum G] as products with a column of ones appended: one
        # read of the n x m G each, laid out (thin on the left) as the CPU multiplies fastest
        ones_b = torch.cat([b, b.new_ones(b.shape[0], 1)], 1).T.contiguous()
        ones_a = torch.cat([a, a.new_ones(a.shape[0], 1)], 1).T.contiguous()
        g_b = (ones_b @ g.T).T
        g_t_a = (ones_a @ g).T
        grad_a = (g_b[:, -1:] * a - g_b[:, :-1]).mul_(2.0)
        grad_b = (g_t_a[:, -1:] * b - g_t_a[:, :-1]).mul_(2.0)
        if ctx.same:
            return grad_a.add_(grad_b), None, None
        return (grad_a if ctx.needs_input_grad[0] else None), (grad_b if ctx.needs_input_grad[1] else None), None


def _shifted_log_matmul_exp(a, b):
    """log(exp(a - rowmax a) @ exp(b - colmax b)) + the maxima, and the mask of the entries whose
    product fell below sqrt(tiny) of its dtype (None when there is none)."""
    a_max = a.amax(dim=1, keepdim=True).detach()
    b_max = b.amax(dim=0, keepdim=True).detach()
    product = torch.exp(a - a_max) @ torch.exp(b - b_max)
    floor = math.sqrt(torch.finfo(product.dtype).tiny)
    out = torch.log(product.clamp_min(floor)) + a_max + b_max
    low = product.detach() < floor
    return out, (low if product.numel() and bool(low.any()) else None)


#: Terms a_ik + b_kj that ``_LogMatmulExpAt`` holds at once (64 MiB in float32).
_EXACT_TERMS = 1 << 24


class _LogMatmulExpAt(torch.autograd.Function):
    """log sum_k exp(a_rk + b_kc) at the given entries (rows[e], cols[e]), forward and backward in
    blocks of entries of at most ``_EXACT_TERMS`` terms: autograd through one logsumexp would
    keep every entry's k terms (n^2 k for a batch of confident cluster assignments)."""

    @staticmethod
    def forward(ctx, a, b, rows, cols):
        bt = b.T
        out = a.new_empty(rows.shape[0])
        for start, stop in _entry_blocks(rows.shape[0], a.shape[1]):
            out[start:stop] = torch.logsumexp(a[rows[start:stop]] + bt[cols[start:stop]], dim=1)
        ctx.save_for_backward(a, b, rows, cols, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        no_second_derivative("the exact log-sum-exp of underflowed cluster scores")
        a, b, rows, cols, out = ctx.saved_tensors
        grad_a = torch.zeros_like(a) if ctx.needs_input_grad[0] else None
        grad_bt = torch.zeros_like(b.T) if ctx.needs_input_grad[1] else None
        bt = b.T
        for start, stop in _entry_blocks(rows.shape[0], a.shape[1]):
            r, c = rows[start:stop], cols[start:stop]
            # d out_e / d a_rk = d out_e / d b_kc = softmax over k of the entry's terms
            weights = torch.exp(a[r] + bt[c] - out[start:stop, None]) * grad[start:stop, None]
            if grad_a is not None:
                grad_a.index_add_(0, r, weights)
            if grad_bt is not None:
                grad_bt.index_add_(0, c, weights)
        return grad_a, None if grad_bt is None else grad_bt.T, None, None


@torch.compiler.disable  # its block loop runs eagerly under torch.compile too: memory stays bounded
def _log_matmul_exp_at(a, b, rows, cols):
    return _LogMatmulExpAt.apply(a, b, rows, cols)


def _entry_blocks(entries: int, k: int):
    step = max(1, _EXACT_TERMS // max(k, 1))
    return ((start, min(entries, start + step)) for start in range(0, entries, step))


def masked_scores(logits, mask, softmax):
    """``logits`` with every pair outside the softmax's ``mask`` at -inf (a copy, unless the support is
    full or ``logits`` is a matmul's product whose diagonal alone is excluded).

    q is the last evaluation of a call and the masked scores its last reader, so the product's
    excluded diagonal is filled in place, as hand-written NT-Xent does: autograd's matmul keeps
    its factors, not its product, and the n x n copy was 0.07 of SimCLR's time at n = 256."""
    product = type(logits.grad_fn).__name__ == "MmBackward0"
    return _masked(logits, mask, softmax.diagonal, softmax.full, copy=not product)


def _masked(source, mask, diagonal, full: bool = False, copy: bool = True):
    """``source`` with every pair outside ``mask`` at -inf. 'others' (``diagonal`` not None)
    fills the excluded diagonal on a copy, which on CPU is several times cheaper than a select
    through a bool mask; a full support needs nothing. Differentiable (plain ops)."""
    if full:
        return source
    if diagonal is None:
        return torch.where(mask, source, -math.inf)
    masked = source.clone() if copy else source
    masked.diagonal(diagonal).fill_(-math.inf)
    return masked


def _plain_masked_logsumexp(a, mask, axis, diagonal):
    """masked_logsumexp from plain ops (under torch.compile); an empty set gives 0, gradient 0."""
    masked = _masked(a.float() if a.dtype in _HALF else a, mask, diagonal)
    lse = _plain_logsumexp(masked, mask, axis)
    return lse if axis is None else lse[:, None]


def _plain_logsumexp(masked, mask, axis, nonempty: bool = False):
    """logsumexp of already masked logits by rows (axis 1: shape (n,)) or of all (a scalar)."""
    if axis is None:
        lse = torch.logsumexp(masked.reshape(-1), 0)
        return torch.where(torch.isneginf(lse), 0.0, lse)
    if nonempty:
        return torch.logsumexp(masked, 1)
    empty = ~mask.any(1)
    return torch.logsumexp(masked.masked_fill(empty[:, None], 0.0), 1).masked_fill(empty, 0.0)


class _MaskedLogSumExp(torch.autograd.Function):
    """logsumexp of ``a`` over ``mask`` (rows, or all entries for axis None); 0 for an empty set.

    Computed through torch's fused log_softmax (one pass instead of max, subtract, exp, sum):
    lse_i = max_i - max_j log_softmax_ij, exact to rounding. The saved log-softmax gives
    the backward, softmax x grad, in one pass.

    ``diagonal`` (an offset, or None) says that the mask leaves out exactly the entries
    (r, r + diagonal): the 'others' support (see ``_masked``).
    """

    @staticmethod
    def forward(ctx, a, mask, axis, diagonal):
        # Half-precision logits (autocast matmuls) are normalized in float32.
        source = a.float() if a.dtype in _HALF else a
        masked = _masked(source, mask, diagonal, copy=source is a)  # a.float() is a copy already
        dim = 0 if axis is None else axis
        view = masked.reshape(-1) if axis is None else masked
        log_softmax = torch.log_softmax(view, dim)
        # log_softmax is largest where the logits are, so lse = max(logits) - max(log_softmax):
        # two plain (vectorized) reductions, several times cheaper than an argmax plus a gather.
        top = view.amax(dim, keepdim=axis is not None)
        empty = torch.isneginf(top)
        out = top - log_softmax.amax(dim, keepdim=axis is not None)
        has_empty = bool(empty.any())
        if has_empty:  # empty rows: lse 0 and softmax 0 (log_softmax gave NaN there)
            out = out.masked_fill(empty, 0.0)
            log_softmax = log_softmax.masked_fill(empty if axis is not None else empty.reshape(1), -math.inf)
        if axis is None:
            log_softmax = log_softmax.reshape(masked.shape)
        ctx.log_softmax, ctx.by_rows = log_softmax, axis is not None and not has_empty
        return out

    @staticmethod
    def backward(ctx, grad):
        no_second_derivative("the fused masked logsumexp")
        return _softmax(ctx.log_softmax, ctx.by_rows).mul_(grad), None, None, None


def _softmax(log_softmax, by_rows: bool):
    """exp(log_softmax). By rows it is torch's softmax of the log-softmax (the same values: the
    softmax is shift-invariant), whose exp costs a third of ``torch.exp``'s on CPU. Not for
    joint normalization (a single row of n x m entries would run on one thread) nor for empty
    rows (all -inf, where softmax gives NaN)."""
    return torch.softmax(log_softmax, 1) if by_rows else log_softmax.exp()


class _SoftmaxCrossEntropy(torch.autograd.Function):
    """values_i = mass_i * lse_i - scale * sum_j p_ij logits_ij: the cross entropy of a fixed p
    against q = softmax of ``logits`` over ``mask`` (by rows, or jointly), normalizer included.

    p (``FixedP`` in icon_registry.objective) is one column per row (``target``), an index form
    (rows, cols, weights) or a dense (n, m) matrix. The backward writes softmax * (g * mass) -
    scale * g * p into ONE buffer. In ``gradients_only`` mode (a chunked block recomputed for its
    gradient) the forward keeps the masked logits and nothing else: the backward's softmax is
    then the only pass over them.
    """

    @staticmethod
    def forward(ctx, logits, mask, softmax, mass, target, rows, cols, weights, dense, scale):
        source = logits.float() if logits.dtype in _HALF else logits
        masked = _masked(source, mask, softmax.diagonal, softmax.full, copy=source is logits)
        joint = softmax.axis is None
        ctx.mass, ctx.joint, ctx.scale = mass, joint, scale
        ctx.target, ctx.rows, ctx.cols, ctx.weights, ctx.dense = target, rows, cols, weights, dense
        ctx.out_dtype = logits.dtype
        if _GRADIENTS_ONLY.get() and not joint:
            ctx.saved, ctx.kind = masked, "logits"
            return source.new_zeros(source.shape[0])
        if joint:
            lse = torch.logsumexp(masked.reshape(-1), 0)
            lse = torch.where(torch.isneginf(lse), 0.0, lse)
            ctx.saved, ctx.kind, ctx.lse = masked, "joint", lse
        else:
            log_softmax = torch.log_softmax(masked, 1)
            if target is not None and softmax.nonempty and scale == 1:
                # p one-hot: the value is -log q at the target, read off the log-softmax (nll)
                ctx.saved, ctx.kind = log_softmax, "log_softmax"
                return -log_softmax.gather(1, target[:, None])[:, 0]
            top = masked.amax(1)
            lse = top - log_softmax.amax(1)
            nonempty = softmax.nonempty or not bool(torch.isneginf(top).any())
            if not nonempty:
                lse = lse.masked_fill(torch.isneginf(top), 0.0)
                log_softmax = log_softmax.masked_fill(torch.isneginf(top)[:, None], -math.inf)
            ctx.saved, ctx.kind = log_softmax, "log_softmax" if nonempty else "log_prob"
        if target is not None:
            dot = source.gather(1, target[:, None])[:, 0]
        elif dense is None:
            dot = _dot_at_pairs(source, rows, cols, weights)
        else:
            # nansum drops the NaN of 0 * (+-inf), a logit off p's mass, as the pair it stands for
            # has no mass; a NaN logit on p's support still gives NaN, through lse, and with no
            # host sync (an isfinite check would wait for the device on every call)
            dot = torch.nansum(dense * source, 1)
        values = (lse if mass is None else mass * lse) - (dot if scale == 1 else scale * dot)
        return values

    @staticmethod
    def backward(ctx, g):
        no_second_derivative("the fused softmax cross entropy")
        mass_g = g if ctx.mass is None else g * ctx.mass
        if ctx.kind == "joint":
            grad = (ctx.saved - ctx.lse).exp_().mul_(mass_g.sum())
        elif ctx.kind == "logits":
            grad = _row_softmax(ctx.saved).mul_(mass_g[:, None])
        else:
            grad = _softmax(ctx.saved, ctx.kind == "log_softmax").mul_(mass_g[:, None])
        pull = g if ctx.scale == 1 else g * ctx.scale
        if ctx.target is not None:
            grad.scatter_add_(1, ctx.target[:, None], -pull[:, None])
        elif ctx.dense is None:
            grad.index_put_((ctx.rows, ctx.cols), -(pull[ctx.rows] * ctx.weights), accumulate=True)
        else:
            grad.addcmul_(ctx.dense, pull[:, None], value=-1.0)
        return grad.to(ctx.out_dtype), None, None, None, None, None, None, None, None, None


def _dot_at_pairs(source, rows, cols, weights):
    """sum_j p_ij source_ij of each row, for a p held at its pairs (rows, cols) with ``weights``."""
    picked = source[rows, cols] * weights
    return torch.zeros(source.shape[0], dtype=picked.dtype, device=source.device).index_add_(0, rows, picked)


def cauchy_cross_entropy(d2, mask, softmax, fixed, scale=1.0):
    """``softmax_cross_entropy`` for the logits -log(1 + d2) over all pairs jointly (t-SNE's q),
    from d2 itself: the normalizer is log sum w with w = 1 / (1 + d2), so neither the forward
    nor the backward takes an exp or a log over the n x m matrix (see ``_CauchyCrossEntropy``)."""
    index = fixed.index or (None, None, None)
    return _CauchyCrossEntropy.apply(d2, mask, softmax, fixed.mass, fixed.target, *index, _dense(fixed), scale)


def blocked_cauchy_applies(points, fixed, density=0) -> bool:
    """For a p read at few pairs: one column per row, or an index form with at most a twelfth of the
    n^2 pairs (a pair costs more here than in the whole-matrix form; measured, one thread: t-SNE's
    k = 90 nearest P at n = 2,000 and 5,000 (6% and 3% of the pairs), 1.3x and 2x faster; an exact
    P with 10% of the pairs, 1.05-1.2x slower), on the CPU, where the n x n passes of
    ``cauchy_cross_entropy`` are bound by memory traffic. With a grid ``density`` (interpolated
    sums, 1-D and 2-D points) on any device and for any p held at its pairs."""
    if fixed.target is None and fixed.index is None:
        return False
    if density > 0:
        return cauchy_grid.applies(points)
    n = points.shape[0]
    few = fixed.target is not None or 12 * fixed.index[0].numel() <= n * n
    return points.device.type == "cpu" and few


def blocked_cauchy_cross_entropy(points, fixed, scale=1.0, density=0):
    """``cauchy_cross_entropy`` over every other item of the batch, from the points y themselves:
    Z = sum_{k != l} w_kl and the pull of the normalizer on each point, sum_l w_kl^2 (y_k - y_l),
    are summed over blocks of rows, so no n x n matrix is held (memory: one block), or, with a grid
    ``density`` > 0, interpolated on a grid (``cauchy_grid``: an approximation, O(n) pairs per
    step); p is read at its pairs (``blocked_cauchy_applies``)."""
    second, forward, backward, lengths = unordered_pairs(fixed, points.shape[0])
    return _BlockedCauchyCrossEntropy.apply(points, fixed.mass, second, forward, backward, lengths, scale, density)


def unordered_pairs(fixed, n: int):
    """A fixed p's pairs (``FixedP.target`` or ``.index``) as unordered pairs {a < b}, in order of
    a, kept on ``fixed``: (b, p_ab, p_ba (0 where p has no (b, a)), pairs per a). A symmetric p (t-SNE's
    joint P) holds both (a, b) and (b, a): each distance is then computed once, not twice. Sums over
    the pairs of each a are sums of contiguous segments (torch.segment_reduce), several times faster
    on the CPU than adding pair after pair into the same row (index_add_ stalls on the repeated
    address). Pairs (a, a) are dropped: at distance 0 they add nothing to the value or the gradient."""
    if fixed.pairs_once is None:
        if fixed.target is not None:
            rows, cols = torch.arange(n, device=fixed.target.device), fixed.target
            weights = torch.ones(n, dtype=fixed.mass.dtype if fixed.mass is not None else torch.get_default_dtype(),
                                 device=rows.device)
        else:
            rows, cols, weights = fixed.index
        keys, inverse = torch.unique(torch.minimum(rows, cols) * n + torch.maximum(rows, cols), return_inverse=True)
        ways = [torch.zeros(keys.shape[0], dtype=weights.dtype, device=keys.device) for _ in range(2)]
        for way, mask in zip(ways, (rows < cols, rows > cols)):
            way.index_add_(0, inverse[mask], weights[mask])
        first, second = keys // n, keys % n
        distinct = first != second
        first, second = first[distinct], second[distinct]
        fixed.pairs_once = (second, ways[0][distinct], ways[1][distinct], torch.bincount(first, minlength=n))
    return fixed.pairs_once


#: Entries of one block of ``_BlockedCauchyCrossEntropy`` (rows x n): 2 MiB in float32, in cache.
_CAUCHY_BLOCK = 1 << 19


def _blocked_cauchy_sums(source):
    """Z = sum_{k != l} w_kl and sum_l w_kl^2 (y_k - y_l) per point, exactly, over blocks of rows."""
    n, dim = source.shape
    squares = (source * source).sum(1)
    # [y, 1]^T: one product gives a block's sum_l w_kl^2 y_l and sum_l w_kl^2, thin on the left
    # (several times faster on the CPU than w @ y)
    with_ones = torch.cat([source, source.new_ones(n, 1)], 1).T.contiguous()
    total = source.new_zeros(())
    repulsion = torch.empty_like(source)
    step = max(1, _CAUCHY_BLOCK // max(n, 1))
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = source[start:stop]
        w = torch.addmm(squares[None, :], block, with_ones[:dim], alpha=-2.0).add_(squares[start:stop, None])
        w.clamp_min_(0.0).add_(1.0).reciprocal_()
        w.diagonal(start).zero_()  # the anchor itself is no candidate
        total += w.sum()
        sums = with_ones @ w.mul_(w).T
        repulsion[start:stop] = block * sums[dim:].T - sums[:dim].T
    return total, repulsion


def _interpolated_cauchy_sums(source, density):
    """``_blocked_cauchy_sums`` interpolated on a grid (``cauchy_grid``), the anchors' own w_kk = 1 taken out."""
    sums, squared_sums = cauchy_grid.kernel_sums(source, density)
    repulsion = source * squared_sums[:, :1] - squared_sums[:, 1:]  # the anchor's own term is y_k - y_k = 0
    return (sums.sum() - source.shape[0]).to(source.dtype), repulsion.to(source.dtype)


class _BlockedCauchyCrossEntropy(torch.autograd.Function):
    """values_i = mass_i log Z + scale * sum_j p_ij log(1 + d2_ij) with d2 from the points y and
    Z over every pair k != l. With dZ / dy_k = -4 sum_l w_kl^2 (y_k - y_l) (w symmetric), the
    forward keeps that sum per point (n x d; exact, or interpolated with a grid ``density``) and
    the pairs' differences; the backward scales the one and scatters the other. p's pairs come
    once each (``unordered_pairs``): {a, b} for the a-th segment of ``lengths`` and b in
    ``second``, with p_ab in ``forward`` and p_ba in ``backward``."""

    @staticmethod
    def forward(ctx, y, mass, second, forward, backward, lengths, scale, density):
        source = y.float() if y.dtype in _HALF else y
        if density > 0:
            total, repulsion = _interpolated_cauchy_sums(source, density)
        else:
            total, repulsion = _blocked_cauchy_sums(source)
        lse = torch.where(total > 0, total.log(), 0.0)
        # coordinates first: the gathers and sums run over d x pairs
        coordinates = source.T.contiguous()
        pairs = second.shape[0]  # given, so that repeat_interleave need not read the lengths' sum back from a GPU
        diff = coordinates.repeat_interleave(lengths, dim=1, output_size=pairs).sub_(coordinates.index_select(1, second))
        d2 = (diff * diff).sum(0)
        log = torch.log1p(d2)
        pull = torch.segment_reduce(log * forward, "sum", lengths=lengths).scatter_add_(0, second, log.mul_(backward))
        at = torch.reciprocal(d2.add_(1.0))
        ctx.save_for_backward(repulsion, second, forward, backward, lengths, diff, at)
        ctx.total, ctx.mass, ctx.scale, ctx.out_dtype = total, mass, scale, y.dtype
        return (lse if mass is None else mass * lse) + (pull if scale == 1 else scale * pull)

    @staticmethod
    def backward(ctx, g):
        no_second_derivative("t-SNE's blocked Student-t cross entropy")
        repulsion, second, forward, backward, lengths, diff, at = ctx.saved_tensors
        mass_g = g.sum() if ctx.mass is None else (g * ctx.mass).sum()
        push = torch.where(ctx.total > 0, mass_g / ctx.total, 0.0)
        pull = g if ctx.scale == 1 else g * ctx.scale
        # d/dy_a of pull_a's and pull_b's terms: 2 (g_a p_ab + g_b p_ba) w_ab (y_a - y_b), and minus that for y_b
        both = pull.repeat_interleave(lengths, output_size=at.shape[0]).mul_(forward)
        both.addcmul_(pull.index_select(0, second), backward).mul_(at).mul_(2.0)
        attraction = diff * both  # (d, pairs)
        dim = diff.shape[0]
        grad = torch.segment_reduce(attraction, "sum", lengths=lengths.expand(dim, -1).contiguous(), axis=1)
        grad.scatter_add_(1, second.expand(dim, -1), attraction.neg_())
        grad = grad.T + repulsion * (-4.0 * push)
        return grad.to(ctx.out_dtype), None, None, None, None, None, None, None


class _CauchyCrossEntropy(torch.autograd.Function):
    """values_i = mass_i log Z + scale * sum_j p_ij log(1 + d2_ij), Z = sum over the mask of
    w = 1 / (1 + d2): ``_SoftmaxCrossEntropy`` of the joint softmax of -log(1 + d2). With
    dZ / dd2 = -w^2, the gradient is -(sum_i g_i mass_i / Z) w^2 + scale g_i p_ij w_ij: the
    forward keeps w^2 (squared in place) and p_ij w_ij at p's pairs, nothing else."""

    @staticmethod
    def forward(ctx, d2, mask, softmax, mass, target, rows, cols, weights, dense, scale):
        source = d2.float() if d2.dtype in _HALF else d2
        w = torch.add(source, 1.0).reciprocal_()
        if not softmax.full:
            if softmax.diagonal is None:
                w = w.masked_fill_(~mask, 0.0)
            else:
                w.diagonal(softmax.diagonal).zero_()
        total = w.sum()
        lse = torch.where(total > 0, total.log(), 0.0)
        at = None  # w at p's pairs (the backward's pull), read before w is squared in place
        if target is not None:
            pull = torch.log1p(source.gather(1, target[:, None])[:, 0])
            at = w.gather(1, target[:, None])
        elif dense is None:
            # one index into the flattened matrix: several times faster than [rows, cols] on the CPU
            flat = rows * source.shape[1] + cols
            picked = torch.log1p(source.reshape(-1).index_select(0, flat)) * weights
            pull = torch.zeros(source.shape[0], dtype=picked.dtype, device=source.device).index_add_(0, rows, picked)
            at = w.reshape(-1).index_select(0, flat) * weights
            ctx.flat = flat
        else:
            pull = (dense * torch.log1p(source)).sum(1)
            dense = dense * w
        ctx.save_for_backward(w.mul_(w))  # the backward needs w^2 only
        ctx.total, ctx.mass, ctx.scale, ctx.out_dtype = total, mass, scale, d2.dtype
        ctx.target, ctx.rows, ctx.at, ctx.dense = target, rows, at, dense
        return (lse if mass is None else mass * lse) + (pull if scale == 1 else scale * pull)

    @staticmethod
    def backward(ctx, g):
        no_second_derivative("t-SNE's fused Student-t cross entropy")
        (w_squared,) = ctx.saved_tensors
        mass_g = g.sum() if ctx.mass is None else (g * ctx.mass).sum()
        push = torch.where(ctx.total > 0, mass_g / ctx.total, 0.0)
        grad = w_squared * -push
        pull = g if ctx.scale == 1 else g * ctx.scale
        if ctx.target is not None:
            grad.scatter_add_(1, ctx.target[:, None], pull[:, None] * ctx.at)
        elif ctx.dense is None:
            grad.view(-1).index_add_(0, ctx.flat, pull[ctx.rows] * ctx.at)
        else:  # dense: p * w, kept from the forward
            grad.addcmul_(ctx.dense, pull[:, None])
        return grad.to(ctx.out_dtype), None, None, None, None, None, None, None, None, None


def _row_softmax(masked):
    """Softmax by rows of masked logits; rows without any pair give zeros."""
    out = torch.softmax(masked, 1)
    empty = torch.isneginf(masked.amax(1))
    return out.masked_fill_(empty[:, None], 0.0) if bool(empty.any()) else out


#: A one-hot cross entropy over at most this many columns, from this many rows, runs class-major on
#: the CPU (``class_major``). torch's row-wise log_softmax over few columns costs ~117 ns a row (10
#: columns, n = 4,096, one thread: 481 us forward, 226 us backward), while a logsumexp over the
#: columns of the class-major scores runs along the rows. Made class-major by the product itself
#: (``dot_products``), they need no transposing copy. The cross_entropy entry against
#: F.cross_entropy (10 classes, forward + backward, two threads; in the same run, the row-major
#: product copied to class-major from 2,048 rows): 1.13-1.16x at n = 1,024 (1.15-1.16x), 0.93x at
#: 2,048 (0.99-1.01x), 0.73-0.78x at 4,096 (0.79-0.88x). Slower at 256 and at every n with 100 columns.
_CLASS_MAJOR_COLUMNS = 16
_CLASS_MAJOR_ROWS = 1024


def class_major(rows: int, columns: int, like) -> bool:
    """Scores over ``columns`` classes for ``rows`` anchors are made and reduced class-major
    (``dot_products``, ``one_hot_cross_entropy``): few columns, many rows, eager on the CPU."""
    return (columns <= _CLASS_MAJOR_COLUMNS and rows >= _CLASS_MAJOR_ROWS and like.device.type == "cpu"
            and like.dtype not in _HALF and not compiling())


def one_hot_cross_entropy(scores, target, reduction: str):
    """``F.cross_entropy(scores, target, reduction=reduction)`` for scores (n, m) and a target column
    in every row; class-major (plain ops, differentiable twice) where that is faster."""
    if not class_major(*scores.shape, scores):
        return torch.nn.functional.cross_entropy(scores, target, reduction=reduction)
    major = scores.T.contiguous()  # (no copy when made by dot_products)
    values = torch.logsumexp(major, 0) - major.gather(0, target[None])[0]
    if reduction == "none":
        return values
    return values.sum() if reduction == "sum" else values.mean()


def softmax_cross_entropy(logits, mask, softmax, fixed, scale=1.0):
    """Per-anchor sum_j p_ij (lse_i - logits_ij) for a fixed p (``FixedP``) and q = softmax of
    ``logits`` over ``mask`` (see ``_SoftmaxCrossEntropy``). Under torch.compile: plain ops
    (the compiler fuses them; a custom Function would stop it)."""
    if plain_ops():
        return _plain_softmax_cross_entropy(logits, mask, softmax, fixed, scale)
    index = fixed.index or (None, None, None)
    return _SoftmaxCrossEntropy.apply(logits, mask, softmax, fixed.mass, fixed.target, *index, _dense(fixed), scale)


def _dense(fixed):
    """A fixed p's dense (n, m) form for the eager Functions, or None when it has another form
    (one prepared as ``uniform`` inside a compiled graph, then used eagerly, is made dense)."""
    if fixed.uniform is not None:
        pairs, weight = fixed.uniform
        return mask_as(pairs, weight.dtype) * weight[:, None]
    return fixed.dense


def _plain_softmax_cross_entropy(logits, mask, softmax, fixed, scale):
    source = logits.float() if logits.dtype in _HALF else logits
    masked = _masked(source, mask, softmax.diagonal, softmax.full)
    lse = _plain_logsumexp(masked, mask, softmax.axis, softmax.nonempty)
    if fixed.target is not None:
        dot = source.gather(1, fixed.target[:, None])[:, 0]
    elif fixed.uniform is not None:
        pairs, weight = fixed.uniform
        dot = torch.where(pairs, source, 0.0).sum(1) * weight
    elif fixed.index is not None:  # prepared eagerly (a calibrated p is evaluated outside the graph)
        dot = _dot_at_pairs(source, *fixed.index)
    else:
        dot = (fixed.dense * masked.masked_fill(fixed.dense == 0, 0.0)).sum(1)
    return (lse if fixed.mass is None else fixed.mass * lse) - (dot if scale == 1 else scale * dot)
