"""The entries beyond the paper's table against their peers and slow references on the inputs
``conformance_beyond`` does not use: other temperatures, margins and scales, tau down to 0.01,
n = 2 and odd n, duplicate rows, anchors without positives, float32, every reduction, more views
and crops, and logits large enough that a plain exp underflows. Values AND gradients.

Tolerances: float64 1e-9 relative (the issue asks for 1e-6); float32 2e-5 relative, since both
sides round differently in single precision.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.distances import DotProductSimilarity, LpDistance
from pytorch_metric_learning.losses import CosFaceLoss, NCALoss, NormalizedSoftmaxLoss, NPairsLoss, ProxyNCALoss
from sklearn.manifold import _t_sne as t_sne
from sklearn.metrics import pairwise_distances

from . import references_beyond as slow
from .conformance import LIGHTLY_MEMORY_BANK, Measured, compare, compiled, load_lightly, load_lightly_ntxent, randn
from .conformance_beyond import leaf, lightly_root, load_dino, transposed_last, with_prototypes

F64, F32 = torch.float64, torch.float32
RTOL = {F64: 1e-9, F32: 2e-5}


def per_anchor(value, wrt) -> Measured:
    """Like ``measured``, for a value of any shape (reduction "none"): gradients of its sum."""
    grads = torch.autograd.grad(value.sum(), wrt)
    return Measured(value.detach(), tuple(g.detach() for g in grads))


def assert_agree(ours, theirs, dtype=F64, grad_atol=0.0):
    found = compare(ours, theirs)
    assert found["value_rel"] <= RTOL[dtype], found
    assert found["grad_rel"] <= RTOL[dtype] or found["grad_abs"] <= grad_atol, found
    assert torch.isfinite(torch.as_tensor(ours.value)).all()


def reduce(per, reduction):
    return {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]


# --- pytorch-metric-learning: CosFace, NormFace, Proxy-NCA ------------------------------------------


def classes_batch(n, classes, d, dtype, seed, duplicate=False):
    z, w = randn(n, d, seed=seed).to(dtype), randn(classes, d, seed=seed + 1).to(dtype)
    if duplicate:
        z[1] = z[0]
    return z, w, torch.arange(n) % classes


def agree_with_pml_weights(entry_id, w, z, labels, peer, dtype=F64, **params):
    """The entry with prototypes w against a PML loss whose class weights are w's transpose: values
    and the gradients for z and the weights, per anchor."""
    loss = with_prototypes(entry_id, w, **params).to(dtype)
    a = leaf(z)
    ours = per_anchor(loss(a, labels=labels), (a, loss.prototypes))
    peer.W = torch.nn.Parameter(w.T.clone())
    b = leaf(z)
    assert_agree(ours, transposed_last(per_anchor(peer(b, labels), (b, peer.W))), dtype)


@pytest.mark.parametrize("tau, m, n, dtype, duplicate", [
    (1 / 64, 0.35, 7, F64, False),  # the paper's s = 64
    (0.01, 0.5, 2, F64, False),
    (0.3, 0.0, 5, F64, False),  # m = 0: NormFace
    (0.01, 1.5, 4, F64, True),
    (1 / 64, 0.35, 9, F32, False),
])
def test_cosface_matches_pml(tau, m, n, dtype, duplicate):
    z, w, labels = classes_batch(n, 3, 4, dtype, seed=500, duplicate=duplicate)
    peer = CosFaceLoss(num_classes=3, embedding_size=4, margin=m, scale=1 / tau)
    agree_with_pml_weights("cosface", w, z, labels, peer, dtype, tau=tau, m=m)


@pytest.mark.parametrize("tau, n, dtype", [(0.001, 5, F64), (0.01, 2, F64), (0.5, 7, F64), (0.05, 9, F32)])
def test_normface_matches_pml(tau, n, dtype):
    z, w, labels = classes_batch(n, 5, 3, dtype, seed=510)
    peer = NormalizedSoftmaxLoss(num_classes=5, embedding_size=3, temperature=tau)
    agree_with_pml_weights("normface", w, z, labels, peer, dtype, tau=tau)


@pytest.mark.parametrize("T, n, dtype", [(0.01, 2, F64), (0.1, 7, F64), (3.0, 5, F64), (0.5, 9, F32)])
def test_proxy_nca_objective_matches_pml(T, n, dtype):
    z, w, labels = classes_batch(n, 5, 3, dtype, seed=520)
    loss = with_prototypes("proxy_nca", w, T=T).to(dtype)
    a = leaf(z)
    ours = per_anchor(loss(a, labels=labels), (a, loss.prototypes))
    peer = ProxyNCALoss(num_classes=5, embedding_size=3, softmax_scale=1 / T)
    peer.proxies = torch.nn.Parameter(w.clone())
    b = leaf(z)
    assert_agree(ours, per_anchor(peer(b, labels), (b, peer.proxies)), dtype)


@pytest.mark.parametrize("T", [0.05, 0.01])
def test_proxy_nca_formula_is_the_papers_eq_11_at_small_temperatures(T):
    """The paper's loss through source="formula" at temperatures where q(y | i) rounds to 1: the
    per-anchor recipe v + log(1 - exp(-v)) loses every digit there (-inf at T = 0.01)."""
    z, w, labels = classes_batch(6, 4, 3, F64, seed=530)
    loss = with_prototypes("proxy_nca", w, T=T, source="formula")
    a = leaf(z)
    ours = per_anchor(loss(a, labels=labels), (a, loss.prototypes))
    b, wb = leaf(z), leaf(w)
    assert_agree(ours, per_anchor(slow.proxy_nca_paper(b, wb, labels, T), (b, wb)))


def test_proxy_nca_is_normface_at_half_the_temperature():
    """The catalog's relation (d = 2 - 2 cos on unit vectors), checked against PML's NormFace."""
    z, w, labels = classes_batch(7, 5, 3, F64, seed=540)
    peer = NormalizedSoftmaxLoss(num_classes=5, embedding_size=3, temperature=0.15)
    agree_with_pml_weights("proxy_nca", w, z, labels, peer, T=0.3)


# --- NCA, soft nearest neighbour --------------------------------------------------------------------

#: classes of sizes 3, 2, 3 and 1 (the last anchor has no classmate: skipped)
LABELS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3])


def pml_nca(T):
    return NCALoss(softmax_scale=1 / T, distance=LpDistance(normalize_embeddings=False, power=2))


@pytest.mark.parametrize("entry_id, T, case", [
    ("nca", 1.0, "odd n"), ("nca", 1.0, "duplicates"), ("nca", 1.0, "n=3"), ("nca", 1.0, "float32"),
    ("soft_nearest_neighbor", 5.0, "odd n"), ("soft_nearest_neighbor", 0.2, "duplicates"),
    ("soft_nearest_neighbor", 0.05, "n=3"), ("soft_nearest_neighbor", 0.3, "float32"),
])
def test_nca_family_matches_pml(entry_id, T, case):
    dtype = F32 if case == "float32" else F64
    z, labels = randn(9, 3, seed=550).to(dtype), LABELS
    if case == "duplicates":
        z[1], z[4] = z[0], z[3]
    if case == "n=3":  # one pair of classmates and an anchor without one
        z, labels = z[:3], torch.tensor([0, 0, 1])
    kw = {} if entry_id == "nca" else {"T": T}
    a = leaf(z)
    ours = per_anchor(compiled(entry_id, **kw)(a, labels=labels), (a,))
    b = leaf(z)
    assert_agree(ours, per_anchor(pml_nca(T)(b, labels), (b,)), dtype)


def test_snn_at_small_temperature_matches_the_paper_where_pml_drops_anchors():
    """At T = 0.01 one anchor's classmate mass underflows to 0 in PML's softmax and PML leaves that
    anchor out of its mean (its `exp != 0` filter); the entry keeps it, as the paper's eq. 1 does."""
    z = randn(9, 3, seed=5)
    a = leaf(z)
    ours = per_anchor(compiled("soft_nearest_neighbor", T=0.01)(a, labels=LABELS), (a,))
    b = leaf(z)
    assert_agree(ours, per_anchor(slow.soft_nearest_neighbour(b, LABELS, 0.01), (b,)))
    assert float(pml_nca(0.01)(z, LABELS)) < 0.9 * float(ours.value)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_snn_reductions_skip_anchors_without_a_classmate(reduction):
    z = randn(9, 3, seed=560)
    a = leaf(z)
    value = compiled("soft_nearest_neighbor", T=0.7, reduction=reduction)(a, labels=LABELS)
    if reduction == "none":
        assert value[-1] == 0  # the anchor alone in its class
        value = value[:-1]
    b = leaf(z)
    terms = torch.stack(slow.soft_nearest_neighbour_terms(b, LABELS, 0.7))
    assert_agree(per_anchor(value, (a,)), per_anchor(reduce(terms, reduction), (b,)))


