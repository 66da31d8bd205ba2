"""Random float64 batches for the prover's tests: the verifier's own instances (base, rich and
seeded random structures), seen as a ``prover.evaluate.Batch`` and as the compiled loss sees them."""

from __future__ import annotations

import numpy as np

from icon_registry.prover.evaluate import Batch
from icon_registry.static_check import parse_entry_formula
from icon_registry.verify.formula_adapter import to_float
from icon_registry.verify.instances import entry_features, numeric_instance, torch_call

#: (variant, seed) of the batches every expression is evaluated on
BATCHES = (("rich", 0), ("random", 11), ("random", 12))


def instances(entry):
    features = entry_features(entry)
    # near the defaults: the steps are evaluated in plain float64, where exp(teacher / T) overflows at
    # the ends of a temperature's range (the verifier's own battery samples those)
    return [numeric_instance(entry, features, 3, seed, variant, mode="near") for variant, seed in BATCHES]


def as_batch(instance) -> Batch:
    s = instance.structure
    return Batch(s.n, z=instance.z, x=instance.x, w=instance.w, ids=[int(v) for v in s.ids],
                 labels=[int(v) for v in s.labels], modality=[int(v) for v in s.modality],
                 neighbors=[[int(v) for v in row] for row in s.neighbors], beta=instance.beta,
                 W=np.asarray(s.graph, dtype=np.float64), phi=instance.phi, params=instance.params, teacher=s.teacher,
                 center=s.center, bank=instance.bank, bank_ids=s.bank_ids, bank_labels=s.bank_labels, keys=instance.keys)


def compiled(entry, instance, objective: str) -> float:
    return torch_call(entry, instance, objective, reduction=entry.loss.reduction)


def formula_value(entry, text: str, instance) -> float:
    return to_float(parse_entry_formula(entry, text), instance.formula_env())


def close(a: float, b: float, rtol: float = 1e-9) -> bool:
    return bool(np.isfinite(a) and np.isfinite(b) and abs(a - b) <= rtol * (1 + abs(a) + abs(b)))
