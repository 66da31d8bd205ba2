"""The Cauchy kernel sums interpolated on a grid (FIt-SNE's repulsion) against the exact sums over
every pair, and the t-SNE loss that uses them against the exact loss."""

from __future__ import annotations

import warnings

import pytest
import torch

from icon_registry import compile_loss
from icon_registry.backends import cauchy_grid
from icon_registry.errors import IconWarning


def _exact_sums(y):
    w = torch.reciprocal(1.0 + torch.cdist(y, y) ** 2)
    return w.sum(1), torch.cat([(w * w).sum(1, keepdim=True), (w * w) @ y], 1)


def _relative_errors(y, density):
    """(largest relative error of sum_l w_kl, relative error of the repulsion y_k sum w^2 - sum w^2 y_l)."""
    sums, squared = cauchy_grid.kernel_sums(y, density)
    exact_sums, exact_squared = _exact_sums(y)
    repulsion = y * squared[:, :1] - squared[:, 1:]
    exact_repulsion = y * exact_squared[:, :1] - exact_squared[:, 1:]
    return (float(((sums - exact_sums).abs() / exact_sums).max()),
            float((repulsion - exact_repulsion).norm() / exact_repulsion.norm()))


def _points(n, dim, spread, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * spread


@pytest.mark.parametrize("dim, spread", [(1, 50.0), (2, 3.0), (2, 15.0)])
def test_the_sums_converge_to_the_exact_ones_with_the_density(dim, spread):
    """Quadratic interpolation: the error falls about as the cube of the spacing (measured: 3.4e-2,
    9.3e-3, 2.9e-3, 5.0e-4 for a 2-D spread of 30 at 1, 2, 3, 5 nodes per unit; at 8 nodes per unit
    the spread of 15, about 100 wide, takes 800 nodes per axis, within MAX_GRID)."""
    y = _points(1500, dim, spread)
    errors = [_relative_errors(y, density) for density in (1, 3, 8)]
    for coarse, fine in zip(errors, errors[1:]):
        assert fine[0] < coarse[0] / 4 and fine[1] < coarse[1] / 4, errors
    assert errors[1][0] < 2e-2 and errors[1][1] < 2e-2, errors  # FIt-SNE's density
    assert errors[2][0] < 1e-3 and errors[2][1] < 1e-3, errors


def test_the_sums_do_not_depend_on_where_the_points_lie():
    """The grid starts at the points' lowest corner: a translated layout gives the same sums."""
    y = _points(400, 2, 10.0)
    (sums, squared), (moved_sums, moved_squared) = cauchy_grid.kernel_sums(y, 3), cauchy_grid.kernel_sums(y + 1e3, 3)
    torch.testing.assert_close(moved_sums, sums, rtol=1e-9, atol=0)
    torch.testing.assert_close(moved_squared[:, 0], squared[:, 0], rtol=1e-9, atol=0)
    torch.testing.assert_close(moved_squared[:, 1:], squared[:, 1:] + 1e3 * squared[:, :1], rtol=1e-9, atol=0)


def test_a_spread_out_layout_caps_the_grid():
    """Points 10^6 apart would need 3 million nodes per axis: the grid stays within MAX_GRID nodes
    (coarser), and the sums stay finite and close to the exact ones (each point is alone: w_kk = 1)."""
    y = torch.tensor([[0.0, 0.0], [1e6, 0.0], [0.0, 1e6], [1e6, 1e6]], dtype=torch.float64)
    made = []
    real_transform = torch.fft.rfftn
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.fft, "rfftn", lambda grid, s: made.append(grid.shape) or real_transform(grid, s=s))
        sums, squared = cauchy_grid.kernel_sums(y, 3)
    grids = [shape for shape in made if shape[0] == 4]  # the charges (the kernel's transform is padded)
    assert grids and all(shape[-1] * shape[-2] <= cauchy_grid.MAX_GRID for shape in grids), made
    exact_sums, exact_squared = _exact_sums(y)
    torch.testing.assert_close(sums, exact_sums, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(squared, exact_squared, rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_interpolated_loss_and_gradient_approach_the_exact_ones(dtype):
    x = torch.randn(600, 10, generator=torch.Generator().manual_seed(0), dtype=dtype)
    y0 = _points(600, 2, 5.0, seed=1).to(dtype)
    results = {}
    for density in (0, 3, 10):
        loss = compile_loss("tsne", nearest=30, interpolation=density, reduction="sum")
        y = y0.clone().requires_grad_()
        value = loss(y, x=x)
        (grad,) = torch.autograd.grad(value, y)
        assert value.dtype == dtype and torch.isfinite(grad).all()
        results[density] = (float(value.detach()), grad)
    exact_value, exact_grad = results[0]
    for density, (value_bound, grad_bound) in {3: (1e-3, 3e-2), 10: (1e-5, 1e-3)}.items():
        value, grad = results[density]
        assert abs(value - exact_value) / abs(exact_value) < value_bound
        assert float((grad - exact_grad).norm() / exact_grad.norm()) < grad_bound
    assert results[3][0] != exact_value  # the grid was used


@pytest.mark.parametrize("nearest, dim, why", [(10, 3, "points are 3-D"), (0, 2, "p is dense")])
def test_where_the_grid_cannot_apply_the_loss_is_exact_and_says_so(nearest, dim, why):
    x = torch.randn(80, 5, generator=torch.Generator().manual_seed(0))
    y = torch.randn(80, dim, generator=torch.Generator().manual_seed(1))
    with pytest.warns(IconWarning, match=why):  # (perplexity 3: within reach of nearest = 10)
        approximate = compile_loss("tsne", nearest=nearest, perplexity=3.0, interpolation=3)(y, x=x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exact = compile_loss("tsne", nearest=nearest, perplexity=3.0)(y, x=x)
    assert float(approximate) == float(exact)
