"""Preprocessing, the LAS estimator and image grids, on small synthetic images of known geometry."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from PIL import Image

from radiolatent.config import GridConfig, LASConfig, PreprocessConfig
from radiolatent.data.dataset import RadioDataset, empty_meta
from radiolatent.data.grid import caption_for, image_grid
from radiolatent.data.las import estimate_las, mask_extent_pixels, plot_las_validation, validate_las
from radiolatent.data.preprocess import preprocess, preprocess_into, to_unit_float
from radiolatent.errors import InputError

FIRST = 1.8  # arcsec per pixel
NATIVE = 150


def gaussian(shape, centre, sigma, amplitude):
    rows, cols = np.indices(shape, dtype=float)
    return amplitude * np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * sigma**2))


def noisy(signal, seed=0, level=20.0, noise=3.0):
    """Signal on a noisy background, as uint8."""
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(signal + level + rng.normal(0, noise, signal.shape)), 0, 255).astype(np.uint8)


def radius_above(amplitude, sigma, threshold):
    """Radius where a Gaussian falls to `threshold`."""
    return sigma * np.sqrt(2 * np.log(amplitude / threshold))


# --- preprocessing -----------------------------------------------------------------------


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


# --- LAS -----------------------------------------------------------------------------------

THRESHOLD = 20 + 3 * 3  # background level + 3 sigma of `noisy`


def test_extent_of_simple_masks_uses_pixel_corners():
    mask = np.zeros((10, 12), bool)
    assert mask_extent_pixels(mask) == 0
    mask[4, 5] = True
    assert mask_extent_pixels(mask) == pytest.approx(np.sqrt(2))
    mask[4, 5:11] = True
    assert mask_extent_pixels(mask) == pytest.approx(np.hypot(6, 1))


def test_double_source_lobes_40px_apart():
    shape = (NATIVE, NATIVE)
    signal = gaussian(shape, (74.5, 54.5), 2, 200) + gaussian(shape, (74.5, 94.5), 2, 200)
    las = estimate_las(noisy(signal)[None], FIRST, LASConfig())[0]
    expected = (40 + 2 * radius_above(200, 2, THRESHOLD) + 1) * FIRST  # ~92"
    assert las == pytest.approx(expected, rel=0.1)


def test_detached_lobes_join_a_faint_core_but_a_lone_neighbour_does_not():
    shape = (NATIVE, NATIVE)
    core = gaussian(shape, (74.5, 74.5), 1.5, 80)
    lobes = gaussian(shape, (74.5, 39.5), 2.5, 150) + gaussian(shape, (74.5, 109.5), 2.5, 150)
    double = estimate_las(noisy(core + lobes)[None], FIRST, LASConfig())[0]
    expected = (70 + 2 * radius_above(150, 2.5, THRESHOLD) + 1) * FIRST  # ~148"
    assert double == pytest.approx(expected, rel=0.1)
    core_only = estimate_las(noisy(core + lobes)[None], FIRST, LASConfig(companion_flux_fraction=None))[0]
    assert core_only < 20
    neighbour = core + gaussian(shape, (74.5, 109.5), 2.5, 150)
    assert estimate_las(noisy(neighbour)[None], FIRST, LASConfig())[0] < 20
    unpaired = dataclasses.replace(LASConfig(), companion_pairs=False)
    assert estimate_las(noisy(neighbour)[None], FIRST, unpaired)[0] > 80


def test_point_noise_and_blank():
    shape = (NATIVE, NATIVE)
    images = np.stack(
        [noisy(gaussian(shape, (75, 75), 1.5, 200)), noisy(np.zeros(shape), seed=3), np.zeros(shape, np.uint8)]
    )
    las = estimate_las(images, FIRST, LASConfig())
    assert 5 < las[0] < 20  # a beam-sized blob: ~8 px across
    assert las[1] < 10
    assert las[2] == 0
    # the estimate is linear in the pixel scale
    np.testing.assert_allclose(estimate_las(images[:1], np.array([2 * FIRST]), LASConfig()), 2 * las[:1])


def test_las_rejects_bad_input():
    with pytest.raises(InputError, match=r"\(N, H, W\)"):
        estimate_las(np.zeros((64, 64), np.uint8), FIRST, LASConfig())
    with pytest.raises(InputError, match="uint8"):
        estimate_las(np.zeros((1, 64, 64), np.int16), FIRST, LASConfig())
    with pytest.raises(InputError, match="positive"):
        estimate_las(np.zeros((1, 64, 64), np.uint8), 0.0, LASConfig())


def test_validate_ranks_growing_doubles_and_plots(tmp_path):
    shape = (NATIVE, NATIVE)
    gaps = np.array([10, 20, 30, 40, 50])
    images = np.stack(
        [
            noisy(
                gaussian(shape, (74.5, 74.5 - g / 2), 2, 200)
                + gaussian(shape, (74.5, 74.5 + g / 2), 2, 200)
                + gaussian(shape, (74.5, 74.5), 1.5, 120),
                seed=i,
            )
            for i, g in enumerate(gaps)
        ]
    )
    meta = empty_meta(len(gaps))
    meta["las_arcsec"] = gaps * FIRST
    meta["pixel_scale_arcsec"] = FIRST
    result = validate_las(RadioDataset("synthetic", images, meta), LASConfig())
    assert result["n"] == 5 and result["spearman"] == pytest.approx(1.0)
    assert 10 < result["median_abs_error_arcsec"] < 40  # the threshold adds the lobes' widths
    path = plot_las_validation(result["estimate"], result["catalogue"], tmp_path / "las.png")
    with Image.open(path) as png:
        assert png.format == "PNG"


# --- grids ---------------------------------------------------------------------------------


def test_grid_png_size_and_captions(tmp_path):
    images = np.stack([noisy(gaussian((64, 64), (32, 32), 3 + i, 200), seed=i) for i in range(5)])
    path = image_grid(images, [f"img {i}" for i in range(5)], tmp_path / "g" / "grid.png", ncols=3, title="five")
    c = GridConfig()
    with Image.open(path) as png:
        assert png.format == "PNG"
        width, height = png.size
        pixels = np.asarray(png.convert("RGB"))
    assert width == round(3 * c.panel_inches * c.dpi)
    assert height == round((2 * (c.panel_inches + c.caption_inches) + c.title_inches) * c.dpi)
    assert pixels.std() > 10  # images drawn, not a blank page
    assert not list(path.parent.glob(".*part"))
    with pytest.raises(InputError, match="captions"):
        image_grid(images, ["one"], tmp_path / "bad.png")
    # a title wider than the grid (a search from a long file name) wraps onto a second line
    long = image_grid(images[:3], None, tmp_path / "long.png", ncols=3, title="search in mbc for " + "x" * 60)
    with Image.open(long) as png:
        assert png.size[1] == round((c.panel_inches + 2 * c.title_inches) * c.dpi)


def test_caption_for():
    assert caption_for({"label_name": "FRII", "label": 1, "las_arcsec": 34.4}) == "FRII · 34″"
    assert caption_for({"label_name": "", "label": -1, "las_arcsec": float("nan")}) == "unlabelled"
    assert caption_for({"label_name": "FRI", "label": 0, "las_arcsec": float("nan")}) == "FRI"
