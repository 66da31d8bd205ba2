"""The compiled loss module."""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel

from icon_registry.backends import TorchBackend
from icon_registry.compiler import arguments, chunked
from icon_registry.compiler import distributed as dist_eval
from icon_registry.errors import IconError, suggest
from icon_registry.objective import SupervisoryCache, SupportMismatch, entry_terms
from icon_registry.pairs import Inputs
from icon_registry.schema import Entry

OBJECTIVES = ("kl", "cross_entropy")
REDUCTIONS = ("mean", "sum", "none")
_LOW_PRECISION = (torch.float16, torch.bfloat16)

#: What a p-side argument must hold for an anchor to have supervisory mass.
_EMPTY_P_HINTS = {
    "ids": "'ids' must repeat (equal ids are positives, e.g. two views of each item)",
    "labels": "'labels' must repeat (items with equal labels are positives)",
    "modality": "'modality' must hold at least two modalities (positives are cross-modal)",
    "neighbors": "'neighbors' must give anchors neighbours inside p's support",
    "graph": "'graph' must have edges between the batch's items",
    "x": "'x' must place some items near each other",
}


def _uses_support(node, support: str) -> bool:
    if getattr(node, "support", None) == support:
        return True
    inner = getattr(node, "of", None)
    return inner is not None and _uses_support(inner, support)


def _reads_z(node) -> bool:
    """Whether a distribution tree reads the learned z (then p is not fixed across calls)."""
    if getattr(node, "space", None) == "z" or getattr(node, "kind", None) == "cluster":
        return True
    for value in node.__dict__.values():
        for child in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(child, BaseModel) and _reads_z(child):
                return True
    return False


def _resolve_entry(entry_or_id) -> Entry:
    if isinstance(entry_or_id, Entry):
        return entry_or_id
    if isinstance(entry_or_id, str):
        from icon_registry.catalog import load_catalog

        return load_catalog().get(entry_or_id)
    raise IconError(f"compile_loss expects an entry id or an Entry, got {type(entry_or_id).__name__}")


