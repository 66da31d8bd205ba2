"""The oracle: is a variant REALLY wrong? It searches for a counterexample batch.

Independent of ``icon_registry.verify``: on random float64 batches (``batches.py``) it
evaluates each claim with the COMPILED torch loss (``compile_loss``) on one side and the
formula module's numeric evaluator on the other, exactly as the claims are documented in
``icon_registry.claims``:

- identity: objective == loss.formula; up_to_constant: objective - loss.formula == constant;
  decomposition: loss.formula == objective + extra; bound: loss.formula <= (>=) objective +
  offset at three draws of z;
- limit: scale * (objective - offset) -> factor * equals (``equals`` omitted: loss.formula),
  read off three parameter values near the limit (sigma -> infinity: a quadratic
  extrapolation in 1/sigma to 0 must vanish; sigma -> 0: the residual at sigma = 1e-3 must be
  tiny); the sandwich bounds where claimed; ``error_probability``: per anchor 1 - exp(-H);
- reverse_kl_entropy: KL(q || p) + H(q) - factor * cost does not change with z (H(q) read
  off the compiled loss as cross entropy - KL);
- a limit's ``equals`` given without a name of its own, and a reverse-KL claim's ``cost``,
  state the published loss: loss.formula == equals (cost) on the batch.

A batch counts for a claim only where the ORIGINAL catalog entry's claim holds on it, so a
counterexample shows the mutation broke the claim, not that the catalog was already wrong
there. A variant is "wrong" when some claim has a counterexample; otherwise "undecided"
(never counted as wrong). Between the tolerance at which a claim holds and the one at which
it fails there is a gap of three orders of magnitude: rounding never decides a verdict.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from icon_registry.errors import IconWarning
from icon_registry.formula import FormulaError, FormulaInstance, evaluate_numeric, parse

from .batches import Batch, draw_parameters, make_batch
from .variants import tree_nodes

#: batches searched per claim (seeds 0..NUM_BATCHES-1; even seeds are complete batches)
NUM_BATCHES = 16
HOLDS, FAILS, UNCLEAR = "holds", "fails", "unclear"
EQUAL_RTOL, DIFFERENT_RTOL = 1e-9, 1e-6
LIMIT_HOLDS, LIMIT_FAILS = 1e-6, 1e-4
ZERO_LIMIT_HOLDS, ZERO_LIMIT_FAILS = 1e-4, 1e-3
INFINITY_STEPS = (1e-2, 10 ** -2.5, 1e-3)  # 1 / parameter
ZERO_STEPS = (1e-1, 1e-2, 1e-3)  # parameter


class Undefined(Exception):
    """One side cannot be evaluated on this batch (an error, an empty mean, a non-finite value)."""


@dataclass
class Outcome:
    status: str
    detail: str = ""


@dataclass
class Decision:
    """The oracle's verdict on one variant.

    ``refuted``: claim index -> the counterexample in words. ``tested``: claim index -> the
    number of batches on which the original claim held (the batches the search could use).
    """

    key: str
    kind: str
    refuted: dict = field(default_factory=dict)
    tested: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.kind == "neutral":
            return "refuted" if self.refuted else "confirmed"
        return "wrong" if self.refuted else "undecided"


# ---------------------------------------------------------------------------------------
# the two sides on one batch
# ---------------------------------------------------------------------------------------
def _nodes(entry):
    for side in ("p", "q"):
        for _, node in tree_nodes(entry.p.model_dump() if side == "p" else entry.q.model_dump()):
            yield node


def _parameter_value(ref, params):
    return params[ref] if isinstance(ref, str) else float(ref)


def perplexity_parameters(entry) -> set:
    return {node["kernel"]["perplexity"] for node in _nodes(entry) if node["kind"] == "normalize"
            and isinstance(node["kernel"].get("perplexity"), str)}


def uses_candidates(entry) -> bool:
    return any(node.get("support") == "candidates" for node in _nodes(entry))


def compiled_objective(entry, batch: Batch, params: dict, objective: str) -> float:
    """The compiled torch loss in float64, combined over anchors as ``loss.reduction`` says;
    limit rows without their param**scale_power factor (claims state their own scale).
    ``error_probability``: per anchor 1 - exp(-H(p_i, q_i)), the same combination."""
    if objective != "error_probability":
        return _compiled(entry, batch, params, objective, entry.loss.reduction)
    per_anchor = 1 - np.exp(-_compiled(entry, batch, params, "cross_entropy", "none"))  # 0 where p_i is empty
    total = float(per_anchor.sum())
    if entry.loss.reduction == "sum":
        return total
    # the anchors with a non-empty p, read off the compiled loss's own sum and mean at the batch's parameters
    at = {**params, **({entry.limit.parameter: 1.0} if entry.limit is not None else {})}
    mean = _compiled(entry, batch, at, "cross_entropy", "mean")
    anchors = round(_compiled(entry, batch, at, "cross_entropy", "sum") / mean) if mean else batch.n
    return total / max(anchors, 1)


def _compiled(entry, batch, params, objective, reduction):
    import torch

    from icon_registry import compile_loss

    kwargs = {}
    if any(node.get("support") == "prototypes" for node in _nodes(entry)):
        kwargs = {"num_classes": batch.num_classes, "dim": batch.z.shape[1]}
    try:
        with warnings.catch_warnings():  # an objective not tied to loss.formula is what the oracle compares
            warnings.simplefilter("ignore", IconWarning)
            loss = compile_loss(entry, objective=objective, reduction=reduction, **kwargs, **params)
        if loss.prototypes is not None:
            loss.prototypes.data = torch.as_tensor(batch.w, dtype=torch.float64)
        given = {"x": torch.as_tensor(batch.x), "labels": torch.as_tensor(batch.labels),
                 "ids": torch.as_tensor(batch.ids), "modality": torch.as_tensor(batch.modality),
                 "neighbors": torch.as_tensor(batch.neighbors), "graph": torch.as_tensor(batch.graph),
                 **{name: torch.as_tensor(getattr(batch, name))
                    for name in ("teacher", "center", "keys", "bank", "bank_ids", "bank_labels")}}
        with torch.no_grad():
            value = loss(torch.as_tensor(batch.z), **{name: given[name] for name in loss.requires}).numpy()
    except Exception as err:  # noqa: BLE001 - any failure means the objective is undefined on this batch
        raise Undefined(f"the compiled loss raised {type(err).__name__}: {str(err)[:120]}") from None
    if entry.limit is not None:
        value = value / params[entry.limit.parameter] ** entry.limit.scale_power
    if not np.all(np.isfinite(value)):
        raise Undefined(f"the compiled objective is {value}")
    return value if reduction == "none" else float(value)


def calibrated_precisions(node, batch: Batch, params: dict) -> np.ndarray:
    """Per-row beta with entropy log(perplexity): our own bisection on log(beta) (float64)."""
    kernel = node["kernel"]
    vectors = batch.x if kernel.get("space", "z") == "x" else batch.z
    if kernel.get("cosine"):
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    d2 = ((vectors[:, None, :] - vectors[None, :, :]) ** 2).sum(-1)
    mask = ~np.eye(batch.n, dtype=bool) if node["support"] == "others" else np.ones((batch.n, batch.n), bool)
    target = math.log(_parameter_value(kernel["perplexity"], params))
    row_scale = np.log(np.maximum((d2 * mask).sum(1) / mask.sum(1), 1e-300))
    low, high = -60.0 - row_scale, 60.0 - row_scale
    for _ in range(200):
        middle = (low + high) / 2
        logits = np.where(mask, -d2 * np.exp(middle)[:, None], -np.inf)
        top = logits.max(1, keepdims=True)
        log_p = logits - top - np.log(np.exp(logits - top).sum(1, keepdims=True))
        entropy = -(np.exp(log_p) * np.where(mask, log_p, 0.0)).sum(1)
        too_flat = entropy > target
        low, high = np.where(too_flat, middle, low), np.where(too_flat, high, middle)
    return np.exp((low + high) / 2)


def formula_value(entry, text: str, batch: Batch, params: dict, reference=None) -> float:
    """A formula on the batch (numeric evaluator). phi is the entry's own cluster head on z;
    beta the perplexity calibration of the entry's p (or of ``reference``'s, when a variant
    has none but its formula still reads beta)."""
    try:
        formula = _parse(text, tuple(sorted(params)), tuple(entry.loss.where.items()))
    except FormulaError as err:
        raise Undefined(f"the formula does not parse: {err}") from None
    phi = beta = None
    for source in (entry, reference):
        if source is None:
            continue
        for node in _nodes(source):
            if phi is None and node["kind"] == "cluster":
                logits = batch.z / _parameter_value(node["temperature"], params)
                logits = logits - logits.max(1, keepdims=True)
                phi = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
            if beta is None and node["kind"] == "normalize" and node["kernel"].get("perplexity") is not None:
                beta = calibrated_precisions(node, batch, params)
    instance = FormulaInstance(
        n=batch.n, z=list(batch.z), x=list(batch.x), g=list(batch.x), w=list(batch.w),
        labels=list(batch.labels), ids=list(batch.ids), modality=list(batch.modality),
        candidates=[list(row) for row in batch.neighbors] if batch.neighbors.shape[1] == 2 else None,
        neighbors=[list(row) for row in batch.neighbors], beta=None if beta is None else list(beta),
        phi=None if phi is None else list(phi), W=list(batch.graph), teacher=list(batch.teacher),
        center=list(batch.center), keys=list(batch.keys), bank=list(batch.bank), bank_ids=list(batch.bank_ids),
        bank_labels=list(batch.bank_labels), params=params, num_classes=batch.num_classes,
    )
    try:
        value = float(evaluate_numeric(formula, instance))
    except FormulaError as err:
        raise Undefined(f"the formula is undefined on this batch: {err}") from None
    if not math.isfinite(value):
        raise Undefined(f"the formula is {value} on this batch")
    return value


@functools.lru_cache(maxsize=4096)
def _parse(text: str, parameters: tuple, definitions: tuple):
    return parse(text, parameters, dict(definitions))


def _compare(a: float, b: float, scale: float, holds=EQUAL_RTOL, fails=DIFFERENT_RTOL) -> str:
    gap = abs(a - b)
    size = 1.0 + abs(scale)
    return HOLDS if gap <= holds * size else FAILS if gap > fails * size else UNCLEAR


def describe_batch(batch: Batch) -> str:
    views = sorted({int(c) for c in np.bincount(batch.ids)})
    classes = sorted({int(c) for c in np.bincount(batch.labels)})
    modalities = sorted(int(c) for c in np.bincount(batch.modality))
    return (f"batch {batch.seed} (n={batch.n}, views per id {views}, class sizes {classes}, "
            f"modality sizes {modalities})")


# ---------------------------------------------------------------------------------------
# aspects of each claim kind: fn(entry, claim, batch, params, reference) -> Outcome
# ---------------------------------------------------------------------------------------
def _guarded(check):
    @functools.wraps(check)
    def run(*args):
        try:
            return check(*args)
        except Undefined as err:
            return Outcome(FAILS, str(err))

    return run


@_guarded
def equality(entry, claim, batch, params, reference):
    """identity: objective = loss; up_to_constant: objective - loss = constant; decomposition:
    loss = objective + extra."""
    objective = compiled_objective(entry, batch, params, claim.objective)
    loss = formula_value(entry, entry.loss.formula, batch, params, reference)
    if claim.kind == "identity":
        return Outcome(_compare(objective, loss, abs(objective) + abs(loss)),
                       f"objective {objective:.10g} but loss.formula {loss:.10g}")
    if claim.kind == "decomposition":
        extra = formula_value(entry, claim.extra, batch, params, reference)
        return Outcome(_compare(loss - objective, extra, abs(objective) + abs(loss)),
                       f"loss.formula - objective {loss - objective:.10g} but extra {extra:.10g}")
    constant = formula_value(entry, claim.constant, batch, params, reference)
    return Outcome(_compare(objective - loss, constant, abs(objective) + abs(loss)),
                   f"objective - loss.formula {objective - loss:.10g} but constant {constant:.10g}")


@_guarded
def bound(entry, claim, batch, params, reference):
    """loss.formula <= (>=) objective + offset, for the batch's z and two other draws."""
    rng = np.random.default_rng([11, batch.seed])
    worst = -math.inf
    for k in range(3):
        current = batch if k == 0 else batch.with_z(rng.normal(size=batch.z.shape), rng.normal(size=batch.w.shape))
        loss = formula_value(entry, entry.loss.formula, current, params, reference)
        right = (compiled_objective(entry, current, params, claim.objective)
                 + formula_value(entry, claim.offset, current, params, reference))
        excess = (loss - right if claim.relation == "<=" else right - loss) / (1 + abs(loss) + abs(right))
        worst = max(worst, excess)
    status = HOLDS if worst <= EQUAL_RTOL else FAILS if worst > DIFFERENT_RTOL else UNCLEAR
    return Outcome(status, f"loss.formula {claim.relation} objective + offset is broken by {worst:.3g} (relative)")


