"""verify.instances: the float64 batches see the data-dependent part of a perplexity-calibrated p.

At t-SNE's default perplexity 30 every float64 batch (n <= 30) calibrated p to the uniform
distribution (beta = 0): a wrong p in the loss formula agreed with the compiled loss on all of
them, and only the prover and the exact instances stood between it and a pass."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from icon_registry.catalog import load_catalog
from icon_registry.schema import Entry
from icon_registry.verify.checks import NUMERIC_BATTERY, CheckFailed, Context, numeric_equality


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.mark.parametrize("entry_id", ["tsne", "sne", "symmetric_sne"])
def test_calibrated_p_is_not_uniform_on_the_float64_batches(catalog, entry_id):
    ctx = Context(catalog.get(entry_id))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "perplexity out of reach" would mean p is uniform
        for variant, seed in NUMERIC_BATTERY:
            inst = ctx.num(seed=seed, variant=variant)
            assert inst.params["perplexity"] < inst.structure.n - 1
            assert np.all(np.asarray(inst.beta) > 1e-3), (variant, inst.beta)


def test_a_wrong_calibrated_p_fails_on_the_float64_batches(catalog):
    """The normalizer of p with beta[k] (the candidate's precision) in place of beta[i]."""
    data = catalog.get("sne").model_dump(mode="json")
    where = data["loss"]["where"]
    where["log_p[i, j]"] = where["log_p[i, j]"].replace("-beta[i]*sqdist(x[i], x[k])", "-beta[k]*sqdist(x[i], x[k])")
    ctx = Context(Entry.model_validate({**data, "id": "sne_wrong_normalizer"}))
    failed = 0
    for variant, seed in NUMERIC_BATTERY:
        try:
            numeric_equality(ctx, "kl", None, variant, seed)
        except CheckFailed:
            failed += 1
    assert failed == len(NUMERIC_BATTERY)
