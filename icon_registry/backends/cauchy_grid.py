"""t-SNE's Cauchy kernel sums interpolated on a grid (FIt-SNE's repulsion, Linderman et al. 2019).

For points y (n, d) with d = 1 or 2 and w_kl = 1 / (1 + |y_k - y_l|^2), the gradient of KL(P || Q)
needs, for every point k, sum_l w_kl (whose total is q's normalizer Z) and sum_l w_kl^2 [1, y_l]
(the normalizer's pull on y_k). Summed exactly they cost n^2 pairs per step. Here each point's
charges (1, and 1, y_l for the squared kernel) are spread onto a uniform grid of spacing
1 / ``density`` by Lagrange interpolation on the ``ORDER`` nearest nodes of each axis, the grid is
convolved with the kernel by FFT, and the potentials are interpolated back onto the points:
O(n ORDER^d + G log G) for G grid nodes. An approximation: it interpolates the kernel, whose error
falls with the density (FIt-SNE's default is 3 nodes per unit length, 3 per stencil).
"""

from __future__ import annotations

import functools
import math

import torch

#: Nodes per axis of each point's interpolation stencil (quadratic Lagrange polynomials), FIt-SNE's.
ORDER = 3
#: Grid sizes are rounded up to a multiple of this, so that the kernel's transform (cached) is
#: reused while the embedding's extent changes a little from step to step.
_ROUND = 16
#: Most grid nodes (1,024 per axis in 2-D; the padded transforms of four charges then take 64 MiB in
#: float32): a spread-out embedding at a high density gets a coarser grid, not an unbounded one.
MAX_GRID = 1 << 20


#: The dimensions of the maps a grid is made for (those t-SNE is run for).
DIMENSIONS = (1, 2)


def applies(points) -> bool:
    return points.dim() == 2 and points.shape[1] in DIMENSIONS


def kernel_sums(y, density: float):
    """(n,) sum_l w_kl and (n, 1 + d) sum_l w_kl^2 [1, y_l], over every l including k itself
    (w_kk = 1 there), interpolated on a grid with ``density`` nodes per unit length."""
    with torch.no_grad():
        dtype = torch.float64 if y.dtype == torch.float64 else torch.float32
        y = y.detach().to(dtype)
        n, dim = y.shape
        spacing = 1.0 / density
        low = y.min(0).values
        extent = float((y.max(0).values - low).max())
        nodes = min(_most_nodes(dim), _ROUND * math.ceil((extent / spacing + ORDER) / _ROUND))
        spacing = max(spacing, extent / (nodes - ORDER))  # only when MAX_GRID caps the grid
        index, weights = _stencils(y, low, spacing, nodes)
        charges = torch.cat([y.new_ones(n, 1), y.new_ones(n, 1), y], 1)  # w: 1; w^2: 1, y
        grid = y.new_zeros(2 + dim, nodes**dim)
        spread = (weights[:, :, None] * charges[:, None, :]).reshape(-1, 2 + dim)
        grid.index_add_(1, index.reshape(-1), spread.T)
        padded = (2 * nodes,) * dim
        transform = _kernel_transform(nodes, dim, spacing, dtype, y.device)
        spectrum = torch.fft.rfftn(grid.reshape(2 + dim, *(nodes,) * dim), s=padded)
        spectrum[0] *= transform[0]
        spectrum[1:] *= transform[1]
        potentials = torch.fft.irfftn(spectrum, s=padded)[(slice(None),) + (slice(0, nodes),) * dim]
        at_points = (potentials.reshape(2 + dim, -1)[:, index] * weights).sum(-1)  # (2 + d, n)
        return at_points[0], at_points[1:].T


def _most_nodes(dim: int) -> int:
    """Nodes per axis within MAX_GRID, a multiple of _ROUND."""
    return _ROUND * (int(round(MAX_GRID ** (1.0 / dim))) // _ROUND)


def _stencils(y, low, spacing: float, nodes: int):
    """Each point's ORDER^d grid nodes (n, ORDER^d) as flat indices and their Lagrange weights."""
    n, dim = y.shape
    at = (y - low) / spacing  # grid coordinates
    first = (at.floor() - (ORDER - 1) // 2).clamp(0, nodes - ORDER)
    offset = at - first  # in [0, ORDER - 1] but at the edges, where it stays within the stencil
    steps = torch.arange(ORDER, dtype=y.dtype, device=y.device)
    basis = []
    for m in range(ORDER):
        term = torch.ones_like(offset)
        for other in range(ORDER):
            if other != m:
                term = term * (offset - other) / (m - other)
        basis.append(term)
    basis = torch.stack(basis, -1)  # (n, d, ORDER)
    axis_index = first.long()[..., None] + steps.long()  # (n, d, ORDER)
    index, weights = axis_index[:, 0], basis[:, 0]
    for axis in range(1, dim):
        index = (index[:, :, None] * nodes + axis_index[:, axis, None, :]).reshape(n, -1)
        weights = (weights[:, :, None] * basis[:, axis, None, :]).reshape(n, -1)
    return index, weights


@functools.lru_cache(maxsize=4)
def _kernel_transform(nodes: int, dim: int, spacing: float, dtype, device):
    """The transforms of w = 1 / (1 + r^2) and w^2 on the node offsets of a grid padded to 2 nodes
    per axis (a circular convolution then equals the linear one on the grid)."""
    size = 2 * nodes
    offsets = torch.arange(size, dtype=dtype, device=device)
    offsets = torch.where(offsets < nodes, offsets, offsets - size) * spacing
    squared = offsets**2
    for _ in range(1, dim):
        squared = squared[..., None] + offsets**2
    w = torch.reciprocal(1.0 + squared)
    return torch.fft.rfftn(torch.stack([w, w * w]), s=(size,) * dim)
