"""The catalog's entry format: pydantic models that forbid unknown fields.

One YAML file per method (catalog/methods/<id>.yaml) validates into ``Entry``;
catalog/table.yaml validates into ``TableSpec``. The p and q trees are recursive
discriminated unions over ``kind:`` (see ``icon_registry.kernels`` and
``icon_registry.distributions``).
"""

from __future__ import annotations

import math
import re
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from icon_registry.claims import ClaimSpec
from icon_registry.distributions import DistributionSpec

ID_PATTERN = r"^[a-z][a-z0-9_]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paper(_Model):
    title: str = Field(min_length=1)
    authors: list[str] = Field(min_length=1)
    year: int = Field(ge=1900, le=2100)
    venue: str = Field(min_length=1)
    link: str = Field(pattern=r"^https://(arxiv\.org/abs/|doi\.org/|[a-z0-9.-]+/)\S+$")


class Cell(_Model):
    row: str = Field(pattern=ID_PATTERN)
    column: str = Field(pattern=ID_PATTERN)


class Parameter(_Model):
    default: float
    min: Optional[float] = None
    max: Optional[float] = None
    integer: bool = False
    description: str = Field(min_length=1)

    @model_validator(mode="after")
    def _default_in_range(self):
        low = -math.inf if self.min is None else self.min
        high = math.inf if self.max is None else self.max
        if low > high:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if not low <= self.default <= high:
            raise ValueError(f"default {self.default} is outside the range [{low}, {high}]")
        if self.integer and self.default != int(self.default):
            raise ValueError(f"default {self.default} is not an integer")
        return self

    def check(self, name: str, value) -> float:
        """The value, or a ValueError saying which bound it breaks."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"parameter '{name}' must be a number, got {type(value).__name__}")
        if self.integer and value != int(value):
            raise ValueError(f"parameter '{name}' must be an integer, got {value}")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ValueError(f"parameter '{name}' = {value} is outside its range [{self.min}, {self.max}]")
        return int(value) if self.integer else float(value)


class Limit(_Model):
    """The rows sigma -> inf and sigma -> 0: the loss is evaluated at a finite parameter value
    and multiplied by parameter**scale_power, which converges to the published limit form."""

    parameter: str
    to: Literal["infinity", "zero"]
    scale_power: int = 2


class Loss(_Model):
    """The published loss (or, for a gap cell, the objective the cell defines) as a formula."""

    formula: str = Field(min_length=1)
    reduction: Literal["sum", "mean"] = "sum"
    description: str = Field(min_length=1, description="the objective in words")


class Relation(_Model):
    kind: Literal["special_case_of", "limit_of", "variant_of", "corrected_by", "generalizes", "same_objective_as"]
    target: str = Field(pattern=ID_PATTERN)
    note: str = ""


class Peer(_Model):
    library: Literal["pytorch-metric-learning", "lightly", "scikit-learn", "torch"]
    object: str = Field(min_length=1)
    convention: str = Field(min_length=1, description="how the peer's convention differs from ours")


class Erratum(_Model):
    where: str = Field(min_length=1, description="where the paper or code states it, e.g. 'Table 1'")
    printed: str = Field(min_length=1)
    corrected: str = Field(min_length=1)


class Entry(_Model):
    """One catalog entry (one ``catalog/methods/*.yaml`` file), validated: a named loss placed in
    a cell of the periodic table, with its supervisory p and learned q as trees of kernels and
    distributions, its parameters, its published loss as a formula, and the claims that tie
    the two together. ``load_catalog().get(id)`` returns one; ``compile_loss(entry)`` compiles it.
    """

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1)
    aliases: list[str] = []
    summary: str = Field(min_length=1, description="the objective in one sentence")
    status: Literal["published", "gap", "new"]
    paper: Optional[Paper] = None
    cell: Cell
    mapper: Literal["lookup", "linear", "network", "prototypes", "cluster_head"]
    direction: Literal["forward", "reverse"] = Field(
        "forward", description="forward: KL(p || q); reverse: KL(q || p) (clustering, learned distribution on the left)"
    )
    p: DistributionSpec
    q: DistributionSpec
    limit: Optional[Limit] = None
    parameters: dict[str, Parameter] = {}
    loss: Loss
    claims: list[ClaimSpec] = Field(min_length=1)
    relations: list[Relation] = []
    peers: list[Peer] = []
    errata: list[Erratum] = []
    notes: str = ""

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, parameters):
        for name in parameters:
            if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", name):
                raise ValueError(f"parameter name '{name}' must be an identifier")
        return parameters

    @model_validator(mode="after")
    def _consistent(self):
        if self.status == "published" and self.paper is None:
            raise ValueError("a published entry needs 'paper'")
        used = self.p.parameter_refs() | self.q.parameter_refs()
        if self.limit is not None:
            used.add(self.limit.parameter)
        unknown = sorted(used - set(self.parameters))
        if unknown:
            raise ValueError(f"kernel parameters {unknown} are not declared under 'parameters'")
        return self


class TableAxis(_Model):
    id: str = Field(pattern=ID_PATTERN)
    label: str = Field(min_length=1)
    description: str = Field(min_length=1)


class TableSpec(_Model):
    rows: list[TableAxis] = Field(min_length=1, description="kinds of learned q, top to bottom")
    columns: list[TableAxis] = Field(min_length=1, description="kinds of supervisory p, left to right")
