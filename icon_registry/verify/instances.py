"""The small symbolic instance and the larger random float64 instance a claim is checked on.

Both are built from the entry's structure (which inputs its kernels read, which supports its
distributions use) so that every structural feature is exercised: positives of size 1 and 2
(ids), classes of size 2 and 3 (labels), paired modalities (CLIP), triplet candidates,
class prototypes, cluster logits, a teacher's scores over z's outputs (with a zero
probability in the rich batch), a bank whose ids give some anchors no positive and some two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from icon_registry.backends import SympyBackend

#: the symbolic instance's sizes
SYM_N = 4
SYM_N_LABELS = 5  # classes of size 2 and 3
NUM_N = 12
NUM_N_LABELS = 15
#: the larger float64 batches: ``large`` has LARGE_N items, ``wide`` ids with up to 6 views and a class of 8
LARGE_N = (20, 31)
WIDE_VIEWS = (6, 5, 3, 2, 1, 1)
WIDE_CLASSES = (8, 6, 3, 1)
#: an unbounded parameter range reaches this multiple of the default (and 1/it below it)
UNBOUNDED_MULTIPLE = 100.0
#: a declared range is probed at most this multiple of a positive default away from it: float64
#: cannot evaluate exp(1 / tau) at tau = 1e-300, and a failure there would blame the formula
PROBED_MULTIPLE = 1e6
#: how each float64 batch (variant, seed) samples the parameters; any other batch draws at random
#: (near the default, where a loss is used, and where most wrong variants show; the ends and the
#: rest of the range on the other batches)
PARAM_MODES = {("base", 0): "default", ("rich", 0): "near", ("random", 1): "high", ("random", 2): "near",
               ("large", 4): "low", ("wide", 5): "default"}


def walk_nodes(node):
    """Every distribution/kernel node of a p or q tree."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for value in current.__dict__.values():
            children = value if isinstance(value, (list, tuple)) else [value]
            stack.extend(child for child in children if hasattr(type(child), "model_fields") and hasattr(child, "kind"))


def entry_features(entry) -> dict:
    """Which inputs and supports the entry's p and q use."""
    used = set(entry.p.inputs_used() | entry.q.inputs_used())
    nodes = list(walk_nodes(entry.p)) + list(walk_nodes(entry.q))
    supports = {getattr(node, "support", None) for node in nodes} - {None}
    cluster = next((node for node in nodes if node.kind == "cluster"), None)
    perplexity = {node.perplexity for node in nodes if getattr(node, "perplexity", None) is not None}
    cosine = any(getattr(node, "cosine", False) for node in nodes)
    if "other_modality" in supports:
        used.add("modality")
    if "candidates" in supports:
        used.add("neighbors")
    return {
        "used": used,
        "supports": supports,
        "prototypes": "prototypes" in supports,
        "cluster": cluster,
        "perplexity": {p for p in perplexity if isinstance(p, str)},
        "calibrated": next((node for node in nodes if node.kind == "normalize"
                            and getattr(node.kernel, "perplexity", None) is not None), None),
        "cosine": cosine,
    }


@dataclass
class Structure:
    """The discrete part of an instance (shared by the symbolic and numeric sides)."""

    n: int
    d: int
    ids: np.ndarray
    labels: np.ndarray
    modality: np.ndarray
    neighbors: np.ndarray  # (n, 2): [positive, negative] candidates / given neighbours
    num_classes: int
    graph: np.ndarray  # (n, n) weights
    #: scores over the outputs (data): the teacher's (n, d) and the centre (d,)
    teacher: np.ndarray = None
    center: np.ndarray = None
    #: the bank's rows (m of them), their ids and labels
    m: int = 0
    bank_ids: np.ndarray = None
    bank_labels: np.ndarray = None


def _labels_used(features) -> bool:
    return "labels" in features["used"] or features["prototypes"]


def _graph(weights) -> np.ndarray:
    return np.array([[sympy.Rational(w).limit_denominator(1000) if w else sympy.Integer(0) for w in row]
                     for row in weights], dtype=object)


