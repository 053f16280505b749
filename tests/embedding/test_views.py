"""Codes averaged over an image's 8 flips and quarter turns."""

import numpy as np

from radiolatent.config import EmbedConfig
from radiolatent.embedding import RandomConv, model_input


def test_orientation_averaged_codes_ignore_rotation_and_flips(pool_images):
    from radiolatent.embedding import encode_images

    encoder = RandomConv(EmbedConfig()).fit(pool_images)
    images = pool_images[:5]
    codes = encode_images(encoder, images, EmbedConfig())
    turned = np.ascontiguousarray(np.rot90(images, 1, axes=(1, 2))[:, ::-1])
    assert np.allclose(encode_images(encoder, turned, EmbedConfig()), codes, atol=1e-4)
    single = encode_images(encoder, images, EmbedConfig(dihedral_average=False))
    assert not np.allclose(encode_images(encoder, turned, EmbedConfig(dihedral_average=False)), single, atol=1e-3)


def test_eight_views_in_one_batch_are_the_mean_of_each_view():
    """The VDVAE encoder runs a batch's 8 orientations as one batch: the same codes as
    encoding each orientation on its own and averaging, and no orientation matters."""
    from radiolatent.embedding import dihedral_views, encode_images, get_encoder

    encoder = get_encoder(None, EmbedConfig())
    images = np.asarray(model_input("mbc:test").images[:10])
    codes = encode_images(encoder, images, EmbedConfig())
    each = np.mean([encoder.encode(view) for view in dihedral_views(images)], axis=0)
    np.testing.assert_allclose(codes, each, rtol=1e-5, atol=1e-5)
    turned = np.ascontiguousarray(np.rot90(images, 3, axes=(1, 2))[:, ::-1])
    np.testing.assert_allclose(encode_images(encoder, turned, EmbedConfig()), codes, rtol=1e-5, atol=1e-5)
    assert np.array_equal(codes, encode_images(encoder, images, EmbedConfig())), "deterministic"
