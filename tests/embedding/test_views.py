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


def test_eight_view_codes_are_the_mean_of_each_view():
    """The VDVAE encoder runs a batch in each of its 8 orientations: the same codes as
    encoding each orientation on its own and averaging, and no orientation matters."""
    from radiolatent.embedding import dihedral_views, encode_images, get_encoder

    fp32 = EmbedConfig(precision="fp32")  # float32 arithmetic: a batch's order does not round differently
    encoder = get_encoder(None, fp32)
    images = np.asarray(model_input("mbc:test").images[:10])
    codes = encode_images(encoder, images, fp32)
    each = np.mean([encoder.encode(view) for view in dihedral_views(images)], axis=0)
    np.testing.assert_allclose(codes, each, rtol=1e-5, atol=1e-5)
    turned = np.ascontiguousarray(np.rot90(images, 3, axes=(1, 2))[:, ::-1])
    np.testing.assert_allclose(encode_images(encoder, turned, fp32), codes, rtol=1e-5, atol=1e-5)
    assert np.array_equal(codes, encode_images(encoder, images, fp32)), "deterministic"


@pytest.mark.parametrize("model", [None, "simclr-cpu"], ids=["vdvae", "simclr"])
def test_the_upright_view_of_eight_is_the_single_pass_code_to_the_bit(model):
    """Averaging over orientations yields each image's single-pass code on the way, the
    same numbers a single-pass run gives, so a study needs no second pass for them."""
    from radiolatent.embedding import encode_orientations

    encoder = get_encoder(model, EmbedConfig())
    images = np.asarray(model_input("mbc:test").images[:100])  # 2 or 4 batches, the last short
    codes = encode_orientations(encoder, images, EmbedConfig())
    np.testing.assert_array_equal(codes.upright, encoder.encode(images))
    assert not np.allclose(codes.upright, codes.mean, atol=1e-3)


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
        alone = type(encoder)(encoder.model, encoder.name, encoder.batch_size, precision=encoder.precision)
        one_at_a_time = alone.encode(images)
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


@pytest.mark.parametrize("model, most", [(None, 0.06), ("simclr-cpu", 0.015)], ids=["vdvae", "simclr"])
def test_bf16_codes_are_the_fp32_codes_within_a_stated_tolerance(model, most):
    """bfloat16 arithmetic keeps every code's direction (cosine >= 0.998) and moves it by at
    most `most` of its length: 1.5 % for the SSL backbones, whose "auto" is bf16 where the
    CPU has it natively; 6 % for the VDVAE's z0, whose "auto" is fp32."""
    images = np.asarray(model_input("mbc:test").images[:32])
    fp32 = get_encoder(model, EmbedConfig(precision="fp32")).encode(images)
    bf16_encoder = get_encoder(model, EmbedConfig(precision="bf16"))
    assert bf16_encoder.precision == "bf16"
    bf16 = bf16_encoder.encode(images)
    length = np.linalg.norm(fp32, axis=1)
    assert (np.linalg.norm(bf16 - fp32, axis=1) / length).max() < most
    assert (np.sum(bf16 * fp32, axis=1) / (length * np.linalg.norm(bf16, axis=1))).min() > 0.998
    assert get_encoder(None, EmbedConfig(precision="auto")).precision == "fp32"
    assert get_encoder("simclr-cpu", EmbedConfig()).precision == "fp32"  # the default until Table 2 is checked


def test_auto_precision_falls_back_to_fp32_without_native_bf16(monkeypatch):
    """On a CPU without AMX or AVX512-BF16, "auto" is float32: the codes are fp32's, exactly."""
    from radiolatent.embedding.views import embed_precision

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert embed_precision("auto", torch.device("cpu")) == "fp32"
    assert embed_precision("auto", torch.device("cuda")) == "fp32"
    encoder = get_encoder("simclr-cpu", EmbedConfig(precision="auto"))
    assert encoder.precision == "fp32"
    images = np.asarray(model_input("mbc:test").images[:8])
    fp32 = get_encoder("simclr-cpu", EmbedConfig(precision="fp32")).encode(images)
    assert np.array_equal(encoder.encode(images), fp32)
