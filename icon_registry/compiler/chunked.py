"""Chunked evaluation: anchors in row blocks against all candidates, memory n x chunk.

Every I-Con objective is a sum over anchors, sum_i KL(p(.|i) || q(.|i)). When each
anchor's distributions depend only on its own row of the anchor x candidate matrix (and
on statistics over all candidates, such as cluster sizes), the rows can be evaluated in
blocks, peak memory n x chunk instead of n x n, in one of two ways:

  * the loss is a sum or a mean over the anchors (compile_loss's reduction 'sum' or 'mean', the
    default): each block is evaluated once, with a graph, and differentiated at once
    (``_SummedBlocks``): the gradient of a sum is the gradient of each block's sum, whatever
    reaches the loss in the backward but a scalar factor. A training step then costs what the
    dense one costs (measured: SimCLR at n = 16,384, 8 blocks, 1.20x of dense on one CPU
    thread, against 1.49x when each block was recomputed in the backward); a forward with
    gradients enabled that is never differentiated pays for the gradient all the same (under
    torch.no_grad no block keeps a graph).
  * per-anchor terms (reduction 'none', a distributed loss; also when an anchor-indexed input,
    a teacher's scores or the keys, carries a gradient): each block is a custom autograd
    Function (``_BlockTerms``), flash-attention style, whose forward evaluates the block once
    without a graph (the fused cross entropy computes each row's logsumexp in the same pass)
    and keeps only its per-anchor terms and its fixed p in compact form (one target column, or
    the index form of its pairs); its backward recomputes the block's logits once, with
    gradients, and turns them into the gradient with a single softmax
    (``torch_backend.gradients_only``: no normalizer, no dot product, no p again): one extra
    matmul per block and a masked copy over the unchunked evaluation.

Values and gradients are those of the unchunked evaluation (the same code runs: ``Inputs.rows``
selects the anchor rows, ``Pairs`` builds the (chunk, m) slices of every pairwise quantity and
mask).

Statistics over all candidates (unit vectors, cluster sizes sum_k phi_kc; see
``Inputs.global_cached``) are computed once, by a one-row pass before the blocks, and are
inputs (leaves) of every block: each block's backward returns their gradient, which then
flows once through their own graph to z.

Automatic chunking (``chunk_size=None``): the dense evaluation holds about ``DENSE_BUFFERS``
anchor x candidate matrices at its peak. The candidates are the real ones of the entry's p
and q supports (``candidate_count``): n for a batch, k for given candidates, C for class
prototypes, K for z's outputs, m for a bank (1 + m with the anchor's own key). When those matrices would take more than the
memory budget (``chunk_memory`` bytes if given to compile_loss, else ``MEMORY_FRACTION`` of
the memory the device has available when the call starts: MemAvailable on CPU, or less where
the process's memory cgroup (a container's limit) leaves less, torch.cuda.mem_get_info plus the
allocator's free cache on CUDA), the anchors are split into
the fewest blocks that fit. A batch that fits is never chunked (dense is the faster path).
Under torch.compile blocks run eagerly (the block loop is a graph break); the dense
evaluation compiles whole.

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

import os
from dataclasses import fields, replace

import torch

from icon_registry.backends.torch_backend import gradients_only
from icon_registry.compiler.arguments import option_number
from icon_registry.errors import IconError
from icon_registry.kernels.base import Node
from icon_registry.objective import CHECKED, AnchorTerms, entry_terms
from icon_registry.pairs import shape_width

#: Fraction of the device's available memory the dense evaluation may take before
#: chunk_size=None switches to blocks (compile_loss(chunk_memory=BYTES) overrides it).
MEMORY_FRACTION = 0.5
#: Anchor x candidate matrices (in the evaluation dtype) the dense evaluation holds at its peak:
#: logits, their masked copy, the log-softmax kept for the backward, its gradient, bool masks.
DENSE_BUFFERS = 6
#: Below this estimate the device is not even asked (a small batch never chunks).
_NEVER_CHUNK_BYTES = 1 << 28

_WHY = {
    "symmetrize": "symmetrize adds p(i|j) to p(j|i), so every row needs the columns of the whole n x n matrix",
    "propagate": "propagate walks the whole batch graph (P @ P @ ...), so every row needs every other row",
    "degree_softmax": "the degree_softmax kernel divides by the degree of every candidate, a column sum over the whole graph",
}


def nodes(node):
    """``node`` and every kernel and distribution below it."""
    yield node
    for value in node.__dict__.values():
        children = value if isinstance(value, (list, tuple)) else [value]
        for child in children:
            if isinstance(child, Node):
                yield from nodes(child)


def chunk_obstacles(entry) -> list[str]:
    """Why the entry's objective is not a sum of independent anchor rows (empty: chunkable)."""
    reasons = []
    for side in ("p", "q"):
        for node in nodes(getattr(entry, side)):
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


