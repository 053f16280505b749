"""Running an encoder over images: batches two at a time; codes averaged over 8 flips and quarter turns."""

import numpy as np
import pytest
import torch

from radiolatent.config import EmbedConfig
from radiolatent.data.inputs import model_input
from radiolatent.embedding import RandomConv, batched, get_encoder


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


@pytest.mark.parametrize("model", [None, "simclr-cpu"], ids=["vdvae", "simclr"])
def test_batches_run_in_parallel_give_the_one_thread_codes(model):
    """The VDVAE and SSL encoders run two batches at once, one OpenMP thread each: the codes
    are those of one batch at a time on one thread, and torch's thread count is left as it was."""
    encoder = get_encoder(model, EmbedConfig(threads=2))
    assert encoder.workers == 2
    images = np.asarray(model_input("mbc:test").images[:100])  # 2 or 4 batches, the last short
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one_at_a_time = type(encoder)(encoder.model, encoder.name, encoder.batch_size).encode(images)
        torch.set_num_threads(3)
        np.testing.assert_array_equal(encoder.encode(images), one_at_a_time)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(previous)


def test_an_error_in_a_parallel_batch_reaches_the_caller():
    def fails_on_the_second_batch(x):
        if float(x[0, 0, 0, 0]) > 0.5:
            raise ValueError("bad batch")
        return x.flatten(1)[:, :2]

    images = np.zeros((8, 4, 4), np.uint8)
    images[4:] = 255
    previous = torch.get_num_threads()
    with pytest.raises(ValueError, match="bad batch"):
        batched(fails_on_the_second_batch, images, 4, workers=2)
    assert torch.get_num_threads() == previous
    assert batched(fails_on_the_second_batch, images[:4], 2, workers=2).shape == (4, 2)