def stated_limit(entry, claim) -> str:
    """A limit's ``equals`` (omitted: the published loss)."""
    return claim.equals if claim.equals is not None else entry.loss.formula


def _limit_residuals(entry, claim, batch, params, reference, steps):
    residuals = []
    target = 0.0
    for step in steps:
        value = 1 / step if claim.to == "infinity" else step
        at = {**params, claim.parameter: value}
        objective = compiled_objective(entry, batch, at, claim.objective)
        scale = formula_value(entry, claim.scale, batch, at, reference)
        offset = formula_value(entry, claim.offset, batch, at, reference)
        target = (formula_value(entry, claim.factor, batch, at, reference)
                  * formula_value(entry, stated_limit(entry, claim), batch, at, reference))
        residuals.append(scale * (objective - offset) - target)
    return residuals, target


@_guarded
def limit(entry, claim, batch, params, reference):
    if claim.to == "infinity":
        residuals, target = _limit_residuals(entry, claim, batch, params, reference, INFINITY_STEPS)
        s = INFINITY_STEPS
        weights = [s[1] * s[2] / ((s[0] - s[1]) * (s[0] - s[2])), s[0] * s[2] / ((s[1] - s[0]) * (s[1] - s[2])),
                   s[0] * s[1] / ((s[2] - s[0]) * (s[2] - s[1]))]
        at_limit = sum(w * r for w, r in zip(weights, residuals))  # the quadratic through the residuals, at 1/param = 0
        status = _compare(at_limit, 0.0, target, LIMIT_HOLDS, LIMIT_FAILS)
        words = (f"scale*(objective - offset) - factor*equals = {', '.join(f'{r:.4g}' for r in residuals)} at "
                 f"{claim.parameter} = {', '.join(f'{1 / v:.4g}' for v in s)}, extrapolated to {at_limit:.4g} "
                 f"(factor*equals = {target:.6g})")
        return Outcome(status, words)
    residuals, target = _limit_residuals(entry, claim, batch, params, reference, ZERO_STEPS)
    status = _compare(residuals[-1], 0.0, target, ZERO_LIMIT_HOLDS, ZERO_LIMIT_FAILS)
    words = (f"scale*(objective - offset) - factor*equals = {', '.join(f'{r:.4g}' for r in residuals)} at "
             f"{claim.parameter} = {', '.join(f'{v:g}' for v in ZERO_STEPS)} (factor*equals = {target:.6g})")
    return Outcome(status, words)


