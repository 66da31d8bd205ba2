"""Chunked evaluation: anchors in row blocks against all candidates, memory n x chunk.

Every I-Con objective is a sum over anchors, sum_i KL(p(.|i) || q(.|i)). When each
anchor's distributions depend only on its own row of the anchor x candidate matrix (and
on statistics over all candidates, such as cluster sizes), the rows can be evaluated in
blocks. Each block is a custom autograd Function (``_BlockTerms``, recomputation like
``torch.utils.checkpoint``): the forward evaluates the block without a graph and keeps only
its per-anchor terms; the backward re-evaluates one block at a time with gradients. Peak
memory grows like n x chunk instead of n x n, while value and gradients are those of the
unchunked evaluation (the same code runs: ``Inputs.rows`` selects the anchor rows, ``Pairs``
builds the (chunk, n) slices of every pairwise quantity and mask).

Statistics over all candidates (unit vectors, cluster sizes sum_k phi_kc; see
``Inputs.global_cached``) are computed once, by a one-row pass before the blocks, and are
inputs (leaves) of every block: each block's backward returns their gradient, which then
flows once through their own graph to z.

What cannot be chunked (``chunk_obstacles``):
  * ``normalize`` with ``over: joint`` (one normalizer over all n^2 pairs: t-SNE's q),
  * ``symmetrize`` (p(j|i) + p(i|j): needs the columns of the whole matrix),
  * ``propagate`` (P @ P ... walks the whole batch graph),
  * the ``degree_softmax`` kernel (divides by every candidate's degree, a column sum of the
    whole graph, inside the kernel).
kNN from distances is chunkable: row i's neighbours are the k nearest of ALL candidates,
computed exactly from the (chunk, n) distance block.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from icon_registry.errors import IconError
from icon_registry.kernels.base import Node
from icon_registry.objective import AnchorTerms, entry_terms

#: Above this many anchor x candidate pairs, chunk_size=None chunks automatically
#: (8192 x 8192: 256 MiB per float32 matrix, and the objective keeps several alive).
AUTO_CHUNK_PAIRS = 1 << 26
#: Automatic blocks hold about this many pairs (n = 65,536: 256 anchors per block).
AUTO_BLOCK_PAIRS = 1 << 24

_WHY = {
    "symmetrize": "symmetrize adds p(i|j) to p(j|i), so every row needs the columns of the whole n x n matrix",
    "propagate": "propagate walks the whole batch graph (P @ P @ ...), so every row needs every other row",
    "degree_softmax": "the degree_softmax kernel divides by the degree of every candidate, a column sum over the whole graph",
}


def _walk(node):
    yield node
    for value in node.__dict__.values():
        children = value if isinstance(value, (list, tuple)) else [value]
        for child in children:
            if isinstance(child, Node):
                yield from _walk(child)


def chunk_obstacles(entry) -> list[str]:
    """Why the entry's objective is not a sum of independent anchor rows (empty: chunkable)."""
    reasons = []
    for side in ("p", "q"):
        for node in _walk(getattr(entry, side)):
            kind = getattr(node, "kind", None)
            if kind == "normalize" and node.over == "joint":
                reasons.append(
                    f"{side} normalizes jointly (over: joint): one normalizer sums all n x n pairs, "
                    "so no anchor row can be evaluated on its own"
                )
            elif kind in _WHY:
                reasons.append(f"{side}: {_WHY[kind]}")
    return list(dict.fromkeys(reasons))


def check_chunkable(entry, what: str = "chunk_size") -> None:
    reasons = chunk_obstacles(entry)
    if reasons:
        raise IconError(
            f"{entry.id}: cannot evaluate this entry in anchor-row blocks ({what}): " + "; ".join(reasons),
            entry=entry.id,
            argument=what,
        )