def chunk_size_option(entry, chunk_size):
    """The compile_loss option as given to either source: None (automatic), 0 (never), or a
    positive int (a Python, numpy or 0-d torch integer, returned as int)."""
    if chunk_size is None:
        return None
    return option_number(entry.id, "chunk_size", chunk_size, integer=True, minimum=0,
                         what="a non-negative integer (0: never chunk) or None (automatic)")


def check_chunk_size(entry, chunk_size):
    """``chunk_size_option``, for an entry whose objective must then be chunkable."""
    chunk_size = chunk_size_option(entry, chunk_size)
    if chunk_size:
        check_chunkable(entry)
    return chunk_size


def check_chunk_memory(entry, chunk_memory):
    """Validate the compile_loss option: None (a fraction of the device's memory) or bytes > 0."""
    if chunk_memory is None:
        return None
    return option_number(entry.id, "chunk_memory", chunk_memory, integer=False, minimum=0, strict=True,
                         what="a positive number of bytes or None (automatic)")


def candidate_supports(entry) -> tuple:
    """The supports the entry's distributions range over ('all' for the cluster kernel)."""
    supports = set()
    for side in ("p", "q"):
        for node in nodes(getattr(entry, side)):
            kind = getattr(node, "kind", None)
            if kind == "normalize":
                supports.add(node.support)
            elif kind == "cluster":
                supports.add("all")
    return tuple(sorted(supports))


def candidate_count(supports, inputs) -> int:
    """Candidates per anchor on the widest of ``supports`` (the p and q supports of the entry):
    n for the batch, k for given candidates, C for class prototypes, K for z's outputs, m for a
    bank, 1 + m for key_and_bank (``pairs.shape_width``). A bank or the outputs can be far wider
    than the batch (MoCo's queue: 65,536 rows against n = 256)."""
    widths = [shape_width(inputs, support) or inputs.n for support in supports]
    # (not max(..., default=): Dynamo cannot trace that keyword and would break the graph)
    return max(widths) if widths else inputs.n


def dense_bytes(supports, inputs) -> int:
    """Memory the unchunked evaluation of these anchors needs at its peak (an estimate)."""
    return inputs.n_rows * candidate_count(supports, inputs) * inputs.z.element_size() * DENSE_BUFFERS