@_guarded
def sandwich(entry, claim, batch, params, reference):
    anchors = 1 if entry.loss.reduction == "mean" else batch.n
    worst = 0.0
    for value in (2.0, 1.0, 0.3, 0.1):
        at = {**params, claim.parameter: value}
        scale = formula_value(entry, claim.scale, batch, at, reference)
        loss = scale * (compiled_objective(entry, batch, at, claim.objective)
                        - formula_value(entry, claim.offset, batch, at, reference))
        target = (formula_value(entry, claim.factor, batch, at, reference)
                  * formula_value(entry, stated_limit(entry, claim), batch, at, reference))
        slack = scale * math.log(2) * anchors
        excess = max(target - loss, loss - slack - target) / (1 + abs(loss))
        worst = max(worst, excess)
    status = HOLDS if worst <= EQUAL_RTOL else FAILS if worst > DIFFERENT_RTOL else UNCLEAR
    return Outcome(status, f"the sandwich bound is broken by {worst:.3g} (relative)")


@_guarded
def published_loss(entry, claim, batch, params, reference):
    """loss.formula is the limit (``equals``) / the cost the claim states."""
    stated = claim.equals if claim.kind == "limit" else claim.cost
    loss = formula_value(entry, entry.loss.formula, batch, params, reference)
    value = formula_value(entry, stated, batch, params, reference)
    name = "equals" if claim.kind == "limit" else "cost"
    return Outcome(_compare(loss, value, abs(loss) + abs(value)), f"loss.formula {loss:.10g} but {name} {value:.10g}")


