"""The claims an entry makes about its I-Con objective, each checked by ``icon verify``.

Formulas are strings in the safe math language (``icon_registry.formula``); the verifier
parses them, never evaluates them as Python.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class _Claim(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    note: str = ""


class IdentityClaim(_Claim):
    """sum_i KL(p_i || q_i) (or the cross entropy) equals the entry's loss formula exactly."""

    kind: Literal["identity"]
    objective: Literal["kl", "cross_entropy"] = "kl"


class UpToConstantClaim(_Claim):
    """objective - loss does not depend on any learnable quantity; the constant is named."""

    kind: Literal["up_to_constant"]
    objective: Literal["kl", "cross_entropy"] = "kl"
    constant: str = Field(description="the constant objective - loss, as a formula")
    constant_name: str = Field(description="what the constant is, in words (e.g. H(p))")


class LimitClaim(_Claim):
    """In parameter -> 0 or infinity, scale * (objective - offset) tends to factor * equals."""

    kind: Literal["limit"]
    parameter: str
    to: Literal["infinity", "zero"]
    objective: Literal["kl", "cross_entropy"] = "cross_entropy"
    scale: str = Field("1", description="formula multiplying the objective, e.g. sigma**2")
    offset: str = Field("0", description="constant subtracted before scaling, e.g. log(n)")
    equals: str = Field(description="the limit, as a formula")
    factor: str = Field("1", description="positive factor between the limit and `equals`")
    sandwich: bool = Field(
        False, description="also check loss - scale*log(2) <= equals <= loss at finite values (triplet)"
    )


class ReverseKlEntropyClaim(_Claim):
    """K-Means form: sum_i KL(q_i || p_i) = cost / sigma^2 - sum_i H(q_i) + const."""

    kind: Literal["reverse_kl_entropy"]
    cost: str = Field(description="the clustering cost, as a formula")
    factor: str = Field(description="the factor in front of the cost, e.g. 1/(2*sigma**2)")


class UnprovedClaim(_Claim):
    kind: Literal["unproved"]
    statement: str = Field(min_length=3, description="what the paper states")
    reason: str = Field(min_length=3, description="why no proof is given, e.g. 'by analogy in the paper'")


CLAIM_CLASSES = (IdentityClaim, UpToConstantClaim, LimitClaim, ReverseKlEntropyClaim, UnprovedClaim)
ClaimSpec = Annotated[Union[CLAIM_CLASSES], Field(discriminator="kind")]
