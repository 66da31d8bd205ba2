"""Published losses written in the formula language, with hand-written numpy references.

Each example: (formula, parameter names, instance builder(rng, n, symbolic?) , reference(instance)).
Shared by the evaluation, LaTeX and round-trip tests.
"""

from __future__ import annotations

import numpy as np

P_ROW = "exp(-sqdist(x[{a}], x[{b}]) / (2 * sigma**2)) / sum(k, others({a}), exp(-sqdist(x[{a}], x[k]) / (2 * sigma**2)))"
STUDENT_Q = "(1 + sqdist(z[i], z[j]))**-1 / sum(k, all, sum(l, others(k), (1 + sqdist(z[k], z[l]))**-1))"
P_JOINT = f"(({P_ROW.format(a='i', b='j')}) + ({P_ROW.format(a='j', b='i')})) / (2 * n)"

FORMULAS = {
    "infonce": (
        "-sum(i, anchors, mean(j, positives(i), log(exp(cos(z[i], z[j]) / tau)"
        " / sum(k, others(i), exp(cos(z[i], z[k]) / tau)))))"
    ),
    "infonce_logsumexp": (
        "-sum(i, anchors, mean(j, positives(i), cos(z[i], z[j]) / tau"
        " - logsumexp(k, others(i), cos(z[i], z[k]) / tau)))"
    ),
    "supcon_out": (
        "-sum(i, anchors, mean(j, same_class(i), log(exp(cos(z[i], z[j]) / tau)"
        " / sum(k, others(i), exp(cos(z[i], z[k]) / tau)))))"
    ),
    "clip": (
        "-mean(i, anchors, mean(j, cross_positives(i), log(exp(cos(z[i], z[j]) / tau)"
        " / sum(k, other_modality(i), exp(cos(z[i], z[k]) / tau)))))"
    ),
    "cross_entropy": "-sum(i, anchors, log(exp(dot(z[i], w[y[i]])) / sum(c, classes, exp(dot(z[i], w[c])))))",
    "sne": (
        f"sum(i, anchors, sum(j, others(i), ({P_ROW.format(a='i', b='j')})"
        f" * log(({P_ROW.format(a='i', b='j')}) / (exp(-sqdist(z[i], z[j]))"
        " / sum(k, others(i), exp(-sqdist(z[i], z[k])))))))"
    ),
    "tsne": f"sum(i, anchors, sum(j, others(i), ({P_JOINT}) * log(({P_JOINT}) / ({STUDENT_Q}))))",
    "triplet": "sum(i, anchors, max(sqdist(z[i], z[pos(i)]) - sqdist(z[i], z[neg(i)]) + margin, 0))",
    "triplet_softplus": "sum(i, anchors, softplus(sqdist(z[i], z[pos(i)]) - sqdist(z[i], z[neg(i)]) + margin))",
    "triplet_icon": (
        "sigma**2 * -sum(i, anchors, log(exp(-sqdist(z[i], z[pos(i)]) / sigma**2)"
        " / sum(k, candidates(i), exp(-sqdist(z[i], z[k]) / sigma**2))))"
    ),
    "triplet_icon_stable": (
        "sigma**2 * sum(i, anchors, sqdist(z[i], z[pos(i)]) / sigma**2"
        " + logsumexp(k, candidates(i), -sqdist(z[i], z[k]) / sigma**2))"
    ),
    "pca_limit": "-2 * mean(i, anchors, sqdist(z[i], mean(k, all, z[k])))",
    "kmeans": (
        "sum(i, anchors, sum(c, clusters, phi[i, c]"
        " * sqdist(x[i], sum(k, all, phi[k, c] * x[k]) / sum(k, all, phi[k, c]))))"
    ),
    "kmeans_pairwise": (
        "sum(i, anchors, sum(j, all, sqdist(x[i], x[j])"
        " * sum(c, clusters, phi[i, c] * phi[j, c] / sum(k, all, phi[k, c]))))"
    ),
    "harmonic": (
        "-sum(i, anchors, log(dist(z[i], w[y[i]])**(-power)"
        " / sum(c, classes, dist(z[i], w[c])**(-power))))"
    ),
}

PARAMETERS = {"tau", "sigma", "margin", "power"}
PARAM_VALUES = {"tau": 0.5, "sigma": 1.3, "margin": 0.2, "power": 2.0}


