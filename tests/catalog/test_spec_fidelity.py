"""The catalog against the spec (../shared/spec/I-CON.md) and the papers it cites.

Every reference here is written out independently of the package: the spec's periodic table
(section 2) as a literal mapping, the published losses as slow loops in the papers' own
reductions (MoCo v3's 2 tau scale, CMC's sum over directions, SupCon's sum over anchors,
FaceNet's sum over triplets), and the spec's traps (section 5) as explicit formulas.
"""

from __future__ import annotations

import math
import re
import warnings

import pytest
import torch
import yaml

from icon_registry import compile_loss

from .conftest import METHOD_FILES

# --------------------------------------------------------------------------------------
# The spec's table (section 2), cell by cell: id -> (row, column, status).
G, INF, ZERO, T, CL = "gaussian", "gaussian_sigma_inf", "gaussian_sigma_zero", "student_t", "uniform_clusters"
SPEC_TABLE = {
    "sne": (G, "gaussian", "published"),
    "x_sample_cl": (G, "gaussian", "published"),
    "dual_tsne": (G, "student_t", "gap"),
    "sne_graph": (G, "graph_weights", "gap"),
    "sne_uniform": (G, "knn", "gap"),
    "lgsimclr": (G, "knn", "published"),
    "infonce": (G, "positive_pairs", "published"),
    "simclr": (G, "positive_pairs", "published"),
    "mocov3": (G, "positive_pairs", "published"),
    "clip": (G, "cross_modal", "published"),
    "cmc": (G, "cross_modal", "published"),
    "supcon": (G, "classes", "published"),
    "cross_entropy": (G, "data_label", "published"),
    "pca": (INF, "identity", "published"),
    "vicreg_no_cov": (INF, "positive_pairs", "published"),
    "avg_margin_clip": (INF, "cross_modal", "gap"),
    "avg_margin_supcon": (INF, "classes", "gap"),
    "triplet": (ZERO, "positive_pairs", "published"),
    "triplet_clip": (ZERO, "cross_modal", "gap"),
    "triplet_supcon": (ZERO, "classes", "gap"),
    "error_rate": (ZERO, "data_label", "gap"),
    "tsne": (T, "gaussian", "published"),
    "doubly_tsne": (T, "student_t", "gap"),
    "tsne_graph": (T, "graph_weights", "gap"),
    "tsne_uniform": (T, "knn", "gap"),
    "tsimcne": (T, "positive_pairs", "published"),
    "tsimclr": (T, "positive_pairs", "published"),
    "tclip": (T, "cross_modal", "gap"),
    "tsupcon": (T, "classes", "gap"),
    "harmonic": (T, "data_label", "published"),
    "kmeans": (CL, "gaussian", "published"),
    "spectral_clustering": (CL, "gaussian", "published"),
    "t_kmeans": (CL, "student_t", "gap"),
    "normalized_cuts": (CL, "graph_weights", "published"),
    "dcd": (CL, "knn", "published"),
    "debiased_infonce_clustering": (CL, "positive_pairs", "new"),
    "supervised_clustering": (CL, "classes", "gap"),
}


def _raw(name: str) -> dict:
    for path in METHOD_FILES:
        if path.stem == name:
            with open(path, encoding="utf-8") as handle:
                return yaml.safe_load(handle)
    raise KeyError(name)


@pytest.mark.parametrize("entry_id", sorted(SPEC_TABLE))
def test_entry_sits_in_the_spec_cell(entry_id):
    raw = _raw(entry_id)
    row, column, status = SPEC_TABLE[entry_id]
    assert (raw["cell"]["row"], raw["cell"]["column"]) == (row, column)
    assert raw["status"] == status


def test_gap_cells_are_exactly_the_spec_gaps():
    gaps = {p.stem for p in METHOD_FILES if _raw(p.stem)["status"] == "gap"}
    assert gaps == {k for k, v in SPEC_TABLE.items() if v[2] == "gap"}


@pytest.mark.parametrize("entry_id", ["spectral_clustering", "normalized_cuts", "dcd"])
def test_methods_argued_by_analogy_claim_nothing_proved(entry_id):
    """Spec section 4: spectral clustering, normalized cuts and DCD are argued by analogy only."""
    claims = _raw(entry_id)["claims"]
    assert claims and all(c["kind"] == "unproved" for c in claims)
    assert all("analogy" in c["reason"] for c in claims)


def test_pmi_clustering_says_the_paper_argues_by_analogy():
    for claim in _raw("pmi_clustering")["claims"]:
        if claim["kind"] != "unproved" and "Thm 15" in claim.get("note", ""):
            assert "analogy" in claim["note"] and "own" in claim["note"]


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


