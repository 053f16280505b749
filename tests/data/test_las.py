"""The largest angular size estimator and its validation plot (data/las.py), on synthetic
images of known geometry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image
from synthetic import gaussian, noisy

from radiolatent.config import LASConfig
from radiolatent.core.errors import InputError
from radiolatent.data.dataset import RadioDataset, empty_meta
from radiolatent.data.las import estimate_las, mask_extent_pixels, plot_las_validation, validate_las

FIRST = 1.8  # arcsec per pixel
NATIVE = 150


def radius_above(amplitude, sigma, threshold):
    """Radius where a Gaussian falls to `threshold`."""
    return sigma * np.sqrt(2 * np.log(amplitude / threshold))


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


def test_sizes_from_worker_processes_are_those_of_one_process():
    shape = (NATIVE, NATIVE)
    doubles = [gaussian(shape, (74.5, 74.5 - g), 2, 200) + gaussian(shape, (74.5, 74.5 + g), 2, 200) for g in range(8)]
    images = np.stack([noisy(double, seed) for seed, double in enumerate(doubles)])
    alone = estimate_las(images, FIRST, dataclasses.replace(LASConfig(), jobs=1))
    shared = estimate_las(images, FIRST, dataclasses.replace(LASConfig(), jobs=2, parallel_from=2))
    np.testing.assert_array_equal(shared, alone)
    assert len(np.unique(alone)) > 4


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