@torch.compiler.assume_constant_result
def available_bytes(device) -> int:
    """Memory the device can still hand out: on CPU the machine's MemAvailable (Linux; physical
    pages elsewhere), or less where this process's memory cgroup (a container's limit) leaves
    less (``cgroup_headroom``); on CUDA free plus the caching allocator's unused reserve. Under
    torch.compile it is read once, when the graph is traced (a constant of the graph: no graph
    break), so a compiled loss keeps the chunking it was traced with."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    machine = _machine_available()
    headroom = cgroup_headroom()
    return machine if headroom is None else min(machine, headroom)


def _machine_available() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


#: A cgroup memory limit at or above this is no limit (cgroup v1 writes 2^63 rounded to a page).
_NO_CGROUP_LIMIT = 1 << 60
#: (controller hierarchy, limit file, usage file, the memory.stat key of reclaimable page cache)
_CGROUP_VERSIONS = (("", "memory.max", "memory.current", "inactive_file"),
                    ("memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"))


def cgroup_headroom(root: str = "/sys/fs/cgroup", membership: str = "/proc/self/cgroup"):
    """Bytes this process's memory cgroups still allow: over the process's cgroup and each of its
    ancestors that sets a limit, the least of limit - usage, with the inactive page cache (which
    the kernel reclaims before it kills) not counted as used. None where no limit applies or none
    can be read (no cgroups: not Linux). cgroup v2 (``memory.max``) and v1 (``memory/``
    ``memory.limit_in_bytes``); a container that sees only its own cgroup sees it at the root."""
    try:
        with open(membership) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    paths = {}  # hierarchy ("" for v2, "memory" for v1) -> the process's cgroup path in it
    for line in lines:
        _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", None, "")
        for hierarchy in ("", "memory"):
            if controllers is not None and (controllers == hierarchy or hierarchy in controllers.split(",")):
                paths.setdefault(hierarchy, path)
    headrooms = []
    for hierarchy, limit_file, usage_file, reclaimable_key in _CGROUP_VERSIONS:
        if hierarchy not in paths:
            continue
        parts = [part for part in paths[hierarchy].split("/") if part]
        for depth in range(len(parts), -1, -1):
            folder = os.path.join(root, hierarchy, *parts[:depth])
            limit = _read_number(os.path.join(folder, limit_file))
            if limit is None or limit >= _NO_CGROUP_LIMIT:
                continue
            usage = _read_number(os.path.join(folder, usage_file))
            if usage is None:
                continue
            reclaimable = _read_stat(os.path.join(folder, "memory.stat"), reclaimable_key)
            headrooms.append(max(0, limit - max(0, usage - reclaimable)))
    return min(headrooms) if headrooms else None


def _read_number(path):
    """The integer a cgroup file holds; None for 'max' (no limit) or a file that cannot be read."""
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _read_stat(path, key) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                name, _, value = line.partition(" ")
                if name == key and value.strip().isdigit():
                    return int(value)
    except OSError:
        pass
    return 0


def block_size(entry, inputs, chunk_size, chunk_memory=None, plan=None) -> int:
    """Rows per block for this batch; 0 means evaluate all anchors at once.

    ``chunk_size`` 0: never; a positive int: that many rows; None: automatic (see the module
    docstring), against ``chunk_memory`` bytes or ``MEMORY_FRACTION`` of what the device has.
    ``plan``: (chunk_obstacles(entry), candidate_supports(entry)), computed once per loss."""
    rows = inputs.n_rows
    if chunk_size == 0:
        return 0
    if chunk_size is None:
        obstacles, supports = plan if plan is not None else (chunk_obstacles(entry), candidate_supports(entry))
        if obstacles:
            return 0
        return automatic_block(rows, dense_bytes(supports, inputs), inputs.z.device, chunk_memory)
    return 0 if chunk_size >= rows else chunk_size


def automatic_block(rows: int, need: int, device, chunk_memory=None) -> int:
    """Rows per block when the dense evaluation needs ``need`` bytes: 0 (dense) when that fits
    in ``chunk_memory`` or MEMORY_FRACTION of what the device has, else the fewest blocks that
    fit, as equal as they come (a single row per block when not even one row fits)."""
    if chunk_memory is None and need <= _NEVER_CHUNK_BYTES:
        return 0
    budget = chunk_memory if chunk_memory is not None else MEMORY_FRACTION * available_bytes(device)
    if need <= budget:
        return 0
    fits = max(1, int(budget * rows // need))  # the most rows whose share of ``need`` fits
    blocks = -(-rows // fits)
    size = -(-rows // blocks)  # spread over the blocks: never more than ``fits``
    return 0 if size >= rows else size


#: The inputs that hold one row per anchor (``Inputs.rows``): a block holds only its own rows.
_ANCHOR_INDEXED = ("neighbors", "graph", "teacher", "keys")
_ANCHOR_INDEXED_SET = frozenset(_ANCHOR_INDEXED)


def _block(inputs, start, stop):
    """The same batch with anchors start:stop (absolute rows) against every candidate."""
    first = inputs.rows[0] if inputs.rows is not None else 0
    rows = {name: getattr(inputs, name)[start - first : stop - first]
            for name in _ANCHOR_INDEXED if getattr(inputs, name) is not None}
    return replace(inputs, rows=(start, stop), **rows, _cache={}, _global=inputs._global)


def evaluate_terms(entry, inputs, *, objective: str = "kl", chunk_size=None, chunk_memory=None, plan=None,
                   reduction=None) -> AnchorTerms:
    """``entry_terms`` for the anchor rows of ``inputs``, in blocks when ``chunk_size`` asks
    (None: when the dense evaluation would not fit, see ``block_size``). ``reduction``: 'sum' or
    'mean' when the caller reads only that of the terms (``chunked_terms``)."""
    size = block_size(entry, inputs, chunk_size, chunk_memory, plan)
    if not size:
        return entry_terms(entry, inputs, objective=objective)
    if torch.compiler.is_compiling():
        # The block loop runs eagerly (a graph break): Dynamo does not trace autograd
        # Functions that call back into Python closures.
        return torch.compiler.disable(chunked_terms)(entry, inputs, objective=objective, chunk_size=size,
                                                     reduction=reduction)
    return chunked_terms(entry, inputs, objective=objective, chunk_size=size, reduction=reduction)


def differentiable_inputs(inputs) -> tuple:
    """The names of the tensors of ``inputs`` that carry a gradient: the learned side (z,
    prototypes) and any input whose gradient the caller asks for (x, bank, keys, teacher,
    center, graph, ...). Every one is a leaf of the block Function: a tensor a block read from
    its closure instead would get no gradient at all."""
    return tuple(field.name for field in fields(inputs)
                 if isinstance(getattr(inputs, field.name), torch.Tensor) and getattr(inputs, field.name).requires_grad)


class _BlockP:
    """A block's fixed p, from its forward to its backward, in compact form only: one target
    column or the index form of its pairs (a dense p is evaluated again: keeping it would hold
    n x n in total). Its supports were checked in the forward."""

    def __init__(self):
        self.dist = None

    def get(self):
        return self.dist

    def put(self, dist):
        self.dist = dist

    def clear(self):
        self.dist = None

    def release(self, dist):
        fixed = dist.fixed[1] if dist.fixed is not None else None
        if fixed is None or fixed.dense is not None:
            self.dist = None
            return
        # Everything n x chunk goes (the mask, the pairs and what they cache, the deferred
        # normalizer that holds the mask): the compact form is all the backward reads.
        dist.layout = dist.pairs.layout
        dist.pairs = dist.mask = dist.logits = dist.log_norm = None
        dist.covered_by = CHECKED


class _BlockTerms(torch.autograd.Function):
    """One anchor block, flash-attention style (see the module docstring).

    The leaves are the tensors with a gradient (``differentiable_inputs``; the block's own rows
    of the anchor-indexed ones) and the statistics over all candidates that the blocks share (unit vectors, cluster sizes), each computed once
    outside the blocks with its own graph back to z. The forward evaluates the block without
    a graph and keeps its per-anchor terms and its compact p; nothing of size chunk x n
    survives it. The backward re-evaluates the block with gradients in ``gradients_only``
    mode and returns its vector-Jacobian product for every leaf; the statistics' gradients
    then flow once through their own graph.
    """

    @staticmethod
    def forward(ctx, evaluate, count, *leaves):
        store = _BlockP()
        with torch.no_grad():
            values, has_mass = evaluate(list(leaves), store)
        ctx.evaluate, ctx.store = evaluate, store
        ctx.save_for_backward(*leaves)
        ctx.mark_non_differentiable(has_mass)
        return values, has_mass

    @staticmethod
    def backward(ctx, grad_values, _grad_mass):
        _no_second_derivative()
        leaves = [t.detach().requires_grad_(t.requires_grad) for t in ctx.saved_tensors]
        wanted = [t for t in leaves if t.requires_grad]
        with torch.enable_grad(), gradients_only():
            values, _ = ctx.evaluate(leaves, ctx.store)
            grads = list(torch.autograd.grad(values, wanted, grad_values, allow_unused=True))
        del values
        grads = iter(grads)
        return (None, None, *(next(grads) if t.requires_grad else None for t in leaves))


def _no_second_derivative():
    """A backward with create_graph=True (grad mode on in it) would differentiate the blocks' gradients,
    which hold no graph: the second derivative would silently lose their part."""
    if torch.is_grad_enabled():
        raise IconError("a chunked loss has no second derivative (backward with create_graph=True): compile it "
                        "with chunk_size=0 and second_order=True (or give chunk_memory room for the dense evaluation)",
                        argument="chunk_size")


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


class _SummedBlocks(torch.autograd.Function):
    """The sum of every anchor's term over all blocks, with its gradient taken block by block in
    the forward: each block is evaluated once, with a graph, and at once differentiated (its
    gradient does not depend on anything the backward brings but a scalar factor, the gradient of
    the sum). A step then costs what the dense evaluation costs (three matmuls for a dot kernel),
    where recomputing each block in the backward (``_BlockTerms``) costs one more; the gradient
    is paid in the forward even if no backward follows, so a loss evaluated with gradients
    enabled but never differentiated costs a step (evaluate under torch.no_grad: no block keeps
    a graph then). The leaves are those of ``_BlockTerms``."""

    @staticmethod
    def forward(ctx, blocks, *leaves):
        total, masses = 0.0, []
        grads = [None] * len(leaves)
        # Accumulated in place once the sum is a tensor of our own: autograd may hand two
        # leaves one gradient buffer (an addition's), and a new n x d sum per block would be an
        # allocation (page faults) and a pass more per block.
        owned = [False] * len(leaves)
        for evaluate in blocks:
            with torch.enable_grad():
                own = [t.detach().requires_grad_(t.requires_grad) for t in leaves]
                values, has_mass = evaluate(own, None)
                wanted = [i for i, t in enumerate(own) if t.requires_grad]
                found = torch.autograd.grad(values.sum(), [own[i] for i in wanted], allow_unused=True)
            for i, grad in zip(wanted, found):
                if grad is None:
                    continue
                if grads[i] is None:
                    grads[i] = grad
                elif owned[i]:
                    grads[i].add_(grad)
                else:
                    grads[i], owned[i] = grads[i] + grad, True
            total = total + values.detach().sum()
            masses.append(has_mass)
            del values, found
        ctx.has = [grad is not None for grad in grads]
        ctx.save_for_backward(*(grad for grad in grads if grad is not None))
        has_mass = torch.cat(masses)
        ctx.mark_non_differentiable(has_mass)
        return total, has_mass

    @staticmethod
    def backward(ctx, grad_total, _grad_mass):
        _no_second_derivative()
        saved = iter(ctx.saved_tensors)
        return (None, *(grad_total * next(saved) if has else None for has in ctx.has))


def chunked_terms(entry, inputs, *, objective: str = "kl", chunk_size: int, reduction=None) -> AnchorTerms:
    """Per-anchor terms of the rows of ``inputs``, ``chunk_size`` anchors at a time. With a
    ``reduction`` of 'sum' or 'mean' (all the caller will read) and gradients, the terms are
    summed and differentiated block by block in the forward (``_SummedBlocks``); otherwise (and
    when an anchor-indexed input carries a gradient) each block is recomputed in the backward
    (``_BlockTerms``), so that any per-anchor gradient works."""
    check_chunkable(entry)
    start, stop = inputs.rows if inputs.rows is not None else (0, inputs.n)
    names = differentiable_inputs(inputs)
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

    def block_evaluation(rows):
        def evaluate(leaves, store):
            # the leaves replace the tensors they stand for (sliced outside the Function, so that
            # an anchor-indexed input's gradient reaches its rows through the slice)
            block = replace(rows, **dict(zip(names, leaves)), _cache={},
                            _global=_with_stats(shared, slots, leaves[len(names) :]))
            block.p_cache = store
            terms = entry_terms(entry, block, objective=objective)
            return terms.values, terms.has_mass

        return evaluate

    blocks = [_block(inputs, a, min(a + chunk_size, stop)) for a in range(start, stop, chunk_size)]
    # (an anchor-indexed input with a gradient, a teacher's scores say, is a leaf of its own rows in
    # each block: the per-block Functions take it)
    if differentiable and reduction in ("sum", "mean") and _ANCHOR_INDEXED_SET.isdisjoint(names):
        leaves = [getattr(inputs, name) for name in names] + stats  # every block reads them whole
        total, has_mass = _SummedBlocks.apply([block_evaluation(rows) for rows in blocks], *leaves)
        reduced = {"sum": lambda: total, "mean": lambda: total / has_mass.sum().clamp_min(1)}
        return AnchorTerms(_unavailable, has_mass, lambda how: reduced[how]())
    values, masses = [], []
    for rows in blocks:
        evaluate = block_evaluation(rows)
        leaves = [getattr(rows, name) for name in names] + stats
        if differentiable:
            value, mass = _BlockTerms.apply(evaluate, len(leaves), *leaves)
        else:
            value, mass = evaluate(leaves, None)
        values.append(value)
        masses.append(mass)
    return AnchorTerms(torch.cat(values), torch.cat(masses))


def _unavailable():
    raise AssertionError("chunked terms summed in the forward hold no per-anchor values (evaluate_terms with "
                         "reduction=None keeps them)")