@pytest.mark.parametrize("path", METHOD_FILES, ids=lambda p: p.stem)
def test_no_escaped_quotes_reach_the_docs(path):
    r"""In a YAML block scalar a backslash is literal: `\"` would be shown as is on the site."""
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    for text in _strings(raw):
        assert '\\"' not in text, text


@pytest.mark.parametrize("path", METHOD_FILES, ids=lambda p: p.stem)
def test_a_mean_loss_is_not_described_as_a_bare_sum_over_anchors(path):
    r"""A loss with reduction mean must not be shown as `\sum_i ...` alone: the description
    says mean over the anchors, or states the paper's sum and the factor to the mean."""
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    loss = raw["loss"]
    if loss["reduction"] != "mean":
        return
    text = loss["description"]
    if "mean over" in text or "divided by" in text:
        return
    for match in re.finditer(r"\\sum_i(?![a-zA-Z])", text):
        assert "\\frac{1}{" in text[max(0, match.start() - 14):match.start()], (path.stem, text)


# --------------------------------------------------------------------------------------
# Published reductions, written as the papers write them.
def _unit(z):
    return z / z.norm(dim=1, keepdim=True)


def _z(n, d=4, seed=0):
    return torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _ctr(q, k, tau):
    """MoCo v3's ctr(q, k): batch mean of -log softmax over the keys at the matching key."""
    logits = _unit(q) @ _unit(k).T / tau
    total = 0.0
    for i in range(q.shape[0]):
        total += -(logits[i, i] - torch.logsumexp(logits[i], 0))
    return total / q.shape[0]


def test_mocov3_published_loss_is_4_tau_times_the_entry():
    n, tau = 5, 0.2
    z = _z(2 * n)
    ids = torch.arange(2 * n) % n
    modality = (torch.arange(2 * n) >= n).long()
    ours = compile_loss("mocov3", tau=tau, objective="cross_entropy")(z, ids=ids, modality=modality)
    q1, q2 = z[:n], z[n:]
    published = 2 * tau * (_ctr(q1, q2, tau) + _ctr(q2, q1, tau))
    assert torch.allclose(published, 4 * tau * ours)


def test_cmc_published_sum_over_directions_is_twice_the_entry():
    n, tau = 5, 0.07
    z = _z(2 * n, seed=1)
    ids = torch.arange(2 * n) % n
    modality = (torch.arange(2 * n) >= n).long()
    ours = compile_loss("cmc", tau=tau, objective="cross_entropy")(z, ids=ids, modality=modality)
    v1, v2 = z[:n], z[n:]
    published = _ctr(v1, v2, tau) + _ctr(v2, v1, tau)  # L(V1, V2) + L(V2, V1)
    assert torch.allclose(published, 2 * ours)


def test_supcon_paper_sums_l_out_over_anchors():
    """SupCon Eq. 2: L_out = sum_i -1/|P(i)| sum_p log(exp(z_i.z_p/tau) / sum_{a != i} exp(z_i.z_a/tau))."""
    n, tau = 9, 0.1
    z = _z(n, seed=2)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    u = _unit(z)
    total = 0.0
    for i in range(n):
        others = [a for a in range(n) if a != i]
        log_den = torch.logsumexp(torch.stack([u[i] @ u[a] / tau for a in others]), 0)
        positives = [p for p in others if labels[p] == labels[i]]
        total += -sum(u[i] @ u[p] / tau - log_den for p in positives) / len(positives)
    ours = compile_loss("supcon", tau=tau, objective="cross_entropy")(z, labels=labels)
    assert torch.allclose(total, n * ours)


