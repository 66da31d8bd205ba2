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


def entry(name: str, **limit) -> Entry:
    data = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    if limit.get("remove"):
        data.pop("limit")
    else:
        data["limit"] = {**data["limit"], **limit}
    return Entry.model_validate(data)


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
    data["limit"] = {**data["limit"], "to": "infinity"}
    flipped = Entry.model_validate(data)
    with pytest.raises(CheckFailed, match="limit row says sigma -> infinity"):
        _limit_row_agrees(Context(flipped), flipped.claims[0])
