"""A survey image (float Jy/beam, any pixel scale) as a cutout like the curated archives'.

MiraBest, FR-DEEP and the FIRST Radio Galaxy Dataset were made from survey FITS by one
recipe (Porter & Scaife 2023; Tang et al. 2019): take the central field around the
source, set everything below 3 sigma of the background to zero, and stretch the rest to
0..255. Stretching the whole field first (noise and unrelated bright sources included)
and cropping afterwards gives the model images it has never seen (codes of raw FIRST
FITS made that way were classified below chance). So, for float input, in this order:

1. crop the field (`SurveyImageConfig.field_arcsec`) around the image centre, in native
   pixels, before any scaling;
2. resample to the model's pixel scale (`pixel_scale_arcsec`) when the native one differs
   (VLASS 1"/px, LoTSS 1.5"/px), bilinear on the float values; a beam too coarse for the
   model's pixels (NVSS's 45") keeps native pixels instead, 150 across, as FR-DEEP NVSS
   was made (`native_pixels_config`, decided by the caller, who knows the beam);
3. estimate the background with astropy's sigma-clipped statistics over the field, NaNs
   ignored;
4. zero every pixel below median + `clip_sigma` * sigma (NaNs count as background);
5. stretch the field's range to 0..255.

A cutout a tile edge cut short on one side is partial (`partial_reason`); the caller
skips it or keeps it.

On the 52 raw FIRST FITS in the shared data this reproduces the shipped MiraBest
renderings (pixel correlation 0.999 median; benchmarks/first_fits.py). Arrays stay in
FITS row order (row 0 is the southern edge), as in every shipped archive: the shipped
images of the same objects match the FITS arrays unflipped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from astropy.stats import sigma_clipped_stats
from PIL import Image

from radiolatent.config import SurveyImageConfig
from radiolatent.core.errors import InputError
from radiolatent.data.preprocess import centre_crop

_UINT8_MAX = 255
#: native and model pixel scales closer than this (relative) are the same: no resampling.
_SAME_SCALE = 1e-3


def field_side(pixel_scale_arcsec: float, config: SurveyImageConfig, shape: tuple[int, int]) -> int:
    """Side in native pixels of the field to keep, at most the image's shorter side."""
    return _axis_side(min(shape), pixel_scale_arcsec, config)


def output_scale(pixel_scale_arcsec: float, config: SurveyImageConfig) -> float:
    """The pixel scale of the cutout this module makes from an image of the given scale."""
    if config.pixel_scale_arcsec is None or not np.isfinite(pixel_scale_arcsec):
        return pixel_scale_arcsec
    return float(config.pixel_scale_arcsec)


def resample(image: np.ndarray, native_arcsec: float, config: SurveyImageConfig) -> np.ndarray:
    """Resample a square float image to the model's pixel scale, keeping its field."""
    target = output_scale(native_arcsec, config)
    if not np.isfinite(native_arcsec) or abs(target / native_arcsec - 1) < _SAME_SCALE:
        return image
    side = max(1, round(image.shape[0] * native_arcsec / target))
    filled = np.where(np.isfinite(image), image, np.nan).astype(np.float32)
    nan = ~np.isfinite(filled)
    # PIL's bilinear filter widens when shrinking (anti-aliasing); NaNs are resampled as a
    # mask so a blank corner stays blank instead of spreading NaN over its neighbours.
    values = _resize(np.where(nan, 0, filled), side)
    blank = _resize(nan.astype(np.float32), side) > 0.5
    values[blank] = np.nan
    return values


def _resize(image: np.ndarray, side: int) -> np.ndarray:
    return np.array(Image.fromarray(image, mode="F").resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32)


def background(image: np.ndarray, config: SurveyImageConfig) -> tuple[float, float]:
    """(median, sigma) of the sigma-clipped background of the finite pixels."""
    _, median, std = sigma_clipped_stats(
        image[np.isfinite(image)], sigma=config.background_sigma, maxiters=config.background_iters
    )
    return float(median), float(std)


def clip_background(image: np.ndarray, config: SurveyImageConfig) -> np.ndarray:
    """Pixels below median + k sigma of the sigma-clipped background (and NaNs) set to 0."""
    finite = np.isfinite(image)
    out = np.where(finite, image, 0).astype(np.float64)
    if config.clip_sigma is None:
        return np.where(finite, out, out[finite].min())
    median, std = background(image, config)
    out[~finite | (out < median + config.clip_sigma * std)] = 0.0
    return out


def stretch(values: np.ndarray, source: str) -> np.ndarray:
    """Min-max to 0..255 uint8; a constant image has nothing to learn from."""
    low, high = values.min(), values.max()
    if high == low:
        raise InputError(
            source, f"is constant ({low:g}) after background clipping; no emission above the clip level in the field"
        )
    stretched: np.ndarray = np.round((values - low) / (high - low) * _UINT8_MAX).astype(np.uint8)
    return stretched


@dataclass(frozen=True)
class SurveyCutout:
    """A survey image made like the archives' cutouts, and what was seen on the way."""

    image: np.ndarray
    pixel_scale_arcsec: float
    #: (rows, columns) of the field asked for that hold data (not NaN / BLANK), native
    #: pixels; each axis is cut to the field on its own (`field_extent`).
    extent: tuple[int, int]