# --- lightly: DINO, SwAV, DCL, MoCo, NT-Xent ---------------------------------------------------------


@pytest.mark.parametrize("teacher_views, student_views, batch, tau_s, tau_t, scale, dtype", [
    (2, 2, 1, 0.1, 0.04, 1.0, F64),  # one image
    (3, 3, 3, 0.2, 0.07, 1.0, F64),  # three global views, odd batch
    (2, 6, 3, 0.05, 0.01, 1.0, F64),  # multi-crop, sharp teacher
    (2, 2, 3, 0.1, 0.04, 100.0, F64),  # logits that overflow a plain exp
    (2, 4, 5, 0.1, 0.04, 1.0, F32),
])
def test_dino_matches_lightly(teacher_views, student_views, batch, tau_s, tau_t, scale, dtype):
    DINOLoss = load_dino(lightly_root())
    teacher = [scale * randn(batch, 7, seed=600 + v).to(dtype) for v in range(teacher_views)]
    student = [scale * randn(batch, 7, seed=610 + v).to(dtype) for v in range(student_views)]
    center = 0.3 * randn(7, seed=620).to(dtype)
    peer = DINOLoss(output_dim=7, warmup_teacher_temp=tau_t, teacher_temp=tau_t, student_temp=tau_s)
    peer.center = center.reshape(1, 1, -1).clone()
    leaves = [leaf(s) for s in student]
    theirs = per_anchor(peer(teacher, leaves), tuple(leaves))
    mine = [leaf(s) for s in student]
    pairs = [(t, s) for t in range(teacher_views) for s in range(student_views) if s != t]
    rows = torch.cat([mine[s] for _, s in pairs])
    teacher_rows = torch.cat([teacher[t] for t, _ in pairs])
    # lightly holds the teacher temperature as a float32 tensor
    value = compiled("dino", tau_s=tau_s, tau_t=float(torch.tensor(tau_t)), objective="cross_entropy")(
        rows, teacher=teacher_rows, center=center)
    assert_agree(per_anchor(value, tuple(mine)), theirs, dtype)


