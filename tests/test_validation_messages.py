"""Pydantic errors as one line each (validate_model on its own; the catalog's exact messages for
broken entries are tested through load_catalog in test_catalog.py)."""

import pytest

from icon_registry.errors import IconError
from icon_registry.schema import TableSpec
from icon_registry.validation_messages import format_loc, validate_model
from icon_registry.yaml_io import load_yaml_text


def test_validate_model_generic():
    doc = load_yaml_text("rows: []\ncolumns:\n  - {id: A, label: x}\n", file="table.yaml")
    with pytest.raises(IconError) as info:
        validate_model(TableSpec, doc.data, doc.lines, doc.file)
    assert info.value.problems == [
        "table.yaml:1: rows: must not be empty",
        "table.yaml:3: columns[0].id: 'A' is not a valid id (lowercase letters, digits and '_', starting with a letter)",
        "table.yaml:3: columns[0]: missing field 'description'",
    ]
    with pytest.raises(IconError, match=r"^x.yaml:1: expected a mapping of fields, got an empty file$"):
        validate_model(TableSpec, None, {}, "x.yaml")


def test_format_loc():
    assert format_loc(("q", "kernel", "kind")) == "q.kernel.kind"
    assert format_loc(("claims", 0, "kind")) == "claims[0].kind"
    assert format_loc(()) == ""


def test_value_problem_words_a_single_value_like_a_field():
    """`icon new ID` checks its argument against schema.Id with the words `icon validate` uses."""
    from icon_registry.schema import Id
    from icon_registry.validation_messages import value_problem

    assert value_problem(Id, "my_method") is None
    assert value_problem(Id, "a" * 64) is None
    assert value_problem(Id, "a" * 65) == "at most 64 characters, got 65"
    assert value_problem(Id, "simclr\n") == ("'simclr\\n' is not a valid id (lowercase letters, digits and '_', "
                                              "starting with a letter)")


def test_a_formula_written_as_a_yaml_number_is_that_number():
    """`offset: 0` and `factor: 2` (as the entry-format page suggests) were 'expected a string, got 0'."""
    from pydantic import ValidationError

    from icon_registry.claims import LimitClaim

    claim = LimitClaim.model_validate({"kind": "limit", "parameter": "sigma", "to": "infinity", "offset": 0,
                                       "factor": 2, "scale": 0.5})
    assert (claim.offset, claim.factor, claim.scale) == ("0", "2", "0.5")
    with pytest.raises(ValidationError):
        LimitClaim.model_validate({"kind": "limit", "parameter": "sigma", "to": "infinity", "offset": True})
