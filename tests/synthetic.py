"""Synthetic inputs for tests: radio-like empty sky with one or two Gaussian blobs, two
labelled Gaussian classes of codes, the short SSL run the SSL tests train, and a pool cache
of given images (the torchrun tests and benchmarks/gpu_check.py)."""

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


def central_blobs(n: int = 40, seed: int = 0) -> np.ndarray:
    """`blobs` near the centre (20-44 px), where every SSL view's crop keeps them."""
    return blobs(n, seed, centres=(20, 44))


def tiny_ssl(method: str, epochs: int = 1):
    """The `tiny` SSL run config of `method`, for `epochs` epochs."""
    import dataclasses

    from radiolatent.config import preset

    run = preset(method, "tiny")
    return dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=epochs))


def two_classes(n: int, seed: int, shift: float = 0.7, dim: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping Gaussian classes (labels 0 and 1, alternating), the second shifted
    by `shift` along the first 4 of `dim` dimensions."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, dim))
    X[:, :4] += shift * y[:, None]
    return X, y


def gaussian(shape: tuple[int, int], centre: tuple[float, float], sigma: float, amplitude: float) -> np.ndarray:
    """A round Gaussian source of peak `amplitude` on a `shape` image."""
    rows, cols = np.indices(shape, dtype=float)
    return amplitude * np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * sigma**2))


def noisy(signal: np.ndarray, seed: int = 0, level: float = 20.0, noise: float = 3.0) -> np.ndarray:
    """Signal on a noisy background, as uint8."""
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(signal + level + rng.normal(0, noise, signal.shape)), 0, 255).astype(np.uint8)


def write_pool_cache(cache, images: np.ndarray) -> None:
    """`images` as the pool that `build_pool(DEFAULT_POOL)` finds in the cache folder `cache`
    (what the CLI trains on), with unlabelled FIRST-like metadata rows."""
    from pathlib import Path

    import pandas as pd

    from radiolatent.config import DEFAULT_POOL, META_COLUMNS, config_hash

    n = len(images)
    folder = Path(cache) / "pools" / config_hash(DEFAULT_POOL)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", images)
    meta = pd.DataFrame({c: [""] * n for c in META_COLUMNS}).assign(
        id=[f"blob-{i}" for i in range(n)],
        dataset="first-galaxy",
        split="train",
        label=-1,
        ra=np.nan,
        dec=np.nan,
        las_arcsec=np.nan,
        redshift=np.nan,
        pixel_scale_arcsec=1.8,
    )
    meta.to_parquet(folder / "meta.parquet")
    (folder / "report.json").write_text("[]")
    (folder / "config.json").write_text("{}")