def _with_call_data(s: Structure, features: dict, rng=None, exact: bool = False, rich: bool = False) -> Structure:
    """The teacher's scores, the centre and the bank's ids and labels, where the entry reads them.

    Teacher scores are positive (so that they serve as logits and as probabilities); the rich
    batch gives one a zero probability. Bank ids: anchors with no positive in the bank, one with
    two (rich), and a row whose id no anchor has (a pure negative)."""
    used = features["used"]
    if "teacher" in used:
        if exact:
            values = [[sympy.Rational(1 + (3 * i + 5 * c) % 7, 4) for c in range(s.d)] for i in range(s.n)]
            if rich:
                values[1][0] = sympy.Integer(0)
            s.teacher = np.array(values, dtype=object)
        else:
            s.teacher = rng.uniform(0.05, 2.0, size=(s.n, s.d))
    if "center" in used:
        s.center = (np.array([sympy.Rational(c + 1, 3) - sympy.Rational(1, 2) for c in range(s.d)], dtype=object)
                    if exact else rng.normal(size=s.d))
    if "bank" in used:
        ids = np.unique(s.ids)
        positives = list(ids[: max(1, len(ids) - 1)]) + ([ids[0]] if rich else [])
        s.bank_ids = np.array(positives + [int(s.ids.max()) + 1])
        s.m = len(s.bank_ids)
        labels = np.unique(s.labels)
        s.bank_labels = np.array([labels[k % len(labels)] for k in range(s.m)])
    return s


def symbolic_structure(features: dict, d: int, variant: str = "base") -> Structure:
    """The exact instances: ``base`` (every anchor has one positive; n = 4, or 5 with labels) and
    ``rich`` (n = 6: an id with 3 views and one with a single view, classes of sizes 1, 2 and 3,
    unequal modality groups, a repeated and a self-listed neighbour, a node without edges)."""
    if variant == "rich":
        return _with_call_data(rich_structure(features, d, exact=True), features, exact=True, rich=True)
    labels_used = _labels_used(features)
    n = SYM_N_LABELS if labels_used else SYM_N
    if "modality" in features["used"]:
        ids = np.array([0, 0, 1, 1])
        modality = np.array([0, 1, 0, 1])
    else:
        ids = np.array([0, 1, 0, 1, 2][:n])
        modality = np.arange(n) % 2
    labels = np.array([0, 0, 1, 1, 1][:n]) if labels_used else np.zeros(n, dtype=int)
    neighbors = np.array([[1, 2], [0, 3], [3, 0], [2, 1], [3, 1]][:n])
    graph = np.array([[sympy.Integer(0 if i == j else 1 + (i + 2 * j) % 3) for j in range(n)] for i in range(n)],
                     dtype=object)
    graph = (graph + graph.T) / 2  # exact rationals: no float rounding on either side
    return _with_call_data(Structure(n, d, ids, labels, modality, neighbors, 2, graph), features, exact=True)


def rich_structure(features: dict, d: int, exact: bool = False) -> Structure:
    """Six items where the mistakes a typical batch hides show: |P(i)| of 2 (three views), 1 and
    0 (a single view), classes of sizes 1, 2 and 3 plus a prototype no item has, modality groups
    of 2 and 4, a kNN row with a repeated item and one that lists the anchor itself, and a graph
    with an isolated node and asymmetric weights."""
    n = 6
    ids = np.array([0, 0, 0, 1, 1, 2])
    modality = np.array([0, 1, 1, 0, 1, 1])
    labels = np.array([0, 1, 1, 2, 2, 2]) if _labels_used(features) else np.zeros(n, dtype=int)
    if "candidates" in features["supports"]:
        neighbors = np.array([[1, 2], [2, 0], [0, 4], [4, 5], [3, 1], [4, 0]])
    else:
        neighbors = np.array([[1, 1], [1, 2], [0, 3], [4, 5], [3, 0], [4, 1]])
    weights = [[0, 0.5, 0.25, 0, 1, 0], [0.5, 0, 0.75, 0, 0, 0.5], [0.25, 0.125, 0, 0, 0.5, 0], [0] * 6,
               [1, 0, 0.5, 0, 0, 0.25], [0, 0.5, 0, 0, 1, 0]]
    graph = _graph(weights) if exact else np.asarray(weights, dtype=np.float64)
    return Structure(n, d, ids, labels, modality, neighbors, 4, graph)


