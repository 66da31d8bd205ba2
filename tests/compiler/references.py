"""Independent slow references: explicit Python loops over float64 numpy, written from each
paper's formula (not from the compiler's code). Small n only.

Every function takes numpy arrays and returns a Python float (or a numpy array for P).
"""

from __future__ import annotations

import math

import numpy as np


def _unit(v):
    return v / math.sqrt(float(np.dot(v, v)))


def _cos(a, b):
    return float(np.dot(_unit(a), _unit(b)))


def _sq(a, b):
    d = a - b
    return float(np.dot(d, d))


def _logsumexp(values):
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


# --- contrastive -------------------------------------------------------------------------


def infonce_kl(z, ids, tau):
    """Mean over anchors with positives of KL(p_i || q_i), p uniform over the other views of the
    same source instance, q = softmax_{k != i} cos(z_i, z_k) / tau. With one positive per
    anchor this is SimCLR's NT-Xent, -log(e^{s_ip/tau} / sum_{k != i} e^{s_ik/tau})."""
    n = len(z)
    total, anchors = 0.0, 0
    for i in range(n):
        positives = [j for j in range(n) if j != i and ids[j] == ids[i]]
        if not positives:
            continue
        log_norm = _logsumexp([_cos(z[i], z[k]) / tau for k in range(n) if k != i])
        m = len(positives)
        for j in positives:
            total += (1 / m) * (math.log(1 / m) - (_cos(z[i], z[j]) / tau - log_norm))
        anchors += 1
    return total / anchors


def nt_xent_two_views(z0, z1, tau):
    """SimCLR (Chen et al. 2020, eq. 1): the mean of l(i, j) over the 2n anchors."""
    views = list(z0) + list(z1)
    n = len(z0)
    total = 0.0
    for a in range(2 * n):
        p = a + n if a < n else a - n
        num = _cos(views[a], views[p]) / tau
        total += -(num - _logsumexp([_cos(views[a], views[k]) / tau for k in range(2 * n) if k != a]))
    return total / (2 * n)


def supcon_l_out(z, labels, tau):
    """SupCon's L_out (Khosla et al. 2020, eq. 2), averaged over anchors that have positives:
    -1/|P(i)| sum_{p in P(i)} log( e^{s_ip/tau} / sum_{a != i} e^{s_ia/tau} )."""
    n = len(z)
    total, anchors = 0.0, 0
    for i in range(n):
        positives = [j for j in range(n) if j != i and labels[j] == labels[i]]
        if not positives:
            continue
        log_norm = _logsumexp([_cos(z[i], z[a]) / tau for a in range(n) if a != i])
        total += -sum(_cos(z[i], z[p]) / tau - log_norm for p in positives) / len(positives)
        anchors += 1
    return total / anchors


def supcon_entropy(labels):
    """Mean over anchors with positives of H(p_i) = log |P(i)|."""
    values = [math.log(sum(1 for j in range(len(labels)) if j != i and labels[j] == labels[i])) for i in range(len(labels))]
    values = [v for i, v in enumerate(values) if any(labels[j] == labels[i] for j in range(len(labels)) if j != i)]
    return sum(values) / len(values)


def clip_symmetric(image, text, tau):
    """CLIP (Radford et al. 2021): (CE(logits, arange) + CE(logits^T, arange)) / 2 with
    logits_ab = cos(image_a, text_b) / tau."""
    n = len(image)
    img_to_txt = sum(
        -(_cos(image[a], text[a]) / tau - _logsumexp([_cos(image[a], text[b]) / tau for b in range(n)])) for a in range(n)
    )
    txt_to_img = sum(
        -(_cos(text[b], image[b]) / tau - _logsumexp([_cos(text[b], image[a]) / tau for a in range(n)])) for b in range(n)
    )
    return (img_to_txt / n + txt_to_img / n) / 2


def cross_entropy(z, w, labels):
    """-mean_i log softmax(z_i . w_c)[y_i]."""
    total = 0.0
    for i in range(len(z)):
        logits = [float(np.dot(z[i], w[c])) for c in range(len(w))]
        total += -(logits[labels[i]] - _logsumexp(logits))
    return total / len(z)


