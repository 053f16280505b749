"""Largest angular size (LAS) of the central source in a cutout, for images with no catalogue LAS.

The estimate is "the extent of the central emission above k sigma":

1. background median and sigma from astropy's sigma-clipped statistics;
2. mask the pixels above median + k * sigma, split the mask into connected components
   (8-connected) and drop components smaller than `min_pixels` (noise);
3. keep the components that reach the central disc (radius `central_fraction` of the
   half-width), plus -- for double sources whose lobes are detached from the core --
   other components within `companion_radius_fraction` of the half-width whose flux is
   at least `companion_flux_fraction` of the central components' flux and, with
   `companion_pairs`, that have such a partner on the far side of the centre (lobes come
   in pairs; an unrelated neighbour usually does not);
4. LAS = the largest distance between two corners of kept pixels, times the pixel scale.

Pixel corners, not centres, are used so that a source one pixel wide measures one pixel
across rather than zero. An image with nothing above the threshold near the centre
(blank, or noise only) gets LAS 0, so "drop sources below x arcsec" drops it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.stats import sigma_clipped_stats
from scipy import ndimage
from scipy.spatial import ConvexHull

from radiolatent.config import LASConfig
from radiolatent.core.errors import InputError

if TYPE_CHECKING:
    from radiolatent.data.dataset import RadioDataset

#: 8-connectivity: diagonal neighbours join, so a thin diagonal jet stays one component.
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def check_images(images: np.ndarray, source: str) -> None:
    """Raise InputError unless `images` is an (N, H, W) uint8 array."""
    if not isinstance(images, np.ndarray):
        raise InputError(source, f"images must be a numpy array, got {type(images).__name__}")
    if images.ndim != 3:
        raise InputError(source, f"images must be (N, H, W), got shape {images.shape}")
    if images.dtype != np.uint8:
        raise InputError(source, f"images must be uint8, got {images.dtype}")


def pixel_scales(
    pixel_scale_arcsec: float | np.ndarray | None, n: int, source: str, required: bool = True
) -> np.ndarray | None:
    """Broadcast a scalar or per-image pixel scale to shape (n,); None stays None.
    Unless `required`, unknown (NaN) scales are allowed."""
    if pixel_scale_arcsec is None:
        return None
    scales = np.asarray(pixel_scale_arcsec, dtype=float)
    if scales.ndim == 0:
        scales = np.full(n, float(scales))
    if scales.shape != (n,):
        raise InputError(source, f"pixel scale must be a scalar or one value per image ({n}), got shape {scales.shape}")
    known = np.isfinite(scales)
    if (required and not known.all()) or np.any(scales[known] <= 0) or np.isinf(scales).any():
        raise InputError(
            source,
            "pixel scale must be finite and positive for every image "
            "(give one for files that carry none: {pixel_scale})",
            ("pixel_scale",),
        )
    return scales


def emission_threshold(image: np.ndarray, config: LASConfig) -> float:
    """median + k * sigma of the sigma-clipped background."""
    _, median, std = sigma_clipped_stats(image, sigma=config.clip_sigma, maxiters=config.clip_iters)
    return float(median + config.k_sigma * std)


def central_mask(image: np.ndarray, config: LASConfig) -> np.ndarray:
    """Boolean mask of the pixels that belong to the central source (may be empty)."""
    image = np.asarray(image, dtype=np.float32)
    above = image > emission_threshold(image, config)
    labels, count = ndimage.label(above, structure=_EIGHT_CONNECTED)
    if count == 0:
        return np.zeros(image.shape, dtype=bool)
    index = np.arange(1, count + 1)
    # per-component pixel counts and fluxes; bincount is ~10x faster than ndimage.sum_labels here
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    fluxes = np.bincount(labels.ravel(), weights=image.ravel(), minlength=count + 1)[1:]
    radius = _distance_from_centre(image.shape)
    half_width = min(image.shape) / 2.0
    # per-component distance of its nearest pixel to the centre; np.minimum.at over the
    # labelled pixels only is much faster than ndimage.minimum, which sorts the whole image
    nearest = np.full(count, np.inf)
    np.minimum.at(nearest, labels[above] - 1, radius[above])
    big = sizes >= config.min_pixels
    central = big & (nearest <= config.central_fraction * half_width)
    if not central.any():
        return np.zeros(image.shape, dtype=bool)
    keep = central.copy()
    if config.companion_flux_fraction is not None:
        # detached lobes of a double: bright enough relative to the core, and not too far out
        core_flux = fluxes[central].sum()
        companion = big & ~central & (fluxes >= config.companion_flux_fraction * core_flux)
        companion &= nearest <= config.companion_radius_fraction * half_width
        if config.companion_pairs and companion.any():
            companion &= _has_opposite_partner(image, labels, index, companion, config.companion_pair_angle)
        keep |= companion
    return np.isin(labels, index[keep])


def _has_opposite_partner(
    image: np.ndarray, labels: np.ndarray, index: np.ndarray, candidate: np.ndarray, min_angle_deg: float
) -> np.ndarray:
    """Candidates with another candidate on the far side of the centre (lobes come in pairs)."""
    centre = (np.asarray(image.shape, dtype=float) - 1) / 2.0
    where = np.flatnonzero(candidate)
    centroids = np.asarray(ndimage.center_of_mass(image, labels, index[where])) - centre
    unit = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
    cosines = unit @ unit.T
    paired = (cosines <= np.cos(np.radians(min_angle_deg))).any(axis=1)
    out = np.zeros_like(candidate)
    out[where[paired]] = True
    return out


@functools.lru_cache(maxsize=8)
def _distance_from_centre(shape: tuple[int, int]) -> np.ndarray:
    rows, cols = np.indices(shape, dtype=np.float32)
    distance: np.ndarray = np.hypot(rows - (shape[0] - 1) / 2.0, cols - (shape[1] - 1) / 2.0)
    return distance


def mask_extent_pixels(mask: np.ndarray) -> float:
    """Largest distance (pixels) between two corners of the mask's pixels; 0 when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return 0.0
    # only the first and last pixel of each row can be on the convex hull
    first = mask[rows].argmax(axis=1)
    last = mask.shape[1] - 1 - mask[rows, ::-1].argmax(axis=1)
    corners = []
    for dr in (0.0, 1.0):
        corners.append(np.column_stack([rows + dr, first]))
        corners.append(np.column_stack([rows + dr, last + 1.0]))
    points = np.unique(np.concatenate(corners).astype(float), axis=0)
    hull = ConvexHull(points)
    vertices = points[hull.vertices]
    diffs = vertices[:, None, :] - vertices[None, :, :]
    return float(np.sqrt((diffs**2).sum(axis=-1)).max())


