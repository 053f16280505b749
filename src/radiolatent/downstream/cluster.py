"""[C]'s clustering: PCA keeping 95 % of the variance, then a Bayesian Gaussian mixture.

Each cluster is named after the majority class of its labelled members and scored as a
classifier ([C] found this close to kNN accuracy on MiraBest). `ClusterConfig`'s defaults
are [C]'s; `FAST_CLUSTER` (the `cluster` command's default) bounds the cost on wide
tables (docs/results.md, "Clustering time").
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from radiolatent.config import DEFAULT_CLUSTER, ClusterConfig
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import save_figure
from radiolatent.downstream.maps import check_matrix, pca_reduce


def cluster(X: np.ndarray, seed: int = 0, config: ClusterConfig = DEFAULT_CLUSTER) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the rows of X: returns (labels (N,), probability of the assigned cluster (N,))."""
    labels, probs, _ = fit_mixture(X, seed, config)
    return labels, probs


def fit_mixture(
    X: np.ndarray, seed: int = 0, config: ClusterConfig = DEFAULT_CLUSTER
) -> tuple[np.ndarray, np.ndarray, dict]:
    """`cluster`, plus what was fitted: {pca_dims, covariance, n_init}."""
    from sklearn.mixture import BayesianGaussianMixture
    from threadpoolctl import threadpool_limits

    from radiolatent.config import check_config

    check_config(config)
    X = check_matrix(X, "cluster input", min_rows=2)
    reduced, _ = pca_reduce(X, config.pca_variance, seed=seed)
    if config.max_pca_dims is not None:
        reduced = reduced[:, : config.max_pca_dims]  # components come largest first
    covariance = covariance_for(reduced.shape[1], config)
    mixture = BayesianGaussianMixture(
        n_components=min(config.n_components, len(X)),
        covariance_type=covariance,
        weight_concentration_prior=config.weight_concentration_prior,
        n_init=config.n_init,
        max_iter=config.max_iter,
        random_state=seed,
    )
    with threadpool_limits(config.threads):
        labels = mixture.fit_predict(reduced)
        probs = mixture.predict_proba(reduced)[np.arange(len(X)), labels]
    info = {"pca_dims": int(reduced.shape[1]), "covariance": covariance, "n_init": config.n_init}
    return labels.astype(np.int64), probs, info


def covariance_for(dims: int, config: ClusterConfig) -> str:
    """The mixture's covariance type: config's, or for "auto" full up to
    `full_covariance_dims` components and diagonal above (a full covariance per cluster
    costs dims^2 parameters and dims^3 per iteration)."""
    if config.covariance_type != "auto":
        return config.covariance_type
    return "full" if dims <= config.full_covariance_dims else "diag"


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
        raise InputError(
            path, f"images {images.shape}, {len(labels)} labels and {len(probs)} probabilities do not match"
        )
    clusters, sizes = np.unique(labels, return_counts=True)
    clusters = clusters[np.argsort(-sizes, kind="stable")]
    fig, axes = plt.subplots(
        len(clusters), per_cluster, figsize=(1.3 * per_cluster, 1.4 * len(clusters)), squeeze=False
    )
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


def cluster_rows(
    rows,
    out: str | Path,
    *,
    seed: int = 0,
    config: ClusterConfig = DEFAULT_CLUSTER,
    in_spec: str = "rows",
    per_cluster: int | None = None,
) -> tuple[dict, list[Path]]:
    """Cluster codes-table rows and score the clusters against their labels (`cluster`):
    writes clusters.csv (id, cluster, probability), cluster_accuracy.json and montage.png
    (each cluster's most probable members) into `out`; returns (the JSON's dict, the files)."""
    from radiolatent.core.fileio import write_csv, write_text
    from radiolatent.data.codes import code_matrix
    from radiolatent.data.inputs import load_images_for

    codes = code_matrix(rows)
    labels, probs, fitted = fit_mixture(codes, seed=seed, config=config)
    out = Path(out)
    doc = {"set": in_spec, "rows": len(rows), "clusters": len(np.unique(labels)), "seed": seed, **fitted}
    doc.update(cluster_scores(codes, labels, rows["label"].to_numpy(dtype=int), seed))
    written = [
        write_csv(rows[["id"]].assign(cluster=labels, probability=probs), out / "clusters.csv"),
        write_text(out / "cluster_accuracy.json", json.dumps(doc, indent=2)),
    ]
    images = np.asarray(load_images_for(rows))
    written.append(
        cluster_montage(
            images, labels, probs, out / "montage.png", per_cluster=per_cluster or config.montage_per_cluster
        )
    )
    return doc, written