@pytest.mark.parametrize("high, low, batch, tau, dtype", [(2, 4, 5, 0.1, F64), (3, 0, 3, 0.01, F64), (2, 2, 5, 0.1, F32)])
def test_swav_matches_lightly_with_crops(high, low, batch, tau, dtype):
    """lightly averages over the (code view, other crop) pairs with equal weights: one row each."""
    swav = load_lightly(lightly_root(), ("lightly.loss.swav_loss",))["lightly.loss.swav_loss"]
    crops = [randn(batch, 6, seed=630 + v).to(dtype) for v in range(high + low)]
    peer_crops = [leaf(c) for c in crops]
    theirs = per_anchor(swav.SwaVLoss(temperature=tau)(peer_crops[:high], peer_crops[high:]), tuple(peer_crops))
    codes = [swav.sinkhorn(c) for c in crops[:high]]
    mine = [leaf(c) for c in crops]
    pairs = [(i, v) for i in range(high) for v in range(high + low) if v != i]
    value = compiled("swav", tau=tau, objective="cross_entropy")(
        torch.cat([mine[v] for _, v in pairs]), teacher=torch.cat([codes[i] for i, _ in pairs]))
    assert_agree(per_anchor(value, tuple(mine)), theirs, dtype)


@pytest.mark.parametrize("n, tau, spread, dtype", [
    (2, 0.5, None, F64), (5, 0.01, None, F64), (5, 0.01, 0.05, F64), (3, 0.05, 1e-3, F64), (5, 0.1, None, F32),
])
def test_dcl_formula_matches_lightly(n, tau, spread, dtype):
    """source="formula" is DCL itself at every temperature (at tau = 0.01 the catalog's per-anchor
    recipe v + log(1 - exp(-v)) gives -inf: q(i+ | i) rounds to 1)."""
    DCLLoss = load_lightly(lightly_root(), ("lightly.utils.dist", "lightly.loss.dcl_loss"))["lightly.loss.dcl_loss"].DCLLoss
    z0 = randn(n, 4, seed=640).to(dtype)
    z1 = z0 + spread * randn(n, 4, seed=641).to(dtype) if spread else randn(n, 4, seed=641).to(dtype)
    a0, a1 = leaf(z0), leaf(z1)
    theirs = per_anchor(DCLLoss(temperature=tau)(a0, a1), (a0, a1))
    b0, b1 = leaf(z0), leaf(z1)
    value = compiled("dcl", source="formula", tau=tau)(torch.cat([b0, b1]), ids=torch.arange(n).repeat(2))
    assert_agree(per_anchor(value, (b0, b1)), theirs, dtype)


