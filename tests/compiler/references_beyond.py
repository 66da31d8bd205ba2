"""Independent slow references for the entries beyond the paper's table: explicit Python loops
over scalar float64 torch tensors, written from each paper's formula (not from the compiler's
code), so that autograd gives their gradients too. Small n only.

Every function returns a 0-dim tensor (a ``*_terms`` function: the list of per-anchor ones).
"""

from __future__ import annotations

import math

import torch


def _lse(values):
    top = torch.stack([torch.as_tensor(v).detach() for v in values]).max()
    return top + torch.log(sum(torch.exp(v - top) for v in values))


def _log_softmax(values):
    norm = _lse(values)
    return [v - norm for v in values]


def _unit(v):
    return v / torch.sqrt(sum(c * c for c in v))


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def _cos(a, b):
    return _dot(_unit(a), _unit(b))


def _sq(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b))


def _mean(values):
    return sum(values) / len(values)


# --- outputs given by a teacher ---------------------------------------------------------------


def label_smoothing(z, w, labels, eps):
    """Szegedy et al. 2016 (Sec. 7): H(q', p), q'(k) = (1 - eps) delta_{k,y} + eps / K, p the softmax
    of the logits z_i . w_k; mean over the batch."""
    K = len(w)
    losses = []
    for i in range(len(z)):
        log_p = _log_softmax([_dot(z[i], w[k]) for k in range(K)])
        losses.append(-sum(((1 - eps) * (k == int(labels[i])) + eps / K) * log_p[k] for k in range(K)))
    return _mean(losses)


def distillation(student, teacher, T):
    """Hinton et al. 2015: T^2 KL(softmax(t/T) || softmax(s/T)), mean over the batch."""
    losses = []
    for s, t in zip(student, teacher):
        log_q = _log_softmax([v / T for v in s])
        log_p = _log_softmax([v / T for v in t])
        losses.append(sum(torch.exp(lp) * (lp - lq) for lp, lq in zip(log_p, log_q)))
    return T**2 * _mean(losses)


def dino_pairs(student_rows, teacher_rows, center, tau_s, tau_t):
    """Caron et al. 2021 (Alg. 1): -sum_k P_t(k) log P_s(k), P_t = softmax((t - C) / tau_t),
    P_s = softmax(s / tau_s), mean over the (student, teacher) pairs given as rows."""
    losses = []
    for s, t in zip(student_rows, teacher_rows):
        log_t = _log_softmax([(v - c) / tau_t for v, c in zip(t, center)])
        log_s = _log_softmax([v / tau_s for v in s])
        losses.append(-sum(torch.exp(a) * b for a, b in zip(log_t, log_s)))
    return _mean(losses)


def swav_pairs(scores, codes, tau):
    """Caron et al. 2020 (eq. 2): -sum_k q_k log softmax(z . c / tau)_k, mean over the rows."""
    losses = []
    for z, q in zip(scores, codes):
        log_p = _log_softmax([v / tau for v in z])
        losses.append(-sum(qk * lp for qk, lp in zip(q, log_p)))
    return _mean(losses)


def em_reverse_kl(logits, joint):
    """Neal and Hinton 1998: sum_i KL(q_i || p(.|x_i)), q_i = softmax(logits_i), p(c|x_i) the
    posterior softmax(log p(x_i, c)) of the joint log-likelihoods."""
    total = 0
    for a, t in zip(logits, joint):
        log_q, log_post = _log_softmax(list(a)), _log_softmax(list(t))
        total = total + sum(torch.exp(lq) * (lq - lp) for lq, lp in zip(log_q, log_post))
    return total


def minus_elbo(logits, joint):
    """-ELBO = sum_i sum_c q (log q - log p(x_i, c)) (the free energy of Neal and Hinton)."""
    total = 0
    for a, t in zip(logits, joint):
        log_q = _log_softmax(list(a))
        total = total + sum(torch.exp(lq) * (lq - tc) for lq, tc in zip(log_q, t))
    return total


# --- metric learning ----------------------------------------------------------------------------


def soft_nearest_neighbour(z, labels, T):
    """Frosst et al. 2019 (eq. 1): -mean_i log(sum_{j != i, y_j = y_i} e^{-|z_i - z_j|^2 / T} /
    sum_{k != i} e^{-|z_i - z_k|^2 / T}), over the anchors with a classmate."""
    return _mean(soft_nearest_neighbour_terms(z, labels, T))


def soft_nearest_neighbour_terms(z, labels, T):
    """The per-anchor terms of ``soft_nearest_neighbour``, anchors without a classmate left out."""
    n = len(z)
    losses = []
    for i in range(n):
        same = [j for j in range(n) if j != i and int(labels[j]) == int(labels[i])]
        if not same:
            continue
        # log of each sum by _lse: at small T every exp underflows and the ratio would be 0 / 0
        numerator = _lse([-_sq(z[i], z[j]) / T for j in same])
        denominator = _lse([-_sq(z[i], z[k]) / T for k in range(n) if k != i])
        losses.append(denominator - numerator)
    return losses


