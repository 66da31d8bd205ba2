"""Second derivatives (backward with create_graph=True: gradient penalties, Hessian-vector
products). The fused autograd Functions of the eager loss have a backward that is not itself
differentiable: there the loss raises, never returns a wrong second derivative. With
second_order=True the loss evaluates with plain torch ops and has exact second derivatives.
Checked for every catalog entry against central differences of the first-order gradient."""

from __future__ import annotations

import warnings

import pytest
import torch

from icon_registry import compile_loss
from icon_registry.errors import IconError

from .test_formula_source import CATALOG, IDS, batch_for, compiled


def _loss(entry_id, **options):
    entry = CATALOG.get(entry_id)
    extra = {"num_classes": 3, "dim": 3} if entry.mapper == "prototypes" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # entries whose objective is not their published loss say so
        loss = compile_loss(entry, chunk_size=0, **extra, **options).double()
    z, batch = batch_for(entry, loss)
    return loss, z, batch


def _gradient(loss, z, batch, create_graph=False):
    z = z.detach().requires_grad_(True)
    value = loss(z, **batch).sum()
    if not value.requires_grad:  # error_rate's published formula counts errors: constant almost everywhere
        return z, torch.zeros_like(z)
    (grad,) = torch.autograd.grad(value, z, create_graph=create_graph)
    return z, grad


def _hessian_form(loss, z, batch, u, v):
    """u^T H v by double backward."""
    z, grad = _gradient(loss, z, batch, create_graph=True)
    if not grad.requires_grad:  # a gradient that does not depend on z (a piecewise constant loss)
        return 0.0
    (hv,) = torch.autograd.grad((grad * u).sum(), z, allow_unused=True)
    return 0.0 if hv is None else float((hv * v).sum())


def _finite_difference(loss, z, batch, u, v, eps=1e-5):
    """u^T H v from central differences of the (exact) first-order gradient along v."""
    ahead, behind = _gradient(loss, z + eps * v, batch)[1], _gradient(loss, z - eps * v, batch)[1]
    return float(((ahead - behind) * u).sum() / (2 * eps))


def _directions(z):
    g = torch.Generator().manual_seed(1)
    return torch.randn(z.shape, generator=g, dtype=z.dtype), torch.randn(z.shape, generator=g, dtype=z.dtype)


@pytest.mark.parametrize("entry_id", IDS)
def test_second_order_loss_has_the_exact_second_derivative(entry_id):
    loss, z, batch = _loss(entry_id, second_order=True)
    u, v = _directions(z)
    expected = _finite_difference(loss, z, batch, u, v)
    assert _hessian_form(loss, z, batch, u, v) == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("entry_id", IDS)
def test_second_order_changes_neither_value_nor_gradient(entry_id):
    plain, z, batch = _loss(entry_id, second_order=True)
    fused, _, _ = _loss(entry_id)
    if plain.prototypes is not None:
        fused.load_state_dict(plain.state_dict())
    assert torch.allclose(plain(z, **batch), fused(z, **batch), rtol=1e-10, atol=1e-12)
    assert torch.allclose(_gradient(plain, z, batch)[1], _gradient(fused, z, batch)[1], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("entry_id", IDS)
def test_default_loss_raises_rather_than_return_a_wrong_second_derivative(entry_id):
    loss, z, batch = _loss(entry_id)
    u, v = _directions(z)
    try:
        found = _hessian_form(loss, z, batch, u, v)
    except IconError as err:
        assert err.argument == "second_order"
        assert "has no second derivative (backward with create_graph=True): compile the loss with " \
               "second_order=True" in str(err)
        return
    assert found == pytest.approx(_finite_difference(loss, z, batch, u, v), rel=1e-5, abs=1e-6)


def test_the_error_names_the_fused_part_and_the_option():
    loss, z, batch = _loss("supcon")
    z.requires_grad_(True)
    value = loss(z, **batch)
    with pytest.raises(IconError) as info:
        torch.autograd.grad(value, z, create_graph=True)
    assert str(info.value) == (
        "the fused softmax cross entropy has no second derivative (backward with create_graph=True): compile the "
        "loss with second_order=True, which evaluates it with plain torch ops that have one"
    )


def test_a_gradient_penalty_trains_with_second_order():
    """The use it is for: a penalty on the gradient norm, differentiated again."""
    loss, z, batch = _loss("supcon", second_order=True)
    z = z.detach().requires_grad_(True)
    value = loss(z, **batch)
    (grad,) = torch.autograd.grad(value, z, create_graph=True)
    (value + grad.pow(2).sum()).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


@pytest.mark.parametrize("entry_id", IDS)
def test_formula_source_too(entry_id):
    """source='formula' uses the same fused logsumexp: the same option, the same exactness."""
    plain = compiled(CATALOG.get(entry_id), second_order=True)
    z, batch = batch_for(CATALOG.get(entry_id), plain)
    u, v = _directions(z)
    expected = _finite_difference(plain, z, batch, u, v)
    assert _hessian_form(plain, z, batch, u, v) == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_second_order_must_be_a_bool(value):
    with pytest.raises(IconError) as info:
        compile_loss("supcon", second_order=value)
    assert str(info.value) == f"supcon: second_order must be True or False, got {value!r}"
    assert info.value.argument == "second_order"


@pytest.fixture
def one_rank_group():
    """A gloo process group of this process alone (the gather is then the identity)."""
    import socket

    import torch.distributed as dist

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_distributed_raises_rather_than_drop_the_other_ranks_part(one_rank_group):
    loss = compile_loss("supcon", distributed=True, second_order=True).double()
    z, batch = batch_for(CATALOG.get("supcon"), loss)
    z.requires_grad_(True)
    value = loss(z, **batch)
    (grad,) = torch.autograd.grad(value, z, retain_graph=True)  # the first derivative is there
    assert torch.isfinite(grad).all()
    with pytest.raises(IconError) as info:
        torch.autograd.grad(value, z, create_graph=True)
    assert str(info.value) == ("distributed=True has no second derivative (backward with create_graph=True): the "
                               "gathered batch's gradient is summed over the ranks outside autograd")


def test_a_second_order_loss_still_compiles_in_one_graph():
    import torch._dynamo

    torch._dynamo.reset()
    loss = compile_loss("supcon", tau=0.3, second_order=True)
    z = torch.randn(12, 5, requires_grad=True)
    explained = torch._dynamo.explain(loss)(z, labels=torch.arange(12) % 3)
    torch._dynamo.reset()
    assert explained.graph_break_count == 0 and explained.graph_count == 1
