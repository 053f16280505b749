"""Clustering the codes and its accuracy against labels (downstream/cluster.py)."""

from __future__ import annotations

import numpy as np
import pytest

from radiolatent.config import ClusterConfig
from radiolatent.core.errors import InputError
from radiolatent.downstream.cluster import cluster, cluster_accuracy, cluster_montage

PNG = b"\x89PNG\r\n\x1a\n"


def blobs(n_per: int = 60, centres: int = 3, d: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centres, d)) * 20
    y = np.repeat(np.arange(centres), n_per)
    return means[y] + rng.normal(size=(len(y), d)), y


def test_cluster_accuracy_on_planted_clusters(tmp_path):
    X, y = blobs(n_per=40, centres=3)
    labels, probs = cluster(X, seed=0, config=ClusterConfig(n_init=2))
    assert labels.shape == probs.shape == (len(X),)
    assert ((probs > 0) & (probs <= 1 + 1e-9)).all()
    assert cluster_accuracy(labels, y) == pytest.approx(1.0)
    images = np.random.default_rng(0).integers(0, 255, (len(X), 16, 16), dtype=np.uint8)
    assert cluster_montage(images, labels, probs, tmp_path / "montage.png", per_cluster=4).read_bytes()[:8] == PNG


def test_cluster_accuracy_by_majority_ignores_unlabelled():
    clusters = np.array([0, 0, 0, 1, 1, 1, 2])
    y = np.array([1, 1, 0, 0, 0, -1, -1])
    # cluster 0 -> class 1 (2 of 3 right), cluster 1 -> class 0 (2 of 2); cluster 2 unlabelled
    assert cluster_accuracy(clusters, y) == pytest.approx(4 / 5)
    with pytest.raises(InputError):
        cluster_accuracy(clusters, np.full(7, -1))
