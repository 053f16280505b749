"""2-D maps (t-SNE, UMAP) and PCA variance (downstream/maps.py)."""

from __future__ import annotations

import numpy as np
import pytest

from radiolatent.core.errors import InputError
from radiolatent.downstream.maps import embed_2d, pca_variance, plot_map, plot_pca_variance

PNG = b"\x89PNG\r\n\x1a\n"


def spectrum_data(strong: int, d: int = 20, n: int = 2000, seed: int = 0) -> np.ndarray:
    """`strong` high-variance directions plus faint noise, randomly rotated."""
    rng = np.random.default_rng(seed)
    scales = np.full(d, 0.01)
    scales[:strong] = 10.0
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (rng.normal(size=(n, d)) * scales) @ rotation


def blobs(n_per: int = 60, centres: int = 3, d: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centres, d)) * 20
    y = np.repeat(np.arange(centres), n_per)
    return means[y] + rng.normal(size=(len(y), d)), y


def test_pca_variance_counts_strong_dimensions():
    assert pca_variance(spectrum_data(2))["n95"] == 2
    result = pca_variance(spectrum_data(4))
    assert result["n95"] == 4 and result["n98"] == 4
    np.testing.assert_allclose(result["explained"].sum(), 1.0)
    assert result["explained"][3] == pytest.approx(0.25, abs=0.03)


def test_pca_variance_with_unequal_spectrum():
    rng = np.random.default_rng(1)
    # variances 90, 6, 3, 1 (sum 100): 95 % needs 2 components, 98 % needs 3
    X = rng.normal(size=(20000, 4)) * np.sqrt([90.0, 6.0, 3.0, 1.0])
    result = pca_variance(X)
    assert (result["n95"], result["n98"]) == (2, 3)


def test_tsne_map_keeps_clusters_apart(tmp_path):
    X, y = blobs(n_per=20)
    xy = embed_2d(X, "tsne", seed=0)
    assert xy.shape == (len(X), 2)
    centres = np.array([xy[y == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(xy[y == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 2 * spread
    assert (
        plot_map(xy, np.linspace(1, 60, len(xy)), tmp_path / "las.png", "t-SNE", "LAS (arcsec)").read_bytes()[:8] == PNG
    )
    assert plot_map(xy, np.array(["FRI", "FRII", "hybrid"])[y], tmp_path / "cls.png", "t-SNE", "label").is_file()


def test_tsne_on_a_tiny_set_clips_perplexity():
    assert embed_2d(np.random.default_rng(0).normal(size=(6, 4)), "tsne").shape == (6, 2)


@pytest.mark.slow
def test_umap_map_separates_planted_clusters():
    X, y = blobs(n_per=20)
    xy = embed_2d(X, "umap", seed=0)
    assert xy.shape == (len(X), 2) and np.isfinite(xy).all()
    # every point's nearest map neighbour belongs to its own cluster
    dist = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    assert (y[dist.argmin(axis=1)] == y).all()


def test_embed_rejects_unknown_method_and_nan():
    X, _ = blobs(n_per=5)
    with pytest.raises(InputError, match="unknown map method"):
        embed_2d(X, "pca")
    X[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        embed_2d(X, "tsne")


def test_plot_pca_variance_writes_png(tmp_path):
    path = plot_pca_variance(pca_variance(spectrum_data(2)), tmp_path / "pca.png")
    assert path.read_bytes()[:8] == PNG
