"""The compiled loss module."""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import warnings

import torch
from pydantic import BaseModel

from icon_registry.backends import TorchBackend, torch_backend
from icon_registry.compiler import arguments, chunked
from icon_registry.compiler import distributed as dist_eval
from icon_registry.errors import IconError, IconWarning, quote, suggest
from icon_registry.objective import SupervisoryCache, SupportMismatch, labelled_classes, prepare_fixed
from icon_registry.pairs import INPUT_NAMES, Inputs
from icon_registry.schema import Entry

SOURCES = ("objective", "formula")
OBJECTIVES = ("kl", "cross_entropy")
REDUCTIONS = ("mean", "sum", "none")
_LOW_PRECISION = frozenset((torch.float16, torch.bfloat16))

#: The arguments that are one integer per item (``arguments.index_vector``).
_INDEX_VECTORS = frozenset(("labels", "ids", "modality"))

#: What a p-side argument must hold for an anchor to have supervisory mass.
_EMPTY_P_HINTS = {
    "ids": "'ids' must repeat (equal ids are positives, e.g. two views of each item)",
    "labels": "'labels' must repeat (items with equal labels are positives)",
    "modality": "'modality' must hold at least two modalities (positives are cross-modal)",
    "neighbors": "'neighbors' must give anchors neighbours inside p's support",
    "graph": "'graph' must have edges between the batch's items",
    "x": "'x' must place some items near each other",
    "teacher": "'teacher' must give each anchor some positive probability (a row of zeros is an empty p)",
    "bank_ids": "'bank_ids' must hold the anchors' ids (a bank row with an anchor's id is its positive)",
    "bank_labels": "'bank_labels' must hold the anchors' labels (a bank row with an anchor's label is its positive)",
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


def _has_prototypes(entry) -> bool:
    return _uses_support(entry.p, "prototypes") or _uses_support(entry.q, "prototypes")


def _check_class_shape(entry, num_classes, dim) -> None:
    """compile_loss's num_classes= and dim=: positive integers, for an entry with class prototypes."""
    given = [(name, value) for name, value in (("num_classes", num_classes), ("dim", dim)) if value is not None]
    if given and not _has_prototypes(entry):
        raise IconError(
            f"{entry.id}: this entry has no class prototypes: num_classes= and dim= apply only to the entries "
            f"with support 'prototypes' (cross_entropy, for one)",
            entry=entry.id,
            argument=given[0][0],
        )
    for name, value in given:
        arguments.option_number(entry.id, name, value, integer=True, minimum=1, what="a positive integer")


#: Supports whose candidates are not the batch's items: an anchor's distributions need no other item.
_OUTSIDE_THE_BATCH = frozenset(("prototypes", "outputs", "bank", "key_and_bank"))


def min_rows(entry) -> int:
    """The smallest batch the entry's loss is defined on: 1 when every distribution ranges over
    candidates outside the batch (a classifier's last batch may hold one item), else 2."""
    return 1 if set(chunked.candidate_supports(entry)) <= _OUTSIDE_THE_BATCH else 2


def largest_candidate_position(entry):
    """The largest position of ``neighbors[i]`` a candidate_position kernel of the entry reads (None: none)."""
    return max((node.position for side in (entry.p, entry.q) for node in chunked.nodes(side)
                if getattr(node, "kind", None) == "candidate_position"), default=None)


def make_prototypes(entry, num_classes, dim):
    """The class prototypes (num_classes, dim) an entry with support: prototypes owns, else None."""
    if not _has_prototypes(entry):
        return None
    if num_classes is None or dim is None:
        raise IconError(
            f"{entry.id}: this entry owns class prototypes: pass num_classes= and dim= to compile_loss",
            entry=entry.id,
            argument="num_classes" if num_classes is None else "dim",
        )
    shape = (int(num_classes), int(dim))
    try:
        return torch.nn.Parameter(torch.randn(shape) / math.sqrt(shape[1]))
    except (RuntimeError, TypeError, OverflowError):  # too large to index or to allocate
        raise IconError(
            f"{entry.id}: the prototypes of shape (num_classes, dim) = {shape} would take {shape[0] * shape[1] * 4:.3g} "
            "bytes in float32: more than this machine can allocate",
            entry=entry.id, argument="num_classes" if shape[0] >= shape[1] else "dim",
        ) from None


class CompiledLoss(torch.nn.Module):
    """``loss(z, *, x=None, labels=None, ids=None, modality=None, neighbors=None, graph=None,
    teacher=None, center=None, bank=None, bank_ids=None, bank_labels=None, keys=None)``.

    ``requires`` names the keyword arguments this entry reads. Class-prototype entries own
    their prototypes as the parameter ``prototypes`` of shape (num_classes, dim); their ``labels``
    name the classes 0..num_classes-1, a negative label marks an anchor without a class (it adds
    nothing, as torch's ignore_index does) and a larger one is an error (in eager mode). ``teacher``
    (n, K) and ``center`` (K,) are scores over the K outputs of z; ``bank`` (m, d) with
    ``bank_ids`` / ``bank_labels`` (m,) are candidates passed in the call; ``keys`` (n, d) are
    the anchors' own keys (see ``icon_registry.pairs.SUPPORTS``).
    """

    def __init__(
        self, entry: Entry, params: dict, objective: str, reduction: str, num_classes=None, dim=None,
        chunk_size=None, distributed=False, distributed_ids="global", chunk_memory=None, second_order=False,
    ):
        super().__init__()
        self.entry = entry
        #: evaluate with plain torch ops, which have a second derivative (torch_backend.plain_ops)
        self.second_order = second_order
        self.params = params
        self.objective = objective
        self.reduction = reduction
        self.requires = frozenset(entry.p.inputs_used() | entry.q.inputs_used())
        self._required = tuple(sorted(self.requires))
        self._candidate_position = largest_candidate_position(entry)
        self._min_rows = min_rows(entry)
        # Scale options (icon_registry.compiler.chunked / .distributed document them).
        self.chunk_size = chunked.check_chunk_size(entry, chunk_size)
        self.chunk_memory = chunked.check_chunk_memory(entry, chunk_memory)
        self._chunk_plan = (chunked.chunk_obstacles(entry), chunked.candidate_supports(entry))
        self.distributed = distributed
        self.distributed_ids = distributed_ids
        if self.distributed:
            dist_eval.check_distributable(entry, self.requires)
        # p is fixed: reuse it while the caller passes the same p-side tensors (objective.SupervisoryCache).
        self._p_cache = SupervisoryCache()
        # a classifier reads p off the labels (objective.labelled_classes): nothing to cache
        self._p_cacheable = not _reads_z(entry.p) and not labelled_classes(entry)
        self._p_inputs = tuple(sorted(entry.p.inputs_used()))
        self._p_searches = any(getattr(node, "perplexity", None) is not None for node in chunked.nodes(entry.p))
        #: Multiplies p in the term sum_j p_ij log w_ij only, not in the normalizer's: t-SNE's
        #: early exaggeration (gradient 4 sum_j (alpha P_ij - Q_ij) w_ij (y_i - y_j)). 1 (the
        #: default) is the I-Con objective; icon_registry.training.tsne sets it for a schedule.
        self.exaggeration = 1.0
        self.prototypes = make_prototypes(entry, num_classes, dim)

    def extra_repr(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        order = ", second_order=True" if self.second_order else ""
        return f"entry={self.entry.id!r}, objective={self.objective!r}, reduction={self.reduction!r}{order}, {shown}"

    def _inputs(self, z, *ordered, **named) -> Inputs:
        """The checked batch: the call's arguments by name, or positionally in ``INPUT_NAMES`` order."""
        given = dict(zip(INPUT_NAMES, ordered), **named)
        return self._batch(z, {name: given[name] for name in INPUT_NAMES if given.get(name) is not None})

    def _batch(self, z, given: dict) -> Inputs:
        """The checked batch: ``given`` maps the name of each argument the call passed (not None) to
        it, in ``INPUT_NAMES`` order."""
        entry_id = self.entry.id
        z = arguments.check_z(entry_id, z, distributed=self.distributed, min_rows=self._min_rows)
        n, device = z.shape[0], z.device
        missing = [name for name in self._required if name not in given]
        if missing:
            raise IconError(
                f"{entry_id}: missing argument '{missing[0]}': this entry reads {', '.join(self._required)}; "
                f"call {arguments.call_example(self._required)}",
                entry=entry_id,
                argument=missing[0],
            )
        # Softmax normalizers lose too much in half precision; the math runs in float32 and
        # the matmuls still use tensor cores under autocast.
        dtype = torch.float32 if z.dtype in _LOW_PRECISION else z.dtype
        prototypes = self.prototypes
        if prototypes is not None and prototypes.dtype != dtype:
            # q's scores multiply z by the prototypes: they take the call's dtype, and the cast
            # carries the gradient back to the parameter in its own
            prototypes = prototypes.to(dtype)
        inputs = Inputs(TorchBackend, z if z.dtype == dtype else z.to(dtype), n, self.params, entry_id=entry_id,
                        prototypes=prototypes)
        for name, value in given.items():
            if name in _INDEX_VECTORS:
                setattr(inputs, name, arguments.index_vector(entry_id, name, value, n, device))
            elif name == "x":
                inputs.x = arguments.features(entry_id, value, n, device, dtype)
            elif name == "neighbors":
                inputs.neighbors = arguments.neighbor_matrix(entry_id, value, n, device,
                                                             position=self._candidate_position)
            elif name == "graph":
                inputs.graph = arguments.adjacency(entry_id, value, n, device, dtype)
        if not arguments.SCORE_AND_BANK.isdisjoint(given):
            arguments.given_scores_and_bank(inputs, given, device, dtype)
        if prototypes is not None and prototypes.shape[1] != z.shape[1]:
            raise IconError(
                f"{entry_id}: argument 'z' has {z.shape[1]} features but the prototypes have dim={prototypes.shape[1]}",
                argument="z",
            )
        return inputs

    def __getstate__(self) -> dict:
        # A cache holds this process's last batch (and closures over it), not part of the
        # loss: a pickled or saved copy starts with an empty one. (Not super(): FormulaLoss
        # shares this method.)
        return {name: SupervisoryCache() if isinstance(value, SupervisoryCache) else value
                for name, value in torch.nn.Module.__getstate__(self).items()}

    def _p_key(self, used, n, z, rows):
        """The p cache's key for a batch of these p-side tensors (``used``), shape, dtype and device."""
        return SupervisoryCache.make_key(used, (n, z.dtype, z.device, rows, tuple(sorted(self.params.items()))))

    def forward(self, z=None, *positional, x=None, labels=None, ids=None, modality=None, neighbors=None, graph=None,
                teacher=None, center=None, bank=None, bank_ids=None, bank_labels=None, keys=None, **unknown):
        """The loss of the batch ``z`` (n, d): a scalar, or n values with reduction "none".

        The keyword inputs are what the entry reads (``requires`` names them): ``x`` input
        features (n, d_x) for data-space kernels, ``labels`` (n,) class labels, ``ids`` (n,) the
        source instance of each view, ``modality`` (n,) for cross-modal pairs, ``neighbors``
        (n, k) neighbour indices (or the candidates [positive, negative] of each anchor),
        ``graph`` (n, n) edge weights, ``teacher`` (n, K) a teacher's scores over z's K outputs
        and ``center`` (K,) their centre, ``bank`` (m, d) rows passed in the call with
        ``bank_ids`` / ``bank_labels`` (m,), ``keys`` (n, d) each anchor's own key.
        (``positional`` and ``unknown`` catch a call that passes them otherwise: an IconError.)
        """
        if positional or unknown:
            raise arguments.call_error(self.entry.id, self._required, positional, unknown)
        given = {name: value for name, value in zip(INPUT_NAMES, (x, labels, ids, modality, neighbors, graph, teacher,
                                                                   center, bank, bank_ids, bank_labels, keys))
                 if value is not None}
        if self.second_order and not torch.compiler.is_compiling():  # (traced: plain ops already)
            with torch_backend.plain_ops_only():
                return self._loss(z, given)
        return self._loss(z, given)

    def _loss(self, z, given: dict):
        """``forward`` after gathering the call's arguments (``given``: name -> tensor)."""
        if self.distributed:
            inputs, sizes = dist_eval.checked_on_every_rank(self.entry.id, lambda: self._batch(z, given))
            inputs = dist_eval.gather_inputs(inputs, sizes, ids=self.distributed_ids)
        else:
            inputs = self._batch(z, given)
            if self._p_cacheable:
                used = {name: given.get(name) for name in self._p_inputs}
                if not torch.compiler.is_compiling():
                    if all(isinstance(t, torch.Tensor) for t in used.values()):
                        # made on first read, from the values, not the batch: the batch holds the cache
                        inputs.p_cache = self._p_cache.bind(functools.partial(self._p_key, used, inputs.n, inputs.z,
                                                                              inputs.rows))
                elif self._p_searches:
                    # A calibration is a data-dependent search Dynamo cannot trace: p is evaluated (and
                    # cached while the same tensors come back) outside the graph, one graph break.
                    inputs.p_cache = _EagerP(self, used)
                    inputs.p_cache.fetch(inputs)  # here, not inside the try below: Dynamo resumes after a break only outside it
        inputs.exaggeration = self.exaggeration
        try:
            terms = chunked.evaluate_terms(
                self.entry, inputs, objective=self.objective, chunk_size=self.chunk_size,
                chunk_memory=self.chunk_memory, plan=self._chunk_plan,
                reduction=None if self.distributed else self.reduction,
            )
        except SupportMismatch as err:
            raise IconError(f"{self.entry.id}: {err}", entry=self.entry.id) from None
        scale = None
        if self.entry.limit is not None:
            scale = self.params[self.entry.limit.parameter] ** self.entry.limit.scale_power
        if self.entry.prefactor is not None:
            prefactor = self.params[self.entry.prefactor.parameter] ** self.entry.prefactor.power
            scale = prefactor if scale is None else scale * prefactor
        if self.distributed:
            values = terms.values if scale is None else terms.values * scale
            anchors = dist_eval.count_over_ranks(terms.has_mass, values.dtype)
            if not bool(anchors > 0):
                raise self._no_supervision(inputs)
            return dist_eval.reduce(values, anchors, self.reduction).to(z.dtype)
        # (Under torch.compile this data-dependent check would break the graph: it is skipped
        # there, and a batch without supervision gives 0.)
        if not torch.compiler.is_compiling() and terms.lacks_mass():
            raise self._no_supervision(inputs)
        out = terms.reduce(self.reduction)
        if scale is not None:
            out = out * scale
        return out if out.dtype == z.dtype else out.to(z.dtype)

    def _no_supervision(self, inputs) -> IconError:
        """No anchor of the batch has any supervisory mass: the loss would be a silent 0. It is
        the caller's batch (every id or label once: the second view forgotten), so say which
        arguments p reads and what they must hold."""
        reads = sorted(self.entry.p.inputs_used())
        hints = []
        for name in reads:
            if f"bank_{name}" in reads:  # matched against the bank's rows, not among the anchors
                continue
            hint = _EMPTY_P_HINTS.get(name)
            value = getattr(inputs, name, None)
            if name == "labels" and inputs.prototypes is not None:
                # a classifier's labels need not repeat: each must name one of its classes
                hint = (f"'labels' must name the classes 0..{inputs.prototypes.shape[0] - 1} (one per prototype), "
                        f"found labels in {int(value.min())}..{int(value.max())}")
            elif name in ("ids", "labels") and value is not None and value.unique().numel() == value.numel():
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


class _EagerP:
    """Under torch.compile: the p cache's lookup and p's evaluation, run eagerly (``fetch``)."""

    def __init__(self, loss, used):
        self.loss, self.used, self.bound, self.dist = loss, used, None, None

    @torch.compiler.disable
    def fetch(self, inputs):
        from icon_registry.backends import TorchBackend

        self.bound = self.loss._p_cache.bind(self.loss._p_key(self.used, inputs.n, inputs.z, inputs.rows))
        self.dist = self.bound.get()
        if self.dist is None:
            # on a copy with its own per-batch cache, so that the traced part meets the same
            # (empty) cache whether p was just evaluated or reused: no recompilation
            own = dataclasses.replace(inputs, _cache={})
            with torch.no_grad(), TorchBackend.float_dtype(inputs.z.dtype):
                self.dist = self.loss.entry.p.evaluate(own)
                prepare_fixed(self.dist, self.loss.objective, inputs.z)  # its compact form, here too
            self.bound.put(self.dist)
            self.bound.release(self.dist)  # it borrows the traced call's candidate space

    def get(self):
        # a shallow copy: what the traced call sets on it (the support check it passed, the
        # borrowed candidate space) must not change what the next call's guards see
        return copy.copy(self.dist)

    def put(self, dist):
        self.bound.put(dist)

    def clear(self):
        self.bound.clear()

    def release(self, dist):
        self.bound.release(dist)


def compile_loss(
    entry_or_id, *, source: str = "objective", objective=None, reduction=None, num_classes=None, dim=None,
    chunk_size=None, chunk_memory=None, distributed=False, distributed_ids="global", second_order=False, **overrides,
):
    """A ``torch.nn.Module`` computing a loss of the entry on a batch, called as
    ``loss(z, *, x=None, labels=None, ids=None, modality=None, neighbors=None, graph=None,
    teacher=None, center=None, bank=None, bank_ids=None, bank_labels=None, keys=None)``
    (``CompiledLoss.forward``).

    ``entry_or_id``: an ``Entry``, or the id or an alias of a catalog entry (gap cells included).
    ``source``: "objective" (default) computes the entry's I-Con objective from its p and q;
    "formula" computes its published ``loss.formula`` as written (its own reduction included),
    vectorized (``icon_registry.compiler.formula``).
    ``objective``: "kl" (default), sum_i KL(p_i || q_i); or "cross_entropy", sum_i H(p_i, q_i),
    which differs from it by the entropy of p (a constant of the batch when p is fixed). For an
    entry with ``direction: reverse`` (k-means, spectral clustering) the two are sum_i KL(q_i || p_i) and
    sum_i H(q_i, p_i), which differ by the entropy of q: it depends on z, so there the two are
    different losses, with different gradients.
    ``reduction``: how the anchors' terms combine: "mean" (default) over the anchors whose p is
    not empty, "sum", or "none" (one value per anchor). ``objective`` and ``reduction`` apply
    to source="objective".
    ``num_classes`` and ``dim``: positive integers, required by the entries with class prototypes
    (cross entropy, harmonic loss) and refused by the others: the module owns them as the
    parameter ``prototypes`` of shape (num_classes, dim), cast to each call's dtype.
    ``chunk_size``: anchors per block (memory n x chunk_size, same value and gradients);
    None (the default) chunks only when the dense evaluation would not fit in memory (see
    ``chunk_memory``), 0 never chunks.
    ``chunk_memory``: bytes the dense evaluation may take before chunk_size=None splits the
    anchors into blocks; None: half of the memory the device has available at each call
    (icon_registry.compiler.chunked.MEMORY_FRACTION).
    ``distributed``: anchors on this rank against the batch gathered from all ranks; the
    loss is scaled for DistributedDataParallel (see icon_registry.compiler.distributed).
    ``distributed_ids``: "global" (ids already unique across ranks) or "local" (shifted per rank).
    ``second_order``: evaluate with plain torch ops, so that the loss has a second derivative
    (backward with create_graph=True: gradient penalties, Hessian-vector products). By default
    the eager loss uses fused autograd Functions, faster and leaner, whose backward raises an
    error under create_graph=True instead of returning a wrong second derivative.

    ``overrides`` set the entry's parameters (e.g. ``tau=0.1``); unknown names and values
    outside the declared ranges are errors. An entry none of whose claims ties its objective
    to its published loss (all ``unproved``, say) gets a warning, once, when its objective is
    compiled: the objective is then not the published loss.
    """
    entry = _resolve_entry(entry_or_id)
    if source not in SOURCES:
        raise IconError(f"{entry.id}: source must be one of {SOURCES}, got {source!r}", argument="source")
    for name, flag in (("distributed", distributed), ("second_order", second_order)):
        if not isinstance(flag, bool):
            raise IconError(f"{entry.id}: {name} must be True or False, got {flag!r}", entry=entry.id, argument=name)
    # checked whether or not distributed=True (and for either source): a misspelt scope must not
    # pass unnoticed until the day the loss is distributed
    if distributed_ids not in dist_eval.ID_SCOPES:
        raise IconError(f"{entry.id}: distributed_ids must be one of {dist_eval.ID_SCOPES}, got {distributed_ids!r}",
                        entry=entry.id, argument="distributed_ids")
    _check_class_shape(entry, num_classes, dim)
    if source == "formula":
        for name, value in (("objective", objective), ("reduction", reduction), ("distributed", distributed or None),
                            ("chunk_memory", chunk_memory)):
            if value is not None:
                raise IconError(
                    f"{entry.id}: {name}= applies to source='objective'; source='formula' computes loss.formula as "
                    f"written (reduction: {entry.loss.reduction} is part of it)", entry=entry.id, argument=name)
    objective = "kl" if objective is None else objective
    reduction = "mean" if reduction is None else reduction
    if objective not in OBJECTIVES:
        raise IconError(f"{entry.id}: objective must be one of {OBJECTIVES}, got {objective!r}", argument="objective")
    if reduction not in REDUCTIONS:
        raise IconError(f"{entry.id}: reduction must be one of {REDUCTIONS}, got {reduction!r}", argument="reduction")
    params = {name: spec.default for name, spec in entry.parameters.items()}
    for name, value in overrides.items():
        if name not in entry.parameters:
            known = sorted(entry.parameters) + [
                "source", "objective", "reduction", "num_classes", "dim", "chunk_size", "chunk_memory", "distributed",
                "distributed_ids", "second_order",
            ]
            raise IconError(
                f"{entry.id}: unknown parameter {quote(name)}{suggest(name, known)} "
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
    if source == "formula":
        from icon_registry.compiler.formula import FormulaLoss

        return FormulaLoss(entry, params, num_classes=num_classes, dim=dim, chunk_size=chunk_size,
                           second_order=second_order)
    _warn_if_not_the_published_loss(entry)
    return CompiledLoss(
        entry, params, objective, reduction, num_classes=num_classes, dim=dim,
        chunk_size=chunk_size, distributed=distributed, distributed_ids=distributed_ids, chunk_memory=chunk_memory,
        second_order=second_order,
    )


_WARNED: set = set()


def _warn_if_not_the_published_loss(entry) -> None:
    """Once per entry: its objective is not shown to be its published loss."""
    if any(claim.ties_objective_to_loss for claim in entry.claims) or entry.id in _WARNED:
        return
    _WARNED.add(entry.id)
    kinds = ", ".join(sorted({claim.kind for claim in entry.claims}))
    kl = "KL(p_i || q_i)" if entry.direction == "forward" else "KL(q_i || p_i)"  # kmeans, spectral: q on the left
    warnings.warn(
        f"{entry.id}: no claim of this entry ties its I-Con objective to its published loss (claims: {kinds}); "
        f"compile_loss computes the objective sum_i {kl}, not loss.formula. For the published loss use "
        f"compile_loss(entry, source='formula') (icon fit --source formula).",
        IconWarning,
        stacklevel=3,
    )
