"""[C]'s clustering: PCA keeping 95 % of the variance, then a Bayesian Gaussian mixture.

Each cluster is named after the majority class of its labelled members and scored as a
classifier ([C] found this close to kNN accuracy on MiraBest).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from radiolatent.config import DEFAULT_CLUSTER, ClusterConfig  # noqa: E402
from radiolatent.downstream.maps import check_matrix, pca_reduce  # noqa: E402
from radiolatent.errors import InputError  # noqa: E402
from radiolatent.fileio import save_figure  # noqa: E402


def cluster(X: np.ndarray, seed: int = 0, config: ClusterConfig = DEFAULT_CLUSTER) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the rows of X: returns (labels (N,), probability of the assigned cluster (N,))."""
    from sklearn.mixture import BayesianGaussianMixture

    X = check_matrix(X, "cluster input", min_rows=2)
    reduced, _ = pca_reduce(X, config.pca_variance, seed=seed)
    mixture = BayesianGaussianMixture(
        n_components=min(config.n_components, len(X)),
        weight_concentration_prior=config.weight_concentration_prior,
        n_init=config.n_init,
        max_iter=config.max_iter,
        random_state=seed,
    )
    labels = mixture.fit_predict(reduced)
    probs = mixture.predict_proba(reduced)[np.arange(len(X)), labels]
    return labels.astype(np.int64), probs


def cluster_majorities(cluster_labels: np.ndarray, y: np.ndarray) -> dict[int, int]:
    """Each cluster's majority class among its labelled rows (y >= 0); ties go to the lower class."""
    majorities = {}
    for c in np.unique(cluster_labels):
        members = y[(cluster_labels == c) & (y >= 0)]
        if members.size:
            majorities[int(c)] = int(np.bincount(members).argmax())
    return majorities


def cluster_accuracy(cluster_labels: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of predicting each labelled row's class as its cluster's majority class.

    Unlabelled rows (y < 0) are ignored both for naming clusters and for scoring.
    """
    cluster_labels = np.asarray(cluster_labels).ravel()
    y = np.asarray(y).astype(np.int64).ravel()
    if len(cluster_labels) != len(y):
        raise InputError("labels", f"{len(cluster_labels)} cluster labels but {len(y)} class labels")
    labelled = y >= 0
    if not labelled.any():
        raise InputError("labels", "no labelled rows to score the clusters against")
    majorities = cluster_majorities(cluster_labels, y)
    predicted = np.array([majorities[int(c)] for c in cluster_labels[labelled]])
    return float((predicted == y[labelled]).mean())


def cluster_montage(
    images: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    path: str | Path,
    per_cluster: int = DEFAULT_CLUSTER.montage_per_cluster,
    title: str | None = None,
) -> Path:
    """One row per cluster (largest first): its `per_cluster` most probable members."""
    images, labels, probs = np.asarray(images), np.asarray(labels), np.asarray(probs)
    if images.ndim != 3 or not len(images) == len(labels) == len(probs):
        raise InputError(path, f"images {images.shape}, {len(labels)} labels and {len(probs)} probabilities do not match")
    clusters, sizes = np.unique(labels, return_counts=True)
    clusters = clusters[np.argsort(-sizes, kind="stable")]
    fig, axes = plt.subplots(len(clusters), per_cluster, figsize=(1.3 * per_cluster, 1.4 * len(clusters)), squeeze=False)
    for row, c in zip(axes, clusters):
        members = np.flatnonzero(labels == c)
        best = members[np.argsort(-probs[members], kind="stable")][:per_cluster]
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_frame_on(False)
        for ax, i in zip(row, best):
            ax.imshow(images[i], cmap="inferno", origin="lower")  # north up (FITS row order)
            ax.set_title(f"p={probs[i]:.2f}", fontsize=6)
        row[0].set_ylabel(f"cluster {c}\n(n={members.size})", fontsize=7)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi=100)


def cluster_scores(codes: np.ndarray, labels: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    """Cluster accuracy and, beside it, [C]'s kNN accuracy on the same labelled rows
    (y >= 0); None for both when fewer than two classes are labelled."""
    from radiolatent.downstream.classify import knn_protocol_c

    labelled = y >= 0
    if len(np.unique(y[labelled])) < 2:
        return {"cluster_accuracy": None, "knn_c": None, "note": "fewer than two labelled classes"}
    knn = knn_protocol_c(codes[labelled], y[labelled], seed=seed)
    return {
        "labelled_rows": int(labelled.sum()),
        "cluster_accuracy": cluster_accuracy(labels, y),
        "knn_c": {key: knn[key] for key in ("mean", "sd", "n_splits", "k")},
    }
