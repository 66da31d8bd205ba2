import torch

from .helpers import dist, inputs


def test_mixes_probabilities():
    spec = {"kind": "mix_uniform", "alpha": 0.6, "of": {"kind": "normalize", "kernel": {"kind": "same_id"}}}
    d = dist(spec).evaluate(inputs(n=4, ids=torch.tensor([0, 1, 0, 1])))
    p = d.prob()
    assert torch.allclose(p.sum(1), torch.ones(4, dtype=torch.float64))
    assert abs(float(p[0, 2]) - (0.4 + 0.6 / 3)) < 1e-12 and abs(float(p[0, 1]) - 0.2) < 1e-12


def test_alpha_zero_is_the_inner_distribution_and_its_kl_is_finite():
    from icon_registry.objective import anchor_terms

    inner = {"kind": "normalize", "kernel": {"kind": "same_id"}}
    ids = torch.tensor([0, 1, 0, 1])
    mixed = dist({"kind": "mix_uniform", "alpha": 0.0, "of": inner}).evaluate(inputs(n=4, ids=ids))
    plain = dist(inner).evaluate(inputs(n=4, ids=ids))
    assert torch.equal(mixed.mask, plain.mask)
    assert torch.allclose(mixed.prob(), plain.prob())
    terms = anchor_terms(mixed, plain)
    assert torch.isfinite(terms.values).all() and float(terms.values.abs().max()) < 1e-12
