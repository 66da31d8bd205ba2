"""Conformance cases: each compiled catalog entry against an independent reference or a peer
library, in float64. ``test_conformance.py`` asserts them; ``python -m tests.compiler.conformance``
(from the repository root) prints the table (entry x reference -> max abs / rel difference).

Peer conventions (see each case's docstring):
- pytorch-metric-learning NTXentLoss averages over positive PAIRS, leaving the other
  positives out of each pair's denominator; with one positive per anchor (two views) that is
  exactly our mean over anchors.
- lightly's NTXentLoss: cross entropy over the 2n anchors, logits cos/tau, the anchor's own
  similarity removed, the other view as the target.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from icon_registry.compiler import compile_loss

from . import references as ref
from .entries import entry

DTYPE = torch.float64


def rng(seed):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=rng(seed), dtype=DTYPE)


def two_views(n=6, d=5, seed=0):
    z0 = randn(n, d, seed=seed)
    z1 = z0 + 0.5 * randn(n, d, seed=seed + 1)
    ids = torch.cat([torch.arange(n), torch.arange(n)])
    return z0, z1, torch.cat([z0, z1]), ids


def compiled(entry_id, **kw):
    return compile_loss(entry(entry_id), **kw)


@dataclass
class Case:
    entry: str
    reference: str
    run: Callable[[], tuple]  # -> (ours, reference) numbers or arrays
    rtol: float = 1e-9
    atol: float = 0.0

    @property
    def name(self):
        return f"{self.entry} vs {self.reference}"


def _array(value):
    if isinstance(value, (tuple, list)):
        return np.concatenate([_array(v).ravel() for v in value])
    return np.asarray(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value, dtype=np.float64)


def diff(ours, theirs):
    a, b = _array(ours), _array(theirs)
    abs_diff = float(np.max(np.abs(a - b)))
    rel_diff = abs_diff / max(float(np.max(np.abs(b))), 1e-300)
    return abs_diff, rel_diff


@dataclass
class Measured:
    """A loss value and its gradients with respect to the learnables (the same ones on both sides)."""

    value: object
    grads: tuple


def measured(value, wrt) -> Measured:
    grads = torch.autograd.grad(value, wrt)
    return Measured(value.detach(), tuple(g.detach() for g in grads))


def compare(ours, theirs) -> dict:
    """max abs / rel difference of the values and (for ``Measured`` results) of the gradients."""
    if isinstance(ours, Measured):
        value, grad = diff(ours.value, theirs.value), diff(ours.grads, theirs.grads)
        return {"value_abs": value[0], "value_rel": value[1], "grad_abs": grad[0], "grad_rel": grad[1]}
    value = diff(ours, theirs)
    return {"value_abs": value[0], "value_rel": value[1], "grad_abs": None, "grad_rel": None}


def within(case, found: dict) -> bool:
    """Values (and gradients, where measured) within the case's tolerance."""
    ok = found["value_rel"] <= case.rtol or found["value_abs"] <= case.atol
    if found["grad_abs"] is not None:
        ok = ok and (found["grad_rel"] <= case.rtol or found["grad_abs"] <= case.atol)
    return ok


# --- SimCLR / InfoNCE ---------------------------------------------------------------------------


def simclr_slow():
    z0, z1, z, ids = two_views()
    return compiled("simclr", tau=0.2)(z, ids=ids), ref.nt_xent_two_views(z0.numpy(), z1.numpy(), 0.2)


def simclr_three_views_slow():
    n, d = 4, 3
    z = randn(3 * n, d, seed=3)
    ids = torch.arange(n).repeat(3)
    return compiled("simclr", tau=0.3)(z, ids=ids), ref.infonce_kl(z.numpy(), ids.tolist(), 0.3)


def simclr_pml():
    """pytorch-metric-learning SelfSupervisedLoss(NTXentLoss(temperature)) (symmetric: both views
    are anchors; mean over the 2n positive pairs = our mean over anchors with one positive)."""
    from pytorch_metric_learning.losses import NTXentLoss, SelfSupervisedLoss

    z0, z1, z, ids = two_views(n=8, d=6, seed=10)
    peer = SelfSupervisedLoss(NTXentLoss(temperature=0.1))(z0, z1)
    return compiled("simclr", tau=0.1)(z, ids=ids), peer


