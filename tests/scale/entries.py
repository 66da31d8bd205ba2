"""Catalog-like entries for the scale tests, built inline so that the tests do not depend on
the catalog files (their p and q trees are those of the catalog's entries)."""

from __future__ import annotations

from icon_registry.schema import Entry

_CLAIM = [{"kind": "unproved", "statement": "scale test entry", "reason": "test fixture"}]


def entry(id, p, q, *, direction="forward", parameters=None, limit=None, mapper="network"):
    return Entry.model_validate(
        {
            "id": id,
            "name": id,
            "summary": "scale test entry",
            "status": "new",
            "cell": {"row": "r", "column": "c"},
            "mapper": mapper,
            "direction": direction,
            "p": p,
            "q": q,
            "limit": limit,
            "parameters": parameters or {},
            "loss": {"formula": "0", "description": "test"},
            "claims": _CLAIM,
        }
    )


TAU = {"tau": {"default": 0.5, "min": 0, "description": "temperature"}}
SIGMA = {"sigma": {"default": 1.0, "min": 0, "description": "bandwidth"}}


def _dot(support, space="z"):
    return {"kind": "normalize", "support": support, "kernel": {"kind": "gaussian_dot", "temperature": "tau", "space": space}}


def _indicator(kernel, support):
    return {"kind": "normalize", "support": support, "kernel": kernel}


def chunkable_entries():
    """(entry, compile kwargs, names of the inputs it reads)."""
    gaussian_x = {"kind": "gaussian", "sigma": "sigma", "space": "x"}
    gaussian_z = {"kind": "gaussian", "sigma": "sigma", "space": "z"}
    cluster = {"kind": "cluster", "temperature": 1.0}
    return [
        (entry("simclr", _indicator({"kind": "same_id"}, "others"), _dot("others"), parameters=TAU), {}),
        (entry("supcon", _indicator({"kind": "same_label"}, "others"), _dot("others"), parameters=TAU), {}),
        (entry("clip", _indicator({"kind": "same_id"}, "other_modality"), _dot("other_modality"), parameters=TAU), {}),
        (
            entry(
                "cross_entropy",
                _indicator({"kind": "same_label"}, "prototypes"),
                {"kind": "normalize", "support": "prototypes", "kernel": {"kind": "gaussian_dot", "cosine": False}},
                mapper="prototypes",
            ),
            {"num_classes": 3, "dim": 4},
        ),
        (
            entry(
                "sne",
                {"kind": "normalize", "support": "others", "kernel": gaussian_x},
                {"kind": "normalize", "support": "others", "kernel": {"kind": "gaussian", "sigma": 1.0}},
                parameters=SIGMA,
            ),
            {},
        ),
        (
            entry(
                "sne_perplexity_knn",
                {"kind": "normalize", "support": "others", "kernel": {"kind": "knn", "k": 3, "source": "distances"}},
                {"kind": "normalize", "support": "others", "kernel": {"kind": "student_t"}},
            ),
            {},
        ),
        (
            entry(
                "kmeans",
                {"kind": "normalize", "support": "all", "kernel": gaussian_x},
                cluster,
                direction="reverse",
                parameters=SIGMA,
                mapper="cluster_head",
            ),
            {},
        ),
        (
            entry(
                "debiased_clustering",
                {
                    "kind": "mix_uniform",
                    "alpha": 0.2,
                    "of": _indicator(
                        {"kind": "any_of", "kernels": [{"kind": "same_id"}, {"kind": "knn", "source": "given"}]}, "others"
                    ),
                },
                {"kind": "mix_uniform", "alpha": 0.1, "of": cluster},
                mapper="cluster_head",
            ),
            {},
        ),
        (
            entry(
                "triplet",
                _indicator({"kind": "candidate_position", "position": 0}, "candidates"),
                {"kind": "normalize", "support": "candidates", "kernel": gaussian_z},
                parameters=SIGMA,
                limit={"parameter": "sigma", "to": "zero", "scale_power": 2},
            ),
            {},
        ),
    ]


def unchunkable_entries():
    """(entry, words the error must contain)."""
    same_id = _indicator({"kind": "same_id"}, "others")
    return [
        (
            entry(
                "tsne",
                {"kind": "symmetrize", "of": {"kind": "normalize", "support": "others", "kernel": {"kind": "gaussian", "perplexity": 5.0, "space": "x"}}},
                {"kind": "normalize", "support": "others", "over": "joint", "kernel": {"kind": "student_t"}},
            ),
            ["tsne", "symmetrize", "joint"],
        ),
        (
            entry(
                "propagated",
                {"kind": "propagate", "steps": 2, "of": same_id},
                {"kind": "normalize", "support": "others", "kernel": {"kind": "gaussian_dot"}},
            ),
            ["propagated", "propagate"],
        ),
        (
            entry(
                "ncut",
                {"kind": "normalize", "support": "others", "kernel": {"kind": "degree_softmax"}},
                {"kind": "cluster"},
                direction="reverse",
            ),
            ["ncut", "degree_softmax"],
        ),
    ]
