"""Conformance cases for the entries beyond the paper's table: each compiled entry against its
peer library (lightly's sources loaded by path, pytorch-metric-learning, torch) or an
independent slow reference (``references_beyond``), float64, value AND gradients with respect
to every learnable (z, prototypes, the bank where it is learned).

Conventions (each case's docstring says how the peer's call maps onto the entry's):
- lightly's DINO and SwAV losses take lists of views; the entries take one row per (student
  view, teacher view) pair, the teacher's output (or code) as ``teacher``.
- pytorch-metric-learning stores class weights as (embedding_size, num_classes): W = w.T.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import references as ref
from . import references_beyond as slow
from .conformance import (
    LIGHTLY_MEMORY_BANK,
    Case,
    Skip,
    compiled,
    lightly_source_dir,
    load_lightly,
    load_lightly_ntxent,
    Measured,
    measured,
    randn,
)


def leaf(tensor):
    return tensor.detach().clone().requires_grad_(True)


def transposed_last(result: Measured) -> Measured:
    """PML's class weights are (embedding_size, num_classes): their gradient, as the prototypes' (C, d)."""
    return Measured(result.value, result.grads[:-1] + (result.grads[-1].T,))


def lightly_root():
    root = lightly_source_dir()
    if root is None:
        raise Skip("lightly's sources are not available (set ICON_LIGHTLY_SRC to an unpacked lightly wheel)")
    return root


def with_prototypes(entry_id, prototypes, **kw):
    """The compiled entry with its prototypes set to ``prototypes`` (a leaf, so its gradient is measured)."""
    loss = compiled(entry_id, num_classes=prototypes.shape[0], dim=prototypes.shape[1], **kw).double()
    loss.prototypes = torch.nn.Parameter(prototypes.detach().clone())
    return loss


# --- label smoothing, distillation --------------------------------------------------------------


def classifier_batch(n=9, d=4, classes=5, seed=200):
    z, w = randn(n, d, seed=seed), randn(classes, d, seed=seed + 1)
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 0][:n])
    return z, w, labels


def label_smoothing_torch():
    """torch.nn.functional.cross_entropy(z @ W^T, y, label_smoothing=eps), objective cross_entropy."""
    z, w, labels = classifier_batch()
    loss = with_prototypes("label_smoothing", w, eps=0.2, objective="cross_entropy")
    zs = leaf(z)
    ours = measured(loss(zs, labels=labels), (zs, loss.prototypes))
    zp, wp = leaf(z), leaf(w)
    theirs = measured(F.cross_entropy(zp @ wp.T, labels, label_smoothing=0.2), (zp, wp))
    return ours, theirs


def label_smoothing_slow():
    z, w, labels = classifier_batch(seed=210)
    loss = with_prototypes("label_smoothing", w, eps=0.15, tau=0.7, objective="cross_entropy")
    zs = leaf(z)
    ours = measured(loss(zs, labels=labels), (zs, loss.prototypes))
    zp, wp = leaf(z), leaf(w)
    theirs = measured(slow.label_smoothing(zp / 0.7, wp, labels, 0.15), (zp, wp))
    return ours, theirs


def distillation_batch(n=7, k=5, seed=220):
    return randn(n, k, seed=seed), 2.0 * randn(n, k, seed=seed + 1)


def distillation_torch():
    """The PyTorch recipe: F.kl_div(log_softmax(s / T), softmax(t / T), reduction="batchmean") * T**2."""
    student, teacher = distillation_batch()
    s = leaf(student)
    ours = measured(compiled("knowledge_distillation", T=3.0)(s, teacher=teacher), (s,))
    s2 = leaf(student)
    recipe = F.kl_div(F.log_softmax(s2 / 3.0, dim=1), F.softmax(teacher / 3.0, dim=1), reduction="batchmean") * 9.0
    return ours, measured(recipe, (s2,))


def distillation_slow():
    student, teacher = distillation_batch(seed=230)
    s = leaf(student)
    ours = measured(compiled("knowledge_distillation", T=1.7)(s, teacher=teacher), (s,))
    s2 = leaf(student)
    return ours, measured(slow.distillation(s2, teacher, 1.7), (s2,))


# --- DINO, SwAV -------------------------------------------------------------------------------------


def load_dino(root):
    return load_lightly(root, ("lightly.models.modules.center", "lightly.loss.dino_loss"))["lightly.loss.dino_loss"].DINOLoss


def dino_views(batch=5, k=6, teacher_views=2, student_views=2, seed=240):
    teacher = [randn(batch, k, seed=seed + v) for v in range(teacher_views)]
    student = [randn(batch, k, seed=seed + 10 + v) for v in range(student_views)]
    return teacher, student, 0.3 * randn(k, seed=seed + 20)


#: lightly makes the teacher temperature a float32 tensor: 0.04 becomes this float64 value
LIGHTLY_TEACHER_TEMP = float(torch.tensor(0.04))


def _dino_against_lightly(teacher_views, student_views, seed):
    """lightly.loss.DINOLoss on lists of views, with its centre set; the entry on one row per
    (teacher view t, student view s != t) pair, at lightly's float32-rounded teacher temperature."""
    DINOLoss = load_dino(lightly_root())
    teacher, student, center = dino_views(teacher_views=teacher_views, student_views=student_views, seed=seed)
    peer = DINOLoss(output_dim=6, warmup_teacher_temp=0.04, teacher_temp=0.04, student_temp=0.1)
    peer.center = center.reshape(1, 1, -1).clone()
    leaves = [leaf(s) for s in student]
    theirs = measured(peer(teacher, leaves), tuple(leaves))
    mine = [leaf(s) for s in student]
    pairs = [(t, s) for t in range(len(teacher)) for s in range(len(student)) if s != t]
    rows = torch.cat([mine[s] for _, s in pairs])
    teacher_rows = torch.cat([teacher[t] for t, _ in pairs])
    value = compiled("dino", tau_s=0.1, tau_t=LIGHTLY_TEACHER_TEMP, objective="cross_entropy")(
        rows, teacher=teacher_rows, center=center)
    return measured(value, tuple(mine)), theirs


