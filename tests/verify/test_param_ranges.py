"""The instance checks sample each parameter over its declared range (its default, both ends, random
points across it) and batches beyond the small ones (20 to 30 items, an id with 6 views): a formula
or bound that is wrong only there fails, and says at which parameter values / n."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import sympy
import yaml

from icon_registry.schema import Entry
from icon_registry.verify import verify_entry
from icon_registry.verify import algebra as A
from icon_registry.verify.checks import NUMERIC_BATTERY, Context
from icon_registry.verify.instances import param_range, sample_param

#: the example entry of site/add-your-own.md, read off the page
MY_METHOD = re.search(r'```yaml title="my_methods/my_method.yaml"\n(.*?)^```',
                      (Path(__file__).resolve().parents[2] / "site" / "add-your-own.md").read_text(encoding="utf-8"),
                      re.S | re.M).group(1)
FORMULA = "sum(i, anchors_with(positives), mean(j, positives(i), -log_q[i, j]))"
ANCHOR_SUM = "sum(i, anchors_with(positives), mean(j, positives(i), -log_q[i, j]){extra})"


def entry(tmp_path, formula=FORMULA, claims=None) -> Entry:
    """my_method with another formula and/or claims, written to and read back from a YAML file."""
    data = yaml.safe_load(MY_METHOD)
    data["loss"]["formula"] = formula
    if claims is not None:
        data["claims"] = claims
    path = tmp_path / "my_method.yaml"
    path.write_text(yaml.safe_dump(data))
    return Entry.model_validate(yaml.safe_load(path.read_text()))


def results(e):
    return [(r.status, r.detail) for r in verify_entry(e)]


def test_the_example_passes(tmp_path):
    assert [s for s, _ in results(entry(tmp_path))] == ["pass"]


@pytest.mark.parametrize("extra, needle", [
    (" + max(sigma - 2, 0)", "sigma="),
    (" + 1000*indicator(n > 20)", "n=2"),
    (" + max(n - 20, 0)", "n=2"),
])
def test_a_term_wrong_away_from_the_small_batches_fails(tmp_path, extra, needle):
    ((status, detail),) = results(entry(tmp_path, FORMULA + extra))
    assert status == "fail", detail
    assert needle in detail, detail


def test_a_term_wrong_for_anchors_with_many_positives_fails(tmp_path):
    formula = ANCHOR_SUM.format(extra=" + max(count(positives(i)) - 3, 0)")
    ((status, detail),) = results(entry(tmp_path, formula))
    assert status == "fail", detail
    assert "wide" in detail and "ids=" in detail, detail


@pytest.mark.parametrize("offset, false_at", [
    ("(sigma - 0.5)*n", lambda sigma: sigma < 0.5),  # false below the middle of the range
    ("(sigma - 0.01)*n", lambda sigma: sigma < 0.01),  # false near the low end only
    ("0.5*(sigma-1)**2 - 0.001", lambda sigma: abs(sigma - 1) < 0.045),  # false around the default only
])
def test_a_bound_false_near_an_end_or_at_the_default_fails(tmp_path, offset, false_at):
    claims = [{"kind": "bound", "objective": "cross_entropy", "relation": "<=", "offset": offset,
               "reason": "a test bound"}]
    ((status, detail),) = results(entry(tmp_path, claims=claims))
    assert status == "fail", detail
    assert false_at(float(re.search(r"sigma=([0-9.e+-]+)", detail).group(1))), detail


def test_the_default_and_both_ends_are_sampled(tmp_path):
    ctx = Context(entry(tmp_path))
    sigmas = [ctx.num(seed=seed, variant=variant).params["sigma"] for variant, seed in NUMERIC_BATTERY]
    assert 1.0 in sigmas and 0.001 in sigmas and 100.0 in sigmas  # unbounded above: 100 x the default
    assert any(s not in (1.0, 0.001, 100.0) for s in sigmas)
    assert sum(0.6 <= s <= 1.4 and s != 1.0 for s in sigmas) >= 2  # near the default, where losses are used
    sizes = [ctx.num(seed=seed, variant=variant).structure.n for variant, seed in NUMERIC_BATTERY]
    assert max(sizes) >= 20
    views = max(np.bincount(ctx.num(seed=seed, variant=variant).structure.ids).max() for variant, seed in NUMERIC_BATTERY)
    assert views >= 6


def test_exact_points_use_the_declared_range(tmp_path):
    e = entry(tmp_path)
    sigma = sympy.Symbol("sigma", positive=True)
    with A.parameter_ranges(e.parameters):
        values = [float(A.random_point({sigma}, k)[sigma]) for k in range(A.POINTS)]
    assert values == [1.0, 0.001, 100.0]
    assert 0.3 <= float(A.random_point({sigma}, 1)[sigma]) <= 1.5  # outside a verification: as before


def test_integers_stay_integers_and_ranges_are_kept():
    from icon_registry.schema import Parameter

    k = Parameter(default=5, min=1, max=1000, integer=True, description="k")
    rng = np.random.default_rng(0)
    values = [sample_param(k, mode, rng) for mode in ("default", "low", "high", "random", "random")]
    assert all(isinstance(v, int) and 1 <= v <= 1000 for v in values)
    assert values[:3] == [5, 1, 1000]
    assert param_range(Parameter(default=2.0, min=0.0, description="m")) == (0.0, 200.0)


def test_a_constant_claimed_where_objective_and_loss_are_equal_says_so(tmp_path):
    """objective - loss = 0 against a constant 1: not '0 times the constant (a mean where a sum is meant?)',
    and no empty 'At :' where the difference reads no learnable."""
    claims = [{"kind": "up_to_constant", "objective": "cross_entropy", "constant": "1", "constant_name": "one"}]
    ((status, detail),) = results(entry(tmp_path, claims=claims))
    assert status == "fail", detail
    assert "is 0 wherever it was evaluated" in detail and "times the" not in detail, detail
    assert "At :" not in detail, detail


def test_no_exact_verdict_rests_on_no_point(monkeypatch):
    """Points away from the defaults where a side is not finite are left out; if that leaves none,
    the defaults decide (here: unequal there), never an empty 'equal'."""
    from icon_registry.schema import Parameter

    tau = sympy.Symbol("tau", positive=True)
    spec = Parameter(default=1.0, min=1e-4, max=100.0, description="a temperature")

    def value_at(expr, point, digits=A.DIGITS):
        if point[tau] != 1:
            return sympy.nan
        return sympy.Integer(1) if expr == tau else sympy.Integer(2)

    monkeypatch.setattr(A, "at", value_at)
    with A.parameter_ranges({"tau": spec}):
        skipped = []
        equal, counterexample = A.numeric_equal(tau, 2 * tau, {tau}, seed=1, skipped=skipped)  # low, high, random
    assert len(skipped) == 3
    assert not equal and counterexample["point"] == {tau: 1}


def test_a_range_far_wider_than_float64_can_evaluate_is_probed_within_a_millionfold_of_the_default(tmp_path):
    """sigma in [1e-300, 1e300]: exp(-d2 / sigma^2) cannot be evaluated in float64 at the declared
    ends, and a true claim failed there, blaming the formula. The ends probed are the default
    divided and multiplied by 1e6; a range inside that is probed where it was declared."""
    from icon_registry.schema import Parameter

    wide = Parameter(default=0.5, min=1e-300, max=1e300, description="s")
    assert param_range(wide) == (0.5e-6, 0.5e6)
    assert param_range(Parameter(default=0.5, min=1e-4, max=100.0, description="s")) == (1e-4, 100.0)
    assert param_range(Parameter(default=0.5, min=0.0, max=1e300, description="s")) == (0.0, 0.5e6)
    data = yaml.safe_load(MY_METHOD)
    data["parameters"]["sigma"].update(min=1e-300, max=1e300)
    assert [r.status for r in verify_entry(Entry.model_validate(data))] == ["pass"]