def make_arrays(rng, n=8, d=3, classes=3, clusters=3):
    """Random data for every field; n even (pairs of views / two modalities)."""
    half = n // 2
    return dict(
        n=n,
        z=rng.normal(size=(n, d)),
        x=rng.normal(size=(n, d + 1)),
        w=rng.normal(size=(classes, d)),
        labels=rng.permutation(np.arange(n) % classes),  # every class at least twice when n >= 2C
        ids=np.concatenate([np.arange(half), np.arange(half)]),  # view i and view i + n/2 are a pair
        modality=np.concatenate([np.zeros(half, int), np.ones(half, int)]),
        candidates=np.stack([(np.arange(n) + half) % n, (np.arange(n) + 1) % n], axis=1),
        phi=_softmax(rng.normal(size=(n, clusters)), axis=1),
    )


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _unit(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def _sqd(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def _row_gauss(x, sigma):
    n = len(x)
    p = np.zeros((n, n))
    d = _sqd(x, x)
    for i in range(n):
        for j in range(n):
            if j != i:
                p[i, j] = np.exp(-d[i, j] / (2 * sigma**2))
        p[i] /= p[i].sum()
    return p


def reference(name, a, prm):
    """Hand-written numpy loops, float64."""
    n, z, x, w, y, ids, mod, cand, phi = (a[k] for k in ("n", "z", "x", "w", "labels", "ids", "modality",
                                                         "candidates", "phi"))
    tau, sigma, margin, power = prm["tau"], prm["sigma"], prm["margin"], prm["power"]
    if name in ("infonce", "infonce_logsumexp", "supcon_out"):
        s = _unit(z) @ _unit(z).T / tau
        total = 0.0
        for i in range(n):
            denominator = sum(np.exp(s[i, k]) for k in range(n) if k != i)
            key = ids if name != "supcon_out" else y
            pos = [j for j in range(n) if j != i and key[j] == key[i]]
            total -= np.mean([np.log(np.exp(s[i, j]) / denominator) for j in pos])
        return total
    if name == "clip":
        half = n // 2
        logits = _unit(z[:half]) @ _unit(z[half:]).T / tau
        l_img = -np.mean([logits[r, r] - np.log(np.exp(logits[r]).sum()) for r in range(half)])
        l_txt = -np.mean([logits[r, r] - np.log(np.exp(logits[:, r]).sum()) for r in range(half)])
        return (l_img + l_txt) / 2
    if name == "cross_entropy":
        logits = z @ w.T
        return -sum(logits[i, y[i]] - np.log(np.exp(logits[i]).sum()) for i in range(n))
    if name == "sne":
        p = _row_gauss(x, sigma)
        q = _row_gauss(z, np.sqrt(0.5))
        return sum(p[i, j] * np.log(p[i, j] / q[i, j]) for i in range(n) for j in range(n) if i != j)
    if name == "tsne":
        p = _row_gauss(x, sigma)
        joint = (p + p.T) / (2 * n)
        kernel = 1 / (1 + _sqd(z, z))
        np.fill_diagonal(kernel, 0)
        q = kernel / kernel.sum()
        return sum(joint[i, j] * np.log(joint[i, j] / q[i, j]) for i in range(n) for j in range(n) if i != j)
    dpos = np.array([((z[i] - z[cand[i, 0]]) ** 2).sum() for i in range(n)])
    dneg = np.array([((z[i] - z[cand[i, 1]]) ** 2).sum() for i in range(n)])
    if name == "triplet":
        return np.maximum(dpos - dneg + margin, 0).sum()
    if name == "triplet_softplus":
        return np.log1p(np.exp(dpos - dneg + margin)).sum()
    if name in ("triplet_icon", "triplet_icon_stable"):
        return sigma**2 * np.log1p(np.exp((dpos - dneg) / sigma**2)).sum()
    if name == "pca_limit":
        return -2 * np.mean(((z - z.mean(0)) ** 2).sum(1))
    if name == "kmeans":
        mu = phi.T @ x / phi.sum(0)[:, None]
        return sum(phi[i, c] * ((x[i] - mu[c]) ** 2).sum() for i in range(n) for c in range(phi.shape[1]))
    if name == "kmeans_pairwise":
        q = phi @ (phi / phi.sum(0)).T
        return (_sqd(x, x) * q).sum()
    if name == "harmonic":
        dist = np.sqrt(_sqd(z, w)) ** (-power)
        return -sum(np.log(dist[i, y[i]] / dist[i].sum()) for i in range(n))
    raise KeyError(name)
