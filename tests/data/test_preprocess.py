"""Preprocessing (data/preprocess.py): crops, resizing, clipping and scaling, on small
synthetic images of known geometry."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from synthetic import gaussian, noisy

from radiolatent.config import PreprocessConfig
from radiolatent.core.errors import InputError
from radiolatent.data.preprocess import preprocess, preprocess_into, to_unit_float

FIRST = 1.8  # arcsec per pixel
NATIVE = 150


def test_centre_pixels_land_at_the_centre_of_the_crop():
    image = np.zeros((1, NATIVE, NATIVE), np.uint8)
    image[0, 74:76, 74:76] = 200  # the 2x2 centre of an even-sized image
    image[0, 0, 0] = 255  # a corner pixel the crop must cut away
    out = preprocess(image, FIRST, PreprocessConfig(scale="none"))
    assert out.shape == (1, 64, 64) and out.dtype == np.uint8
    assert np.all(out[0, 31:33, 31:33] == 200)
    assert out.sum() == 4 * 200


def test_crop_arcsec_uses_each_pixel_scale():
    image = np.zeros((2, NATIVE, NATIVE), np.uint8)
    image[:, 59:91, 59:91] = 200  # a central 32x32 square
    config = PreprocessConfig(crop_pixels=None, crop_arcsec=115.2, scale="none")
    by_arcsec = preprocess(image, np.array([FIRST, 2 * FIRST]), config)
    by_pixels = preprocess(image[:1], FIRST, PreprocessConfig(scale="none"))
    np.testing.assert_array_equal(by_arcsec[0], by_pixels[0])  # 115.2" at 1.8"/px = 64 px
    assert np.all(by_arcsec[1] == 200)  # at 3.6"/px the crop is the 32x32 square itself


def test_crop_larger_than_image_keeps_it_whole():
    image = noisy(np.zeros((40, 40)))[None]
    out = preprocess(image, FIRST, PreprocessConfig(size=40, crop_pixels=64, scale="none"))
    np.testing.assert_array_equal(out, image)


def test_resize_shape_dtype_and_minmax_range():
    images = np.stack([noisy(gaussian((NATIVE, NATIVE), (75, 75), 4, 150), seed=s) for s in range(3)])
    out = preprocess(images, FIRST, PreprocessConfig(size=32))
    assert out.shape == (3, 32, 32) and out.dtype == np.uint8
    assert np.all(out.min(axis=(1, 2)) == 0) and np.all(out.max(axis=(1, 2)) == 255)
    # the source stays at the centre after a 64 -> 32 resize
    assert np.unravel_index(out[0].argmax(), (32, 32)) in {(15, 15), (15, 16), (16, 15), (16, 16)}


@pytest.mark.parametrize("clip", [None, 3.0])
def test_blank_images_become_zero_without_warnings(clip):
    images = np.stack([np.zeros((NATIVE, NATIVE), np.uint8), np.full((NATIVE, NATIVE), 7, np.uint8)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = preprocess(images, FIRST, PreprocessConfig(sigma_clip=clip))
    assert out.shape == (2, 64, 64) and not out.any()


def test_sigma_clip_zeroes_noise_and_keeps_the_source():
    image = noisy(gaussian((NATIVE, NATIVE), (74.5, 74.5), 3, 150), noise=5.0)[None]
    out = preprocess(image, FIRST, PreprocessConfig(sigma_clip=3.0))[0]
    source = gaussian((64, 64), (31.5, 31.5), 3, 1.0) > 0.2
    assert np.all(out[source] > 0)
    assert out[31:33, 31:33].max() == 255
    # background: nearly every pixel zeroed (3 sigma lets ~0.1 % through)
    assert (out[~(gaussian((64, 64), (31.5, 31.5), 3, 1.0) > 0.01)] > 0).mean() < 0.01
    unclipped = preprocess(image, FIRST, PreprocessConfig())[0]
    assert (unclipped[~source] > 0).mean() > 0.9


def test_chunked_into_memmap_equals_one_pass(tmp_path):
    images = np.stack([noisy(gaussian((NATIVE, NATIVE), (70 + s, 75), 2 + s, 120), seed=s) for s in range(7)])
    config = PreprocessConfig(size=48, sigma_clip=2.0)
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.uint8, shape=(7, 48, 48))
    preprocess_into(out, images, FIRST, config, chunk=3)
    np.testing.assert_array_equal(np.asarray(out), preprocess(images, FIRST, config))


def test_to_unit_float():
    x = to_unit_float(np.array([[[0, 51, 255]]], np.uint8))
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, [[[0.0, 0.2, 1.0]]])


def test_bad_input_raises_input_error(tmp_path):
    good = np.zeros((2, 64, 64), np.uint8)
    with pytest.raises(InputError, match=r"\(N, H, W\)"):
        preprocess(np.zeros((64, 64), np.uint8), FIRST, PreprocessConfig())
    with pytest.raises(InputError, match="uint8"):
        preprocess(good.astype(np.float32), FIRST, PreprocessConfig())
    with pytest.raises(InputError, match="scale must be one of"):
        preprocess(good, FIRST, PreprocessConfig(scale="zscore"))
    with pytest.raises(InputError, match="pixel scale"):
        preprocess(good, None, PreprocessConfig(crop_pixels=None, crop_arcsec=100.0))
    with pytest.raises(InputError, match="one value per image"):
        preprocess(good, np.array([1.8, 1.8, 1.8]), PreprocessConfig())
    with pytest.raises(InputError, match="needs shape"):
        preprocess_into(np.zeros((2, 32, 32), np.uint8), good, FIRST, PreprocessConfig())
    with pytest.raises(InputError, match="uint8"):
        to_unit_float(np.zeros((1, 2, 2)))
