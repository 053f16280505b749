"""Synthetic radio-like inputs for model tests: empty sky with one or two Gaussian blobs."""

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
            images[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width ** 2))
    return (255 * images / images.max(axis=(1, 2), keepdims=True)).astype(np.uint8)