def dino_lightly_two_views():
    return _dino_against_lightly(2, 2, 240)


def dino_lightly_multicrop():
    """Two global teacher views against two global and two local student crops (6 pairs)."""
    return _dino_against_lightly(2, 4, 250)


def dino_slow():
    teacher, student, center = dino_views(seed=260)
    s = leaf(torch.cat(student))
    rows = torch.cat([teacher[1], teacher[0]])
    ours = measured(compiled("dino", tau_s=0.2, tau_t=0.05, objective="cross_entropy")(s, teacher=rows, center=center), (s,))
    s2 = leaf(torch.cat(student))
    return ours, measured(slow.dino_pairs(s2, rows, center, 0.2, 0.05), (s2,))


def swav_lightly():
    """lightly.loss.SwaVLoss on two high-resolution views; the entry on the rows (view 1 predicted
    from view 0's codes, view 0 from view 1's), the codes from lightly's own sinkhorn."""
    module = load_lightly(lightly_root(), ("lightly.loss.swav_loss",))["lightly.loss.swav_loss"]
    z0, z1 = randn(6, 5, seed=270), randn(6, 5, seed=271)
    a0, a1 = leaf(z0), leaf(z1)
    theirs = measured(module.SwaVLoss(temperature=0.1)([a0, a1], []), (a0, a1))
    codes0, codes1 = module.sinkhorn(z0), module.sinkhorn(z1)
    b0, b1 = leaf(z0), leaf(z1)
    value = compiled("swav", tau=0.1, objective="cross_entropy")(torch.cat([b1, b0]), teacher=torch.cat([codes0, codes1]))
    return measured(value, (b0, b1)), theirs


