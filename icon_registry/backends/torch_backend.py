"""Torch primitives: log-space, masked, device- and dtype-agnostic."""

from __future__ import annotations

import contextlib
import contextvars
import math
import weakref

import torch

#: The floating dtype of the evaluation in progress (set by ``TorchBackend.float_dtype``):
#: counts of mask entries are made in it, so that log|S(i)| and 1/|S(i)| keep float64
#: precision for float64 inputs instead of torch's default float32 for integer tensors.
_FLOAT_DTYPE: contextvars.ContextVar = contextvars.ContextVar("icon_float_dtype", default=None)


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
        return _MaskedLogSumExp.apply(a, mask, axis, diagonal)

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
        may have underflowed: those entries are computed again as a logsumexp over k of
        a_ik + b_kj, one shift per product (n_bad x k memory). Above that bound the terms lost
        to underflow weigh less than k * sqrt(tiny) of the product (1e-19 in float32).
        """
        a_max = a.amax(dim=1, keepdim=True).detach()
        b_max = b.amax(dim=0, keepdim=True).detach()
        product = torch.exp(a - a_max) @ torch.exp(b - b_max)
        floor = math.sqrt(torch.finfo(product.dtype).tiny)
        out = torch.log(product.clamp_min(floor)) + a_max + b_max
        if product.numel() and bool(product.detach().amin() < floor):
            rows, cols = (product.detach() < floor).nonzero(as_tuple=True)
            exact = torch.logsumexp(a[rows] + b.T[cols], dim=1)
            out = out.index_put((rows, cols), exact)
        return out

    @staticmethod
    def normalize_rows(a):
        return torch.nn.functional.normalize(a, dim=-1)

    @staticmethod
    def sqdist(a, b):
        if a is b:
            sq = (a * a).sum(-1)
            out = sq[:, None] + sq[None, :] - 2.0 * (a @ a.T)
        else:
            out = (a * a).sum(-1)[:, None] + (b * b).sum(-1)[None, :] - 2.0 * (a @ b.T)
        # The expansion can dip below zero by rounding; a distance never does.
        return out.clamp_min(0.0)

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
        return (a.to(torch.float32) @ b.to(torch.float32)) > 0

    @staticmethod
    def arange(m, like):
        return torch.arange(m, device=like.device)

    @staticmethod
    def eye_mask(n, like):
        return torch.eye(n, dtype=torch.bool, device=like.device)

    @staticmethod
    def full_mask(shape, like):
        return torch.ones(shape, dtype=torch.bool, device=like.device)

    @staticmethod
    @contextlib.contextmanager
    def float_dtype(dtype):
        """Evaluate with counts (and other dtype-less quantities) in ``dtype``."""
        token = _FLOAT_DTYPE.set(dtype)
        try:
            yield
        finally:
            _FLOAT_DTYPE.reset(token)

    @staticmethod
    def count(mask, axis):
        # Exact for counts below 2^24 (float32) or 2^53 (float64).
        # Outside an evaluation context (direct Distribution.evaluate calls) counts are float64.
        return mask.sum(dim=axis, keepdim=True, dtype=_FLOAT_DTYPE.get() or torch.float64)

    @staticmethod
    def any(mask):
        return bool(mask.any())

    @staticmethod
    def as_float(a, like):
        return a.to(dtype=like.dtype)

    @staticmethod
    @torch.no_grad()
    def calibrate_log_precision(sqdist, mask, perplexity, steps=64):
        """Per-row beta = 1/(2 sigma_i^2) whose conditional Gaussian has entropy log(perplexity).

        Bisection in log(beta) on float64 copies: the same search scikit-learn's t-SNE runs.
        """
        d = sqdist.detach().to(torch.float64)
        m = mask
        target = math.log(perplexity)
        lo = torch.full((d.shape[0], 1), -50.0, dtype=torch.float64, device=d.device)
        hi = torch.full_like(lo, 50.0)
        # Scale-free start: distances divided by their row mean.
        row_scale = (d * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)
        row_scale = row_scale.clamp_min(1e-300).log()
        lo, hi = lo - row_scale, hi - row_scale
        for _ in range(steps):
            mid = (lo + hi) / 2
            logits = (-d * mid.exp()).masked_fill(~m, -math.inf)
            logp = torch.log_softmax(logits, dim=1)
            entropy = -TorchBackend.plogp(logp.exp(), logp, m).sum(1, keepdim=True)
            too_flat = entropy > target
            lo = torch.where(too_flat, mid, lo)
            hi = torch.where(too_flat, hi, mid)
        return ((lo + hi) / 2).to(sqdist.dtype)

    @staticmethod
    @torch.no_grad()
    def knn_mask(sqdist, candidates, k):
        d = sqdist.detach().masked_fill(~candidates, math.inf)
        idx = d.topk(k, dim=1, largest=False).indices
        mask = torch.zeros_like(candidates)
        mask.scatter_(1, idx, True)
        return mask & candidates

    @staticmethod
    def neighbor_mask(neighbors, n):
        mask = torch.zeros((neighbors.shape[0], n), dtype=torch.bool, device=neighbors.device)
        mask.scatter_(1, neighbors.long(), True)
        return mask


class _MaskedLogSumExp(torch.autograd.Function):
    """logsumexp of ``a`` over ``mask`` (rows, or all entries for axis None); 0 for an empty set.

    Computed through torch's fused log_softmax (one pass instead of max, subtract, exp, sum):
    lse_i = max_i - max_j log_softmax_ij, exact to rounding. The saved log-softmax gives
    the backward, softmax x grad, in one pass, and ``fused_cross_entropy`` reuses it
    (``ctx.log_softmax``, ``ctx.lse``) instead of recomputing the normalizer.

    ``diagonal`` (an offset, or None) says that the mask leaves out exactly the entries
    (r, r + diagonal): the 'others' support. Those are then filled on a copy, which on CPU is
    several times cheaper than a select through a bool mask.
    """

    @staticmethod
    def forward(ctx, a, mask, axis, diagonal):
        # Half-precision logits (autocast matmuls) are normalized in float32.
        source = a.float() if a.dtype in (torch.float16, torch.bfloat16) else a
        if diagonal is None:
            masked = torch.where(mask, source, -math.inf)
        else:
            masked = source.clone() if source is a else source  # a.float() is a copy already
            masked.diagonal(diagonal).fill_(-math.inf)
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
        # The output is kept detached: holding the output itself (whose grad_fn is this node)
        # would make a reference cycle that only the cyclic GC frees, n x m buffers included.
        # The logits are only needed to be recognized (``normalizer_node``): a weak reference
        # lets their n x m buffer go when the forward ends, not after the backward.
        ctx.log_softmax, ctx.lse, ctx.source = log_softmax, out.detach(), weakref.ref(a)
        ctx.by_rows = axis is not None and not has_empty
        return out

    @staticmethod
    def backward(ctx, grad):
        return _softmax(ctx.log_softmax, ctx.by_rows).mul_(grad), None, None, None


def _softmax(log_softmax, by_rows: bool):
    """exp(log_softmax). By rows it is torch's softmax of the log-softmax (the same values: the
    softmax is shift-invariant), whose exp costs a third of ``torch.exp``'s on CPU. Not for
    joint normalization (a single row of n x m entries would run on one thread) nor for empty
    rows (all -inf, where softmax gives NaN)."""
    return torch.softmax(log_softmax, 1) if by_rows else log_softmax.exp()


def normalizer_node(log_norm, logits):
    """The ``_MaskedLogSumExp`` node that produced ``log_norm`` from ``logits``, or None."""
    node = getattr(log_norm, "grad_fn", None)
    source = getattr(node, "source", None)
    if source is None or source() is not logits or not hasattr(node, "log_softmax"):
        return None
    return node


class _FusedCrossEntropy(torch.autograd.Function):
    """values_i = mass_i * lse_i - sum_j p_ij logits_ij, with lse the (row or joint) log
    normalizer of the masked logits, taken from their ``_MaskedLogSumExp`` node.

    p is fixed: either an index form (rows, cols, weights: the pairs with mass) or a dense
    (n, m) matrix. Backward writes softmax * (g * mass) - g * p into ONE buffer: no separate
    gradient for the normalizer and the linear term, no masked_fill copies.
    """

    @staticmethod
    def forward(ctx, logits, log_softmax, by_rows, lse, mass, rows, cols, weights, dense):
        if dense is None:
            picked = logits[rows, cols] * weights
            dot = torch.zeros(logits.shape[0], dtype=picked.dtype, device=logits.device).index_add_(0, rows, picked)
        else:
            dot = (dense * logits).sum(1, dtype=log_softmax.dtype)
            if not bool(torch.isfinite(dot).all()):  # +-inf logits where p has no mass: 0 * inf
                dot = (dense * logits.masked_fill(dense == 0, 0.0)).sum(1)
        joint = lse.numel() == 1 and lse.dim() == 0
        values = mass * (lse if joint else lse.reshape(-1)) - dot
        ctx.log_softmax, ctx.mass, ctx.joint, ctx.by_rows = log_softmax, mass, joint, by_rows
        ctx.rows, ctx.cols, ctx.weights, ctx.dense = rows, cols, weights, dense
        return values

    @staticmethod
    def backward(ctx, g):
        scale = (g * ctx.mass).sum() if ctx.joint else (g * ctx.mass)[:, None]
        grad = _softmax(ctx.log_softmax, ctx.by_rows).mul_(scale)
        if ctx.dense is None:
            grad.index_put_((ctx.rows, ctx.cols), -(g[ctx.rows] * ctx.weights), accumulate=True)
        else:
            grad.addcmul_(ctx.dense, g[:, None], value=-1.0)
        return grad, None, None, None, None, None, None, None, None


def fused_cross_entropy(node, logits, mass, *, index=None, dense=None):
    """Per-anchor sum_j p_ij (lse_i - logits_ij) (see ``_FusedCrossEntropy``)."""
    rows, cols, weights = index if index is not None else (None, None, None)
    return _FusedCrossEntropy.apply(logits, node.log_softmax, node.by_rows, node.lse, mass, rows, cols, weights, dense)
