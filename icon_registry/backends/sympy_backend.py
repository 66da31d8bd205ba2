"""SymPy primitives over numpy object arrays, for the verifier.

Arrays are numpy ``object`` arrays whose entries are SymPy expressions, so the kernel
code's Python operators (``+``, ``*``, ``@``, ``**``, broadcasting, fancy indexing) work
unchanged. Masks are plain numpy bool arrays: which pairs exist is structure, not algebra.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import sympy


def _elementwise(fn):
    vectorized = np.vectorize(fn, otypes=[object])

    def apply(a):
        if isinstance(a, np.ndarray):
            return vectorized(a)
        return fn(a)

    return apply


class SympyBackend:
    name = "sympy"
    symbolic = True

    no_grad = staticmethod(contextlib.nullcontext)

    @staticmethod
    def concrete(value, fallback, why):
        """A parameter that shapes a support: instances have its value."""
        return value

    @staticmethod
    def deferred(compute):
        """Array backends may compute a quantity on first use; here it is computed now."""
        return compute()
    log = staticmethod(_elementwise(sympy.log))
    exp = staticmethod(_elementwise(sympy.exp))
    log1p = staticmethod(_elementwise(lambda v: sympy.log(1 + v)))
    sqrt = staticmethod(_elementwise(sympy.sqrt))

    @staticmethod
    def sum(a, axis=None, keepdims=False):
        if axis is None:
            return sympy.Add(*np.asarray(a, dtype=object).ravel())
        return np.asarray(a, dtype=object).sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def exact(value):
        """A number from kernel code or an entry as an exact SymPy number (0.5 -> 1/2)."""
        if isinstance(value, sympy.Basic):
            return value
        if isinstance(value, float) and math.isinf(value):
            return sympy.oo if value > 0 else -sympy.oo
        return sympy.nsimplify(value, rational=True)

    @classmethod
    def where(cls, mask, a, fill):
        return np.where(mask, a, cls.exact(fill))

    @classmethod
    def plogp(cls, prob, log_prob, mask):
        return prob * cls.where(mask, log_prob, 0)

    @staticmethod
    def masked_logsumexp(a, mask, axis, diagonal=None):
        # ``diagonal`` is a speed hint for array backends; the mask alone is exact here.
        if axis is None:
            return sympy.log(sympy.Add(*[sympy.exp(v) for v in a[mask]]))
        rows = [
            [sympy.log(sympy.Add(*[sympy.exp(v) for v in row[row_mask]])) if row_mask.any() else sympy.S.Zero]
            for row, row_mask in zip(a, mask)
        ]
        out = np.empty((len(rows), 1), dtype=object)
        out[:, 0] = [r[0] for r in rows]
        return out if axis == 1 else out.T

    @staticmethod
    def pool_logsumexp(a, mask, groups):
        out = np.empty((a.shape[0], groups.shape[1]), dtype=object)
        for r in range(a.shape[0]):
            for c in range(groups.shape[1]):
                terms = [sympy.exp(a[r, j]) for j in range(a.shape[1]) if mask[r, j] and groups[j, c]]
                out[r, c] = sympy.log(sympy.Add(*terms)) if terms else sympy.S.Zero
        return out

    @classmethod
    def log_softmax(cls, a, axis):
        full = np.ones(a.shape, dtype=bool)
        return a - cls.masked_logsumexp(a, full, axis)

    @classmethod
    def logsumexp(cls, a, axis):
        return cls.log(cls.exp(a).sum(axis=axis, keepdims=True))

    @classmethod
    def log_add_exp(cls, a, b, divide_by=1):
        return cls.log((cls.exp(a) + cls.exp(b)) / sympy.Integer(divide_by))

    @classmethod
    def log_matmul_exp(cls, a, b):
        return cls.log(cls.exp(a) @ cls.exp(b))

    @classmethod
    def normalize_rows(cls, a):
        norms = cls.sqrt((a * a).sum(axis=-1, keepdims=True))
        return a / norms

    @staticmethod
    def dot_products(a, b):
        return a @ b.T

    @staticmethod
    def sqdist(a, b):
        diff = a[:, None, :] - b[None, :, :]
        return (diff * diff).sum(axis=-1)

    @staticmethod
    def indicator(mask, like):
        """1 where the mask holds, 0 elsewhere, as numbers."""
        return SympyBackend.as_float(mask, like)

    @staticmethod
    def output_scores(vectors):
        """The entries of the (rows, K) vectors as scores over K outputs (the abstract backend names them)."""
        return vectors

    @staticmethod
    def concat_columns(a, b):
        return np.concatenate([a, b], axis=1)

    @staticmethod
    def clamp_min(a, value):
        return np.maximum(a, value)

    @classmethod
    def log_sqdist(cls, d2):
        return cls.log(d2)

    @staticmethod
    def bool_matmul(a, b):
        return (a.astype(np.int64) @ b.astype(np.int64)) > 0

    @staticmethod
    def arange(m, like):
        return np.arange(m)

    @staticmethod
    def equal_outer(a, b):
        return np.asarray(a)[:, None] == np.asarray(b)[None, :]

    @staticmethod
    def eye_mask(n, like):
        return np.eye(n, dtype=bool)

    @staticmethod
    def full_mask(shape, like):
        return np.ones(shape, dtype=bool)

    @staticmethod
    def count(mask, axis):
        return mask.sum(axis=axis, keepdims=True).astype(object)

    @staticmethod
    def any(mask):
        return bool(np.any(mask))

    @staticmethod
    def as_float(a, like):
        # 0/1 as SymPy integers: Python bools do not multiply SymPy expressions
        return _elementwise(lambda v: sympy.Integer(int(v)) if isinstance(v, (bool, np.bool_)) else v)(np.asarray(a))

    @staticmethod
    def calibrate_log_precision(sqdist, mask, perplexity):
        """One free positive precision per row: the calibration's result is data, not algebra."""
        n = sqdist.shape[0]
        out = np.empty((n, 1), dtype=object)
        out[:, 0] = [sympy.log(sympy.Symbol(f"beta_{i}", positive=True)) for i in range(n)]
        return out

    @staticmethod
    def knn_mask(sqdist, candidates, k):
        raise NotImplementedError(
            "symbolic instances give neighbours explicitly (neighbors=...), not through distances"
        )

    @staticmethod
    def neighbor_mask(neighbors, n):
        mask = np.zeros((len(neighbors), n), dtype=bool)
        for i, row in enumerate(neighbors):
            mask[i, list(row)] = True
        return mask
