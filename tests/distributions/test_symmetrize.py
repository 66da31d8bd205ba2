import torch

from .helpers import dist, inputs


def test_joint_symmetric_sums_to_one():
    spec = {"kind": "symmetrize", "of": {"kind": "normalize", "kernel": {"kind": "student_t"}}}
    d = dist(spec).evaluate(inputs())
    P = d.prob()
    assert d.joint and torch.allclose(P, P.T) and abs(float(P.sum()) - 1) < 1e-12


def _two_clusters(duplicates=False, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(50, 5, generator=g), torch.randn(50, 5, generator=g) + 10.0])
    if duplicates:
        x = torch.cat([x[:50], x[:50]])
    return x.to(dtype), torch.randn(100, 2, generator=g, dtype=dtype)


def test_pairs_whose_p_underflows_add_nothing():
    """Two clusters 10 apart: most P_ij across them are exactly 0 in float32; they add nothing
    (0 log 0 = 0), so the KL is finite and equals the xlogy reference on the same P."""
    from icon_registry import compile_loss
    from icon_registry.backends import TorchBackend
    from icon_registry.pairs import Inputs

    x, y = _two_clusters()
    loss = compile_loss("tsne", reduction="sum")
    with torch.no_grad(), TorchBackend.float_dtype(x.dtype):
        p = loss.entry.p.evaluate(Inputs(TorchBackend, x, 100, dict(loss.params), x=x))
    P = p.prob()
    assert int((P == 0).sum()) > 100 * 100 // 4  # underflow really happens here
    leaf = y.clone().requires_grad_()
    value = loss(leaf, x=x)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(leaf.grad).all()
    d2 = torch.cdist(y.double(), y.double()) ** 2
    w = 1.0 / (1.0 + d2)
    w.fill_diagonal_(0)
    P64 = P.double()
    reference = torch.special.xlogy(P64, P64).sum() - (P64 * torch.log(w.clamp_min(1e-300))).sum() + torch.log(w.sum())
    assert abs(float(value.detach()) - float(reference)) < 1e-5 * abs(float(reference))


def test_duplicate_points_are_finite():
    from icon_registry import compile_loss

    x, y = _two_clusters(duplicates=True)
    leaf = y.clone().requires_grad_()
    value = compile_loss("tsne", reduction="sum")(leaf, x=x)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(leaf.grad).all()