def swav_slow():
    scores = randn(8, 4, seed=280)
    codes = torch.softmax(randn(8, 4, seed=281), dim=1)
    s = leaf(scores)
    ours = measured(compiled("swav", tau=0.3, objective="cross_entropy")(s, teacher=codes), (s,))
    s2 = leaf(scores)
    return ours, measured(slow.swav_pairs(s2, codes, 0.3), (s2,))


# --- EM --------------------------------------------------------------------------------------------


def em_batch():
    return randn(6, 3, seed=290), 1.5 * randn(6, 3, seed=291)


def em_slow():
    logits, joint = em_batch()
    a = leaf(logits)
    ours = measured(compiled("variational_em", reduction="sum")(a, teacher=joint), (a,))
    b = leaf(logits)
    return ours, measured(slow.em_reverse_kl(b, joint), (b,))


def em_elbo():
    """The up_to_constant claim on a float64 batch: KL(q || posterior) - log evidence = -ELBO."""
    logits, joint = em_batch()
    a = leaf(logits)
    evidence = torch.logsumexp(joint, dim=1).sum()
    ours = measured(compiled("variational_em", reduction="sum")(a, teacher=joint) - evidence, (a,))
    b = leaf(logits)
    return ours, measured(slow.minus_elbo(b, joint), (b,))


# --- NCA, soft nearest neighbour, Proxy-NCA, NormFace, CosFace ---------------------------------------


def metric_batch(n=10, d=3, seed=300):
    return randn(n, d, seed=seed), torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 0, 4][:n])


def nca_pml():
    """PML NCALoss with distance=LpDistance(normalize_embeddings=False, power=2), softmax_scale=1
    (the default distance would L2-normalize first); class 4 has one item: skipped by both."""
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.losses import NCALoss

    z, labels = metric_batch()
    a = leaf(z)
    ours = measured(compiled("nca")(a, labels=labels), (a,))
    b = leaf(z)
    peer = NCALoss(softmax_scale=1, distance=LpDistance(normalize_embeddings=False, power=2))
    return ours, measured(peer(b, labels), (b,))


def nca_slow():
    z, labels = metric_batch(seed=310)
    a = leaf(z)
    ours = measured(compiled("nca")(a, labels=labels), (a,))
    b = leaf(z)
    return ours, measured(slow.soft_nearest_neighbour(b, labels, 1.0), (b,))


def snn_slow():
    z, labels = metric_batch(seed=320)
    a = leaf(z)
    ours = measured(compiled("soft_nearest_neighbor", T=0.6)(a, labels=labels), (a,))
    b = leaf(z)
    return ours, measured(slow.soft_nearest_neighbour(b, labels, 0.6), (b,))


def snn_pml():
    """PML NCALoss with softmax_scale = 1/T and the unnormalized squared distance is the soft
    nearest neighbour loss at temperature T."""
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.losses import NCALoss

    z, labels = metric_batch(seed=325)
    a = leaf(z)
    ours = measured(compiled("soft_nearest_neighbor", T=0.5)(a, labels=labels), (a,))
    b = leaf(z)
    peer = NCALoss(softmax_scale=2.0, distance=LpDistance(normalize_embeddings=False, power=2))
    return ours, measured(peer(b, labels), (b,))


def proxy_batch(seed=330):
    z, labels = metric_batch(seed=seed)
    return z, randn(5, 3, seed=seed + 1), labels


def proxy_nca_pml():
    """PML ProxyNCALoss(num_classes, embedding_size, softmax_scale=1/T): normalized vectors, the
    softmax over all proxies (the I-Con objective)."""
    from pytorch_metric_learning.losses import ProxyNCALoss

    z, w, labels = proxy_batch()
    loss = with_prototypes("proxy_nca", w, T=0.5)
    a = leaf(z)
    ours = measured(loss(a, labels=labels), (a, loss.prototypes))
    peer = ProxyNCALoss(num_classes=5, embedding_size=3, softmax_scale=2.0)
    peer.proxies = torch.nn.Parameter(w.clone())
    b = leaf(z)
    return ours, measured(peer(b, labels), (b, peer.proxies))


