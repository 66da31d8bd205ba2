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


def _smoothed_positives(alpha):
    return dist({"kind": "mix_uniform", "alpha": alpha,
                 "of": {"kind": "normalize", "support": "others", "kernel": {"kind": "same_id"}}})


def test_an_anchor_without_positives_stays_empty_and_is_skipped():
    """ids [0, 0, 0, 1, 1, 2]: anchor 5 has no positive. Its mixed row has no mass (not alpha / 5
    on each other item), so its term is 0 and the mean runs over anchors 0-4, each the KL of
    (1 - alpha) uniform-over-positives + alpha / 5 against q, by loops in float64."""
    import math

    from icon_registry.objective import anchor_terms

    alpha = 0.1
    ids = torch.tensor([0, 0, 0, 1, 1, 2])
    batch = inputs(n=6, ids=ids)
    p = _smoothed_positives(alpha).evaluate(batch)
    q = dist({"kind": "normalize", "support": "others",
              "kernel": {"kind": "gaussian_dot", "temperature": 0.5, "cosine": True}}).evaluate(batch)
    assert p.mask[5].sum() == 0 and p.mask[:5].sum(1).tolist() == [5] * 5
    assert torch.allclose(p.prob().sum(1), torch.tensor([1.0] * 5 + [0.0], dtype=torch.float64))
    u = torch.nn.functional.normalize(batch.z, dim=1)
    for objective in ("kl", "cross_entropy"):
        terms = anchor_terms(p, q, objective=objective)
        assert terms.has_mass.tolist() == [True] * 5 + [False]
        assert float(terms.values[5]) == 0
        for i in range(5):
            logits = {j: float(u[i] @ u[j]) / 0.5 for j in range(6) if j != i}
            top = max(logits.values())
            log_norm = top + math.log(sum(math.exp(v - top) for v in logits.values()))
            positives = [j for j in logits if ids[j] == ids[i]]
            want = 0.0
            for j in logits:
                p_ij = (1 - alpha) * (j in positives) / len(positives) + alpha / 5
                want += p_ij * ((math.log(p_ij) if objective == "kl" else 0.0) - (logits[j] - log_norm))
            assert abs(float(terms.values[i]) - want) < 1e-12, (objective, i)
        assert float(terms.values.sum() / terms.has_mass.sum()) >= 0


def test_an_empty_inner_row_stays_empty_on_the_symbolic_backend():
    import numpy as np
    import sympy

    from icon_registry.backends import SympyBackend
    from icon_registry.pairs import Inputs

    z = np.array([[sympy.Symbol(f"z_{i}_{k}", real=True) for k in range(2)] for i in range(4)], dtype=object)
    batch = Inputs(SympyBackend, z, 4, {}, ids=np.array([0, 0, 1, 2]))
    p = _smoothed_positives(sympy.Rational(1, 10)).evaluate(batch)
    assert p.mask.tolist() == [[False, True, True, True], [True, False, True, True], [False] * 4, [False] * 4]
    prob = p.prob()
    assert list(prob[0]) == [0, sympy.Rational(9, 10) + sympy.Rational(1, 30), sympy.Rational(1, 30), sympy.Rational(1, 30)]
    assert all(v == 0 for v in prob[2:].ravel())