@pytest.mark.parametrize("sigma", [0.3, 0.05])
def test_triplet_is_sandwiched_by_facenet_hinge(sigma):
    """FaceNet Eq. 3 with margin 0: sum_i max(|a - p|^2 - |a - n|^2, 0); Thm 5's sandwich per anchor."""
    n = 8
    z = _z(n, seed=3)
    positive, negative = (torch.arange(n) + n // 2) % n, (torch.arange(n) + 1) % n
    hinge = sum(max(float(((z[i] - z[positive[i]]) ** 2).sum() - ((z[i] - z[negative[i]]) ** 2).sum()), 0.0)
                for i in range(n))
    ours = float(compile_loss("triplet", sigma=sigma, objective="cross_entropy")(
        z, neighbors=torch.stack([positive, negative], 1)))
    assert hinge / n - 1e-12 <= ours <= hinge / n + sigma**2 * math.log(2) + 1e-12
    assert _raw("triplet")["loss"]["reduction"] == "mean"


def test_triplet_peer_convention_of_pytorch_metric_learning():
    """The stated PML convention: unnormalized squared distances, margin 0 and the same triplets give this
    entry's hinge with a mean reducer; PML's default reducer averages over the non-zero triplets only."""
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.losses import TripletMarginLoss
    from pytorch_metric_learning.reducers import MeanReducer

    n = 8
    z = _z(n, seed=12)
    positive, negative = (torch.arange(n) + n // 2) % n, (torch.arange(n) + 1) % n
    triplets = (torch.arange(n), positive, negative)
    hinge = torch.stack([torch.clamp(((z[i] - z[positive[i]]) ** 2).sum() - ((z[i] - z[negative[i]]) ** 2).sum(),
                                     min=0) for i in range(n)])
    ours = compile_loss("triplet", source="formula")(z, neighbors=torch.stack([positive, negative], 1))
    assert torch.allclose(ours, hinge.mean())
    squared = LpDistance(normalize_embeddings=False, power=2)
    labels = torch.arange(n)
    mean = TripletMarginLoss(margin=0.0, distance=squared, reducer=MeanReducer())(z, labels, indices_tuple=triplets)
    assert torch.allclose(mean, ours)
    nonzero = TripletMarginLoss(margin=0.0, distance=squared)(z, labels, indices_tuple=triplets)
    assert 0 < int((hinge > 0).sum()) < n
    assert torch.allclose(nonzero, hinge.sum() / (hinge > 0).sum())
    assert TripletMarginLoss().distance.normalize_embeddings


# --------------------------------------------------------------------------------------
# The spec's traps (section 5), each against its formula written out.
def test_student_t_kernel_uses_squared_distance_once():
    """The official code's df = 2 evaluates (1 + (d^2)^2 / df)^(-(df+1)/2); nu = 2 is (1 + d^2/2)^(-3/2)."""
    n, nu_x, nu = 6, 2.0, 2.0
    x, z = _z(n, 5, seed=4), _z(n, 2, seed=5)

    def joint(a, v, squared_twice=False):
        d2 = torch.cdist(a, a) ** 2
        if squared_twice:
            d2 = d2**2
        w = (1 + d2 / v) ** (-(v + 1) / 2)
        w = w * (1 - torch.eye(n, dtype=a.dtype))
        return w / w.sum()

    P, Q = joint(x, nu_x), joint(z, nu)
    off = ~torch.eye(n, dtype=torch.bool)
    kl = (P[off] * (P[off] / Q[off]).log()).sum()
    ours = compile_loss("doubly_tsne", nu_x=nu_x, nu=nu, reduction="sum")(z, x=x)
    assert torch.allclose(ours, kl)
    Qbug = joint(z, nu, squared_twice=True)
    assert not torch.allclose(ours, (P[off] * (P[off] / Qbug[off]).log()).sum(), rtol=1e-3)


def test_tsimclr_keeps_the_one_plus_of_the_student_t_kernel():
    """Cor 2 drops the "1 +"; the kernel is (1 + d^2/nu)^(-(nu+1)/2)."""
    n, nu = 8, 2.5
    z = _z(n, seed=6)
    ids = torch.arange(n) % (n // 2)
    d2 = torch.cdist(z, z) ** 2
    logk = -(nu + 1) / 2 * torch.log1p(d2 / nu)
    total = 0.0
    for i in range(n):
        others = [k for k in range(n) if k != i]
        j = next(k for k in others if ids[k] == ids[i])
        total += -(logk[i, j] - torch.logsumexp(logk[i, others], 0))
    ours = compile_loss("tsimclr", nu=nu, objective="cross_entropy")(z, ids=ids)
    assert torch.allclose(ours, total / n)


def test_harmonic_uses_the_unsquared_distance_power():
    """Baek et al.: q(c|i) = |z_i - w_c|^(-n) / sum_c' |z_i - w_c'|^(-n), Euclidean distance unsquared."""
    n, power = 7, 3.0
    loss = compile_loss("harmonic", power=power, num_classes=3, dim=4).double()
    z, labels = _z(n, seed=7), torch.arange(n) % 3
    w = loss.prototypes.detach()
    total = 0.0
    for i in range(n):
        dist = torch.stack([(z[i] - w[c]).norm() for c in range(3)])
        total += -torch.log(dist[labels[i]] ** -power / (dist**-power).sum())
    assert torch.allclose(loss(z, labels=labels), total / n)


@pytest.mark.filterwarnings("ignore:kmeans. no claim")
def test_kmeans_cost_enters_the_reverse_kl_with_a_plus_sign():
    """Thm 13 corrected (and Cor 3 without its minus): KL(q_i || p_i) = -H(q_i) + sum_j q(j|i) d2_ij / 2 sigma^2
    + log Z_i, and sum_ij d2_ij q(j|i) = +2 x the soft K-Means cost with centroids."""
    n, clusters, sigma = 7, 3, 0.8
    z, x = _z(n, clusters, seed=8), _z(n, 4, seed=9)
    phi = torch.softmax(z, 1)
    cost = 0.0
    for c in range(clusters):
        mu = sum(phi[k, c] * x[k] for k in range(n)) / phi[:, c].sum()
        cost += sum(phi[i, c] * ((x[i] - mu) ** 2).sum() for i in range(n))
    d2 = torch.cdist(x, x) ** 2
    q = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            q[i, j] = sum(phi[i, c] * phi[j, c] / phi[:, c].sum() for c in range(clusters))
    assert torch.allclose((d2 * q).sum(), 2 * cost)
    entropy = -(q * q.log()).sum()
    log_z = torch.logsumexp(-d2 / (2 * sigma**2), 1).sum()
    expected = cost / sigma**2 - entropy + log_z
    ours = compile_loss("kmeans", sigma=sigma, reduction="sum")(z, x=x)
    assert torch.allclose(ours, expected)


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_debiasing_mixes_probabilities_after_propagation(steps):
    """Spec section 3: p~ = (1 - alpha) P~ + alpha / |S(i)|, P~ proportional to P + ... + P^k on the
    augmentation + kNN graph; q~ = (1 - alpha) q + alpha / N with q the cluster kernel. Mixing
    log-probabilities (the official code's log q + alpha / N) only shifts the loss by a constant:
    its gradient is that of the undebiased q, which the compiled loss must not have."""
    n, alpha = 8, 0.3
    ids = torch.arange(n) % (n // 2)
    neighbors = torch.stack([(torch.arange(n) + s) % n for s in (1, 3)], 1)
    A = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            if j != i and (ids[i] == ids[j] or j in neighbors[i].tolist()):
                A[i, j] = 1.0
    P = A / A.sum(1, keepdim=True)
    walk, total = P.clone(), P.clone()
    for _ in range(steps - 1):
        walk = walk @ P
        total = total + walk
    total.fill_diagonal_(0)
    total = total / total.sum(1, keepdim=True)
    p_mix = (1 - alpha) * total + alpha / (n - 1)
    off = ~torch.eye(n, dtype=torch.bool)

    def reference(z, bug=False):
        phi = torch.softmax(z, 1)
        q = (phi / phi.sum(0)) @ phi.T
        log_q = q.log() + alpha / n if bug else ((1 - alpha) * q + alpha / n).log()
        return -(p_mix * log_q)[off].sum() / n

    z = _z(n, 4, seed=10).requires_grad_(True)
    ours = compile_loss("debiased_infonce_clustering", alpha=alpha, steps=steps, objective="cross_entropy")(
        z, ids=ids, neighbors=neighbors)
    expected = reference(z)
    assert torch.allclose(ours, expected)
    g_ours, = torch.autograd.grad(ours, z)
    g_expected, = torch.autograd.grad(expected, z)
    g_bug, = torch.autograd.grad(reference(z, bug=True), z)
    assert torch.allclose(g_ours, g_expected)
    assert (g_ours - g_bug).abs().max() > 1e-3 * g_bug.abs().max()


def test_normalized_cuts_p_is_the_degree_softmax_and_q_is_on_the_left():
    """Spec section 3: p(j|i) = exp(w_ij / d_j) / sum_k exp(w_ik / d_k), d the degrees, over all k;
    clustering puts the learned q on the left: sum_i KL(q_i || p_i)."""
    n = 6
    g = torch.Generator().manual_seed(11)
    z = torch.randn(n, 3, dtype=torch.float64, generator=g)
    w = torch.rand(n, n, dtype=torch.float64, generator=g)
    w = (w + w.T) / 2
    w.fill_diagonal_(0)
    degree = w.sum(1)
    expected = 0.0
    for i in range(n):
        p = torch.stack([torch.exp(w[i, j] / degree[j]) for j in range(n)])
        p = p / p.sum()
        phi = torch.softmax(z, 1)
        q = torch.stack([sum(phi[i, c] * phi[j, c] / phi[:, c].sum() for c in range(3)) for j in range(n)])
        expected += (q * (q / p).log()).sum()
    with warnings.catch_warnings():  # its claims are unproved: compile_loss may warn that it computes the objective
        warnings.simplefilter("ignore")
        loss = compile_loss("normalized_cuts", reduction="sum")
    assert torch.allclose(loss(z, graph=w), expected)


def test_pca_and_limit_rows_normalize_q_over_a_support_with_i():
    """Spec section 5: with S(i) = {k != i} and p = 1[i = j] the KL is infinite; Prop 1 needs all k."""
    for entry_id in ("pca", "vicreg_no_cov"):
        raw = _raw(entry_id)
        assert raw["q"]["support"] == "all"
        assert raw["q"]["kernel"]["scale"] == 1.0  # Prop 1's exp(-d^2 / sigma^2)
    assert _raw("pca")["p"]["support"] == "all"
