"""Normalize a kernel over a support: p(j|i) = w(i,j) / sum_{k in S(i)} w(i,k), or jointly."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from icon_registry.deferred import once
from icon_registry.distributions.base import Dist, Distribution, Softmax
from icon_registry.kernels import KernelSpec
from icon_registry.pairs import SUPPORT_INPUTS, Support, pairs_on


class Normalize(Distribution):
    kind: Literal["normalize"]
    kernel: KernelSpec
    support: Support = "others"
    over: Literal["rows", "joint"] = Field(
        "rows", description="rows: one conditional distribution per anchor; joint: one over all pairs (t-SNE)"
    )

    def support_kind(self):
        return self.support

    def evaluate(self, inputs):
        pairs = pairs_on(inputs, self.support)
        B = inputs.backend
        if self.over == "joint":
            sqdist = self.kernel.cauchy_sqdist(pairs)  # None but for t-SNE's kernel on a numeric backend
            if sqdist is not None:
                points = self.kernel.cauchy_points(pairs)
                density = self.kernel.grid_density(pairs) if points is not None else 0.0
                return self._cauchy(pairs, sqdist, points, density)
        elif self.support == "others" and not B.symbolic and inputs.rows is None:
            nearest = self.kernel.nearest_weights(pairs)
            if nearest is not None:
                return self._on_nearest(pairs, *nearest)
        weights = self.kernel.weights(pairs)
        axis = None if self.over == "joint" else 1
        joint = self.over == "joint"
        if weights.log_weights is None:  # uniform over the mask, which stays deferred if the kernel deferred it
            log_norm = B.deferred(lambda: B.log(B.clamp_min(B.count(weights.mask, axis), 1)))
            column = None if joint else weights.column
            return Dist(pairs, weights.deferred_mask, None, log_norm, joint=joint, column=column,
                        mask_pairs=None if joint else weights.pairs_index)
        mask = weights.mask  # inside pairs.support (the kernel contract)
        whole = mask is pairs.support
        softmax = Softmax(
            axis,
            diagonal=pairs.excluded_diagonal if whole else None,
            nonempty=whole and pairs.nonempty_rows,
            full=whole and pairs.full,
        )
        log_norm = B.deferred(lambda: B.masked_logsumexp(weights.log_weights, mask, axis, softmax.diagonal))
        return Dist(pairs, mask, weights.log_weights, log_norm, joint=joint, softmax=softmax)

    @staticmethod
    def _on_nearest(pairs, neighbors, weights):
        """The rows' distributions over 'others' when the kernel's weights vanish outside each
        anchor's ``neighbors`` (n, k): normalized over those k alone, held as index entries of the
        n x n space."""
        B = pairs.backend
        if weights.log_weights is None:  # an indicator: uniform over the k
            log_prob = -B.log(B.count(weights.mask, 1)).expand(neighbors.shape)
        else:
            log_prob = weights.log_weights - B.masked_logsumexp(weights.log_weights, weights.mask, 1)
        rows = B.arange(neighbors.shape[0], neighbors)[:, None].expand_as(neighbors)
        return Dist.from_entries(pairs, rows.reshape(-1), neighbors.reshape(-1), log_prob.reshape(-1))

    @staticmethod
    def _cauchy(pairs, sqdist, points, density):
        """t-SNE's q: logits -log(1 + d2) over the whole support, jointly; d2, the logits and the
        normalizer are computed only if asked for (the fused objective reads d2 itself, or the
        ``points`` whose distances they are, with the ``density`` of a grid its sums may be
        interpolated on)."""
        B = pairs.backend
        softmax = Softmax(None, diagonal=pairs.excluded_diagonal, nonempty=pairs.nonempty_rows, full=pairs.full)
        d2 = once(B.deferred(sqdist))
        logits = once(B.deferred(lambda: -B.log1p(d2())))
        log_norm = B.deferred(lambda: B.masked_logsumexp(logits(), pairs.support, None, softmax.diagonal))
        # the mask, too, is made only if asked for: the blocked path never needs the n x n 'others'
        return Dist(pairs, lambda: pairs.support, logits, log_norm, joint=True, softmax=softmax, cauchy=d2,
                    points=points, whole=True, grid_density=density)

    def inputs_used(self):
        used = self.kernel.inputs_used() | SUPPORT_INPUTS.get(self.support, set())
        if self.support == "bank":  # the bank's rows are matched by their own ids / labels
            used |= {f"bank_{name}" for name in ("ids", "labels") if name in used}
        return used
