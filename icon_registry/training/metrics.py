"""Evaluation metrics: clustering (Hungarian accuracy, NMI, ARI, K-Means cost), embeddings
(trustworthiness, kNN accuracy, linear probe) and subspaces (principal angles)."""

from __future__ import annotations

import warnings

import numpy as np


def _ints(a) -> np.ndarray:
    return np.asarray(a).astype(np.int64).reshape(-1)


def contingency(pred, labels) -> np.ndarray:
    pred, labels = _ints(pred), _ints(labels)
    if pred.shape != labels.shape:
        raise ValueError(f"{pred.shape[0]} predictions for {labels.shape[0]} labels")
    _, p = np.unique(pred, return_inverse=True)
    _, y = np.unique(labels, return_inverse=True)
    table = np.zeros((p.max() + 1, y.max() + 1), dtype=np.int64)
    np.add.at(table, (p, y), 1)
    return table


def hungarian_accuracy(pred, labels) -> float:
    """Accuracy under the best one-to-one map of clusters to classes (clusters may outnumber
    classes; unmatched clusters count as errors)."""
    from scipy.optimize import linear_sum_assignment

    table = contingency(pred, labels)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / table.sum())


def nmi(pred, labels) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(_ints(labels), _ints(pred)))


def ari(pred, labels) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(_ints(labels), _ints(pred)))


def clustering_report(pred, labels) -> dict:
    return {
        "hungarian_accuracy": hungarian_accuracy(pred, labels),
        "nmi": nmi(pred, labels),
        "ari": ari(pred, labels),
    }


def kmeans_cost(x, assignment) -> float:
    """Sum of squared distances to the cluster means (scikit-learn's ``inertia_``)."""
    x = np.asarray(x, dtype=np.float64)
    a = _ints(assignment)
    total = 0.0
    for c in np.unique(a):
        members = x[a == c]
        total += float(((members - members.mean(0)) ** 2).sum())
    return total


def trustworthiness(x, embedding, k: int = 10) -> float:
    from sklearn.manifold import trustworthiness as tw

    return float(tw(np.asarray(x), np.asarray(embedding), n_neighbors=k))


def embedding_metric(entry) -> str:
    """The distance q compares the entry's z with: cosine for a kernel on L2-normalized vectors,
    else euclidean (a 2-D t-SNE map measured by angles would score its clusters by direction)."""
    from icon_registry.compiler.chunked import nodes

    return "cosine" if any(getattr(node, "cosine", False) is True for node in nodes(entry.q)) else "euclidean"


def knn_accuracy(train_z, train_y, test_z, test_y, k: int = 5, metric: str = "cosine") -> float:
    """Accuracy of a k-nearest-neighbour vote of the test rows among the train rows."""
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=k, metric=metric)
    with warnings.catch_warnings():  # "more classes than half the rows: a regression problem?": classes they are
        warnings.filterwarnings("ignore", "The number of unique classes", UserWarning)
        clf.fit(np.asarray(train_z), _ints(train_y))
    return float(clf.score(np.asarray(test_z), _ints(test_y)))


def linear_probe(train_z, train_y, test_z, test_y, seed: int = 0) -> float:
    """Held-out accuracy of a logistic regression on standardized frozen features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(np.asarray(train_z), _ints(train_y))
    return float(clf.score(np.asarray(test_z), _ints(test_y)))


def principal_angles(a, b) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spaces of a (d, r) and b (d, s)."""
    from scipy.linalg import subspace_angles

    return np.sort(subspace_angles(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))


def largest_principal_angle(a, b) -> float:
    return float(principal_angles(a, b).max())


def mean_std(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "n": int(v.size),
        "values": [float(t) for t in v],
    }