def random_structure(features: dict, d: int, rng: np.random.Generator, sizes=(7, 13)) -> Structure:
    """A seeded random batch: 7 to 12 items (``sizes``), ids with 1 to 4 views, classes of 1 to 4
    items, two modality groups of random sizes, random neighbour lists (repeats and the anchor
    itself included) or distinct triplet candidates, a sparse random graph with an isolated node."""
    n = int(rng.integers(*sizes))
    ids = np.repeat(np.arange(n), rng.integers(1, 5, size=n))[:n]
    ids = ids[rng.permutation(n)]
    modality = rng.integers(0, 2, size=n)
    modality[:2] = [0, 1]
    labels = (np.repeat(np.arange(n), rng.integers(1, 5, size=n))[:n][rng.permutation(n)]
              if _labels_used(features) else np.zeros(n, dtype=int))
    if "candidates" in features["supports"]:
        neighbors = np.array([rng.choice([k for k in range(n) if k != i], size=2, replace=False) for i in range(n)])
    else:
        neighbors = rng.integers(0, n, size=(n, 3))
    weights = rng.uniform(0.1, 1.0, (n, n)) * (rng.uniform(size=(n, n)) < 0.6)
    np.fill_diagonal(weights, 0.0)
    weights[int(rng.integers(n))] = 0.0
    num_classes = int(labels.max()) + 1 + int(rng.integers(0, 2)) if _labels_used(features) else 2
    return Structure(n, d, ids, labels, modality, neighbors, num_classes, weights)


def wide_structure(features: dict, d: int, rng: np.random.Generator) -> Structure:
    """A random batch with many views per id (WIDE_VIEWS: an anchor with 5 positives) and, where
    labels are read, a class of 8 (WIDE_CLASSES); the rest as ``random_structure``."""
    s = random_structure(features, d, rng, (sum(WIDE_VIEWS), sum(WIDE_VIEWS) + 1))
    s.ids = np.repeat(np.arange(len(WIDE_VIEWS)), WIDE_VIEWS)[rng.permutation(s.n)]
    if _labels_used(features):
        s.labels = np.repeat(np.arange(len(WIDE_CLASSES)), WIDE_CLASSES)[rng.permutation(s.n)]
        s.num_classes = len(WIDE_CLASSES)
    return s