def survey_cutout(
    image: np.ndarray, pixel_scale_arcsec: float, config: SurveyImageConfig, source: str
) -> tuple[np.ndarray, float]:
    """(uint8 cutout, its pixel scale in arcsec) of a 2-D float survey image; see the module doc."""
    cut = make_survey_cutout(image, pixel_scale_arcsec, config, source)
    return cut.image, cut.pixel_scale_arcsec


def make_survey_cutout(
    image: np.ndarray, pixel_scale_arcsec: float, config: SurveyImageConfig, source: str
) -> SurveyCutout:
    """A 2-D float survey image as a SurveyCutout; see the module doc."""
    values = np.asarray(image, dtype=np.float64)
    if values.size == 0:
        raise InputError(source, f"is an empty image (shape {values.shape})")
    if not np.isfinite(values).any():
        raise InputError(source, "has no finite pixels (all NaN, inf or BLANK)")
    field = centre_crop(values[None], field_side(pixel_scale_arcsec, config, values.shape))[0]
    if not np.isfinite(field).any():
        raise InputError(source, "has no finite pixels in the central field")
    field = resample(field.astype(np.float32), pixel_scale_arcsec, config)
    return SurveyCutout(
        stretch(clip_background(field, config), source),
        output_scale(pixel_scale_arcsec, config),
        field_extent(values, pixel_scale_arcsec, config),
    )


def field_extent(values: np.ndarray, pixel_scale_arcsec: float, config: SurveyImageConfig) -> tuple[int, int]:
    """(rows, columns) of the field asked for that hold data (not NaN or BLANK).

    Each axis is cut to the field on its own, so a cutout a tile edge made narrower on
    one axis shows it (the square crop of the cutout itself would hide it)."""
    asked = [_axis_side(length, pixel_scale_arcsec, config) for length in values.shape]
    top, left = ((length - side) // 2 for length, side in zip(values.shape, asked))
    finite = np.isfinite(values[top : top + asked[0], left : left + asked[1]])
    return int(finite.any(axis=1).sum()), int(finite.any(axis=0).sum())


def _axis_side(length: int, pixel_scale_arcsec: float, config: SurveyImageConfig) -> int:
    """The field's side in native pixels along an axis of `length` pixels, at most `length`."""
    if config.field_arcsec is None or not np.isfinite(pixel_scale_arcsec):
        return length
    return int(np.clip(round(config.field_arcsec / pixel_scale_arcsec), 1, length))


def native_pixels_config(
    beam_arcsec: float, native_arcsec: float, config: SurveyImageConfig
) -> SurveyImageConfig | None:
    """Settings that read an image at its native pixels when its beam is too coarse for the
    model's (`native_beam_pixels`), as FR-DEEP NVSS was made; None when it is not.

    Blown up to 1.8"/px, NVSS's 45" beam spans 25 pixels and the 115" model input holds
    under three beams: a featureless blob no shipped image looks like. FR-DEEP's NVSS
    images keep NVSS's 15" pixels, 150 across. Without a beam, `pixels_per_beam` native
    pixels stand for it. Pixels no coarser than the model's are always resampled."""
    if config.native_beam_pixels is None or config.pixel_scale_arcsec is None or not np.isfinite(native_arcsec):
        return None
    if native_arcsec <= config.pixel_scale_arcsec * (1 + _SAME_SCALE):
        return None  # pixels no coarser than the model's are not blown up by resampling
    beam = beam_arcsec if np.isfinite(beam_arcsec) else config.pixels_per_beam * native_arcsec
    if beam <= config.native_beam_pixels * config.pixel_scale_arcsec:
        return None
    field = None if config.field_arcsec is None else config.native_field_pixels * native_arcsec
    return replace(config, pixel_scale_arcsec=None, field_arcsec=field)


def partial_reason(cut: SurveyCutout, native_arcsec: float, config: SurveyImageConfig) -> str | None:
    """Why a cutout is partial (cut at a tile or mosaic edge), or None when it is whole.

    Cutouts are square around their source; a tile edge cuts one side short (or leaves it
    blank), which also puts the source off-centre. So a cutout is partial when the data in
    the field asked span less than `min_aspect` of one axis on the other. Smaller square
    cutouts are whole (4' ones are common), and where the emission lies is no guide:
    bright unrelated sources far from the centre are common in whole cutouts (docs/survey.md).
    """
    rows, cols = cut.extent
    if min(rows, cols) >= config.min_aspect * max(rows, cols):
        return None
    if np.isfinite(native_arcsec):
        span = f'{rows * native_arcsec:.0f}" x {cols * native_arcsec:.0f}"'
    else:
        span = f"{rows} x {cols} pixels"
    return f"is a partial cutout: its data span {span} of the field, one side cut short (a tile or mosaic edge)"


def picture_cutout(image: np.ndarray, pixel_scale_arcsec: float, config: SurveyImageConfig) -> tuple[np.ndarray, float]:
    """A uint8 picture (already scaled by its maker) cropped to the field and resampled.

    Without a pixel scale only the cap `max_side` applies, so one huge picture cannot blow
    up a whole folder's memory."""
    if not np.isfinite(pixel_scale_arcsec):
        height, width = (min(side, config.max_side) for side in image.shape)
        top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
        return image[top : top + height, left : left + width], pixel_scale_arcsec
    field = centre_crop(image[None], field_side(pixel_scale_arcsec, config, image.shape))[0]
    resized = resample(field.astype(np.float32), pixel_scale_arcsec, config)
    return np.clip(np.rint(resized), 0, _UINT8_MAX).astype(np.uint8), output_scale(pixel_scale_arcsec, config)