def proxy_nca_paper():
    """The paper's eq. (11) (true proxy left out of the denominator) from the compiled per-anchor
    values v: v + log(1 - exp(-v)), the decomposition claim."""
    z, w, labels = proxy_batch(seed=340)
    loss = with_prototypes("proxy_nca", w, T=0.8, reduction="none")
    a = leaf(z)
    values = loss(a, labels=labels)
    ours = measured((values + torch.log(-torch.expm1(-values))).mean(), (a, loss.prototypes))
    b, wb = leaf(z), leaf(w)
    return ours, measured(slow.proxy_nca_paper(b, wb, labels, 0.8), (b, wb))


def normface_pml():
    """PML NormalizedSoftmaxLoss(temperature): W (embedding_size, num_classes) normalized per class,
    the embeddings normalized by its distance; mean cross entropy."""
    from pytorch_metric_learning.losses import NormalizedSoftmaxLoss

    z, w, labels = proxy_batch(seed=350)
    loss = with_prototypes("normface", w, tau=0.1)
    a = leaf(z)
    ours = measured(loss(a, labels=labels), (a, loss.prototypes))
    peer = NormalizedSoftmaxLoss(num_classes=5, embedding_size=3, temperature=0.1)
    peer.W = torch.nn.Parameter(w.T.clone())
    b = leaf(z)
    return ours, transposed_last(measured(peer(b, labels), (b, peer.W)))


def cosface_pml():
    """PML CosFaceLoss(margin, scale): cos - margin on the target class, times scale = 1/tau."""
    from pytorch_metric_learning.losses import CosFaceLoss

    z, w, labels = proxy_batch(seed=360)
    loss = with_prototypes("cosface", w, tau=0.125, m=0.35)
    a = leaf(z)
    ours = measured(loss(a, labels=labels), (a, loss.prototypes))
    peer = CosFaceLoss(num_classes=5, embedding_size=3, margin=0.35, scale=8.0)
    peer.W = torch.nn.Parameter(w.T.clone())
    b = leaf(z)
    return ours, transposed_last(measured(peer(b, labels), (b, peer.W)))


def skipgram_torch():
    """Skip-gram's full softmax on (centre, context) pairs: F.cross_entropy(v_in @ V_out^T, context)."""
    z, w, labels = classifier_batch(seed=370)
    loss = with_prototypes("skipgram", w)
    a = leaf(z)
    ours = measured(loss(a, labels=labels), (a, loss.prototypes))
    b, wb = leaf(z), leaf(w)
    return ours, measured(F.cross_entropy(b @ wb.T, labels), (b, wb))


# --- DCL, MoCo, NNCLR, banks ---------------------------------------------------------------------------


def dcl_lightly():
    """lightly.loss.DCLLoss(temperature) on two views (both directions, mean over the 2N anchors):
    from the compiled per-anchor cross entropies v, DCL = mean(v + log(1 - exp(-v)))."""
    modules = load_lightly(lightly_root(), ("lightly.utils.dist", "lightly.loss.dcl_loss"))
    z0, z1 = randn(6, 4, seed=380), randn(6, 4, seed=381)
    a0, a1 = leaf(z0), leaf(z1)
    theirs = measured(modules["lightly.loss.dcl_loss"].DCLLoss(temperature=0.2)(a0, a1), (a0, a1))
    b0, b1 = leaf(z0), leaf(z1)
    values = compiled("dcl", tau=0.2, objective="cross_entropy", reduction="none")(
        torch.cat([b0, b1]), ids=torch.arange(6).repeat(2))
    return measured((values + torch.log(-torch.expm1(-values))).mean(), (b0, b1)), theirs