def lightly_convention(out0, out1, temperature):
    """lightly.loss.NTXentLoss (memory_bank_size=0, one process), restated: normalize both views;
    logits rows = [out0 @ out1^T, out0 @ out0^T without the diagonal] and
    [out1 @ out0^T, out1 @ out1^T without the diagonal], all / temperature; targets = the other
    view (column i); F.cross_entropy with mean over the 2n anchors."""
    n = out0.shape[0]
    out0, out1 = F.normalize(out0, dim=1), F.normalize(out1, dim=1)
    off = ~torch.eye(n, dtype=torch.bool)
    l00 = (out0 @ out0.T / temperature)[off].view(n, -1)
    l11 = (out1 @ out1.T / temperature)[off].view(n, -1)
    logits = torch.cat([torch.cat([out0 @ out1.T / temperature, l00], 1), torch.cat([out1 @ out0.T / temperature, l11], 1)])
    return F.cross_entropy(logits, torch.arange(n).repeat(2))


def simclr_lightly_hand():
    z0, z1, z, ids = two_views(n=7, d=4, seed=20)
    return compiled("simclr", tau=0.5)(z, ids=ids), lightly_convention(z0, z1, 0.5)


def lightly_source_dir():
    """Where lightly's sources are, without importing lightly (its package __init__ pulls in
    torchvision, which breaks beside the CPU torch wheel): the installed distribution, or the
    directory in ICON_LIGHTLY_SRC (e.g. an unpacked lightly wheel)."""
    try:
        spec = importlib.util.find_spec("lightly")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return os.path.dirname(list(spec.submodule_search_locations)[0])
    given = os.environ.get("ICON_LIGHTLY_SRC")
    if given and os.path.exists(os.path.join(given, "lightly", "loss", "ntx_ent_loss.py")):
        return given
    return None


#: lightly's packages the loaded modules live in (stand-ins: importing the real ones needs torchvision)
_LIGHTLY_PACKAGES = ("lightly", "lightly.loss", "lightly.utils", "lightly.models", "lightly.models.modules")


def load_lightly(root, names):
    """Execute lightly's modules ``names`` (e.g. "lightly.loss.dino_loss", dependencies first) from
    their sources under private module names and return them by name. The one module that needs
    torchvision, lightly.models.utils, is replaced by an empty stand-in: the memory bank only
    calls it to gather across processes, which a single-process loss never does."""
    saved = {k: v for k, v in sys.modules.items() if k == "lightly" or k.startswith("lightly.")}
    try:
        for name in _LIGHTLY_PACKAGES:
            package = types.ModuleType(name)
            package.__path__ = []
            sys.modules[name] = package
        sys.modules["lightly.models.utils"] = types.ModuleType("lightly.models.utils")
        sys.modules["lightly.models"].utils = sys.modules["lightly.models.utils"]
        modules = {}
        for name in names:
            spec = importlib.util.spec_from_file_location(name, os.path.join(root, *name.split(".")) + ".py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            parent, _, leaf = name.rpartition(".")
            setattr(sys.modules[parent], leaf, module)
            spec.loader.exec_module(module)
            modules[name] = module
        return modules
    finally:
        for key in [k for k in sys.modules if k == "lightly" or k.startswith("lightly.")]:
            del sys.modules[key]
        sys.modules.update(saved)


#: lightly's memory bank and the torch-only modules it imports, in load order
LIGHTLY_MEMORY_BANK = ("lightly.utils.dist", "lightly.models.modules.memory_bank")


def load_lightly_ntxent(root):
    """lightly/loss/ntx_ent_loss.py (with its memory bank), loaded by ``load_lightly``."""
    names = LIGHTLY_MEMORY_BANK + ("lightly.loss.ntx_ent_loss",)
    return load_lightly(root, names)["lightly.loss.ntx_ent_loss"].NTXentLoss


def simclr_lightly_source():
    root = lightly_source_dir()
    if root is None:
        raise Skip("lightly's sources are not available (set ICON_LIGHTLY_SRC to an unpacked lightly wheel)")
    NTXentLoss = load_lightly_ntxent(root)
    z0, z1, z, ids = two_views(n=7, d=4, seed=21)
    return compiled("simclr", tau=0.5)(z, ids=ids), NTXentLoss(temperature=0.5)(z0, z1)


class Skip(Exception):
    pass


# --- SupCon ----------------------------------------------------------------------------------


def supcon_data():
    z = randn(12, 5, seed=30)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 1])
    return z, labels


def supcon_slow():
    z, labels = supcon_data()
    return compiled("supcon", tau=0.2, objective="cross_entropy")(z, labels=labels), ref.supcon_l_out(
        z.numpy(), labels.tolist(), 0.2
    )