def numeric_structure(features: dict, d: int, rng: np.random.Generator, variant: str = "base") -> Structure:
    """The float64 instances: ``base`` (n = 12, or 15 with labels), ``rich`` (see
    ``rich_structure``), ``random`` (``random_structure``, seeded), ``large`` (20 to 30 items)
    and ``wide`` (``wide_structure``)."""
    if variant == "rich":
        return _with_call_data(rich_structure(features, d), features, rng, rich=True)
    if variant == "random":
        return _with_call_data(random_structure(features, d, rng), features, rng)
    if variant == "large":
        return _with_call_data(random_structure(features, d, rng, LARGE_N), features, rng)
    if variant == "wide":
        return _with_call_data(wide_structure(features, d, rng), features, rng)
    labels_used = _labels_used(features)
    n = NUM_N_LABELS if labels_used else NUM_N
    if "modality" in features["used"]:
        ids = np.arange(n) // 2
        modality = np.arange(n) % 2
    else:
        ids = np.arange(n) % (n // 2)
        modality = np.arange(n) % 2
    labels = np.repeat(np.arange(4), [2, 3, 4, 6])[rng.permutation(n)] if labels_used else np.zeros(n, dtype=int)
    neighbors = np.zeros((n, 2), dtype=np.int64)
    for i in range(n):
        neighbors[i] = rng.choice([k for k in range(n) if k != i], size=2, replace=False)
    weights = rng.uniform(0.1, 1.0, (n, n)) * (rng.uniform(size=(n, n)) < 0.7)
    graph = np.triu(weights, 1)
    graph = graph + graph.T
    num_classes = int(labels.max()) + 1 if labels_used else 2
    return _with_call_data(Structure(n, d, ids, labels, modality, neighbors, num_classes, graph), features, rng)


@dataclass
class Instance:
    """One instance, symbolic or numeric: the values the kernels and the formula both see."""

    structure: Structure
    z: Any
    x: Any
    w: Any  # prototypes or None
    params: dict
    learnables: list = field(default_factory=list)  # symbols (symbolic side)
    phi: Any = None
    beta: Any = None  # per-row precisions of a perplexity-calibrated Gaussian (t-SNE)
    bank: Any = None  # (m, d) rows of the bank passed in the call
    keys: Any = None  # (n, d) each anchor's own key

    def formula_env(self) -> dict:
        s = self.structure
        return {
            "n": s.n,
            "z": self.z,
            "x": self.x,
            "g": self.x,
            "w": self.w,
            "labels": s.labels,
            "ids": s.ids,
            "modality": s.modality,
            "candidates": s.neighbors if np.shape(s.neighbors)[1] == 2 else None,  # [pos, neg] rows only
            "neighbors": s.neighbors,
            "num_classes": s.num_classes,
            "phi": self.phi,
            "W": s.graph,
            "params": self.params,
            "beta": self.beta,
            "teacher": s.teacher,
            "center": s.center,
            "keys": self.keys,
            "bank": self.bank,
            "bank_ids": s.bank_ids,
            "bank_labels": s.bank_labels,
        }


def _matrix(prefix, rows, cols, **assumptions):
    return np.array(
        [[sympy.Symbol(f"{prefix}_{i}_{k}", **assumptions) for k in range(cols)] for i in range(rows)], dtype=object
    )


def _data_vectors(rows, cols, offset):
    """Exact rational vectors, none of them zero (their cosines are defined): a bank's rows and the
    anchors' keys are data on the exact instances, as a momentum encoder's keys and queue are (the
    prover treats them as symbols for every batch)."""
    return np.array([[sympy.Rational((3 * r + 5 * c + offset) % 7 - 3, 4) + (1 if c == 0 else 0) for c in range(cols)]
                     for r in range(rows)], dtype=object)


def symbolic_params(entry, features) -> dict:
    params = {}
    for name, spec in entry.parameters.items():
        if spec.integer or name in features["perplexity"]:
            params[name] = int(spec.default) if spec.integer else sympy.nsimplify(spec.default)
        else:
            params[name] = sympy.Symbol(name, positive=True)
    return params


def symbolic_instance(entry, features, d: int, variant: str = "base") -> Instance:
    s = symbolic_structure(features, d, variant)
    if features["cluster"] is not None:
        s.d = d = max(d, 2)  # cluster logits: at least two clusters
    z = _matrix("z", s.n, d, real=True)
    x = _matrix("x", s.n, d, real=True) if "x" in features["used"] else None
    w = _matrix("w", s.num_classes, d, real=True) if features["prototypes"] else None
    bank = _data_vectors(s.m, d, offset=1) if "bank" in features["used"] else None
    keys = _data_vectors(s.n, d, offset=2) if "keys" in features["used"] else None
    learnables = list(z.ravel()) + (list(w.ravel()) if w is not None else [])
    inst = Instance(s, z, x, w, symbolic_params(entry, features), learnables, bank=bank, keys=keys)
    if features["cluster"] is not None:
        temperature = inst.params.get(features["cluster"].temperature, features["cluster"].temperature)
        B = SympyBackend
        inst.phi = B.exp(B.log_softmax(z / temperature, 1))
    if features["calibrated"] is not None:  # the SymPy backend's calibration: one free beta_i per row
        inst.beta = [sympy.Symbol(f"beta_{i}", positive=True) for i in range(s.n)]
    return inst


def param_range(spec) -> tuple:
    """(low, high): the declared [min, max], an unbounded side replaced by the default divided or
    multiplied by UNBOUNDED_MULTIPLE (or moved by it, for a default of 0 or below), and for a
    positive default a positive end kept within PROBED_MULTIPLE of it."""
    default = float(spec.default)
    low, high = spec.min, spec.max
    if low is None:
        low = default / UNBOUNDED_MULTIPLE if default > 0 else default - UNBOUNDED_MULTIPLE
    if high is None:
        high = default * UNBOUNDED_MULTIPLE if default > 0 else default + UNBOUNDED_MULTIPLE
    if default > 0:
        low = low if low <= 0 else max(low, default / PROBED_MULTIPLE)
        high = min(high, default * PROBED_MULTIPLE)
    return float(low), float(high)


def sample_param(spec, mode: str, rng, positive: bool = False):
    """One value of a parameter: ``default``; ``near`` it (x U(0.6, 1.4)); ``low`` / ``high``, the
    ends of ``param_range``; ``random``, across it (log-uniform where it spans a decade or more).
    Integers stay integers.
    ``positive``: a low end of 0 becomes a small positive value (for symbols declared positive)."""
    default = float(spec.default)
    low, high = param_range(spec)
    if positive and low <= 0:
        low = min(1e-3 * (high if high > 0 else 1.0), default if default > 0 else 1.0)
    if mode == "default":
        value = default
    elif mode == "low":
        value = low
    elif mode == "high":
        value = high
    elif mode == "near":
        value = default * rng.uniform(0.6, 1.4) if default != 0 else rng.uniform(0.1, 1.0)
    elif low > 0 and high >= 10 * low:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    if spec.integer:
        return int(min(max(round(value), math.ceil(low)), math.floor(high)))
    return float(min(max(value, low), high))


#: a perplexity on a float64 batch of n items is at most this fraction of the n - 1 candidates
PERPLEXITY_REACH = 0.5


def numeric_params(entry, features, rng, mode: str = "random", n: int | None = None) -> dict:
    """The parameters of a float64 batch, each real one sampled with ``mode`` (``sample_param``).
    Integers and perplexities are not sampled: they choose how p is built (t-SNE's ``nearest``
    k > 0 is a kNN approximation of the exact P its loss formula states), not a value the claim is
    about. A perplexity stays at its default where a batch of ``n`` items can reach it, else it is
    lowered to PERPLEXITY_REACH (n - 1): at the default 30 every batch here (n <= 30) would
    calibrate p to the uniform distribution (beta = 0), and the float64 checks would never see
    the data-dependent part of p."""
    params = {}
    for name, spec in entry.parameters.items():
        if name in features["perplexity"]:
            params[name] = spec.default if n is None else min(float(spec.default), max(1.0, PERPLEXITY_REACH * (n - 1)))
        elif spec.integer:
            params[name] = spec.default
        else:
            params[name] = sample_param(spec, mode, rng)
    return params


def numeric_instance(entry, features, d: int, seed: int = 0, variant: str = "base", mode=None) -> Instance:
    """A seeded float64 batch of ``variant``, its parameters sampled with ``mode`` (None: the
    battery's own mode for this batch, ``PARAM_MODES``)."""
    rng = np.random.default_rng(seed)
    s = numeric_structure(features, d, rng, variant)
    if features["cluster"] is not None:
        s.d = d = max(d, 3)
    z = rng.normal(size=(s.n, d))
    x = rng.normal(size=(s.n, d)) if "x" in features["used"] else None
    w = rng.normal(size=(s.num_classes, d)) if features["prototypes"] else None
    bank = rng.normal(size=(s.m, d)) if "bank" in features["used"] else None
    keys = rng.normal(size=(s.n, d)) if "keys" in features["used"] else None
    mode = mode or PARAM_MODES.get((variant, seed), "random")
    inst = Instance(s, z, x, w, numeric_params(entry, features, rng, mode, s.n), bank=bank, keys=keys)
    if features["cluster"] is not None:
        temperature = inst.params.get(features["cluster"].temperature, features["cluster"].temperature)
        logits = z / temperature
        logits = logits - logits.max(axis=1, keepdims=True)
        phi = np.exp(logits)
        inst.phi = phi / phi.sum(axis=1, keepdims=True)
    if features["calibrated"] is not None:
        inst.beta = calibrated_beta(entry, features["calibrated"], inst)
    return inst


def calibrated_beta(entry, node, inst):
    """The torch backend's perplexity calibration (the compiled loss runs the same search)."""
    from icon_registry.pairs import pairs_on

    log_beta = node.kernel.log_precision(pairs_on(torch_inputs(entry, inst), node.support))
    return [float(v) for v in log_beta.exp()[:, 0]]


def sympy_inputs(entry, inst: Instance):
    from icon_registry.pairs import Inputs

    s = inst.structure
    return Inputs(
        SympyBackend,
        inst.z,
        s.n,
        inst.params,
        x=inst.x,
        labels=s.labels,
        ids=s.ids,
        modality=s.modality,
        neighbors=s.neighbors,
        graph=s.graph,
        teacher=s.teacher,
        center=s.center,
        bank=inst.bank,
        bank_ids=s.bank_ids,
        bank_labels=s.bank_labels,
        keys=inst.keys,
        prototypes=inst.w,
        entry_id=entry.id,
    )


def _call_data(inst: Instance, to_tensor) -> dict:
    """The teacher, centre, bank and keys of an instance as the compiled loss takes them."""
    s = inst.structure
    return {"teacher": to_tensor(s.teacher), "center": to_tensor(s.center), "bank": to_tensor(inst.bank),
            "keys": to_tensor(inst.keys),
            "bank_ids": None if s.bank_ids is None else torch_index(s.bank_ids),
            "bank_labels": None if s.bank_labels is None else torch_index(s.bank_labels)}


def torch_index(values):
    import torch

    return torch.as_tensor(np.asarray(values, dtype=np.int64))


def torch_call(entry, inst: Instance, objective: str, params: dict | None = None, reduction: str = "sum"):
    """Evaluate the COMPILED torch loss on a numeric instance (float64)."""
    import torch

    from icon_registry.compiler import compile_loss

    s = inst.structure
    params = dict(inst.params if params is None else params)
    overrides = {k: v for k, v in params.items() if not entry.parameters[k].integer}
    kwargs = {}
    if inst.w is not None:
        kwargs = {"num_classes": inst.w.shape[0], "dim": inst.w.shape[1]}
    loss = compile_loss(entry, objective=objective, reduction=reduction, **kwargs, **overrides)
    if inst.w is not None:
        with torch.no_grad():
            loss.prototypes.data = torch.as_tensor(inst.w, dtype=torch.float64)
    given = {
        "x": None if inst.x is None else torch.as_tensor(inst.x, dtype=torch.float64),
        "labels": torch.as_tensor(s.labels),
        "ids": torch.as_tensor(s.ids),
        "modality": torch.as_tensor(s.modality),
        "neighbors": torch.as_tensor(s.neighbors),
        "graph": torch.as_tensor(np.asarray(s.graph, dtype=np.float64)),
        **_call_data(inst, lambda a: None if a is None else torch.as_tensor(np.asarray(a, dtype=np.float64))),
    }
    kwargs = {name: given[name] for name in loss.requires}
    z = torch.as_tensor(inst.z, dtype=torch.float64)
    with torch.no_grad():
        out = loss(z, **kwargs)
    return out.numpy() if reduction == "none" else float(out)


def torch_inputs(entry, inst: Instance, params: dict | None = None):
    """Inputs on the torch backend (for quantities the compiled module does not return, e.g. H(q))."""
    import torch

    from icon_registry.backends import TorchBackend
    from icon_registry.pairs import Inputs

    s = inst.structure
    t = lambda a: None if a is None else torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    return Inputs(
        TorchBackend,
        t(inst.z),
        s.n,
        dict(inst.params if params is None else params),
        x=t(inst.x),
        labels=torch.as_tensor(s.labels),
        ids=torch.as_tensor(s.ids),
        modality=torch.as_tensor(s.modality),
        neighbors=torch.as_tensor(s.neighbors),
        graph=t(s.graph),
        **_call_data(inst, t),
        prototypes=t(inst.w),
        entry_id=entry.id,
    )
