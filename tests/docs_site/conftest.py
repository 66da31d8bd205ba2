"""Shared builds: the site is built once per session from the built-in catalog and once from
the fixtures, into temporary folders (nothing is written into the checkout)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "catalog"


@dataclass
class Built:
    out: Path  # the HTML site
    docs: Path  # the generated markdown (a copy kept for inspection)
    catalog: object  # SiteCatalog
    report: object  # BuildReport


def _build(tmp: Path, catalog, results_dir: Path | None) -> Built:
    from icon_registry.docs_site import build_site

    report = build_site(out=tmp / "public", catalog=catalog, results_dir=results_dir, verify="off", quiet=True, keep_docs=tmp / "docs")
    return Built(tmp / "public", tmp / "docs", catalog, report)


@pytest.fixture(scope="session")
def builtin_site(tmp_path_factory) -> Built:
    """The real catalog (catalog/methods, catalog/table.yaml) and results/, built like `icon site build`."""
    from icon_registry.docs_site import load_site_catalog

    tmp = tmp_path_factory.mktemp("builtin-site")
    return _build(tmp, load_site_catalog(), None)  # the checkout's results/, as `icon site build` reads it


@pytest.fixture(scope="session")
def fixture_site(tmp_path_factory) -> Built:
    """The fixture catalog, with fake result files for the results pages and the verifier."""
    from icon_registry.docs_site import load_fixture_catalog

    tmp = tmp_path_factory.mktemp("fixture-site")
    results = tmp / "results"
    results.mkdir()
    (results / "bench.json").write_text(json.dumps([
        {"entry": "simclr", "peer": "pytorch-metric-learning", "ms_ours": 1.25, "ms_peer": 1.5},
        {"entry": "clip_fx", "peer": "torch", "ms_ours": 2.0, "ms_peer": 2.25},
    ]))
    (results / "verify.json").write_text(json.dumps([
        {"id": "simclr", "claim": "identity", "kind": "identity", "status": "pass", "proof": "all_n",
         "detail": "proved for every batch",
         "steps": ["substitute p(j|i) = 1/|P(i)| on the positives", "the log-normalizer is a logsumexp over k != i"],
         "derivation": {"proved": True, "assumptions": ["a batch of n >= 2 items"], "objective": "sum(i, all, o(i))",
                        "loss": "sum(i, anchors, o(i))", "normal_form": "sum(i, all, o(i))", "residual": None,
                        "reason": "", "steps": [{"side": "loss", "rule": "mean = sum / count", "count": 1,
                                                 "expression": "sum(i, all, o(i))"}]}},
        {"id": "clip_fx", "claim": "identity", "kind": "identity", "status": "pass", "proof": "instances",
         "detail": "exact on the instances", "steps": ["exact instance (rich)"]},
        {"id": "pca_fx", "claim": "limit", "kind": "limit", "status": "fail", "detail": "the limit differs by a factor 2",
         "steps": ["expand q in 1/sigma^2"]},
    ]))
    # a real (1 x 1) PNG named by the reproductions, one named but missing, one unsafe name
    (results / "map.png").write_bytes(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4f90000000049454e44ae426082"))
    (results / "reproduce.json").write_text(json.dumps(
        {"plots": ["map.png", "missing.png", "../escape.png"], "summary": [{"experiment": "a", "mean": 0.987}]}))
    return _build(tmp, load_fixture_catalog(FIXTURES), results)


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory) -> Built:
    """A catalog folder and results folder whose every string is hostile (tests/docs_site/hostile.py)."""
    from icon_registry.docs_site import load_fixture_catalog

    from .hostile import write_hostile_catalog, write_hostile_results

    tmp = tmp_path_factory.mktemp("hostile-site")
    catalog = load_fixture_catalog(write_hostile_catalog(tmp / "catalog"))
    return _build(tmp, catalog, write_hostile_results(tmp / "results"))