@_guarded
def constant_in_z(entry, claim, batch, params, reference):
    rng = np.random.default_rng([7, batch.seed])
    values = []
    for k in range(3):
        current = batch if k == 0 else batch.with_z(rng.normal(size=batch.z.shape), rng.normal(size=batch.w.shape))
        kl = compiled_objective(entry, current, params, "kl")
        entropy = compiled_objective(entry, current, params, "cross_entropy") - kl  # H of the left distribution
        cost = formula_value(entry, claim.cost or entry.loss.formula, current, params, reference)
        values.append(kl + entropy - formula_value(entry, claim.factor, current, params, reference) * cost)
    spread = max(values) - min(values)
    status = _compare(spread, 0.0, max(abs(v) for v in values))
    return Outcome(status, f"KL + H(q) - factor*cost = {', '.join(f'{v:.10g}' for v in values)} for three z")


def aspects(claim) -> list:
    """(name, check) pairs that together make up what ``claim`` states. A limit's ``equals``
    (a reverse-KL claim's ``cost``) given without a name of its own states the published loss."""
    if claim.kind in ("identity", "up_to_constant", "decomposition"):
        return [(claim.kind, equality)]
    if claim.kind == "bound":
        return [("bound", bound)]
    if claim.kind == "limit":
        found = [("limit", limit)]
        if claim.equals is not None and not getattr(claim, "equals_name", ""):
            found.append(("loss.formula is equals", published_loss))
        return found + ([("sandwich", sandwich)] if claim.sandwich else [])
    if claim.kind == "reverse_kl_entropy":
        return [("constant in z", constant_in_z)] + ([("loss.formula is cost", published_loss)] if claim.cost else [])
    return []


