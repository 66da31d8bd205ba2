"""verify.checks: a limit claim and the entry's ``limit`` row must agree.

The compiled loss of a limit row is the objective times parameter**scale_power, and every
numeric check divides that factor out again; so a row whose direction or power contradicts the
claim (or a missing row) was never seen by any check, and the method's page printed it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from icon_registry.schema import Entry
from icon_registry.verify import verify_entry

FIXTURES = Path(__file__).parent / "fixtures" / "good"


#: the table row a Gaussian q sits in, by its limit row's direction (None: no limit row); the entry
#: moves with its row, or its cell alone would refuse it (``table_cell``) before any claim is checked
ROW_OF_LIMIT = {None: "gaussian", "infinity": "gaussian_sigma_inf", "zero": "gaussian_sigma_zero"}


def _with_limit(data: dict, limit: dict) -> dict:
    if limit.get("remove"):
        data.pop("limit")
    else:
        data["limit"] = {**data["limit"], **limit}
    data["cell"] = {**data["cell"], "row": ROW_OF_LIMIT[data.get("limit", {}).get("to")]}
    return data


def entry(name: str, **limit) -> Entry:
    return Entry.model_validate(_with_limit(yaml.safe_load((FIXTURES / f"{name}.yaml").read_text()), limit))


@pytest.mark.parametrize("name, change, words", [
    ("pca", {"to": "zero"}, "the entry's limit row says sigma -> zero, but the claim's limit is sigma -> infinity"),
    ("triplet", {"to": "infinity"}, "limit row says sigma -> infinity, but the claim's limit is sigma -> zero"),
    ("pca", {"scale_power": 1}, "the compiled loss is multiplied by sigma**1"),
    ("triplet", {"scale_power": 4}, "the compiled loss is multiplied by sigma**4"),
    ("pca", {"remove": True}, "the entry has no 'limit' row"),
])
def test_a_limit_row_that_contradicts_the_claim_fails(name, change, words):
    (result,) = verify_entry(entry(name, **change))
    assert result.status == "fail", result.detail
    assert words in result.detail


def test_an_agreeing_limit_row_is_stated_in_the_steps():
    (result,) = verify_entry(entry("pca"))
    assert result.status == "pass", result.detail
    assert any("limit row (sigma -> infinity) is the claim's direction" in step for step in result.steps)
    assert any("factor sigma**2 is the claim's scale" in step for step in result.steps)


def test_a_limit_of_another_objective_needs_only_the_direction():
    """error_probability is not what the compiled row returns: its scale (1) need not be the row's sigma**2."""
    from icon_registry.verify.checks import CheckFailed, Context, _limit_row_agrees

    data = yaml.safe_load((FIXTURES / "triplet.yaml").read_text())
    data["claims"] = [{**data["claims"][0], "objective": "error_probability", "scale": "1", "sandwich": False}]
    claimed = Entry.model_validate(data)
    lines = _limit_row_agrees(Context(claimed), claimed.claims[0])
    assert lines == ["the entry's limit row (sigma -> zero) is the claim's direction"]
    flipped = Entry.model_validate(_with_limit(data, {"to": "infinity"}))
    with pytest.raises(CheckFailed, match="limit row says sigma -> infinity"):
        _limit_row_agrees(Context(flipped), flipped.claims[0])


def _claim_changed(entry_id: str, kind: str, field: str, change) -> Entry:
    from icon_registry.catalog import load_catalog

    data = load_catalog().get(entry_id).model_dump(exclude_none=True)
    data["claims"] = [claim for claim in data["claims"] if claim["kind"] == kind]
    data["claims"][0][field] = change(data["claims"][0][field])
    return Entry.model_validate(data)


def test_a_decomposition_with_its_extra_negated_shows_the_numbers_with_their_signs():
    # loss - objective = extra is the claim: DCL's extra log(1 - q(P(i)|i)) is negative
    (result,) = verify_entry(_claim_changed("dcl", "decomposition", "extra", lambda text: f"-({text})"))
    assert result.status == "fail"
    assert "the extra is exactly minus the loss - objective: the sign is flipped" in result.detail
    numbers = result.detail.split(": loss - objective = ")[1]
    difference, extra = float(numbers.split(",")[0]), float(numbers.split("extra = ")[1].split(",")[0])
    assert difference < 0 < extra and difference == pytest.approx(-extra)


def test_a_parameter_that_cancels_in_the_difference_is_not_named_as_missing_from_the_constant():
    (result,) = verify_entry(_claim_changed("supcon", "up_to_constant", "constant", lambda text: f"-({text})"))
    assert result.status == "fail"
    assert "the constant is exactly minus the objective - loss: the sign is flipped" in result.detail
    assert "the parameter 'tau'" not in result.detail
