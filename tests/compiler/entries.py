"""Catalog entries the compiler tests need, as YAML, until (or where) the catalog lacks them.

``entry(id)`` returns the built-in catalog's entry when the catalog has it AND it is the same
objective as the fixture here (same p, q, direction, limit and parameter names), so the
tests exercise the shipped YAML whenever it exists; otherwise the fixture below. The
references in ``tests/compiler/references.py`` are written for these parametrizations.
"""

from __future__ import annotations

import functools

import yaml

from icon_registry.schema import Entry

_PAPER = """
paper: {title: "I-Con: A Unifying Framework for Representation Learning", authors: [Alshammari, Hershey, Feldmann, Freeman, Hamilton], year: 2025, venue: ICLR, link: "https://arxiv.org/abs/2504.16929"}
"""

_CLAIM = """
claims: [{kind: identity, objective: kl}]
"""

YAML = {
    "simclr": """
id: simclr
name: SimCLR
aliases: [infonce, nt_xent]
summary: InfoNCE over augmented views, cosine similarity over a temperature.
status: published
cell: {row: gaussian, column: positive_pairs}
mapper: network
p: {kind: normalize, kernel: {kind: same_id}, support: others}
q: {kind: normalize, kernel: {kind: gaussian_dot, temperature: tau, cosine: true}, support: others}
parameters: {tau: {default: 0.5, min: 0.0001, max: 100, description: temperature}}
loss: {formula: '-mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j])/tau - logsumexp(k, others(i), cos(z[i], z[k])/tau)))', reduction: mean, description: InfoNCE}
""",
    "supcon": """
id: supcon
name: Supervised contrastive
summary: SupCon L_out.
status: published
cell: {row: gaussian, column: classes}
mapper: network
p: {kind: normalize, kernel: {kind: same_label}, support: others}
q: {kind: normalize, kernel: {kind: gaussian_dot, temperature: tau, cosine: true}, support: others}
parameters: {tau: {default: 0.1, min: 0.0001, max: 100, description: temperature}}
loss: {formula: '-mean(i, anchors_with(same_class), mean(j, same_class(i), cos(z[i], z[j])/tau - logsumexp(k, others(i), cos(z[i], z[k])/tau)))', reduction: mean, description: SupCon}
""",
    "clip": """
id: clip
name: CLIP
summary: Symmetric cross-modal InfoNCE.
status: published
cell: {row: gaussian, column: cross_modal}
mapper: network
p: {kind: normalize, kernel: {kind: same_id}, support: other_modality}
q: {kind: normalize, kernel: {kind: gaussian_dot, temperature: tau, cosine: true}, support: other_modality}
parameters: {tau: {default: 0.07, min: 0.0001, max: 100, description: temperature}}
loss: {formula: '-mean(i, anchors_with(cross_positives), mean(j, cross_positives(i), cos(z[i], z[j])/tau - logsumexp(k, other_modality(i), cos(z[i], z[k])/tau)))', reduction: mean, description: CLIP}
""",
    "cross_entropy": """
id: cross_entropy
name: Cross entropy
summary: Softmax over prototype logits z W^T.
status: published
cell: {row: gaussian, column: data_label}
mapper: prototypes
p: {kind: normalize, kernel: {kind: same_label}, support: prototypes}
q: {kind: normalize, kernel: {kind: gaussian_dot, temperature: tau, cosine: false}, support: prototypes}
parameters: {tau: {default: 1.0, min: 0.0001, max: 100, description: logit temperature}}
loss: {formula: '-mean(i, anchors, dot(z[i], w[y[i]])/tau - logsumexp(c, classes, dot(z[i], w[c])/tau))', reduction: mean, description: cross entropy}
""",
    "sne": """
id: sne
name: SNE
summary: Stochastic neighbour embedding.
status: published
cell: {row: gaussian, column: gaussian}
mapper: lookup
p: {kind: normalize, kernel: {kind: gaussian, space: x, perplexity: perplexity}, support: others}
q: {kind: normalize, kernel: {kind: gaussian, space: z, sigma: 1.0, scale: 1.0}, support: others}
parameters: {perplexity: {default: 5, min: 1, description: perplexity}}
loss: {formula: 'sum(i, anchors, sum(j, others(i), exp(-beta[i]*sqdist(x[i], x[j]) - logsumexp(k, others(i), -beta[i]*sqdist(x[i], x[k]))) * ((-beta[i]*sqdist(x[i], x[j]) - logsumexp(k, others(i), -beta[i]*sqdist(x[i], x[k]))) - (-sqdist(z[i], z[j]) - logsumexp(k, others(i), -sqdist(z[i], z[k]))))))', reduction: sum, description: SNE}
""",
    "tsne": """
id: tsne
name: t-SNE
summary: Joint KL with symmetrized P and Student-t Q.
status: published
cell: {row: student_t, column: gaussian}
mapper: lookup
p: {kind: symmetrize, of: {kind: normalize, kernel: {kind: gaussian, space: x, perplexity: perplexity}, support: others}}
q: {kind: normalize, kernel: {kind: student_t, nu: nu}, support: others, over: joint}
parameters: {perplexity: {default: 5, min: 1, description: perplexity}, nu: {default: 1, min: 0.01, description: degrees of freedom}}
loss: {formula: 'sum(i, anchors, sum(j, others(i), P[i, j] * log(P[i, j] / Q[i, j])))', where: {'p[i, j]': 'exp(-beta[i]*sqdist(x[i], x[j]) - logsumexp(k, others(i), -beta[i]*sqdist(x[i], x[k])))', 'P[i, j]': '(p[i, j] + p[j, i])/(2*n)', 'Q[i, j]': '(1 + sqdist(z[i], z[j])/nu)**(-(nu + 1)/2) / sum(k, anchors, sum(l, others(k), (1 + sqdist(z[k], z[l])/nu)**(-(nu + 1)/2)))'}, reduction: sum, description: t-SNE}
""",
    "pca": """
id: pca
name: PCA
summary: Identity p, Gaussian q over all k, sigma to infinity.
status: published
cell: {row: gaussian_sigma_inf, column: identity}
mapper: linear
p: {kind: normalize, kernel: {kind: identity}, support: all}
q: {kind: normalize, kernel: {kind: gaussian, sigma: sigma, scale: 1.0}, support: all}
limit: {parameter: sigma, to: infinity, scale_power: 2}
parameters: {sigma: {default: 100, min: 0.000001, description: bandwidth}}
loss: {formula: '-mean(i, anchors, sqdist(z[i], mean(k, all, z[k])))', reduction: mean, description: PCA}
""",
    "triplet": """
id: triplet
name: Triplet
summary: Positive vs negative candidate, sigma to zero.
status: published
cell: {row: gaussian_sigma_zero, column: positive_pairs}
mapper: network
p: {kind: normalize, kernel: {kind: candidate_position, position: 0}, support: candidates}
q: {kind: normalize, kernel: {kind: gaussian, sigma: sigma, scale: 1.0}, support: candidates}
limit: {parameter: sigma, to: zero, scale_power: 2}
parameters: {sigma: {default: 0.01, min: 0.000001, description: bandwidth}}
loss: {formula: 'mean(i, anchors, max(sqdist(z[i], z[pos(i)]) - sqdist(z[i], z[neg(i)]), 0))', reduction: mean, description: triplet}
""",
    "kmeans": """
id: kmeans
name: Probabilistic K-Means
summary: Reverse KL between the cluster kernel and a Gaussian on x.
status: published
cell: {row: clusters, column: gaussian}
mapper: cluster_head
direction: reverse
p: {kind: normalize, kernel: {kind: gaussian, space: x, sigma: sigma}, support: all}
q: {kind: cluster, temperature: 1.0}
parameters: {sigma: {default: 1.0, min: 0.000001, description: bandwidth}}
loss: {formula: 'sum(i, anchors, sum(c, clusters, phi[i, c]*sqdist(x[i], sum(k, all, phi[k, c]*x[k])/sum(k, all, phi[k, c]))))', reduction: sum, description: K-Means}
""",
    "harmonic": """
id: harmonic
name: Harmonic loss
summary: Prototypes with inverse distance power.
status: published
cell: {row: student_t, column: data_label}
mapper: prototypes
p: {kind: normalize, kernel: {kind: same_label}, support: prototypes}
q: {kind: normalize, kernel: {kind: distance_power, power: power}, support: prototypes}
parameters: {power: {default: 2, min: 0.0001, description: harmonic exponent}}
loss: {formula: '-mean(i, anchors, -power*log(dist(z[i], w[y[i]])) - log(sum(c, classes, exp(-power*log(dist(z[i], w[c]))))))', reduction: mean, description: harmonic}
""",
}


