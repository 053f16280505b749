"""Synthetic inputs for tests: radio-like empty sky with one or two Gaussian blobs, and two
labelled Gaussian classes of codes."""

from __future__ import annotations

import numpy as np


def blobs(n: int, seed: int = 0, centres: tuple[float, float] = (16, 48)) -> np.ndarray:
    """(n, 64, 64) uint8 images, each with 1-2 Gaussian blobs (width 2-6 px) centred
    within `centres` in both axes, scaled so each image peaks at 255."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    images = np.zeros((n, 64, 64))
    for i in range(n):
        for _ in range(rng.integers(1, 3)):
            cy, cx = rng.uniform(*centres, 2)
            width = rng.uniform(2, 6)
            images[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
    return (255 * images / images.max(axis=(1, 2), keepdims=True)).astype(np.uint8)


def two_classes(n: int, seed: int, shift: float = 0.7, dim: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping Gaussian classes (labels 0 and 1, alternating), the second shifted
    by `shift` along the first 4 of `dim` dimensions."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, dim))
    X[:, :4] += shift * y[:, None]
    return X, y
