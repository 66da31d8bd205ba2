"""Every catalog entry under hostile batches: finite loss and gradients, or a clear IconError.

Parametrized over the whole registry x the cases below (n = 2, duplicate rows, zero vectors,
norms 1e6, every parameter at its declared min / max, float16 / bfloat16 inputs, a single
class, anchors without positives, no anchor with any positive). Anything else (NaN, inf, a
RuntimeError from torch, an IconError that is not one readable line naming the entry) fails.
``python tests/compiler/test_stress.py`` prints the grid (entry x case -> finite / error).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from icon_registry import IconError, compile_loss, load_catalog

D = 4


def _catalog_entries():
    return list(load_catalog())


def _prototype_entry(entry) -> bool:
    return entry.mapper == "prototypes"  # the loss owns class prototypes (num_classes=, dim=)


def _batch(n: int, *, labels=None, ids=None, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    half = max(n // 2, 1)
    batch = {
        "z": torch.randn(n, D, generator=g, dtype=torch.float64),
        "x": torch.randn(n, 5, generator=g, dtype=torch.float64),
        "labels": torch.arange(n) // 2 % 3 if labels is None else labels,
        "ids": torch.arange(n) % half if ids is None else ids,
        "modality": (torch.arange(n) >= half).long(),
        "neighbors": (torch.arange(n)[:, None] + torch.arange(1, min(3, n - 1) + 1)[None, :]) % n,
    }
    weights = torch.rand(n, n, generator=g, dtype=torch.float64)
    batch["graph"] = ((weights + weights.T) / 2).fill_diagonal_(0.0)
    return batch


def _duplicates(batch):
    for name in ("z", "x"):
        batch[name][1::2] = batch[name][0::2][: batch[name][1::2].shape[0]]
    return batch


def _scaled(batch, factor):
    batch["z"] = batch["z"] * factor
    batch["x"] = batch["x"] * factor
    return batch


#: case name -> (batch, dtype of z, parameter extreme or None)
def _cases():
    n = 8
    return {
        "n=2": (_batch(2), torch.float64, None),
        "duplicates": (_duplicates(_batch(n)), torch.float64, None),
        "zeros": (_scaled(_batch(n), 0.0), torch.float64, None),
        "norm 1e6": (_scaled(_batch(n), 1e6), torch.float32, None),
        "params min": (_batch(n), torch.float32, "min"),
        "params max": (_batch(n), torch.float32, "max"),
        "float16": (_batch(n), torch.float16, None),
        "bfloat16": (_batch(n), torch.bfloat16, None),
        "single class": (_batch(n, labels=torch.zeros(n, dtype=torch.long), ids=torch.zeros(n, dtype=torch.long)),
                         torch.float64, None),
        # anchors 2, 3, 6 and 7 have no positive (also none across the two modalities, the halves)
        "some anchors without positives": (_batch(n, labels=torch.tensor([0, 1, 2, 3, 0, 1, 6, 7]),
                                                  ids=torch.tensor([0, 1, 2, 3, 0, 1, 6, 7])), torch.float64, None),
        "no anchor has a positive": (_batch(n, labels=torch.arange(n), ids=torch.arange(n)), torch.float64, None),
    }


CASES = list(_cases())


def _parameters(entry, extreme):
    if extreme is None:
        return {}
    values = {}
    for name, spec in entry.parameters.items():
        bound = spec.min if extreme == "min" else spec.max
        if bound is not None:
            values[name] = bound
    return values


def run_case(entry, case: str) -> str:
    """'finite', or 'IconError: <message>'; raises AssertionError for anything else."""
    batch, dtype, extreme = _cases()[case]
    n = batch["z"].shape[0]
    options = {}
    if _prototype_entry(entry):
        options = {"num_classes": int(batch["labels"].max()) + 1, "dim": D}
    try:
        loss = compile_loss(entry, **options, **_parameters(entry, extreme))
        if loss.prototypes is not None:
            loss = loss.to(dtype if dtype in (torch.float32, torch.float64) else torch.float32)
        z = batch["z"].to(dtype).requires_grad_(True)
        kwargs = {name: batch[name] for name in loss.requires}
        if "x" in kwargs:
            kwargs["x"] = kwargs["x"].to(torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype)
        value = loss(z, **kwargs)
        value.backward()
    except IconError as err:
        message = str(err)
        assert message and "\n" not in message, f"{entry.id} {case}: not one line: {message!r}"
        assert message.startswith(entry.id), f"{entry.id} {case}: the message does not name the entry: {message}"
        return f"IconError: {message}"
    assert value.dtype == z.dtype, f"{entry.id} {case}: loss dtype {value.dtype} for z in {z.dtype}"
    assert bool(torch.isfinite(value).all()), f"{entry.id} {case}: loss {value} (n={n})"
    grads = {"z": z.grad} | {name: p.grad for name, p in loss.named_parameters() if p.requires_grad}
    for name, grad in grads.items():
        assert grad is not None, f"{entry.id} {case}: no gradient for {name}"
        assert bool(torch.isfinite(grad).all()), f"{entry.id} {case}: non-finite gradient for {name}"
    return "finite"


ENTRIES = _catalog_entries()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_entry_under_hostile_batches(entry, case):
    outcome = run_case(entry, case)
    reads = set(entry.p.inputs_used())
    only_pairs = reads and reads <= {"ids", "labels", "modality"} and not _prototype_entry(entry)
    if case == "no anchor has a positive" and only_pairs:
        # every id / label once, nothing else (neighbours, a prototype) to give p mass: the caller's mistake
        assert outcome.startswith("IconError") and any(f"'{name}'" in outcome for name in reads), outcome


def grid() -> str:
    """The table the closing note shows: entry x case -> finite / error (with counts)."""
    rows, counts = [], {}
    for entry in ENTRIES:
        cells = []
        for case in CASES:
            try:
                outcome = run_case(entry, case)
                cell = "finite" if outcome == "finite" else "error"
            except AssertionError as failure:
                cell, outcome = "FAIL", str(failure)
            counts[cell] = counts.get(cell, 0) + 1
            cells.append(cell)
            if cell != "finite":
                rows.append(f"  {entry.id} / {case}: {outcome}")
        print(f"{entry.id:30s} " + " ".join(f"{c:6s}" for c in cells))
    print("cases: " + ", ".join(CASES))
    print("\n".join(rows))
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    print(grid())


PROTOTYPE_ENTRIES = [e for e in ENTRIES if _prototype_entry(e)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("entry", PROTOTYPE_ENTRIES, ids=[e.id for e in PROTOTYPE_ENTRIES])
def test_z_exactly_on_a_prototype(entry, dtype):
    """z at distance 0 from its class's prototype (harmonic: distance ** -n): finite loss and gradients."""
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    loss = compile_loss(entry, num_classes=3, dim=D).to(dtype)
    z = loss.prototypes.detach()[labels].clone().requires_grad_(True)
    value = loss(z, labels=labels)
    value.backward()
    assert bool(torch.isfinite(value)) and bool(torch.isfinite(z.grad).all())
    assert bool(torch.isfinite(loss.prototypes.grad).all())