def fixture(entry_id: str) -> Entry:
    data = yaml.safe_load(YAML[entry_id])
    data.update(yaml.safe_load(_CLAIM))
    if data["status"] == "published":
        data.update(yaml.safe_load(_PAPER))
    return Entry.model_validate(data)


def _same_objective(a: Entry, b: Entry) -> bool:
    return (a.p, a.q, a.direction, a.limit, set(a.parameters)) == (b.p, b.q, b.direction, b.limit, set(b.parameters))


@functools.cache
def _catalog():
    try:
        from icon_registry.catalog import load_catalog

        return load_catalog()
    except Exception:  # no (valid) catalog yet
        return None


def _shipped(entry_id: str):
    catalog = _catalog()
    try:
        return catalog.get(entry_id) if catalog is not None else None
    except Exception:  # no such entry
        return None


@functools.cache
def entry(entry_id: str) -> Entry:
    """The shipped catalog entry when it is this objective, else the fixture."""
    shipped = _shipped(entry_id)
    if entry_id not in YAML:
        assert shipped is not None, f"the catalog has no entry '{entry_id}' and there is no fixture for it"
        return shipped
    mine = fixture(entry_id)
    return shipped if shipped is not None and _same_objective(shipped, mine) else mine


def source(entry_id: str) -> str:
    """'catalog' or 'fixture': which definition ``entry`` returns (for reports)."""
    return "catalog" if _from_catalog(entry_id) else "fixture"


def _from_catalog(entry_id: str) -> bool:
    shipped = _shipped(entry_id)
    if entry_id not in YAML:
        return shipped is not None
    return shipped is not None and _same_objective(shipped, fixture(entry_id))