@pytest.mark.parametrize("n, queue, tau, dtype", [(2, 3, 0.05, F64), (7, 1, 0.2, F64), (5, 16, 0.07, F32)])
def test_moco_matches_lightly_with_raw_keys(n, queue, tau, dtype):
    """Keys straight from an encoder (not unit vectors): lightly normalizes them, the entry's cosine too."""
    NTXentLoss = load_lightly_ntxent(lightly_root())
    queries, keys = randn(n, 4, seed=650).to(dtype), 3.0 * randn(n, 4, seed=651).to(dtype)
    bank = F.normalize(randn(queue, 4, seed=652), dim=1).to(dtype)
    peer = NTXentLoss(temperature=tau, memory_bank_size=(queue, 4))
    peer.memory_bank.bank = bank.clone()
    a = leaf(queries)
    theirs = per_anchor(peer(a, keys), (a,))
    b = leaf(queries)
    assert_agree(per_anchor(compiled("moco_v2", tau=tau)(b, keys=keys, bank=bank), (b,)), theirs, dtype)


def test_nnclr_with_a_neighbour_shared_by_two_queries_matches_lightly():
    """Two queries with the same support-set neighbour give duplicate rows in z (a same-view
    negative equal to the anchor): lightly's recipe and the entry still agree."""
    root = lightly_root()
    modules = load_lightly(root, LIGHTLY_MEMORY_BANK + ("lightly.models.modules.nn_memory_bank",))
    NTXentLoss = load_lightly_ntxent(root)
    z0, p1 = randn(5, 4, seed=660), randn(5, 4, seed=661)
    support = randn(3, 4, seed=662)  # 3 rows for 5 queries: some neighbours are shared
    replacer = modules["lightly.models.modules.nn_memory_bank"].NNMemoryBankModule(size=(3, 4))
    replacer.bank = support.clone()
    nearest = replacer(z0, update=False)
    assert len(torch.unique(nearest, dim=0)) < 5
    a = leaf(p1)
    theirs = per_anchor(NTXentLoss(temperature=0.1)(nearest, a), (a,))
    b = leaf(p1)
    value = compiled("nnclr", tau=0.1, objective="cross_entropy")(torch.cat([nearest, b]), ids=torch.arange(5).repeat(2))
    assert_agree(per_anchor(value, (b,)), theirs)


# --- distillation, label smoothing, skip-gram ---------------------------------------------------------


