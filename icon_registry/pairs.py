"""The batch a loss sees, and the anchor x candidate spaces its distributions live on.

``Inputs`` holds what the caller passed (backend arrays) and the resolved parameters.
``Pairs`` is one candidate space: rows are anchors i, columns are candidates j, which are
either the batch itself, each anchor's given candidates (``neighbors``), or the class
prototypes. Kernels ask a ``Pairs`` for pairwise quantities and never care which layout
they are on, so one kernel definition serves every support.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from icon_registry.errors import IconError

#: Names of the per-batch arguments a compiled loss accepts besides ``z``.
INPUT_NAMES = ("x", "labels", "ids", "modality", "neighbors", "graph")


@dataclass
class Inputs:
    backend: Any
    z: Any
    n: int
    params: dict[str, Any]
    x: Any = None
    labels: Any = None
    ids: Any = None
    modality: Any = None
    neighbors: Any = None
    graph: Any = None
    prototypes: Any = None
    entry_id: str = "?"
    _cache: dict = field(default_factory=dict, repr=False)

    def param(self, ref):
        """A parameter reference from an entry: a literal number or a parameter name."""
        if isinstance(ref, str):
            return self.params[ref]
        return ref

    def require(self, name: str, why: str):
        value = getattr(self, name)
        if value is None:
            raise IconError(f"{self.entry_id}: argument '{name}' is required ({why})", argument=name)
        return value

    def cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


@dataclass
class Pairs:
    """Anchors x candidates. ``layout`` is 'batch', 'candidates' or 'prototypes'."""

    inputs: Inputs
    layout: str
    support: Any  # bool mask (n, m): the candidates each anchor's distribution ranges over

    @property
    def backend(self):
        return self.inputs.backend

    def vectors(self, on: str):
        if on == "z":
            return self.inputs.z
        return self.inputs.require("x", "a kernel on the input space reads x")

    def sqdist(self, on: str, cosine: bool = False):
        key = ("sqdist", self.layout, on, cosine)
        return self.inputs.cached(key, lambda: self._pairwise(on, cosine, "sqdist"))

    def dot(self, on: str, cosine: bool = False):
        key = ("dot", self.layout, on, cosine)
        return self.inputs.cached(key, lambda: self._pairwise(on, cosine, "dot"))

    def _pairwise(self, on, cosine, quantity):
        B = self.backend
        a = self.vectors(on)
        if cosine:
            a = B.normalize_rows(a)
        if self.layout == "candidates":
            b = a[self.inputs.neighbors]
            if quantity == "dot":
                return (a[:, None, :] * b).sum(-1)
            diff = a[:, None, :] - b
            return (diff * diff).sum(-1)
        b = a
        if self.layout == "prototypes":
            if on != "z":
                raise IconError(f"{self.inputs.entry_id}: prototypes live in the learned space z")
            b = B.normalize_rows(self.inputs.prototypes) if cosine else self.inputs.prototypes
        if quantity == "dot":
            return a @ b.T
        return B.sqdist(a, b)

    def same(self, name: str):
        """Mask of pairs whose ``name`` (ids, labels, modality) agree."""
        values = self.inputs.require(name, f"pairs are matched by equal {name}")
        if self.layout == "prototypes":
            return values[:, None] == self.class_index()[None, :]
        if self.layout == "candidates":
            return values[:, None] == values[self.inputs.neighbors]
        return values[:, None] == values[None, :]

    def class_index(self):
        return self.class_index_like(self.inputs.prototypes.shape[0])

    def is_self(self):
        if self.layout != "batch":
            raise IconError(f"{self.inputs.entry_id}: the identity kernel needs the batch itself as candidates")
        return self.backend.eye_mask(self.inputs.n, self.inputs.z)

    def position(self, index: int):
        if self.layout != "candidates":
            raise IconError(f"{self.inputs.entry_id}: candidate_position needs support 'candidates'")
        columns = self.class_index_like(self.support.shape[1])
        return (columns == index)[None, :] & self.support

    def class_index_like(self, m: int):
        if self.backend.symbolic:
            return np.arange(m)
        return torch.arange(m, device=self.inputs.z.device)


Support = Literal["others", "all", "other_modality", "candidates", "prototypes"]

#: What each support means, for the docs and ``icon show``.
SUPPORTS: dict[str, str] = {
    "others": "every other item of the batch, k != i",
    "all": "every item of the batch, i included",
    "other_modality": "the items of the other modality (CLIP, CMC)",
    "candidates": "the anchor's given candidates, neighbors[i] (e.g. triplet's positive and negative)",
    "prototypes": "the class prototypes w_c instead of data points",
}


def pairs_on(inputs: Inputs, support: str) -> Pairs:
    """The candidate space a distribution with this support lives on."""
    B = inputs.backend
    n, z = inputs.n, inputs.z
    if support == "candidates":
        neighbors = inputs.require("neighbors", "support 'candidates' reads each anchor's candidates")
        return Pairs(inputs, "candidates", B.full_mask(tuple(neighbors.shape), z))
    if support == "prototypes":
        protos = inputs.require("prototypes", "support 'prototypes' needs class prototypes")
        return Pairs(inputs, "prototypes", B.full_mask((n, protos.shape[0]), z))
    pairs = Pairs(inputs, "batch", B.full_mask((n, n), z))
    if support == "others":
        pairs.support = ~B.eye_mask(n, z)
    elif support == "other_modality":
        pairs.support = ~pairs.same("modality")
    return pairs
