"""The kernel library: one file per kernel kind, each the single definition of its math."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from icon_registry.kernels.any_of import AnyOf
from icon_registry.kernels.base import Kernel, Node, ParamRef, Weights
from icon_registry.kernels.candidate_position import CandidatePosition
from icon_registry.kernels.class_pool import ClassPool
from icon_registry.kernels.degree_softmax import DegreeSoftmax
from icon_registry.kernels.distance_power import DistancePower
from icon_registry.kernels.gaussian import Gaussian
from icon_registry.kernels.gaussian_dot import GaussianDot
from icon_registry.kernels.graph_weights import GraphWeights
from icon_registry.kernels.identity import Identity
from icon_registry.kernels.knn import Knn
from icon_registry.kernels.label_margin import LabelMargin
from icon_registry.kernels.logits import Logits
from icon_registry.kernels.own_key import OwnKey
from icon_registry.kernels.product import Product
from icon_registry.kernels.same_id import SameId
from icon_registry.kernels.same_label import SameLabel
from icon_registry.kernels.student_t import StudentT
from icon_registry.kernels.teacher_probabilities import TeacherProbabilities

KERNEL_CLASSES = (
    Gaussian,
    GaussianDot,
    StudentT,
    DistancePower,
    Identity,
    SameId,
    SameLabel,
    Knn,
    CandidatePosition,
    GraphWeights,
    DegreeSoftmax,
    AnyOf,
    Logits,
    TeacherProbabilities,
    OwnKey,
    ClassPool,
    Product,
    LabelMargin,
)

KernelSpec = Annotated[Union[KERNEL_CLASSES], Field(discriminator="kind")]
for _combinator in (AnyOf, ClassPool, Product):
    _combinator.model_rebuild(_types_namespace={"KernelSpec": KernelSpec})

#: kind -> class, for docs, suggestions and `icon show`.
KERNELS: dict[str, type[Kernel]] = {cls.model_fields["kind"].annotation.__args__[0]: cls for cls in KERNEL_CLASSES}

__all__ = ["KERNELS", "Kernel", "KernelSpec", "Node", "ParamRef", "Weights", *[c.__name__ for c in KERNEL_CLASSES]]