def supcon_slow_kl():
    z, labels = supcon_data()
    expected = ref.supcon_l_out(z.numpy(), labels.tolist(), 0.2) - ref.supcon_entropy(labels.tolist())
    return compiled("supcon", tau=0.2)(z, labels=labels), expected


def supcon_pml():
    """pytorch-metric-learning SupConLoss(temperature): L_out averaged over anchors with positives
    = our cross-entropy objective."""
    from pytorch_metric_learning.losses import SupConLoss

    z, labels = supcon_data()
    return compiled("supcon", tau=0.2, objective="cross_entropy")(z, labels=labels), SupConLoss(temperature=0.2)(z, labels)


# --- CLIP, cross entropy, harmonic --------------------------------------------------------------


def clip_slow():
    n = 6
    image, text = randn(n, 4, seed=40), randn(n, 4, seed=41)
    z = torch.cat([image, text])
    ids = torch.arange(n).repeat(2)
    modality = torch.tensor([0] * n + [1] * n)
    value = compiled("clip", tau=0.1)(z, ids=ids, modality=modality)
    return value, ref.clip_symmetric(image.numpy(), text.numpy(), 0.1)


def clip_torch():
    """CLIP's pseudo-code (Radford et al. 2021, Fig. 3) in torch: symmetric F.cross_entropy."""
    n = 6
    image, text = randn(n, 4, seed=42), randn(n, 4, seed=43)
    logits = F.normalize(image, dim=1) @ F.normalize(text, dim=1).T / 0.1
    target = torch.arange(n)
    peer = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    z = torch.cat([image, text])
    value = compiled("clip", tau=0.1)(z, ids=target.repeat(2), modality=torch.tensor([0] * n + [1] * n))
    return value, peer


def _prototype_case(entry_id, **kw):
    torch.manual_seed(0)
    loss = compiled(entry_id, num_classes=4, dim=5, **kw).double()
    z = randn(10, 5, seed=50)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    return loss, z, labels


def cross_entropy_slow():
    loss, z, labels = _prototype_case("cross_entropy")
    w = loss.prototypes.detach()
    return loss(z, labels=labels), ref.cross_entropy(z.numpy(), w.numpy(), labels.tolist())


def cross_entropy_torch():
    """torch.nn.functional.cross_entropy on the prototype logits z @ W^T."""
    loss, z, labels = _prototype_case("cross_entropy")
    return loss(z, labels=labels), F.cross_entropy(z @ loss.prototypes.detach().T, labels)


def harmonic_slow():
    loss, z, labels = _prototype_case("harmonic", power=3.0)
    w = loss.prototypes.detach()
    return loss(z, labels=labels), ref.harmonic(z.numpy(), w.numpy(), labels.tolist(), 3.0)


# --- SNE, t-SNE -------------------------------------------------------------------------------


def sne_data(n=10):
    return randn(n, 6, seed=60), randn(n, 2, seed=61)


def sne_slow():
    x, y = sne_data()
    return compiled("sne", perplexity=4.0, reduction="sum")(y, x=x), ref.sne(x.numpy(), y.numpy(), 4.0)


def tsne_slow():
    x, y = sne_data()
    return compiled("tsne", perplexity=4.0, reduction="sum")(y, x=x), ref.tsne(x.numpy(), y.numpy(), 4.0)


def our_joint_p(x, perplexity, entry_id="tsne"):
    from icon_registry.backends import TorchBackend
    from icon_registry.pairs import Inputs

    inputs = Inputs(TorchBackend, x, x.shape[0], {"perplexity": perplexity}, x=x)
    with torch.no_grad():
        return entry(entry_id).p.evaluate(inputs).prob()


def tsne_sklearn_value_and_grad(y_only=False):
    """scikit-learn's exact t-SNE objective and gradient (sklearn.manifold._t_sne._kl_divergence,
    degrees_of_freedom=1) fed OUR joint P: the two must agree to rounding."""
    from scipy.spatial.distance import squareform
    from sklearn.manifold._t_sne import _kl_divergence

    x, y = sne_data(12)
    P = our_joint_p(x, 4.0).numpy()
    y = y.clone().requires_grad_(True)
    value = compiled("tsne", perplexity=4.0, reduction="sum")(y, x=x)
    (grad,) = torch.autograd.grad(value, y)
    kl, sk_grad = _kl_divergence(y.detach().numpy().ravel().copy(), squareform(P, checks=False), 1, 12, 2)
    return (value.detach(), grad), (kl, sk_grad.reshape(12, 2))


def tsne_sklearn_value():
    (v, _), (kl, _) = tsne_sklearn_value_and_grad()
    return v, kl