@pytest.mark.parametrize("T, scale, reduction, dtype", [
    (1.0, 1.0, "mean", F64), (20.0, 1.0, "sum", F64), (0.5, 1.0, "none", F64),
    (1.0, 1000.0, "mean", F64), (0.01, 1.0, "mean", F64), (4.0, 1.0, "mean", F32),
])
def test_distillation_matches_the_torch_recipe(T, scale, reduction, dtype):
    student, teacher = scale * randn(5, 4, seed=670).to(dtype), 2 * scale * randn(5, 4, seed=671).to(dtype)
    s = leaf(student)
    ours = per_anchor(compiled("knowledge_distillation", T=T, reduction=reduction)(s, teacher=teacher), (s,))
    s2 = leaf(student)
    terms = T**2 * F.kl_div(F.log_softmax(s2 / T, 1), F.log_softmax(teacher / T, 1), reduction="none", log_target=True).sum(1)
    assert_agree(ours, per_anchor(reduce(terms, reduction), (s2,)), dtype)


def test_distillation_n2_matches_the_slow_loop():
    student, teacher = randn(2, 3, seed=675), 3 * randn(2, 3, seed=676)
    s, s2 = leaf(student), leaf(student)
    ours = per_anchor(compiled("knowledge_distillation", T=0.5)(s, teacher=teacher), (s,))
    assert_agree(ours, per_anchor(slow.distillation(s2, teacher, 0.5), (s2,)))


def smoothed_entropy(eps, classes):
    """H of (1 - eps) onehot + eps / K, with 0 log 0 = 0."""
    weights = [1 - eps + eps / classes] + [eps / classes] * (classes - 1)
    return -sum(w * math.log(w) for w in weights if w > 0)


@pytest.mark.parametrize("eps, objective, reduction, scale, n, dtype", [
    (0.3, "cross_entropy", "sum", 1.0, 7, F64), (0.3, "cross_entropy", "none", 1.0, 7, F64),
    (0.0, "kl", "mean", 1.0, 5, F64),  # the constant's 0 log 0
    (1.0, "kl", "mean", 1.0, 5, F64), (0.1, "kl", "sum", 1.0, 5, F64),
    (0.1, "cross_entropy", "mean", 1000.0, 5, F64), (0.2, "cross_entropy", "mean", 1.0, 2, F64),
    (0.1, "cross_entropy", "mean", 1.0, 9, F32),
])
def test_label_smoothing_matches_torch(eps, objective, reduction, scale, n, dtype):
    classes = 3
    z, w = scale * randn(n, 4, seed=680).to(dtype), randn(classes, 4, seed=681).to(dtype)
    labels = torch.arange(n) % classes
    loss = with_prototypes("label_smoothing", w, eps=eps, objective=objective, reduction=reduction).to(dtype)
    a = leaf(z)
    ours = per_anchor(loss(a, labels=labels), (a, loss.prototypes))
    b, wb = leaf(z), leaf(w)
    terms = F.cross_entropy(b @ wb.T, labels, label_smoothing=eps, reduction="none")
    if objective == "kl":
        terms = terms - smoothed_entropy(eps, classes)
    assert_agree(ours, per_anchor(reduce(terms, reduction), (b, wb)), dtype)


@pytest.mark.parametrize("reduction, scale", [("none", 1.0), ("sum", 1000.0)])
def test_skipgram_matches_torch(reduction, scale):
    z, w = scale * randn(5, 3, seed=690), randn(7, 3, seed=691)
    labels = torch.tensor([3, 3, 0, 6, 1])  # a context word twice, words 2, 4, 5 never
    loss = with_prototypes("skipgram", w, reduction=reduction)
    a = leaf(z)
    ours = per_anchor(loss(a, labels=labels), (a, loss.prototypes))
    b, wb = leaf(z), leaf(w)
    assert_agree(ours, per_anchor(F.cross_entropy(b @ wb.T, labels, reduction=reduction), (b, wb)))


# --- banks: SimCSE, N-pair, instance discrimination ---------------------------------------------------