def harmonic(z, w, labels, power):
    """Harmonic loss (Baek et al. 2025): q(c|i) = d_ic^{-n} / sum_c' d_ic'^{-n}, d Euclidean;
    mean of -log q(y_i|i)."""
    total = 0.0
    for i in range(len(z)):
        d = [math.sqrt(_sq(z[i], w[c])) for c in range(len(w))]
        log_w = [-power * math.log(v) for v in d]
        total += -(log_w[labels[i]] - _logsumexp(log_w))
    return total / len(z)


# --- neighbour embedding ---------------------------------------------------------------


def calibrated_conditionals(x, perplexity, steps=200):
    """p(j|i) = exp(-beta_i d2_ij) / sum_{k != i}, beta_i by bisection on the row entropy
    (natural log) = log(perplexity), one row at a time (Hinton & Roweis 2002)."""
    n = len(x)
    P = np.zeros((n, n))
    target = math.log(perplexity)
    for i in range(n):
        d = [(_sq(x[i], x[j]), j) for j in range(n) if j != i]
        lo, hi = -60.0, 60.0  # log beta
        for _ in range(steps):
            mid = (lo + hi) / 2
            beta = math.exp(mid)
            lse = _logsumexp([-beta * v for v, _ in d])
            probs = [math.exp(-beta * v - lse) for v, _ in d]
            entropy = -sum(p * (-beta * v - lse) for p, (v, _) in zip(probs, d))
            if entropy > target:
                lo = mid
            else:
                hi = mid
        beta = math.exp((lo + hi) / 2)
        lse = _logsumexp([-beta * v for v, _ in d])
        for v, j in d:
            P[i, j] = math.exp(-beta * v - lse)
    return P


def sne(x, y, perplexity):
    """SNE (Hinton & Roweis 2002): sum_i KL(p(.|i) || q(.|i)), q(j|i) = exp(-d2(y_i,y_j)) / sum_{k != i}."""
    P = calibrated_conditionals(x, perplexity)
    n = len(y)
    total = 0.0
    for i in range(n):
        lse = _logsumexp([-_sq(y[i], y[k]) for k in range(n) if k != i])
        for j in range(n):
            if j != i and P[i, j] > 0:
                total += P[i, j] * (math.log(P[i, j]) - (-_sq(y[i], y[j]) - lse))
    return total


def tsne_joint_p(x, perplexity):
    P = calibrated_conditionals(x, perplexity)
    return (P + P.T) / (2 * len(x))


def tsne(x, y, perplexity):
    """t-SNE (van der Maaten & Hinton 2008): KL(P || Q) over all pairs i != j,
    P = (p(j|i) + p(i|j)) / 2n, Q_ij = (1 + d2_ij)^-1 / sum_{k != l} (1 + d2_kl)^-1."""
    P = tsne_joint_p(x, perplexity)
    n = len(y)
    w = {(i, j): 1 / (1 + _sq(y[i], y[j])) for i in range(n) for j in range(n) if i != j}
    Z = sum(w.values())
    return sum(P[i, j] * math.log(P[i, j] / (w[i, j] / Z)) for (i, j) in w if P[i, j] > 0)


# --- limits --------------------------------------------------------------------------------


def pca_finite(z, sigma):
    """sigma^2 * mean_i -log q(i|i), q(j|i) = exp(-d2_ij / sigma^2) / sum_k (k = i included)."""
    n = len(z)
    total = 0.0
    for i in range(n):
        total += _logsumexp([-_sq(z[i], z[k]) / sigma**2 for k in range(n)])  # -log q(i|i), d2_ii = 0
    return sigma**2 * total / n


def minus_two_variance(z):
    """-2 Var(z), Var = mean_i ||z_i - mean||^2 (the PCA limit, Thm 2)."""
    mean = sum(z) / len(z)
    return -2 * sum(_sq(v, mean) for v in z) / len(z)


def triplet_margin0(z, neighbors):
    """Triplet loss with margin 0 on squared distances (Schroff et al. 2015):
    mean_i max(d2(z_i, z_pos) - d2(z_i, z_neg), 0); neighbors[i] = (pos, neg)."""
    return sum(max(_sq(z[i], z[p]) - _sq(z[i], z[m]), 0.0) for i, (p, m) in enumerate(neighbors)) / len(z)


