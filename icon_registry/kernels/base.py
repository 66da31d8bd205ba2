"""What every kernel is: a non-negative weight w(i, j) on a candidate space.

A kernel returns ``Weights``: log w(i, j) where the weight is positive, and the mask of
those pairs. Indicator kernels (identity, same id, same label, kNN, ...) have log w = 0 on
their mask and ``log_weights`` None, so that a uniform distribution is never computed as
exp(0) / sum exp(0) on the hot path.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from icon_registry.deferred import Deferred
from icon_registry.pairs import Pairs

#: A number written in the entry, or the name of one of the entry's parameters.
ParamRef = Union[float, str]


class Weights:
    """``log_weights``: (n, m) array, or None for an indicator kernel (log w = 0 on the mask).
    ``mask``: (n, m) bool, where w(i, j) > 0, or a zero-argument callable computing it on first
    use. Always inside ``pairs.support`` (every kernel restricts to it), so a distribution never
    masks twice; ``pairs.support`` itself when w > 0 on all of it.
    ``column``: (n,) the column of each row's pair, when the mask has exactly one pair per row,
    so that a one-hot p is read off the labels instead of searched for in an n x m mask.
    ``pairs_index``: (rows, cols) of the mask's pairs in row-major order, when they were found
    without the mask (a fixed p is then held at them and the mask is made only if asked for)."""

    mask = Deferred()

    def __init__(self, log_weights, mask, column=None, pairs_index=None):
        self.log_weights = log_weights
        self.mask = mask
        self.column = column
        self.pairs_index = pairs_index

    @property
    def deferred_mask(self):
        """The mask, or while it is deferred a callable reading it through these weights (for a
        distribution that defers it too: computed once, whoever asks first)."""
        return (lambda: self.mask) if callable(self._mask) else self._mask


def equal_value_weights(pairs, name: str) -> Weights:
    """The indicator 1[v_j = v_i] of the argument ``name`` (ids, labels) inside the support. Where the
    backend finds those pairs by sorting the values (``Pairs.same_pairs``: 'others' over a whole
    batch, in eager torch), the n x n mask is made from them only if something asks for it (made
    from the pairs, not the batch: a p kept for the next call must not keep this call's batch)."""
    found = pairs.same_pairs(name)
    if found is None:
        return Weights(None, pairs.restrict(pairs.same(name)))
    rows, cols = found
    backend, shape = pairs.backend, (pairs.inputs.n_rows, pairs.width)
    return Weights(None, lambda: backend.dense_from_entries(rows, cols, True, shape, False), pairs_index=found)


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def parameter_refs(self) -> set[str]:
        """Names of entry parameters this node (and its children) reads."""
        names = set()
        for value in self.__dict__.values():
            children = value if isinstance(value, (list, tuple)) else [value]
            for child in children:
                if isinstance(child, Node):
                    names |= child.parameter_refs()
        for name in self.param_fields:
            ref = getattr(self, name)
            if isinstance(ref, str):
                names.add(ref)
        return names

    param_fields: ClassVar[tuple[str, ...]] = ()

    def nodes(self):
        """This node and every distribution or kernel below it."""
        stack = [self]
        while stack:
            current = stack.pop()
            yield current
            for value in current.__dict__.values():
                stack.extend(child for child in (value if isinstance(value, (list, tuple)) else [value])
                             if isinstance(child, Node))


class Kernel(Node):
    #: True for 0/1 kernels: their distribution is uniform over the mask.
    indicator: ClassVar[bool] = False
    #: One line of LaTeX for the docs; the verifier's proof sketches show the real expression.
    summary: ClassVar[str] = ""

    def summary_tex(self) -> str:
        """``summary`` in the form this kernel's fields select (the docs show it)."""
        return self.summary

    def weights(self, pairs: Pairs) -> Weights:
        raise NotImplementedError

    def cauchy_sqdist(self, pairs: Pairs):
        """A zero-argument callable giving the d2 with w = 1 / (1 + d2) on all of ``pairs.support``,
        when this kernel is t-SNE's Cauchy kernel in these parameters (its normalizer then needs no
        exp and no log); else None."""
        return None

    def cauchy_points(self, pairs: Pairs):
        """The vectors (n, d) whose squared distances ``cauchy_sqdist`` gives, when the support is
        every other item of the whole batch: the objective may then sum the Cauchy normalizer in
        blocks of rows from the vectors, never holding the n x n distances. None otherwise."""
        return None

    def grid_density(self, pairs: Pairs) -> float:
        """With ``cauchy_points``: the nodes per unit length of a grid on which the objective may
        interpolate the Cauchy normalizer's sums (an approximation); 0: summed exactly."""
        return 0.0

    def nearest_weights(self, pairs: Pairs):
        """(neighbors (n, k), Weights (n, k) on them) when this kernel's weights vanish outside each
        anchor's k nearest other items (in its own space) and the backend finds those without an
        n x n pass: a distribution over 'others' is then evaluated on the k alone. None: the
        weights may cover the whole support."""
        return None

    def inputs_used(self) -> set[str]:
        return set()


class SpaceKernel(Kernel):
    """A kernel on distances or similarities of vectors in the input (x) or learned (z) space."""

    space: Literal["x", "z"] = Field("z", description="x: the inputs (data side); z: the learned representations")

    def inputs_used(self) -> set[str]:
        return {"x"} if self.space == "x" else set()
