"""Claims of the entries beyond the paper's table hold across their declared parameter ranges, not
only where float64 happens to stay finite."""

from __future__ import annotations

import pytest

from icon_registry.catalog import load_catalog
from icon_registry.verify import verify_entry

CATALOG = load_catalog(use_env=False)


@pytest.mark.parametrize("eps", [0.0, 1.0])
def test_label_smoothing_constant_is_finite_at_the_ends_of_eps(eps):
    """At eps = 0 the smoothed p is one-hot and -H(p) = 0; a constant written with
    (eps / K) log(eps / K) is 0 * -inf = NaN there, and the verifier can only leave those batches
    out (its result then says "not finite")."""
    entry = CATALOG.get("label_smoothing")
    parameters = dict(entry.parameters)
    parameters["eps"] = parameters["eps"].model_copy(update={"default": eps})
    results = verify_entry(entry.model_copy(update={"parameters": parameters}))
    (constant,) = [r for r in results if r.kind == "up_to_constant"]
    assert constant.status == "pass", constant.detail
    assert "not finite" not in constant.detail, constant.detail