def triplet_finite(z, neighbors, sigma):
    """sigma^2 * mean_i softplus((d2_pos - d2_neg) / sigma^2): the I-Con loss at finite sigma."""
    total = 0.0
    for i, (p, m) in enumerate(neighbors):
        t = (_sq(z[i], z[p]) - _sq(z[i], z[m])) / sigma**2
        total += max(t, 0.0) + math.log1p(math.exp(-abs(t)))
    return sigma**2 * total / len(z)


# --- clustering ------------------------------------------------------------------------------


def cluster_kernel(logits):
    """q(j|i) = sum_c phi_ic phi_jc / sum_k phi_kc with phi = softmax(logits)."""
    n, K = logits.shape
    phi = np.zeros((n, K))
    for i in range(n):
        lse = _logsumexp(list(logits[i]))
        for c in range(K):
            phi[i, c] = math.exp(logits[i, c] - lse)
    size = [sum(phi[k, c] for k in range(n)) for c in range(K)]
    q = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            q[i, j] = sum(phi[i, c] * phi[j, c] / size[c] for c in range(K))
    return q, phi


def kmeans_reverse_kl(x, logits, sigma):
    """sum_i KL(q_i || p_i), q the cluster kernel, p(j|i) = exp(-d2(x_i,x_j)/2sigma^2) / sum_k (all k)."""
    q, _ = cluster_kernel(logits)
    n = len(x)
    total = 0.0
    for i in range(n):
        lse = _logsumexp([-_sq(x[i], x[k]) / (2 * sigma**2) for k in range(n)])
        for j in range(n):
            total += q[i, j] * (math.log(q[i, j]) - (-_sq(x[i], x[j]) / (2 * sigma**2) - lse))
    return total


def kmeans_decomposition(x, logits, sigma):
    """The right side of Thm 13: (1/2sigma^2) sum_ij d2 q - sum_i H(q_i) + sum_i log Z_i, and
    2 x the soft K-Means cost sum_c sum_i phi_ic ||x_i - mu_c||^2 (mu_c the phi-weighted mean)."""
    q, phi = cluster_kernel(logits)
    n, K = phi.shape
    cost_pairs = sum(_sq(x[i], x[j]) * q[i, j] for i in range(n) for j in range(n))
    entropy = -sum(q[i, j] * math.log(q[i, j]) for i in range(n) for j in range(n))
    log_z = sum(_logsumexp([-_sq(x[i], x[k]) / (2 * sigma**2) for k in range(n)]) for i in range(n))
    kmeans_cost = 0.0
    for c in range(K):
        mu = sum(phi[i, c] * x[i] for i in range(n)) / sum(phi[i, c] for i in range(n))
        kmeans_cost += sum(phi[i, c] * _sq(x[i], mu) for i in range(n))
    return cost_pairs / (2 * sigma**2) - entropy + log_z, cost_pairs, 2 * kmeans_cost


def debiased_clustering(logits, ids, neighbors, alpha, steps):
    """Debiased InfoNCE clustering (I-Con Sec. 3.3-3.4): p = (1-alpha) walk(A) + alpha/(n-1)
    on k != i, A_ij = 1[id_j = id_i or j in kNN(i)] (j != i), walk = normalized P + ... + P^steps;
    q = (1-alpha) cluster kernel + alpha/n over all k. Mean over anchors of KL(p_i || q_i)."""
    n = len(logits)
    A = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if j != i and (ids[j] == ids[i] or j in list(neighbors[i])):
                A[i, j] = 1.0
    P = np.array([row / row.sum() if row.sum() > 0 else row for row in A])
    total_walk = np.zeros((n, n))
    power = np.eye(n)
    for _ in range(steps):
        power = power @ P
        total_walk += power
    q_cluster, _ = cluster_kernel(logits)
    total = 0.0
    for i in range(n):
        walk = [total_walk[i, j] if j != i else 0.0 for j in range(n)]
        s = sum(walk)
        for j in range(n):
            if j == i:
                continue
            p = (1 - alpha) * walk[j] / s + alpha / (n - 1)
            q = (1 - alpha) * q_cluster[i, j] + alpha / n
            total += p * math.log(p / q)
    return total / n