def dcl_formula_lightly():
    """lightly.loss.DCLLoss against compile_loss("dcl", source="formula"), the published formula itself,
    on nearly aligned views at a small temperature (the formula's log of a difference cancels there)."""
    modules = load_lightly(lightly_root(), ("lightly.utils.dist", "lightly.loss.dcl_loss"))
    z0 = randn(6, 4, seed=382)
    z1 = z0 + 0.05 * randn(6, 4, seed=383)
    a0, a1 = leaf(z0), leaf(z1)
    theirs = measured(modules["lightly.loss.dcl_loss"].DCLLoss(temperature=0.02)(a0, a1), (a0, a1))
    b0, b1 = leaf(z0), leaf(z1)
    value = compiled("dcl", source="formula", tau=0.02)(torch.cat([b0, b1]), ids=torch.arange(6).repeat(2))
    return measured(value, (b0, b1)), theirs


def dcl_slow():
    z0, z1 = randn(5, 3, seed=390), randn(5, 3, seed=391)
    b0, b1 = leaf(z0), leaf(z1)
    values = compiled("dcl", tau=0.5, objective="cross_entropy", reduction="none")(
        torch.cat([b0, b1]), ids=torch.arange(5).repeat(2))
    ours = measured((values + torch.log(-torch.expm1(-values))).mean(), (b0, b1))
    c0, c1 = leaf(z0), leaf(z1)
    return ours, measured(slow.dcl(c0, c1, 0.5), (c0, c1))


def moco_batch(n=6, queue=9, d=4, seed=400):
    keys = F.normalize(randn(n, d, seed=seed + 1), dim=1)
    return randn(n, d, seed=seed), keys, F.normalize(randn(queue, d, seed=seed + 2), dim=1)


def moco_lightly():
    """lightly.loss.NTXentLoss(memory_bank_size=(K, d)): queries out0, keys out1, the bank's stored
    (unit) rows as negatives; the bank is set to the queue before the call."""
    NTXentLoss = load_lightly_ntxent(lightly_root())
    queries, keys, queue = moco_batch()
    peer = NTXentLoss(temperature=0.2, memory_bank_size=(queue.shape[0], queue.shape[1]))
    peer.memory_bank.bank = queue.clone()
    a = leaf(queries)
    theirs = measured(peer(a, keys), (a,))
    b = leaf(queries)
    return measured(compiled("moco_v2", tau=0.2)(b, keys=keys, bank=queue), (b,)), theirs


def moco_slow():
    queries, keys, queue = moco_batch(seed=410)
    raw_queue = 2.0 * queue  # the cosine does not need unit rows
    b = leaf(queries)
    ours = measured(compiled("moco_v2", tau=0.07)(b, keys=keys, bank=raw_queue), (b,))
    c = leaf(queries)
    return ours, measured(slow.moco(c, keys, raw_queue, 0.07), (c,))


def nnclr_lightly():
    """lightly's NNCLR recipe: z0 replaced by its nearest neighbour in the support set
    (NNMemoryBankModule, detached), then NTXentLoss(nn(z0), p1); the entry on [nn(z0); p1]."""
    root = lightly_root()
    modules = load_lightly(root, LIGHTLY_MEMORY_BANK + ("lightly.models.modules.nn_memory_bank",))
    NTXentLoss = load_lightly_ntxent(root)
    z0, p1, support = randn(5, 4, seed=420), randn(5, 4, seed=421), randn(11, 4, seed=422)
    replacer = modules["lightly.models.modules.nn_memory_bank"].NNMemoryBankModule(size=(11, 4))
    replacer.bank = support.clone()
    nearest = replacer(z0, update=False)
    a = leaf(p1)
    theirs = measured(NTXentLoss(temperature=0.1)(nearest, a), (a,))
    b = leaf(p1)
    value = compiled("nnclr", tau=0.1, objective="cross_entropy")(torch.cat([nearest, b]), ids=torch.arange(5).repeat(2))
    return measured(value, (b,)), theirs