@pytest.mark.parametrize("n, tau, reduction, duplicate", [(2, 0.01, "mean", False), (5, 0.05, "sum", True), (3, 0.05, "none", False)])
def test_simcse_matches_the_official_loss(n, tau, reduction, duplicate):
    z1, z2 = randn(n, 5, seed=700), randn(n, 5, seed=701)
    if duplicate:
        z1[1], z2[1] = z1[0], z2[0]
    ids = torch.arange(n)
    a, p = leaf(z1), leaf(z2)
    ours = per_anchor(compiled("simcse", tau=tau, objective="cross_entropy", reduction=reduction)(
        a, bank=p, ids=ids, bank_ids=ids), (a, p))
    b, q = leaf(z1), leaf(z2)
    logits = F.cosine_similarity(b[:, None, :], q[None, :, :], dim=-1) / tau
    assert_agree(ours, per_anchor(F.cross_entropy(logits, ids, reduction=reduction), (b, q)))


@pytest.mark.parametrize("n, dtype", [(2, F64), (5, F32)])
def test_npair_matches_pml(n, dtype):
    anchors, positives = randn(n, 4, seed=710).to(dtype), randn(n, 4, seed=711).to(dtype)
    ids = torch.arange(n)
    a, p = leaf(anchors), leaf(positives)
    ours = per_anchor(compiled("npair", objective="cross_entropy")(a, bank=p, ids=ids, bank_ids=ids), (a, p))
    b, q = leaf(anchors), leaf(positives)
    peer = NPairsLoss(distance=DotProductSimilarity(normalize_embeddings=False))
    assert_agree(ours, per_anchor(peer(torch.cat([b, q]), torch.cat([ids, ids])), (b, q)), dtype)


@pytest.mark.parametrize("reduction, tau, dtype", [("mean", 0.3, F64), ("sum", 0.3, F64), ("none", 0.3, F64), ("mean", 0.01, F32)])
def test_instance_discrimination_with_several_slots_and_anchors_without_one(reduction, tau, dtype):
    """Ids 0 and 1 own several bank slots (the loss averages over them), 3 and 4 own none
    (skipped; 0 under reduction "none"), slot id 9 belongs to no anchor."""
    z, bank = randn(5, 3, seed=720).to(dtype), randn(7, 3, seed=721).to(dtype)
    ids, bank_ids = torch.arange(5), torch.tensor([0, 0, 1, 2, 9, 1, 0])
    a = leaf(z)
    value = compiled("instance_discrimination", tau=tau, objective="cross_entropy", reduction=reduction)(
        a, bank=bank, ids=ids, bank_ids=bank_ids)
    if reduction == "none":
        assert value[3] == 0 and value[4] == 0
        value = value[:3]
    b = leaf(z)
    terms = torch.stack([slow.bank_softmax(b[i:i + 1], bank, ids[i:i + 1], bank_ids, tau, cosine=True) for i in range(3)])
    assert_agree(per_anchor(value, (a,)), per_anchor(reduce(terms, reduction), (b,)), dtype)


# --- PMI clustering, EM, symmetric SNE -----------------------------------------------------------------


@pytest.mark.parametrize("n, k, scale, dtype", [(2, 1, 1.0, F64), (7, 3, 1.0, F64), (7, 3, 100.0, F64), (7, 3, 1.0, F32)])
def test_pmi_is_temi_minus_log_n(n, k, scale, dtype):
    logits = scale * randn(n, 4, seed=730).to(dtype)
    generator = torch.Generator().manual_seed(731)
    neighbors = torch.stack([torch.randperm(n, generator=generator)[:k] for _ in range(n)])  # may list the anchor
    a = leaf(logits)
    value = compiled("pmi_clustering", k=k, objective="cross_entropy")(a, neighbors=neighbors) - math.log(n)
    b = leaf(logits)
    assert_agree(per_anchor(value, (a,)), per_anchor(slow.pmi_clustering(b, neighbors), (b,)), dtype)