def estimate_las(
    images: np.ndarray,
    pixel_scale_arcsec: float | np.ndarray,
    config: LASConfig,
    source: str = "images",
) -> np.ndarray:
    """LAS in arcsec of the central source of each (N, H, W) uint8 image; 0 where none.

    `pixel_scale_arcsec` is a scalar or one value per image.
    """
    check_images(images, source)
    scales = pixel_scales(pixel_scale_arcsec, len(images), source)
    if scales is None:
        raise InputError(source, "the LAS estimator needs a pixel scale")
    jobs = config.jobs if len(images) >= config.parallel_from else 1
    if jobs == 1:
        return _sizes(images, scales, config)
    from joblib import delayed

    from radiolatent.core.workers import parallel

    parts = np.array_split(np.arange(len(images)), jobs)
    sizes = parallel(jobs)(delayed(_sizes)(np.asarray(images[part]), scales[part], config) for part in parts)
    return np.concatenate(sizes)


def _sizes(images: np.ndarray, scales: np.ndarray, config: LASConfig) -> np.ndarray:
    out = np.zeros(len(images), dtype=float)
    for i in range(len(images)):
        out[i] = mask_extent_pixels(central_mask(images[i], config)) * scales[i]
    return out


def catalogue_las(dataset: RadioDataset) -> tuple[np.ndarray, np.ndarray]:
    """(images, catalogue LAS) of the rows of a RadioDataset whose LAS is known."""
    las = dataset.meta["las_arcsec"].to_numpy(dtype=float)
    known = np.isfinite(las) & (las > 0)
    if not known.any():
        raise InputError(dataset.name, "no catalogue LAS to validate against")
    return np.flatnonzero(known), las[known]


def validate_las(dataset: RadioDataset, config: LASConfig) -> dict[str, Any]:
    """Compare the estimator with the catalogue LAS of a RadioDataset (e.g. MiraBest).

    Returns spearman (rank correlation), n (images compared), median_abs_error_arcsec,
    and the arrays `estimate` and `catalogue` for plotting.
    """
    from scipy.stats import spearmanr

    index, cat = catalogue_las(dataset)
    scales = dataset.meta["pixel_scale_arcsec"].to_numpy(dtype=float)[index]
    est = estimate_las(np.asarray(dataset.images[index]), scales, config, source=dataset.name)
    return {
        "spearman": float(spearmanr(est, cat).statistic),
        "n": len(index),
        "median_abs_error_arcsec": float(np.median(np.abs(est - cat))),
        "estimate": est,
        "catalogue": cat,
    }


def plot_las_validation(est: np.ndarray, cat: np.ndarray, path: str | Path) -> Path:
    """Scatter of estimated against catalogue LAS (log axes, 1:1 line), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import spearmanr

    from radiolatent.core.fileio import save_figure

    est = np.asarray(est, dtype=float)
    cat = np.asarray(cat, dtype=float)
    if est.shape != cat.shape or est.ndim != 1 or len(est) < 2:
        raise InputError(str(path), f"need two equal 1-D arrays of >= 2 values, got {est.shape} and {cat.shape}")
    rho = spearmanr(est, cat).statistic
    # zero estimates cannot sit on a log axis: draw them at the bottom edge
    positive = np.concatenate([est[est > 0], cat[cat > 0]])
    floor = positive.min() / 1.5 if len(positive) else 1.0
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(cat, np.maximum(est, floor), s=6, alpha=0.5, edgecolors="none")
    lo, hi = floor, max(est.max(), cat.max()) * 1.2
    ax.plot([lo, hi], [lo, hi], color="k", lw=1, label="1:1")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi))
    ax.set_xlabel('catalogue LAS (")')
    ax.set_ylabel('estimated LAS (")')
    ax.set_title(f"LAS estimate vs catalogue: Spearman {rho:.3f} (n={len(est)})")
    ax.legend(loc="upper left")
    return save_figure(
        fig, path, tight_layout=False, format=Path(path).suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight"
    )
