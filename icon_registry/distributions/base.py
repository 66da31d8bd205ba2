"""A distribution over candidates, per anchor (rows) or over all pairs at once (joint)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from icon_registry.deferred import Deferred
from icon_registry.kernels.base import Node
from icon_registry.pairs import Inputs, Pairs


@dataclass(frozen=True)
class Softmax:
    """How a distribution normalizes its logits: a softmax over the mask, by rows (axis 1) or
    jointly (axis None). ``diagonal``: the mask is every pair but (r, r + diagonal) ('others');
    ``nonempty``: every row has at least one pair. The objective uses it to fuse the normalizer
    into the cross entropy instead of materializing log q."""

    axis: Any
    diagonal: Any = None
    nonempty: bool = False
    full: bool = False


class Dist:
    """log p(j|i) = logits[i, j] - log_norm[i] on ``mask``; zero elsewhere.

    Keeping logits and their normalizer apart lets the objective compute
    sum_j p_ij log q_ij as (sum_j p_ij logits_ij) - log_norm_i * sum_j p_ij without ever
    materializing log q: one pass over the n x m matrix instead of three.
    ``logits`` None means uniform over the mask. A joint distribution (t-SNE) has one
    scalar normalizer for all pairs. ``log_norm`` and ``logits`` may be given as zero-argument
    callables: they are then computed on first use (a fused objective never needs them on
    their own). ``mask`` lies inside ``pairs.support``; it may be a zero-argument callable too
    (a one-hot p given by its ``column`` rarely needs it). ``cauchy``: the (n, m) d2 (or a callable) when the
    logits are -log(1 + d2) (t-SNE's kernel), for the objective's fused Cauchy path.
    ``points``: with ``cauchy``, the (n, d) vectors whose squared distances it holds, when the
    support is every other item of the batch (the objective can then work from them in blocks),
    and ``grid_density``: the nodes per unit length of a grid its normalizer's sums may be
    interpolated on (0: summed exactly).
    ``entries``: (rows, cols, log p) when p is zero outside the pairs (rows, cols) (the k nearest
    of a perplexity-calibrated kernel), held in that index form; the mask and logits are then
    deferred and made only if something asks for them.
    """

    mask = Deferred()
    logits = Deferred()
    log_norm = Deferred()
    cauchy = Deferred()

    def __init__(self, pairs: Pairs, mask, logits, log_norm, joint: bool = False, softmax: Softmax | None = None,
                 cauchy=None, column=None, entries=None, points=None, whole: bool = False, grid_density=0.0,
                 mask_pairs=None):
        self.pairs = pairs
        self.mask = mask
        #: (n_rows, m): the shape of the mask, known without computing a deferred one
        self.shape = tuple(pairs.structure[1]) if callable(mask) else tuple(mask.shape)
        #: ``Weights.column`` of an indicator kernel with exactly one pair per row
        self.column = column
        #: ``Weights.pairs_index`` of an indicator kernel: its mask's pairs, found without the mask
        self.mask_pairs = mask_pairs
        self.logits = logits
        self.log_norm = log_norm
        self.cauchy = cauchy
        self.points = points
        self.grid_density = grid_density
        #: the mask is ``pairs.support`` itself, which may then stay unmade (an n x n 'others')
        self.whole = whole
        self.entries = entries
        self.joint = joint
        self.softmax = softmax
        #: structure of a q (``Pairs.structure``) this fixed p was checked to be covered by
        self.covered_by = None
        #: (key, objective.FixedP): this distribution as a fixed p, prepared once
        self.fixed = None

    @classmethod
    def from_entries(cls, pairs: Pairs, rows, cols, log_prob, joint: bool = False) -> "Dist":
        """p = exp(log_prob) at the pairs (rows, cols) of ``pairs`` and zero elsewhere."""
        B = pairs.backend
        shape = tuple(pairs.structure[1])
        return cls(pairs, B.deferred(lambda: B.dense_from_entries(rows, cols, True, shape, False)),
                   B.deferred(lambda: B.dense_from_entries(rows, cols, log_prob, shape, 0.0)), 0.0, joint=joint,
                   entries=(rows, cols, log_prob))

    @property
    def backend(self):
        return self.pairs.backend

    @property
    def on_whole_support(self) -> bool:
        """The mask is ``pairs.support`` (known without making either when ``whole``)."""
        return self.whole or self.mask is self.pairs.support

    def masked_logits(self):
        """Logits with every pair outside the mask at -inf (uniform: 0 on the mask)."""
        B = self.backend
        logits = self.logits if self.logits is not None else B.as_float(self.mask, self.pairs.inputs.z) * 0
        return B.where(self.mask, logits, -math.inf)

    def log_prob(self):
        if self.entries is not None:  # zero outside its pairs: one scatter, no pass over the logits
            rows, cols, log_prob = self.entries
            return self.backend.dense_from_entries(rows, cols, log_prob, self.shape, -math.inf)
        return self.masked_logits() - self.log_norm

    def prob(self):
        if self.entries is not None:
            rows, cols, log_prob = self.entries
            return self.backend.dense_from_entries(rows, cols, self.backend.exp(log_prob), self.shape, 0.0)
        return self.backend.exp(self.log_prob())


class Distribution(Node):
    def evaluate(self, inputs: Inputs) -> Dist:
        raise NotImplementedError

    def inputs_used(self) -> set[str]:
        raise NotImplementedError

    #: the support the distribution lives on, for layout checks and the docs
    def support_kind(self) -> str:
        raise NotImplementedError
