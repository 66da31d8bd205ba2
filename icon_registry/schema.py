"""The catalog's entry format: pydantic models that forbid unknown fields.

One YAML file per method (catalog/methods/<id>.yaml) validates into ``Entry``;
catalog/table.yaml validates into ``TableSpec``. The p and q trees are recursive
discriminated unions over ``kind:`` (see ``icon_registry.kernels`` and
``icon_registry.distributions``).
"""

from __future__ import annotations

import math
import numbers
import re
import typing
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, \
    model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from icon_registry.claims import ClaimSpec
from icon_registry.distributions import DistributionSpec
from icon_registry.errors import quote, shorten, suggest
from icon_registry.formula.grammar import reserved_names
from icon_registry.validation_messages import data_loc

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
#: An id is a file name (<id>.yaml) and a word in messages and URLs: long ones only break those.
ID_MAX_LENGTH = 64
#: Every id field (entry, cell, relation target, table row and column); ``icon new`` checks its
#: ID argument against it too (validation_messages.value_problem).
Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)]


def _check_name(name: str) -> str:
    """A name shows in listings, tables and page titles: it needs visible text, on one line."""
    if not name.strip():
        raise ValueError(f"{quote(name)} has no visible text")
    if not name.isprintable():
        raise ValueError(f"{quote(name)} contains a control character")
    return name


def _check_alias(alias: str) -> str:
    """Aliases are names as people write them ('t-SNE', "Lloyd's algorithm"), so not ids; they
    must still be usable as a command-line argument that names exactly this entry."""
    if alias != alias.strip():
        raise ValueError(f"alias {quote(alias)} starts or ends with a space")
    if not alias.isprintable():
        raise ValueError(f"alias {quote(alias)} contains a control character")
    if not any(char.isalnum() for char in alias):
        raise ValueError(f"alias {quote(alias)} has no letter or digit")
    if any(char in "*?[]" for char in alias):  # `icon list` reads them as a glob
        raise ValueError(f"alias {quote(alias)} contains a glob character (* ? [ ])")
    if any(char in "/\\" for char in alias):  # `icon verify` takes such an argument for a file
        raise ValueError(f"alias {quote(alias)} contains a path separator (/ or \\)")
    return alias


Alias = Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH), AfterValidator(_check_alias)]


def _non_finite(data, path=()):
    """(path, value) of every infinite or NaN number in YAML data (.inf, 1e999, .nan)."""
    if isinstance(data, float) and not math.isfinite(data):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _non_finite(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _non_finite(value, path + (index,))


_PYDANTIC_ERROR_TYPES = frozenset(typing.get_args(ErrorType))


def _error_details(error: dict) -> InitErrorDetails:
    """One error of a caught ValidationError, to raise again in another (our own custom
    types, such as 'formula', are not pydantic's and travel with their message)."""
    kind = error["type"]
    if kind not in _PYDANTIC_ERROR_TYPES:
        kind = PydanticCustomError(kind, error["msg"])
    return InitErrorDetails(type=kind, loc=error["loc"], input=error["input"], ctx=error.get("ctx", {}))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paper(_Model):
    title: str = Field(min_length=1)
    authors: list[str] = Field(min_length=1)
    # strict: YAML's true, '2020' and 2.02e3 are not years someone meant
    year: int = Field(ge=1900, le=2100, strict=True)
    venue: str = Field(min_length=1)
    link: str = Field(pattern=r"^https://(arxiv\.org/abs/|doi\.org/|[a-z0-9.-]+/)\S+$")


class Cell(_Model):
    row: Id
    column: Id


#: A parameter's default or bound: an int or a float, never a bool or a string (a lax float takes
#: YAML's true as 1.0, which the compiled loss then refuses as a value at call time)
Number = Annotated[float, Field(strict=True)]


class Parameter(_Model):
    default: Number
    min: Optional[Number] = None
    max: Optional[Number] = None
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
        if self.integer and not self.default.is_integer():  # int() of an infinite default would raise
            raise ValueError(f"default {self.default} is not an integer")
        return self

    def check(self, name: str, value) -> float:
        """The value, or a ValueError saying which bound it breaks."""
        # numbers.Real: numpy's float32 and int64 scalars too (a value read off an array); numpy's bool is not one
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"parameter '{name}' must be a number, got {type(value).__name__}")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int past float's range (10**400)
            finite = False
        if not finite:
            raise ValueError(f"parameter '{name}' must be a finite number, got {shorten(value)}")
        if self.integer and value != int(value):
            raise ValueError(f"parameter '{name}' must be an integer, got {value}")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            low = "-inf" if self.min is None else self.min
            high = "inf" if self.max is None else self.max
            raise ValueError(f"parameter '{name}' = {value} is outside its range [{low}, {high}]")
        return int(value) if self.integer else float(value)