def proxy_nca_paper(z, proxies, labels, T):
    """Movshovitz-Attias et al. 2017 (eq. 11): -log(exp(-d(x, p_y)) / sum_{z != p_y} exp(-d(x, z))),
    d the squared distance of unit vectors over T; mean over the batch."""
    losses = []
    for i in range(len(z)):
        d = [_sq(_unit(z[i]), _unit(p)) / T for p in proxies]
        y = int(labels[i])
        losses.append(d[y] + _lse([-d[c] for c in range(len(proxies)) if c != y]))
    return _mean(losses)


def dcl(z0, z1, tau):
    """Yeh et al. 2022 (eq. 6, no weighting), both views as anchors: -s(i, i+)/tau +
    log sum_{k not in {i, i+}} exp(s(i, k)/tau), mean over the 2N anchors."""
    views = list(z0) + list(z1)
    n = len(z0)
    losses = []
    for a in range(2 * n):
        positive = a + n if a < n else a - n
        negatives = [k for k in range(2 * n) if k not in (a, positive)]
        losses.append(-_cos(views[a], views[positive]) / tau
                      + torch.log(sum(torch.exp(_cos(views[a], views[k]) / tau) for k in negatives)))
    return _mean(losses)


# --- memory banks ----------------------------------------------------------------------------------


def nearest_in_support(queries, support):
    """NNCLR (Dwibedi et al. 2021, eq. 1): NN(z, Q) = argmin_q |z - q| on unit vectors = argmax cos."""
    rows = []
    for q in queries:
        best = max(range(len(support)), key=lambda m: float(_cos(q, support[m])))
        rows.append(support[best])
    return torch.stack(rows)


def nt_xent(view0, view1, tau):
    """SimCLR's NT-Xent over the 2N views (both views as anchors, the other 2N - 2 as negatives)."""
    views = list(view0) + list(view1)
    n = len(view0)
    losses = []
    for a in range(2 * n):
        positive = a + n if a < n else a - n
        logits = [_cos(views[a], views[k]) / tau for k in range(2 * n) if k != a]
        index = positive if positive < a else positive - 1
        losses.append(-_log_softmax(logits)[index])
    return _mean(losses)



def moco(queries, keys, queue, tau):
    """He et al. 2020 (Algorithm 1): logits [q . k+, q . queue] / tau on unit vectors, cross entropy
    with the key as the target, mean over the queries."""
    losses = []
    for q, k in zip(queries, keys):
        logits = [_cos(q, k) / tau] + [_cos(q, b) / tau for b in queue]
        losses.append(-_log_softmax(logits)[0])
    return _mean(losses)


def bank_softmax(anchors, bank, anchor_ids, bank_ids, tau, cosine):
    """-mean_i mean_{j in bank: id_j = id_i} log softmax_m(s(a_i, b_m) / tau)_j over the anchors
    with a positive in the bank (instance discrimination, SimCSE, N-pair)."""
    sim = _cos if cosine else _dot
    losses = []
    for a, a_id in zip(anchors, anchor_ids):
        positives = [m for m, b_id in enumerate(bank_ids) if int(b_id) == int(a_id)]
        if not positives:
            continue
        log_p = _log_softmax([sim(a, b) / tau for b in bank])
        losses.append(-_mean([log_p[m] for m in positives]))
    return _mean(losses)


# --- embeddings and clustering ---------------------------------------------------------------------


def symmetric_sne(P, y):
    """van der Maaten and Hinton 2008 (Sec. 3.1): sum_{i != j} p_ij log(p_ij / q_ij),
    q_ij = exp(-|y_i - y_j|^2) / sum_{k != l} exp(-|y_k - y_l|^2), for a given joint P."""
    n = len(y)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    log_z = _lse([-_sq(y[k], y[l]) for k, l in pairs])
    return sum(P[i][j] * (torch.log(P[i][j]) + _sq(y[i], y[j]) + log_z) for i, j in pairs if P[i][j] > 0)


def pmi_clustering(logits, neighbors):
    """Adaloglou et al. 2023 (TEMI, beta = 1, one head, the batch marginal): -mean_i mean_{j in kNN(i)}
    log sum_c phi_ic phi_jc / phi_c, phi = softmax(logits), phi_c = mean_l phi_lc."""
    n, K = len(logits), len(logits[0])
    # in logs (pmi = logsumexp_c of log phi_ic + log phi_jc - log phi_c): with large logits phi
    # underflows to 0 for every c and the plain sum's log is -inf
    log_phi = [_log_softmax(list(row)) for row in logits]
    log_marginal = [_lse([log_phi[l][c] for l in range(n)]) - math.log(n) for c in range(K)]
    losses = []
    for i in range(n):
        listed = sorted({int(j) for j in neighbors[i]} - {i})
        losses.append(-_mean([_lse([log_phi[i][c] + log_phi[j][c] - log_marginal[c] for c in range(K)]) for j in listed]))
    return _mean(losses)
