"""Random batches for the oracle, much richer than the verifier's fixed instances.

A batch has n = 5..14 items; source ids with 1, 2, 3 or 4 views; classes of sizes 1..4 (and
empty prototype classes); two or three modalities of unequal sizes with each id's views
spread over them; random candidates / neighbour lists / weighted graphs; random z, x and
prototypes; every parameter drawn at random within its declared range. Half the batches are
"complete" (every id has a second view on another modality, every class two members, every
graph row an edge): on the other half some anchors have nothing to be matched with, which a
catalog formula may leave undefined (the oracle then ignores the batch for that entry).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Batch:
    seed: int
    n: int
    ids: np.ndarray
    labels: np.ndarray
    modality: np.ndarray
    neighbors: np.ndarray  # (n, width) indices, never the anchor itself
    graph: np.ndarray  # (n, n) symmetric, non-negative, zero diagonal
    num_classes: int
    z: np.ndarray
    x: np.ndarray
    w: np.ndarray  # (num_classes, d) prototypes
    teacher: np.ndarray  # (n, d) a teacher's probabilities over z's d outputs (some exactly 0 unless complete)
    center: np.ndarray  # (d,)
    keys: np.ndarray  # (n, d) each anchor's own key
    bank: np.ndarray  # (m, d) memory bank rows
    bank_ids: np.ndarray  # (m,) ids of the batch's groups, and ids no item has
    bank_labels: np.ndarray  # (m,) class indices
    unit_draws: list = field(default_factory=list)  # per parameter, a uniform draw in [0, 1)
    complete: bool = True

    def with_z(self, z: np.ndarray, w: np.ndarray | None = None) -> "Batch":
        """The same data and structure with other learnables (for constancy in z)."""
        from dataclasses import replace

        return replace(self, z=z, w=self.w if w is None else w)


def _group_sizes(rng, n, smallest):
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(smallest, 5)))
    sizes[-1] -= sum(sizes) - n
    if sizes[-1] < smallest:  # fold a too-small last group into the previous one
        extra = sizes.pop()
        sizes[-1] += extra
    return sizes


def make_batch(seed: int, *, candidate_width: int | None = None) -> Batch:
    """Batch number ``seed``. ``candidate_width`` 2 gives triplet [pos, neg] candidate rows."""
    rng = np.random.default_rng([20260, seed])
    complete = seed % 2 == 0
    n = int(rng.integers(5, 15))
    smallest = 2 if complete else 1
    # ids: groups of 1..4 views, shuffled; each group spread over the modalities
    num_modalities = 2 if rng.uniform() < 0.7 else 3
    ids = np.empty(n, dtype=np.int64)
    modality = np.empty(n, dtype=np.int64)
    position = 0
    order = rng.permutation(n)
    for group, size in enumerate(_group_sizes(rng, n, smallest)):
        members = order[position:position + size]
        position += size
        ids[members] = group
        first = rng.permutation(num_modalities)
        for k, item in enumerate(members):
            modality[item] = first[k] if k < num_modalities else rng.integers(num_modalities)
    labels = np.empty(n, dtype=np.int64)
    order = rng.permutation(n)
    position = 0
    sizes = _group_sizes(rng, n, smallest)
    for label, size in enumerate(sizes):
        labels[order[position:position + size]] = label
        position += size
    num_classes = len(sizes) + int(rng.integers(0, 3))  # some prototypes without items
    width = candidate_width or int(rng.integers(1, min(4, n - 1) + 1))
    neighbors = np.stack([rng.choice([k for k in range(n) if k != i], size=width, replace=False) for i in range(n)])
    weights = rng.uniform(0.1, 1.0, (n, n)) * (rng.uniform(size=(n, n)) < 0.5)
    graph = np.triu(weights, 1)
    graph = graph + graph.T
    if complete:
        for i in np.flatnonzero(graph.sum(1) == 0):
            j = (i + 1 + int(rng.integers(n - 1))) % n
            graph[i, j] = graph[j, i] = rng.uniform(0.1, 1.0)
    d = int(rng.integers(2, 6))
    z = rng.normal(size=(n, d))
    x = rng.normal(size=(n, int(rng.integers(2, 6))))
    w = rng.normal(size=(num_classes, d))
    teacher = np.exp(rng.normal(size=(n, d)))
    if not complete:
        teacher[rng.uniform(size=(n, d)) < 0.3] = 0.0
        teacher[np.arange(n), rng.integers(d, size=n)] = 1.0  # every row keeps some mass
    teacher /= teacher.sum(1, keepdims=True)
    center = rng.normal(size=d)
    keys = rng.normal(size=(n, d))
    m = int(rng.integers(3, 8))
    bank = rng.normal(size=(m, d))
    bank_ids = rng.choice(np.concatenate([ids, [ids.max() + 1, ids.max() + 2]]), size=m)
    if complete:  # every id of the batch has a row in the bank
        bank_ids = np.concatenate([np.unique(ids), bank_ids])
        bank = np.concatenate([rng.normal(size=(len(bank_ids) - m, d)), bank])
    bank_labels = rng.integers(0, num_classes, size=len(bank_ids))
    draws = list(rng.uniform(size=8))
    return Batch(seed, n, ids, labels, modality, neighbors, graph, num_classes, z, x, w, teacher, center, keys, bank,
                 bank_ids, bank_labels, draws, complete)


def draw_parameters(entry, batch: Batch, perplexities: set) -> dict:
    """A value for each parameter of ``entry``, in its declared range, from the batch's draws.

    Parameters are drawn by position, so a variant with a renamed parameter sees the same
    value. Integers keep their default (e.g. propagation steps the formula is written for);
    perplexities lie well inside (1, n - 1) where the calibration has a solution.
    """
    params = {}
    for position, (name, spec) in enumerate(entry.parameters.items()):
        u = batch.unit_draws[position % len(batch.unit_draws)]
        if spec.integer:
            params[name] = int(spec.default)
            continue
        if name in perplexities:
            low, high = 1.5, max(1.6, 0.6 * (batch.n - 1))
            value = low + u * (high - low)
        elif spec.default > 0:
            low, high = math.log(spec.default / 2.5), math.log(spec.default * 2.5)
            value = math.exp(low + u * (high - low))
        else:
            value = u
        low = -math.inf if spec.min is None else spec.min
        high = math.inf if spec.max is None else spec.max
        params[name] = float(min(max(value, low), high))
    return params