def tsne_sklearn_grad():
    (_, g), (_, sk) = tsne_sklearn_value_and_grad()
    return g, sk


def tsne_sklearn_p():
    """Our calibrated P vs scikit-learn's _joint_probabilities: sklearn bisects in float32 to an
    entropy tolerance of 1e-5, so the two agree to that tolerance only."""
    from scipy.spatial.distance import squareform
    from sklearn.manifold._t_sne import _joint_probabilities

    x, _ = sne_data(12)
    d2 = torch.cdist(x, x).pow(2).numpy()
    return our_joint_p(x, 4.0), squareform(_joint_probabilities(d2, 4.0, 0))


def tsne_slow_p():
    x, _ = sne_data(12)
    return our_joint_p(x, 4.0), ref.tsne_joint_p(x.numpy(), 4.0)


# --- limits (finite parameter: exact) ---------------------------------------------------------------


def pca_finite_slow():
    z = randn(9, 3, seed=70)
    return compiled("pca", sigma=3.0)(z), ref.pca_finite(z.numpy(), 3.0)


def triplet_data(n=8):
    z = randn(n, 3, seed=80)
    neighbors = torch.stack([(torch.arange(n) + 1) % n, (torch.arange(n) + 3) % n], 1)
    return z, neighbors


def triplet_finite_slow():
    z, nb = triplet_data()
    return compiled("triplet", sigma=0.7)(z, neighbors=nb), ref.triplet_finite(z.numpy(), nb.tolist(), 0.7)


def triplet_torch_limit():
    """torch.nn.TripletMarginWithDistanceLoss(squared Euclidean, margin 0) vs sigma = 1e-3:
    the gap is sigma^2 softplus(-|t| / sigma^2), below sigma^2 log 2 (Thm 5). torch rejects
    margin=0, so the peer runs with margin=1e-300, which is 0 to float64 rounding."""
    z, nb = triplet_data()
    peer = torch.nn.TripletMarginWithDistanceLoss(distance_function=lambda a, b: ((a - b) ** 2).sum(-1), margin=1e-300)
    return compiled("triplet", sigma=1e-3)(z, neighbors=nb), peer(z, z[nb[:, 0]], z[nb[:, 1]])


# --- clustering ------------------------------------------------------------------------------------


def kmeans_data():
    return randn(9, 2, seed=90), randn(9, 3, seed=91)


def kmeans_slow():
    x, logits = kmeans_data()
    return compiled("kmeans", sigma=1.5, reduction="sum")(logits, x=x), ref.kmeans_reverse_kl(x.numpy(), logits.numpy(), 1.5)


def kmeans_decomposition():
    """Thm 13 (corrected sign): sum_i KL(q_i||p_i) = (1/2sigma^2) sum_ij d2 q - sum_i H(q_i) + sum_i log Z_i."""
    x, logits = kmeans_data()
    rhs, _, _ = ref.kmeans_decomposition(x.numpy(), logits.numpy(), 1.5)
    return compiled("kmeans", sigma=1.5, reduction="sum")(logits, x=x), rhs


def kmeans_cost():
    """Cor 3 (corrected sign): sum_ij d2(x_i,x_j) q(j|i) = 2 x the soft K-Means cost."""
    x, logits = kmeans_data()
    _, pairs, twice_cost = ref.kmeans_decomposition(x.numpy(), logits.numpy(), 1.5)
    return pairs, twice_cost