def nnclr_slow():
    """The nearest neighbour in the support set by a loop over cosines, then NT-Xent by loops."""
    z0, p1, support = randn(5, 4, seed=425), randn(5, 4, seed=426), randn(9, 4, seed=427)
    nearest = slow.nearest_in_support(z0, support)
    a = leaf(p1)
    value = compiled("nnclr", tau=0.3, objective="cross_entropy")(torch.cat([nearest, a]), ids=torch.arange(5).repeat(2))
    b = leaf(p1)
    return measured(value, (a,)), measured(slow.nt_xent(nearest, b, 0.3), (b,))


def npair_pml():
    """PML NPairsLoss(distance=DotProductSimilarity(normalize_embeddings=False)) on embeddings
    [anchors; positives] with labels [0..N-1, 0..N-1]: one pair per label (anchor first), dot
    products (PML's default distance normalizes the embeddings first), mean cross entropy. The
    entry: z = anchors, bank = positives, ids = bank_ids = 0..N-1, objective cross_entropy."""
    from pytorch_metric_learning.distances import DotProductSimilarity
    from pytorch_metric_learning.losses import NPairsLoss

    anchors, positives = randn(6, 4, seed=430), randn(6, 4, seed=431)
    ids = torch.arange(6)
    a, p = leaf(anchors), leaf(positives)
    ours = measured(compiled("npair", objective="cross_entropy")(a, bank=p, ids=ids, bank_ids=ids), (a, p))
    b, q = leaf(anchors), leaf(positives)
    peer = NPairsLoss(distance=DotProductSimilarity(normalize_embeddings=False))
    theirs = measured(peer(torch.cat([b, q]), torch.cat([ids, ids])), (b, q))
    return ours, theirs


def simcse_official():
    """SimCSE's official loss: cos_sim(z1[:, None], z2[None, :]) / temp, cross entropy with targets
    arange(N) (one direction, the second dropout views as candidates)."""
    z1, z2 = randn(7, 5, seed=440), randn(7, 5, seed=441)
    ids = torch.arange(7)
    a, p = leaf(z1), leaf(z2)
    ours = measured(compiled("simcse", tau=0.05, objective="cross_entropy")(a, bank=p, ids=ids, bank_ids=ids), (a, p))
    b, q = leaf(z1), leaf(z2)
    logits = F.cosine_similarity(b[:, None, :], q[None, :, :], dim=-1) / 0.05
    return ours, measured(F.cross_entropy(logits, ids), (b, q))


def instance_discrimination_slow():
    """Wu et al. 2018 eq. (2) over a memory bank with one slot per image; anchors 4 and 5 have no
    slot in the bank (skipped), slot 7 belongs to no anchor (a negative)."""
    z, bank = randn(6, 3, seed=450), randn(8, 3, seed=451)
    ids, bank_ids = torch.arange(6), torch.tensor([0, 1, 2, 3, 1, 0, 2, 7])
    a = leaf(z)
    ours = measured(compiled("instance_discrimination", tau=0.3, objective="cross_entropy")(
        a, bank=bank, ids=ids, bank_ids=bank_ids), (a,))
    b = leaf(z)
    return ours, measured(slow.bank_softmax(b, bank, ids, bank_ids, 0.3, cosine=True), (b,))


# --- symmetric SNE, PMI clustering ---------------------------------------------------------------------


def symmetric_sne_slow():
    """The joint KL with P from the references' own bisection (ref.tsne_joint_p)."""
    x, y = randn(10, 5, seed=460), randn(10, 2, seed=461)
    a = leaf(y)
    ours = measured(compiled("symmetric_sne", perplexity=4.0, reduction="sum")(a, x=x), (a,))
    b = leaf(y)
    joint = torch.as_tensor(ref.tsne_joint_p(x.numpy(), 4.0))
    return ours, measured(slow.symmetric_sne(joint, b), (b,))