class CompiledLoss(torch.nn.Module):
    """``loss(z, *, x=None, labels=None, ids=None, modality=None, neighbors=None, graph=None)``.

    ``requires`` names the keyword arguments this entry reads. Class-prototype entries own
    their prototypes as the parameter ``prototypes`` of shape (num_classes, dim).
    """

    def __init__(
        self, entry: Entry, params: dict, objective: str, reduction: str, num_classes=None, dim=None,
        chunk_size=None, distributed=False, distributed_ids="global",
    ):
        super().__init__()
        self.entry = entry
        self.params = params
        self.objective = objective
        self.reduction = reduction
        self.requires = frozenset(entry.p.inputs_used() | entry.q.inputs_used())
        # Scale options (icon_registry.compiler.chunked / .distributed document them).
        self.chunk_size = chunked.check_chunk_size(entry, chunk_size)
        self.distributed = bool(distributed)
        self.distributed_ids = distributed_ids
        if self.distributed:
            dist_eval.check_distributable(entry, self.requires)
            if distributed_ids not in dist_eval.ID_SCOPES:
                raise IconError(
                    f"{entry.id}: distributed_ids must be one of {dist_eval.ID_SCOPES}, got {distributed_ids!r}",
                    entry=entry.id,
                    argument="distributed_ids",
                )
        self._supports_checked = False
        # p is fixed: reuse it while the caller passes the same p-side tensors (objective.SupervisoryCache).
        self._p_cache = SupervisoryCache()
        self._p_cacheable = not _reads_z(entry.p)
        self.prototypes = None
        if _uses_support(entry.p, "prototypes") or _uses_support(entry.q, "prototypes"):
            if num_classes is None or dim is None:
                raise IconError(
                    f"{entry.id}: this entry owns class prototypes: pass num_classes= and dim= to compile_loss",
                    entry=entry.id,
                    argument="num_classes" if num_classes is None else "dim",
                )
            init = torch.randn(int(num_classes), int(dim)) / math.sqrt(int(dim))
            self.prototypes = torch.nn.Parameter(init)

    def extra_repr(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"entry={self.entry.id!r}, objective={self.objective!r}, reduction={self.reduction!r}, {shown}"

    def _inputs(self, z, x, labels, ids, modality, neighbors, graph) -> Inputs:
        entry_id = self.entry.id
        z = arguments.check_z(entry_id, z, distributed=self.distributed)
        n, device = z.shape[0], z.device
        # Softmax normalizers lose too much in half precision; the math runs in float32 and
        # the matmuls still use tensor cores under autocast.
        dtype = torch.float32 if z.dtype in _LOW_PRECISION else z.dtype
        given = {"x": x, "labels": labels, "ids": ids, "modality": modality, "neighbors": neighbors, "graph": graph}
        for name in sorted(self.requires):
            if given[name] is None:
                call = ", ".join(["z"] + [f"{r}=..." for r in sorted(self.requires)])
                raise IconError(
                    f"{entry_id}: missing argument '{name}': this entry reads {', '.join(sorted(self.requires))}; "
                    f"call loss({call})",
                    entry=entry_id,
                    argument=name,
                )
        inputs = Inputs(TorchBackend, z.to(dtype), n, self.params, entry_id=entry_id, prototypes=self.prototypes)
        if x is not None:
            inputs.x = arguments.features(entry_id, x, n, device, dtype)
        for name, value in (("labels", labels), ("ids", ids), ("modality", modality)):
            if value is not None:
                setattr(inputs, name, arguments.index_vector(entry_id, name, value, n, device))
        if neighbors is not None:
            inputs.neighbors = arguments.neighbor_matrix(entry_id, neighbors, n, device)
        if graph is not None:
            inputs.graph = arguments.adjacency(entry_id, graph, n, device, dtype)
        if self.prototypes is not None and self.prototypes.shape[1] != z.shape[1]:
            raise IconError(
                f"{entry_id}: argument 'z' has {z.shape[1]} features but the prototypes have dim={self.prototypes.shape[1]}",
                argument="z",
            )
        return inputs

    def forward(self, z, *, x=None, labels=None, ids=None, modality=None, neighbors=None, graph=None):
        """The loss of the batch ``z`` (n, d): a scalar, or n values with reduction "none".

        The keyword inputs are what p reads (``requires`` names them): ``x`` input features
        (n, d_x) for data-space kernels, ``labels`` (n,) class labels, ``ids`` (n,) the source
        instance of each view, ``modality`` (n,) for cross-modal pairs, ``neighbors`` (n, k)
        neighbour indices (or the candidates [positive, negative] of each anchor), ``graph``
        (n, n) edge weights.
        """
        inputs = self._inputs(z, x, labels, ids, modality, neighbors, graph)
        if self.distributed:
            inputs = dist_eval.gather_inputs(inputs, ids=self.distributed_ids)
        elif self._p_cacheable:
            given = {"x": x, "labels": labels, "ids": ids, "modality": modality, "neighbors": neighbors, "graph": graph}
            used = {name: given[name] for name in self.entry.p.inputs_used()}
            if all(isinstance(t, torch.Tensor) for t in used.values()):
                extra = (inputs.n, inputs.z.dtype, inputs.z.device, inputs.rows, tuple(sorted(self.params.items())))
                inputs.p_cache = self._p_cache.bind(SupervisoryCache.make_key(used, extra))
        try:
            terms = chunked.evaluate_terms(self.entry, inputs, objective=self.objective, chunk_size=self.chunk_size)
        except SupportMismatch as err:
            raise IconError(f"{self.entry.id}: {err}", entry=self.entry.id) from None
        values = terms.values
        if self.entry.limit is not None:
            values = values * self.params[self.entry.limit.parameter] ** self.entry.limit.scale_power
        if self.distributed:
            anchors = dist_eval.count_over_ranks(terms.has_mass, values.dtype)
        else:
            anchors = terms.has_mass.sum()
        if not bool(anchors > 0):
            raise self._no_supervision(inputs)
        if self.distributed:
            out = dist_eval.reduce(values, anchors, self.reduction)
        elif self.reduction == "none":
            out = values
        elif self.reduction == "sum":
            out = values.sum()
        else:
            out = values.sum() / anchors
        return out.to(z.dtype)

    def _no_supervision(self, inputs) -> IconError:
        """No anchor of the batch has any supervisory mass: the loss would be a silent 0. It is
        the caller's batch (every id or label once: the second view forgotten), so say which
        arguments p reads and what they must hold."""
        reads = sorted(self.entry.p.inputs_used())
        hints = []
        for name in reads:
            hint = _EMPTY_P_HINTS.get(name)
            value = getattr(inputs, name, None)
            if name in ("ids", "labels") and value is not None and value.unique().numel() == value.numel():
                hint += f": all {value.numel()} are distinct"
            if hint:
                hints.append(hint)
        what = f"p reads {', '.join(reads)}: {'; '.join(hints)}" if hints else "p reads only the parameters"
        return IconError(
            f"{self.entry.id}: no anchor has any supervisory mass (p is empty for all {inputs.n} anchors of "
            f"the batch); {what}",
            entry=self.entry.id,
            argument=reads[0] if reads else None,
        )


def compile_loss(
    entry_or_id, *, objective: str = "kl", reduction: str = "mean", num_classes=None, dim=None,
    chunk_size=None, distributed=False, distributed_ids="global", **overrides,
):
    """A ``torch.nn.Module`` computing the entry's I-Con objective on a batch.

    ``entry_or_id``: an ``Entry``, or the id or an alias of a catalog entry (gap cells included).
    ``objective``: "kl" (default), sum_i KL(p_i || q_i); or "cross_entropy", sum_i H(p_i, q_i),
    which differs from it by the entropy of p (a constant of the batch when p is fixed).
    ``reduction``: how the anchors' terms combine: "mean" (default) over the anchors whose p is
    not empty, "sum", or "none" (one value per anchor).
    ``num_classes`` and ``dim``: required by the entries with class prototypes (cross entropy,
    harmonic loss): the module owns them as the parameter ``prototypes`` of shape (num_classes, dim).
    ``chunk_size``: anchors per block (memory n x chunk_size, same value and gradients);
    None chunks automatically above chunked.AUTO_CHUNK_PAIRS pairs, 0 never chunks.
    ``distributed``: anchors on this rank against the batch gathered from all ranks; the
    loss is scaled for DistributedDataParallel (see icon_registry.compiler.distributed).
    ``distributed_ids``: "global" (ids already unique across ranks) or "local" (shifted per rank).

    ``overrides`` set the entry's parameters (e.g. ``tau=0.1``); unknown names and values
    outside the declared ranges are errors.
    """
    entry = _resolve_entry(entry_or_id)
    if objective not in OBJECTIVES:
        raise IconError(f"{entry.id}: objective must be one of {OBJECTIVES}, got {objective!r}", argument="objective")
    if reduction not in REDUCTIONS:
        raise IconError(f"{entry.id}: reduction must be one of {REDUCTIONS}, got {reduction!r}", argument="reduction")
    params = {name: spec.default for name, spec in entry.parameters.items()}
    for name, value in overrides.items():
        if name not in entry.parameters:
            known = sorted(entry.parameters) + [
                "objective", "reduction", "num_classes", "dim", "chunk_size", "distributed", "distributed_ids",
            ]
            raise IconError(
                f"{entry.id}: unknown parameter '{name}'{suggest(name, known)} "
                f"(this entry's parameters: {', '.join(sorted(entry.parameters)) or 'none'})",
                entry=entry.id,
                argument=name,
            )
        try:
            params[name] = entry.parameters[name].check(name, value)
        except ValueError as err:
            raise IconError(f"{entry.id}: {err}", entry=entry.id, argument=name) from None
    for name, spec in entry.parameters.items():
        if spec.integer:
            params[name] = int(params[name])
    return CompiledLoss(
        entry, params, objective, reduction, num_classes=num_classes, dim=dim,
        chunk_size=chunk_size, distributed=distributed, distributed_ids=distributed_ids,
    )