def check_chunk_size(entry, chunk_size):
    """Validate the compile_loss option: None (automatic), 0 (never), or a positive int."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 0:
        raise IconError(
            f"{entry.id}: chunk_size must be a non-negative integer (0: never chunk) or None (automatic), "
            f"got {chunk_size!r}",
            entry=entry.id,
            argument="chunk_size",
        )
    if chunk_size > 0:
        check_chunkable(entry)
    return chunk_size


def block_size(entry, inputs, chunk_size) -> int:
    """Rows per block for this batch; 0 means evaluate all anchors at once."""
    rows, m = inputs.n_rows, inputs.n
    if chunk_size == 0:
        return 0
    if chunk_size is None:
        if rows * m <= AUTO_CHUNK_PAIRS or chunk_obstacles(entry):
            return 0
        chunk_size = max(1, AUTO_BLOCK_PAIRS // max(m, 1))
    return 0 if chunk_size >= rows else chunk_size


def _block(inputs, start, stop):
    """The same batch with anchors start:stop (absolute rows) against every candidate."""
    first = inputs.rows[0] if inputs.rows is not None else 0

    def anchor_indexed(value):
        return None if value is None else value[start - first : stop - first]

    return replace(
        inputs,
        rows=(start, stop),
        neighbors=anchor_indexed(inputs.neighbors),
        graph=anchor_indexed(inputs.graph),
        teacher=anchor_indexed(inputs.teacher),
        keys=anchor_indexed(inputs.keys),
        _cache={},
        _global=inputs._global,
    )


def evaluate_terms(entry, inputs, *, objective: str = "kl", chunk_size=None) -> AnchorTerms:
    """``entry_terms`` for the anchor rows of ``inputs``, in blocks when ``chunk_size`` asks."""
    size = block_size(entry, inputs, chunk_size)
    if not size:
        return entry_terms(entry, inputs, objective=objective)
    return chunked_terms(entry, inputs, objective=objective, chunk_size=size)


#: The tensors a block may differentiate: the learned side (z, prototypes) and x when the
#: caller wants its gradient. Everything else the blocks read is data (ids, masks, ...).
_LEAVES = ("z", "prototypes", "x")


class _BlockTerms(torch.autograd.Function):
    """One anchor block, recomputed in backward (like torch.utils.checkpoint).

    The leaves are the learned tensors (z, prototypes) and the statistics over all
    candidates that the blocks share (unit vectors, cluster sizes), each computed once
    outside the blocks with its own graph back to z. The forward evaluates the block on
    detached copies and keeps only its per-anchor terms, so nothing of size chunk x n
    survives it (not even tensors that custom autograd Functions keep as ``ctx`` attributes,
    which torch.utils.checkpoint cannot drop). The backward re-evaluates the block with
    gradients and returns its vector-Jacobian product for every leaf; the statistics'
    gradients then flow once through their own graph.
    """

    @staticmethod
    def forward(ctx, evaluate, count, *leaves):
        detached = [t.detach().requires_grad_(t.requires_grad) for t in leaves]
        with torch.enable_grad():  # the backend's fused fast paths need a graph
            values, has_mass = evaluate(detached)
        values, has_mass = values.detach(), has_mass.detach()
        del detached
        ctx.evaluate = evaluate
        ctx.save_for_backward(*leaves)
        ctx.mark_non_differentiable(has_mass)
        return values, has_mass

    @staticmethod
    def backward(ctx, grad_values, _grad_mass):
        leaves = [t.detach().requires_grad_(t.requires_grad) for t in ctx.saved_tensors]
        wanted = [t for t in leaves if t.requires_grad]
        with torch.enable_grad():
            values, _ = ctx.evaluate(leaves)
            grads = list(torch.autograd.grad(values, wanted, grad_values, allow_unused=True))
        del values
        grads = iter(grads)
        return (None, None, *(next(grads) if t.requires_grad else None for t in leaves))


def _differentiable_stats(shared):
    """(key, position) of every tensor in the shared statistics that carries a gradient."""
    slots = []
    for key, value in shared.items():
        parts = value if isinstance(value, tuple) else (value,)
        for position, part in enumerate(parts):
            if isinstance(part, torch.Tensor) and part.requires_grad:
                slots.append((key, position))
    return slots


def _with_stats(shared, slots, tensors):
    """A copy of the shared statistics with the tensors at ``slots`` replaced."""
    out = dict(shared)
    for (key, position), tensor in zip(slots, tensors):
        if isinstance(out[key], tuple):
            parts = list(out[key])
            parts[position] = tensor
            out[key] = tuple(parts)
        else:
            out[key] = tensor
    return out


def chunked_terms(entry, inputs, *, objective: str = "kl", chunk_size: int) -> AnchorTerms:
    """Per-anchor terms of the rows of ``inputs``, ``chunk_size`` anchors at a time."""
    check_chunkable(entry)
    start, stop = inputs.rows if inputs.rows is not None else (0, inputs.n)
    names = tuple(
        name
        for name in _LEAVES
        if isinstance(getattr(inputs, name), torch.Tensor) and getattr(inputs, name).requires_grad
    )
    differentiable = torch.is_grad_enabled() and bool(names)
    # Statistics over all candidates, shared by every block: one anchor row fills them
    # (its own terms are discarded); with gradients, each keeps its graph back to z.
    shared = {}
    first = _block(inputs, start, start + 1)
    first._global = shared
    entry_terms(entry, first, objective=objective)
    del first
    slots = _differentiable_stats(shared) if differentiable else []
    stats = [shared[key][position] if isinstance(shared[key], tuple) else shared[key] for key, position in slots]
    values, masses = [], []
    for a in range(start, stop, chunk_size):
        b = min(a + chunk_size, stop)

        def evaluate(leaves, a=a, b=b):
            block = _block(inputs, a, b)
            for name, tensor in zip(names, leaves):
                setattr(block, name, tensor)
            block._global = _with_stats(shared, slots, leaves[len(names) :])
            terms = entry_terms(entry, block, objective=objective)
            return terms.values, terms.has_mass

        if differentiable:
            leaves = [getattr(inputs, name) for name in names] + stats
            value, mass = _BlockTerms.apply(evaluate, len(leaves), *leaves)
        else:
            value, mass = evaluate([getattr(inputs, name) for name in names] + stats)
        values.append(value)
        masses.append(mass)
    return AnchorTerms(torch.cat(values), torch.cat(masses))
