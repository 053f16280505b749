"""What the models see: centre crop, resize, optional sigma clip, per-image scaling, uint8.

Order: crop (pixels, or arcsec via each image's pixel scale) -> resize to `size` ->
sigma clip -> scale -> quantise to uint8 0..255 (models divide by 255, see `to_unit_float`).

A crop larger than the image is clamped to the image's shorter side, so a square image is
kept whole and nothing is padded in. Blank (constant) images come out all zero, never NaN.
Work goes in chunks (`preprocess_into`) so a memory-mapped input of any length needs only a
chunk's worth of float memory.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from astropy.stats import sigma_clipped_stats
from PIL import Image

from radiolatent.config import PreprocessConfig
from radiolatent.core.errors import InputError
from radiolatent.data.las import check_images, pixel_scales

SCALES = ("minmax", "none")
MAX_UINT8 = 255.0


def check_config(config: PreprocessConfig) -> None:
    """Raise InputError for settings that cannot work."""
    if config.size < 1:
        raise InputError("preprocess config", f"size must be positive, got {config.size}")
    if config.scale not in SCALES:
        raise InputError("preprocess config", f"scale must be one of {SCALES}, got '{config.scale}'")
    if config.crop_pixels is not None and config.crop_pixels < 1:
        raise InputError("preprocess config", f"crop_pixels must be positive, got {config.crop_pixels}")
    if config.crop_arcsec is not None and not config.crop_arcsec > 0:
        raise InputError("preprocess config", f"crop_arcsec must be positive, got {config.crop_arcsec}")


def crop_sizes(
    n: int, shape: tuple[int, int], scales: np.ndarray | None, config: PreprocessConfig, source: str
) -> np.ndarray:
    """Side (pixels) of each image's centre crop, clamped to the image's shorter side."""
    side = min(shape)
    if config.crop_arcsec is not None:
        if scales is None:
            raise InputError(source, "crop_arcsec needs a pixel scale for every image")
        sizes = np.rint(config.crop_arcsec / scales).astype(int)
    elif config.crop_pixels is not None:
        sizes = np.full(n, config.crop_pixels, dtype=int)
    else:
        sizes = np.full(n, side, dtype=int)
    return sizes.clip(1, side)


def centre_crop(images: np.ndarray, side: int) -> np.ndarray:
    """The central side x side window of (n, H, W) images (a view where possible)."""
    h, w = images.shape[1:]
    top, left = (h - side) // 2, (w - side) // 2
    return images[:, top : top + side, left : left + side]


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of (n, s, s) float32 images to (n, size, size); no-op at that size."""
    if images.shape[1:] == (size, size):
        return images
    out = np.empty((len(images), size, size), dtype=np.float32)
    for i, image in enumerate(images):
        # PIL's bilinear filter widens its support when shrinking, so it also anti-aliases
        out[i] = np.asarray(Image.fromarray(image, mode="F").resize((size, size), Image.Resampling.BILINEAR))
    return out


def sigma_clip(images: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Zero the pixels below median + k * sigma of each image's sigma-clipped background."""
    _, median, std = sigma_clipped_stats(
        images, sigma=config.sigma_clip_stats_sigma, maxiters=config.sigma_clip_iters, axis=(1, 2)
    )
    threshold: np.ndarray = (np.asarray(median) + config.sigma_clip * np.asarray(std))[:, None, None]
    return np.where(images < threshold, np.float32(0), images)


def scale_to_uint8(images: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Quantise to uint8: per-image min-max to 0..255, or keep the 0..255 values ('none')."""
    if config.scale == "none":
        kept: np.ndarray = np.clip(np.rint(images), 0, MAX_UINT8).astype(np.uint8)
        return kept
    low = images.min(axis=(1, 2), keepdims=True)
    span = images.max(axis=(1, 2), keepdims=True) - low
    # constant images have no range to stretch: they become all zero instead of 0/0
    unit = np.divide(images - low, span, out=np.zeros_like(images), where=span > 0)
    stretched: np.ndarray = np.rint(unit * MAX_UINT8).astype(np.uint8)
    return stretched


def _process_chunk(images: np.ndarray, sides: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    out = np.empty((len(images), config.size, config.size), dtype=np.uint8)
    for side in np.unique(sides):
        rows = np.flatnonzero(sides == side)
        batch = centre_crop(np.asarray(images[rows]), int(side)).astype(np.float32)
        batch = resize(batch, config.size)
        if config.sigma_clip is not None:
            batch = sigma_clip(batch, config)
        out[rows] = scale_to_uint8(batch, config)
    return out


def preprocess_into(
    out: np.ndarray,
    images: np.ndarray,
    scales: float | np.ndarray | None,
    config: PreprocessConfig,
    chunk: int = 1024,
    progress: bool = False,
    source: str = "images",
) -> np.ndarray:
    """Preprocess (N, H, W) uint8 `images` into the pre-allocated (N, size, size) uint8 `out`.

    `out` may be a memory map; only `chunk` images are held as floats at a time.
    `scales` is the pixel scale in arcsec (scalar or per image; needed for crop_arcsec).
    """
    check_images(images, source)
    check_config(config)
    n = len(images)
    if out.shape != (n, config.size, config.size) or out.dtype != np.uint8:
        raise InputError("output", f"needs shape {(n, config.size, config.size)} uint8, got {out.shape} {out.dtype}")
    if chunk < 1:
        raise InputError(source, f"chunk must be positive, got {chunk}")
    # only an arcsec crop needs each image's scale; a PNG folder of unknown scale still works
    known = pixel_scales(scales, n, source, required=config.crop_arcsec is not None)
    sides = crop_sizes(n, images.shape[1:], known, config, source)
    starts: Iterable[int] = range(0, n, chunk)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="preprocess", unit="chunk")
    for start in starts:
        stop = min(start + chunk, n)
        out[start:stop] = _process_chunk(images[start:stop], sides[start:stop], config)
    return out


def preprocess(
    images: np.ndarray,
    pixel_scale_arcsec: float | np.ndarray | None,
    config: PreprocessConfig,
    source: str = "images",
) -> np.ndarray:
    """(N, H, W) uint8 -> (N, size, size) uint8 as configured; see the module docstring."""
    check_images(images, source)
    check_config(config)
    out = np.empty((len(images), config.size, config.size), dtype=np.uint8)
    return preprocess_into(out, images, pixel_scale_arcsec, config, source=source)


def to_unit_float(images: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 in [0, 1], the models' input."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise InputError("images", f"expected a uint8 array, got {getattr(images, 'dtype', type(images))}")
    return images.astype(np.float32) / np.float32(MAX_UINT8)
