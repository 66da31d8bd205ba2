"""Distributions: a kernel normalized over a support, and the modifiers that transform one."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from icon_registry.distributions.base import Dist, Distribution
from icon_registry.distributions.cluster import ClusterAssignments
from icon_registry.distributions.mix_uniform import MixUniform
from icon_registry.distributions.normalize import Normalize
from icon_registry.distributions.propagate import Propagate
from icon_registry.distributions.symmetrize import Symmetrize

DISTRIBUTION_CLASSES = (Normalize, MixUniform, Propagate, Symmetrize, ClusterAssignments)

DistributionSpec = Annotated[Union[DISTRIBUTION_CLASSES], Field(discriminator="kind")]
for _cls in (MixUniform, Propagate, Symmetrize):
    _cls.model_rebuild(_types_namespace={"DistributionSpec": DistributionSpec})

DISTRIBUTIONS: dict[str, type[Distribution]] = {
    cls.model_fields["kind"].annotation.__args__[0]: cls for cls in DISTRIBUTION_CLASSES
}

__all__ = ["DISTRIBUTIONS", "Dist", "Distribution", "DistributionSpec", *[c.__name__ for c in DISTRIBUTION_CLASSES]]