@pytest.mark.parametrize("offset, spread, scale, reduction", [(-500.0, 50.0, 1.0, "sum"), (0.0, 1.0, 100.0, "mean")])
def test_em_is_the_reverse_kl_to_the_posterior(offset, spread, scale, reduction):
    """Joint log-likelihoods far below 0 (a mixture in many dimensions) and near one-hot q."""
    logits, joint = scale * randn(5, 3, seed=740), spread * randn(5, 3, seed=741) + offset
    a = leaf(logits)
    ours = per_anchor(compiled("variational_em", reduction=reduction)(a, teacher=joint), (a,))
    b = leaf(logits)
    expected = slow.em_reverse_kl(b, joint) / (5 if reduction == "mean" else 1)
    # near one-hot q: every gradient is a difference of nearly equal O(1) terms, so both sides
    # carry rounding noise of one ulp of 1 on gradients whose largest entry is ~1e-14
    assert_agree(ours, per_anchor(expected, (b,)), grad_atol=1e-15)


@pytest.mark.parametrize("n, perplexity, duplicate, yscale, reduction", [
    (9, 3.0, False, 1.0, "sum"), (7, 2.0, True, 1.0, "sum"), (3, 1.5, False, 1.0, "sum"),
    (8, 3.0, False, 30.0, "sum"), (9, 3.0, False, 1.0, "mean"),
])
def test_symmetric_sne_with_sklearns_joint_p(n, perplexity, duplicate, yscale, reduction):
    """P from scikit-learn's own perplexity search (its _joint_probabilities), q written out; the two
    searches stop at different precisions, hence 1e-5 (as tests/catalog/test_peers.py's t-SNE)."""
    x, y = randn(n, 5, seed=750), yscale * randn(n, 2, seed=751)
    if duplicate:
        x[1], y[2] = x[0], y[3]
    joint = torch.tensor(t_sne.squareform(t_sne._joint_probabilities(pairwise_distances(x.numpy(), squared=True), perplexity, 0)))
    a = leaf(y)
    ours = per_anchor(compiled("symmetric_sne", perplexity=perplexity, reduction=reduction)(a, x=x), (a,))
    b = leaf(y)
    expected = slow.symmetric_sne(joint, b) / (n if reduction == "mean" else 1)
    found = compare(ours, per_anchor(expected, (b,)))
    assert found["value_rel"] < 1e-5 and found["grad_rel"] < 2e-5, found


@pytest.mark.parametrize("T", [0.01, 1e-3, 1e-4])
def test_snn_formula_at_small_temperatures(T):
    """The published log(sum / sum) through source="formula": both sums underflow to 0 below T ~ 0.01."""
    z = randn(9, 3, seed=760)
    a = leaf(z)
    ours = per_anchor(compiled("soft_nearest_neighbor", source="formula", T=T)(a, labels=LABELS), (a,))
    b = leaf(z)
    assert_agree(ours, per_anchor(slow.soft_nearest_neighbour(b, LABELS, T), (b,)))


def test_dcl_formula_with_several_views_per_id_at_a_small_temperature():
    """Ids with 1 to 4 views, near-identical views: the published log(sum over others - sum over
    positives) must not cancel (lightly takes two views only, hence a written-out reference)."""
    ids = torch.tensor([4, 4, 4, 5, 3, 0, 5, 5, 4, 1, 2])
    z = randn(6, 3, seed=770)[ids] + 1e-3 * randn(11, 3, seed=771)
    a = leaf(z)
    ours = per_anchor(compiled("dcl", source="formula", tau=0.01)(a, ids=ids), (a,))
    b = leaf(z)
    s = F.normalize(b, dim=1) @ F.normalize(b, dim=1).T / 0.01
    terms = []
    for i in range(11):
        positives = [j for j in range(11) if j != i and ids[j] == ids[i]]
        negatives = [k for k in range(11) if ids[k] != ids[i]]
        if positives:
            terms.append(-s[i, positives].mean() + torch.logsumexp(s[i, negatives], 0))
    assert_agree(ours, per_anchor(torch.stack(terms).mean(), (b,)))
