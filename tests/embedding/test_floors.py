"""The no-learning floors: pixels-pca is the pool's PCA, random-conv is fixed and standardised."""

import numpy as np
import pytest

from radiolatent.config import EmbedConfig
from radiolatent.embedding import PixelsPCA, RandomConv


def test_pixels_pca_is_the_pool_pca(pool_images):
    enc = PixelsPCA.fit(pool_images, EmbedConfig(pca_components=16))
    codes = enc.encode(pool_images[:50])
    assert codes.shape == (50, 16) and codes.dtype == np.float32
    # the pool's own codes are centred: PCA was fitted on it
    assert np.abs(enc.encode(pool_images).mean(axis=0)).max() < 1e-3
    x = pool_images[:50].reshape(50, -1) / 255.0
    back = enc.pca.inverse_transform(codes)
    assert np.mean((back - x) ** 2) < np.mean((x - x.mean(axis=0)) ** 2)


def test_random_conv_is_fixed_and_standardised(pool_images):
    a = RandomConv(EmbedConfig()).fit(pool_images)
    b = RandomConv(EmbedConfig()).fit(pool_images)
    codes = a.encode(pool_images)
    assert codes.shape == (len(pool_images), 256)
    assert np.array_equal(codes, b.encode(pool_images)), "same seed, same floor"
    live = codes.std(axis=0) > 0
    assert np.allclose(codes.mean(axis=0), 0, atol=1e-3)
    assert np.allclose(codes.std(axis=0)[live], 1, atol=1e-2)
    with pytest.raises(RuntimeError):
        RandomConv(EmbedConfig()).encode(pool_images[:2])


def test_pixels_pca_of_a_large_pool_is_fitted_on_a_sample(pool_images, monkeypatch):
    from radiolatent.embedding import floors

    monkeypatch.setattr(floors, "PCA_FIT_ROWS", len(pool_images) // 2)
    enc = PixelsPCA.fit(pool_images, EmbedConfig(pca_components=16))
    assert enc.pca.n_samples_ == len(pool_images) // 2
    whole = PixelsPCA.fit(pool_images[: len(pool_images) // 2], EmbedConfig(pca_components=16))
    assert whole.pca.n_samples_ == len(pool_images) // 2  # at the limit: the whole set, as before
    # a sample of the pool spans nearly what the whole pool does
    x = pool_images.reshape(len(pool_images), -1) / 255.0
    back = enc.pca.inverse_transform(enc.encode(pool_images))
    assert np.mean((back - x) ** 2) < 0.5 * np.mean((x - x.mean(axis=0)) ** 2)