def pmi_slow():
    """TEMI's PMI loss (beta = 1, one head, the batch marginal) is the compiled cross entropy minus
    log n (the up_to_constant claim); kNN lists with a repeat and the anchor itself."""
    logits = randn(8, 3, seed=470)
    neighbors = torch.tensor([[1, 2, 2], [0, 3, 1], [3, 0, 5], [2, 1, 6], [5, 7, 4], [4, 6, 0], [7, 5, 3], [6, 4, 1]])
    a = leaf(logits)
    value = compiled("pmi_clustering", k=3, objective="cross_entropy")(a, neighbors=neighbors) - math.log(8)
    b = leaf(logits)
    return measured(value, (a,)), measured(slow.pmi_clustering(b, neighbors), (b,))


CASES = [
    Case("label_smoothing", "torch F.cross_entropy(label_smoothing=0.2)", label_smoothing_torch),
    Case("label_smoothing", "slow loops (tau=0.7)", label_smoothing_slow),
    Case("knowledge_distillation", "torch kl_div(batchmean) * T^2 recipe", distillation_torch),
    Case("knowledge_distillation", "slow loops", distillation_slow),
    Case("dino", "lightly dino_loss.py source, 2 views", dino_lightly_two_views),
    Case("dino", "lightly dino_loss.py source, 2 + 2 local crops", dino_lightly_multicrop),
    Case("dino", "slow loops", dino_slow),
    Case("swav", "lightly swav_loss.py source (its sinkhorn codes)", swav_lightly),
    Case("swav", "slow loops", swav_slow),
    Case("variational_em", "slow loops, reverse KL to the posterior", em_slow),
    Case("variational_em", "slow loops, -ELBO (KL - log evidence)", em_elbo),
    Case("nca", "PML NCALoss (unnormalized distance)", nca_pml),
    Case("nca", "slow loops", nca_slow),
    Case("soft_nearest_neighbor", "slow loops (T=0.6)", snn_slow),
    Case("soft_nearest_neighbor", "PML NCALoss(softmax_scale=1/T)", snn_pml),
    Case("proxy_nca", "PML ProxyNCALoss", proxy_nca_pml),
    Case("proxy_nca", "slow loops, the paper's eq. 11 (v + log(1 - e^-v))", proxy_nca_paper),
    Case("normface", "PML NormalizedSoftmaxLoss", normface_pml),
    Case("cosface", "PML CosFaceLoss", cosface_pml),
    Case("skipgram", "torch F.cross_entropy(v_in V_out^T)", skipgram_torch),
    Case("dcl", "lightly dcl_loss.py source (v + log(1 - e^-v))", dcl_lightly),
    Case("dcl", "slow loops (v + log(1 - e^-v))", dcl_slow),
    Case("dcl", "lightly dcl_loss.py source, source='formula' at tau=0.02", dcl_formula_lightly),
    Case("moco_v2", "lightly NTXentLoss with a memory bank (source)", moco_lightly),
    Case("moco_v2", "slow loops, MoCo's Algorithm 1", moco_slow),
    Case("nnclr", "lightly NNMemoryBankModule + NTXentLoss (source)", nnclr_lightly),
    Case("nnclr", "slow loops, support-set neighbour + NT-Xent", nnclr_slow),
    Case("npair", "PML NPairsLoss", npair_pml),
    Case("simcse", "SimCSE's official loss (torch)", simcse_official),
    Case("instance_discrimination", "slow loops, non-parametric softmax", instance_discrimination_slow),
    Case("symmetric_sne", "slow loops (own bisection)", symmetric_sne_slow),
    Case("pmi_clustering", "slow loops, TEMI PMI (beta=1) = CE - log n", pmi_slow),
]
