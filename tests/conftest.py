"""Shared test fixtures: a small, self-contained catalog and a way to run the ``icon`` CLI.

The mini catalog does not depend on the state of the built-in catalog, so the loader and
CLI tests pin exact behaviour (line numbers, messages) whatever the catalog authors change.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

TABLE_YAML = """\
rows:
  - id: gaussian
    label: Gaussian
    description: softmax over similarities
  - id: student_t
    label: Student-t
    description: heavy-tailed kernel
  - id: uniform_clusters
    label: Uniform on clusters
    description: cluster kernel
columns:
  - id: gaussian
    label: Gaussian
    description: Gaussian on the inputs
  - id: positive_pairs
    label: Uniform over positive pairs
    description: augmented views of one instance
  - id: classes
    label: Uniform over classes
    description: same label
"""

#: Valid entries, block style (the message tests rely on these exact line numbers).
ENTRIES = {
    "simclr": """\
id: simclr
name: SimCLR
aliases: [nt_xent]
summary: InfoNCE over augmented views with a cosine temperature softmax.
status: published
paper:
  title: A Simple Framework for Contrastive Learning of Visual Representations
  authors: [Ting Chen, Simon Kornblith, Mohammad Norouzi, Geoffrey Hinton]
  year: 2020
  venue: ICML
  link: https://arxiv.org/abs/2002.05709
cell: {row: gaussian, column: positive_pairs}
mapper: network
p:
  kind: normalize
  support: others
  kernel: {kind: same_id}
q:
  kind: normalize
  support: others
  kernel:
    kind: gaussian_dot
    temperature: tau
    cosine: true
parameters:
  tau:
    default: 0.5
    min: 0.0001
    max: 100
    description: temperature
loss:
  formula: "-mean(i, anchors_with(positives), mean(j, positives(i), cos(z[i], z[j])/tau - logsumexp(k, others(i), cos(z[i], z[k])/tau)))"
  reduction: mean
  description: NT-Xent
claims:
  - kind: identity
    objective: cross_entropy
relations:
  - kind: variant_of
    target: tsne
    note: only here to test relations
""",
    "tsne": """\
id: tsne
name: t-distributed Stochastic Neighbor Embedding (t-SNE)
aliases: [t-SNE]
summary: Joint KL with symmetrized P and a Student-t Q.
status: published
paper:
  title: Visualizing Data using t-SNE
  authors: [Laurens van der Maaten, Geoffrey Hinton]
  year: 2008
  venue: JMLR
  link: https://jmlr.org/papers/v9/vandermaaten08a.html
cell: {row: student_t, column: gaussian}
mapper: lookup
p:
  kind: symmetrize
  of:
    kind: normalize
    support: others
    kernel: {kind: gaussian, space: x, perplexity: perplexity}
q:
  kind: normalize
  support: others
  over: joint
  kernel: {kind: student_t, nu: 1.0}
parameters:
  perplexity: {default: 30, min: 1, description: perplexity}
loss: {formula: "sum(i, anchors, sum(j, others(i), exp(-beta[i]*sqdist(x[i], x[j])) * sqdist(z[i], z[j])))", reduction: sum, description: t-SNE}
claims: [{kind: identity, objective: kl}]
""",
    "supervised_clustering": """\
id: supervised_clustering
name: Supervised clustering
summary: A gap cell - same-class p against the cluster kernel.
status: gap
cell: {row: uniform_clusters, column: classes}
mapper: cluster_head
p: {kind: normalize, kernel: {kind: same_label}, support: others}
q: {kind: cluster, temperature: 1.0}
loss: {formula: "-mean(i, anchors_with(same_class), mean(j, same_class(i), log(sum(c, clusters, phi[i, c]*phi[j, c]/sum(k, all, phi[k, c])))))", reduction: mean, description: supervised clustering}
claims:
  - kind: unproved
    statement: a gap cell the paper names
    reason: no published method
""",
}


def write_catalog(root: Path, entries: dict | None = None, table: str | None = TABLE_YAML) -> Path:
    """A catalog root (methods/*.yaml + table.yaml) under ``root``."""
    methods = root / "methods"
    methods.mkdir(parents=True, exist_ok=True)
    if table is not None:
        (root / "table.yaml").write_text(table)
    for entry_id, text in (ENTRIES if entries is None else entries).items():
        (methods / f"{entry_id}.yaml").write_text(text)
    return root


@pytest.fixture(autouse=True)
def _no_user_catalog_env(monkeypatch):
    """Tests never see the developer's $ICON_CATALOG."""
    monkeypatch.delenv("ICON_CATALOG", raising=False)


@pytest.fixture
def mini_catalog(tmp_path) -> Path:
    """A valid catalog root with three entries and a 3 x 3 table."""
    return write_catalog(tmp_path / "mini")


@pytest.fixture
def as_builtin(monkeypatch):
    """``as_builtin(path)`` makes ``path`` the built-in catalog for this test."""
    import icon_registry.catalog as catalog_module

    def use(path: Path) -> Path:
        monkeypatch.setattr(catalog_module, "builtin_catalog_dir", lambda: Path(path))
        return path

    return use


@pytest.fixture
def icon():
    """``icon(*argv) -> (exit code, stdout, stderr)`` running the CLI in-process."""
    from icon_registry.cli import main

    def run(*argv: str):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
        return code, out.getvalue(), err.getvalue()

    return run
