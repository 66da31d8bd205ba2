"""An item kernel pooled over classes: w(i, c) = sum_{j != i, y_j = c} k(i, j).

Normalized over the classes this is the probability that i picks a neighbour of class c
under the item softmax: q(c | i) = sum_{j in c} q(j | i), NCA's and the soft nearest
neighbour loss's quantity (support 'class_pools').
"""

from __future__ import annotations

from typing import ClassVar, Literal

from icon_registry.errors import IconError
from icon_registry.kernels.base import Kernel, Weights
from icon_registry.pairs import class_members, pairs_on


class ClassPool(Kernel):
    kind: Literal["class_pool"]
    of: "KernelSpec"
    summary: ClassVar[str] = r"\sum_{j \neq i,\, y_j = c} k(i, j)"

    def weights(self, pairs):
        inputs = pairs.inputs
        if pairs.layout != "class_pools":
            raise IconError(f"{inputs.entry_id}: the class_pool kernel needs support 'class_pools'")
        B = inputs.backend
        items = pairs_on(inputs, "others")
        inner = self.of.weights(items)
        mask = inner.mask if inner.mask is items.support else inner.mask & items.support
        log_weights = inner.log_weights if inner.log_weights is not None else B.as_float(mask, inputs.z) * 0
        members = class_members(inputs)
        pooled = B.pool_logsumexp(log_weights, mask, members)
        return Weights(pooled, B.bool_matmul(mask, members) & pairs.support)

    def inputs_used(self):
        return self.of.inputs_used() | {"labels"}