class Limit(_Model):
    """The rows sigma -> inf and sigma -> 0: the loss is evaluated at a finite parameter value
    and multiplied by parameter**scale_power, which converges to the published limit form."""

    parameter: str
    to: Literal["infinity", "zero"]
    scale_power: int = 2


class Prefactor(_Model):
    """The published loss multiplies the I-Con objective by parameter**power (knowledge
    distillation's T^2, which keeps the gradients' size when the temperature changes). Unlike a
    limit's scale, it is part of the objective every claim sees."""

    parameter: str
    power: int = 2
    reason: str = Field(min_length=3, description="why the published loss carries the factor")


class Loss(_Model):
    """The published loss (or, for a gap cell, the objective the cell defines) as a formula."""

    formula: str = Field(min_length=1, description="the loss in the formula language (see `icon formula`)")
    where: dict[str, str] = Field(
        {},
        description="named sub-expressions, e.g. 'P[i, j]: (p[i, j] + p[j, i]) / (2*n)': usable in every formula "
        "of the entry and written out where they are used; the docs show each on its own line",
    )
    reduction: Literal["sum", "mean"] = Field(
        "sum", description="how the formula combines anchors: sum, or mean over the anchors with a non-empty p"
    )
    description: str = Field(min_length=1, description="the objective in words")