# ---------------------------------------------------------------------------------------
# judging variants against their original
# ---------------------------------------------------------------------------------------
class Oracle:
    """Judges the variants of one original entry; the original's outcomes are computed once."""

    def __init__(self, original, num_batches: int = NUM_BATCHES):
        self.original = original
        self.num_batches = num_batches
        self._batches: dict = {}
        self._original_outcomes: dict = {}

    def batch(self, seed: int, variant_entry) -> Batch:
        width = 2 if uses_candidates(self.original) or uses_candidates(variant_entry) else None
        key = (seed, width)
        if key not in self._batches:
            self._batches[key] = make_batch(seed, candidate_width=width)
        return self._batches[key]

    def _params(self, entry, batch):
        return draw_parameters(entry, batch, perplexity_parameters(entry) | perplexity_parameters(self.original))

    def original_holds(self, index: int, aspect: str, check, batch: Batch) -> bool:
        key = (index, check.__name__, batch.seed, batch.neighbors.shape[1])
        if key not in self._original_outcomes:
            claim = self.original.claims[index]
            outcome = check(self.original, claim, batch, self._params(self.original, batch), None)
            self._original_outcomes[key] = outcome.status == HOLDS
        return self._original_outcomes[key]

    def judge(self, variant) -> Decision:
        decision = Decision(variant.key, variant.kind)
        entry = variant.entry
        rest_same = _without_claims(entry) == _without_claims(self.original)
        for index, claim in enumerate(entry.claims):
            original_claim = self.original.claims[index]
            if rest_same and claim == original_claim:
                continue  # the same claim about the same entry: nothing to search
            decision.tested[index] = 0
            for aspect, check in aspects(claim):
                original_check = dict(aspects(original_claim)).get(aspect)
                if original_check is None:  # a claim of another kind: the original's whole claim is the reference
                    original_check = aspects(original_claim)[0][1] if aspects(original_claim) else None
                if original_check is None:
                    continue
                found = self._search(entry, index, aspect, check, original_check)
                decision.tested[index] = max(decision.tested[index], found[1])
                if found[0] is not None:
                    decision.refuted[index] = f"{claim.kind} ({aspect}): {found[0]}"
                    break
        return decision

    def _search(self, entry, index, aspect, check, original_check):
        """(counterexample words or None, number of batches on which the original held)."""
        usable = 0
        for seed in range(self.num_batches):
            batch = self.batch(seed, entry)
            if not self.original_holds(index, aspect, original_check, batch):
                continue
            usable += 1
            outcome = check(entry, entry.claims[index], batch, self._params(entry, batch), self.original)
            if outcome.status == FAILS:
                return f"{describe_batch(batch)}: {outcome.detail}", usable
        return None, usable


def _without_claims(entry):
    data = entry.model_dump(mode="json")
    data.pop("claims")
    for name in ("name", "aliases", "summary", "paper", "relations", "peers", "errata", "notes"):
        data.pop(name, None)
    data["loss"].pop("description", None)
    return data


def judge_group(original, variants, num_batches: int = NUM_BATCHES) -> list:
    """Decisions for variants of one original (shares the original's outcomes)."""
    oracle = Oracle(original, num_batches)
    with single_threaded_torch():
        return [oracle.judge(variant) for variant in variants]


@contextlib.contextmanager
def single_threaded_torch():
    """Batches are tiny: torch's thread pool only fights the other processes for the cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