def debiased_slow():
    n = 10
    logits = randn(n, 3, seed=100)
    ids = torch.arange(n // 2).repeat(2)
    neighbors = torch.stack([(torch.arange(n) + 1) % n, (torch.arange(n) + 4) % n], 1)
    value = compiled("debiased_infonce_clustering", alpha=0.6, steps=2)(logits, ids=ids, neighbors=neighbors)
    return value, ref.debiased_clustering(logits.numpy(), ids.tolist(), neighbors.tolist(), 0.6, 2)


CASES = [
    Case("simclr", "slow loops, NT-Xent (2 views)", simclr_slow),
    Case("simclr", "slow loops, KL with 3 views", simclr_three_views_slow),
    Case("simclr", "PML SelfSupervisedLoss(NTXentLoss)", simclr_pml),
    Case("simclr", "lightly NT-Xent convention (hand)", simclr_lightly_hand),
    Case("simclr", "lightly ntx_ent_loss.py source", simclr_lightly_source),
    Case("supcon", "slow loops, L_out (cross_entropy)", supcon_slow),
    Case("supcon", "slow loops, L_out - log|P(i)| (kl)", supcon_slow_kl),
    Case("supcon", "PML SupConLoss", supcon_pml),
    Case("clip", "slow loops, symmetric", clip_slow),
    Case("clip", "torch F.cross_entropy both ways", clip_torch),
    Case("cross_entropy", "slow loops", cross_entropy_slow),
    Case("cross_entropy", "torch F.cross_entropy(z W^T)", cross_entropy_torch),
    Case("harmonic", "slow loops (Baek, n=3)", harmonic_slow),
    Case("sne", "slow loops (own bisection)", sne_slow),
    Case("tsne", "slow loops (own bisection)", tsne_slow),
    Case("tsne", "P vs slow loops", tsne_slow_p, rtol=1e-9),
    Case("tsne", "sklearn _kl_divergence value (same P)", tsne_sklearn_value),
    Case("tsne", "sklearn _kl_divergence gradient (same P)", tsne_sklearn_grad),
    Case("tsne", "P vs sklearn _joint_probabilities", tsne_sklearn_p, rtol=1e-4),
    Case("pca", "slow loops at sigma=3 (exact)", pca_finite_slow),
    Case("triplet", "slow loops at sigma=0.7 (exact)", triplet_finite_slow),
    Case("triplet", "torch TripletMarginWithDistanceLoss at sigma=1e-3", triplet_torch_limit, rtol=1e-6),
    Case("kmeans", "slow loops, reverse KL", kmeans_slow),
    Case("kmeans", "Thm 13 decomposition", kmeans_decomposition),
    Case("kmeans", "Cor 3: sum d2 q = 2 K-Means cost", kmeans_cost),
    Case("debiased_infonce_clustering", "slow loops", debiased_slow),
]


def all_cases():
    """The paper's entries' cases and those of the entries beyond the paper (conformance_beyond)."""
    from .conformance_beyond import CASES as BEYOND

    return CASES + BEYOND


def run_cases(cases=None):
    """(case, measured differences or None, status, entry source) for every case."""
    from .entries import source

    rows = []
    for case in all_cases() if cases is None else cases:
        try:
            ours, theirs = case.run()
        except Skip as why:
            rows.append((case, None, f"skipped: {why}", source(case.entry)))
            continue
        found = compare(ours, theirs)
        rows.append((case, found, "ok" if within(case, found) else "FAIL", source(case.entry)))
    return rows


def _shown(value):
    return "-" if value is None else f"{value:.2e}"


def table(rows):
    lines = ["| entry | reference | value: max abs diff | value: max rel diff | gradient: max abs diff | "
             "gradient: max rel diff | tolerance (rel) | source | |", "|---|---|---|---|---|---|---|---|---|"]
    for case, found, status, source in rows:
        found = found or {"value_abs": None, "value_rel": None, "grad_abs": None, "grad_rel": None}
        lines.append(f"| {case.entry} | {case.reference} | {_shown(found['value_abs'])} | {_shown(found['value_rel'])} | "
                     f"{_shown(found['grad_abs'])} | {_shown(found['grad_rel'])} | {case.rtol:.0e} | {source} | {status} |")
    return "\n".join(lines)


def results(rows) -> dict:
    """The conformance table as the site's results file (results/conformance.json)."""
    records = []
    for case, found, status, _ in rows:
        found = found or {}
        records.append({"entry": case.entry, "reference": case.reference,
                        "value max abs diff": found.get("value_abs"), "value max rel diff": found.get("value_rel"),
                        "gradient max abs diff": found.get("grad_abs"), "gradient max rel diff": found.get("grad_rel"),
                        "tolerance (rel)": case.rtol, "status": status})
    return {"tool": "python -m tests.compiler.conformance --json results/conformance.json",
            "about": "each compiled catalog entry against a peer library or an independent slow reference, float64; "
                     "gradients with respect to the learnables where measured",
            "torch": torch.__version__, "cases": records}


def main(argv=None):
    import argparse
    import json

    parser = argparse.ArgumentParser(description="the conformance table (entry x reference -> differences)")
    parser.add_argument("--json", help="also write the table as JSON to this path (the site's results file)")
    args = parser.parse_args(argv)
    measured_rows = run_cases()
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(results(measured_rows), handle, indent=1, default=float)
            handle.write("\n")
        os.replace(tmp, args.json)
    print(table(measured_rows))


if __name__ == "__main__":
    # run as the package's module, so that the cases (imported from it) share its classes
    from tests.compiler.conformance import main as package_main

    package_main()