class Relation(_Model):
    kind: Literal["special_case_of", "limit_of", "variant_of", "corrected_by", "generalizes", "same_objective_as"]
    target: Id
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
    the two together. ``load_catalog().get(id)`` returns one; ``compile_loss(entry)`` compiles
    it; ``Entry.from_yaml(text)`` or ``Entry.model_validate(dict)`` builds one (both run every
    check ``icon validate`` runs on one entry, formulas included).
    """

    id: Id = Field(description="lowercase letters, digits and '_'; the file name without .yaml")
    name: Annotated[str, AfterValidator(_check_name)] = Field(min_length=1, description="the method's name as "
                                                                "people write it")
    aliases: list[Alias] = Field([], description="other names `icon list` and `icon show` accept (no glob "
                                 "characters or path separators)")
    summary: str = Field(min_length=1, description="the objective in one sentence")
    status: Literal["published", "gap", "new"] = Field(
        description="published: a paper's loss (needs paper:); gap: an empty cell of the periodic table, the "
        "objective its row and column define (no paper); new: a method of your own"
    )
    paper: Optional[Paper] = Field(None, description="title, authors, year, venue and an https link")
    cell: Cell = Field(description="the cell of the periodic table: row = kind of learned q, column = kind of p "
                       "(ids from the catalog's table.yaml)")
    mapper: Literal["lookup", "linear", "network", "prototypes", "cluster_head"] = Field(
        description="what maps inputs to z: lookup (one free vector per item, as SNE), linear, network, "
        "prototypes (class prototypes w beside a network), cluster_head (z are cluster logits)"
    )
    direction: Literal["forward", "reverse"] = Field(
        "forward", description="forward: KL(p || q); reverse: KL(q || p) (clustering, learned distribution on the left)"
    )
    p: DistributionSpec = Field(description="the supervisory distribution p(j|i), a tree of kinds (`icon show` "
                                "and the docs' kernels page list them)")
    q: DistributionSpec = Field(description="the learned distribution q(j|i), computed from z")
    limit: Optional[Limit] = Field(None, description="for a limit row: the parameter, where it goes and the "
                                   "power of it the compiled loss multiplies by")
    prefactor: Optional[Prefactor] = Field(
        None, description="parameter**power multiplying the objective in the published loss (knowledge distillation's "
        "T**2): parameter, power and the reason")
    parameters: dict[str, Parameter] = Field({}, description="name -> default, min, max, integer, description; "
                                             "p, q and the formulas use them by name")
    loss: Loss = Field(description="the published loss as a formula, its reduction and a description")
    claims: list[ClaimSpec] = Field(min_length=1, description="what `icon verify` checks: how the I-Con objective "
                                    "relates to loss.formula")
    relations: list[Relation] = Field([], description="links to other entries (special_case_of, variant_of, ...)")
    peers: list[Peer] = Field([], description="the same loss in other libraries, and how their conventions differ")
    errata: list[Erratum] = Field([], description="mistakes in the paper or its code, and the correction")
    notes: str = Field("", description="anything else a reader should know (parametrization, conventions)")
    beyond_paper: bool = Field(
        False, description="a method the I-Con paper does not derive: the site shows it in the table beyond the paper")

    @classmethod
    def from_yaml(cls, text, *, file: Optional[str] = None) -> "Entry":
        """An entry from YAML text (loaded safely); every problem is one ``IconError`` line
        ``file:line: field: message``, as from ``icon validate``."""
        from icon_registry.catalog import validate_model
        from icon_registry.yaml_io import load_yaml_text

        document = load_yaml_text(text, file=file)
        return validate_model(cls, document.data, document.lines, file)

    @classmethod
    def model_validate(cls, obj, *, context: Optional[dict] = None, **options) -> "Entry":
        """An entry from a mapping of fields; every problem is one ``IconError`` line ``field:
        message``, as from ``from_yaml`` (there is no file or line to name). ``options`` are
        pydantic's (strict, from_attributes)."""
        from icon_registry.validation_messages import validate_model

        return validate_model(cls, obj, context=context, options=options)

    @model_validator(mode="wrap")
    @classmethod
    def _finite(cls, data, handler):
        # every number of an entry is a parameter, a bound or a kernel constant: an infinite one
        # validates against any range and then breaks training, `icon show` and JSON output
        non_finite = list(_non_finite(data))
        if not non_finite:
            return handler(data)
        # the entry's other problems too, so that one run reports them all
        errors = []
        try:
            handler(data)
        except ValidationError as err:
            errors = err.errors()

        def under(path, error) -> bool:
            loc = data_loc(cls, error["loc"])
            return bool(loc) and path[:len(loc)] == loc

        unknown = [error for error in errors if error["type"] == "extra_forbidden"]
        problems = [InitErrorDetails(type="finite_number", loc=path, input=value) for path, value in non_finite
                    if not any(under(path, error) for error in unknown)]  # an unknown field is the problem there
        # a problem at or above a non-finite value is one it causes (a range check of an infinite bound)
        problems += [_error_details(error) for error in errors if error["type"] == "extra_forbidden"
                     or not any(under(path, error) for path, _ in non_finite)]
        raise ValidationError.from_exception_data(cls.__name__, problems)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, parameters):
        # each problem at its own parameter (loc parameters.<name>), so at the line that names it
        problems = []
        for name in parameters:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
                problems.append((name, f"parameter name {quote(name)} must be an identifier"))
            elif name in reserved_names():
                problems.append((name, f"parameter name {quote(name)} is reserved by the formula language"))
        if problems:
            raise ValidationError.from_exception_data(
                cls.__name__, [InitErrorDetails(type=PydanticCustomError("parameter_name", message), loc=(name,),
                                                input=name) for name, message in problems])
        return parameters

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo):
        if self.status == "published" and self.paper is None:
            raise ValueError("a published entry needs 'paper'")
        used = self.p.parameter_refs() | self.q.parameter_refs()
        if self.limit is not None:
            used.add(self.limit.parameter)
        if self.prefactor is not None:
            used.add(self.prefactor.parameter)
        unknown = sorted(used - set(self.parameters))
        if unknown:
            declared = ", ".join(sorted(self.parameters)) or "none"
            names = ", ".join(quote(name) for name in unknown)
            raise ValueError(f"parameter{'s' * (len(unknown) > 1)} {names} {'are' if len(unknown) > 1 else 'is'} not "
                             f"declared under 'parameters'{suggest(unknown[0], self.parameters)} (declared: {declared})")
        if (info.context or {}).get("formulas_checked"):  # the same data passed before (checked_files)
            return self
        from icon_registry.static_check import entry_problems

        problems = entry_problems(self)
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [InitErrorDetails(type=PydanticCustomError("formula", message), loc=loc, input=None)
                 for loc, message in problems],
            )
        return self


class TableAxis(_Model):
    id: Id
    label: str = Field(min_length=1)
    description: str = Field(min_length=1)
    beyond_paper: bool = Field(False, description="a row or column the paper's table does not have")


class TableSpec(_Model):
    rows: list[TableAxis] = Field(min_length=1, description="kinds of learned q, top to bottom")
    columns: list[TableAxis] = Field(min_length=1, description="kinds of supervisory p, left to right")


class TableAddition(_Model):
    """The table.yaml of a folder loaded beside a catalog that has its table (the built-in one):
    the rows and columns it adds, appended in this order; either may be left out, and one that
    repeats an existing id must repeat it exactly."""

    rows: list[TableAxis] = Field(default_factory=list, description="kinds of learned q to add")
    columns: list[TableAxis] = Field(default_factory=list, description="kinds of supervisory p to add")

    @model_validator(mode="after")
    def _adds_an_axis(self):
        if not self.rows and not self.columns:
            raise ValueError("a table added to a catalog's own gives rows, columns or both: it has neither")
        return self
