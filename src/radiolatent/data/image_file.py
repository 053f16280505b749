"""One image file (FITS, PNG, JPEG, .npy) as a cutout of the model's field, read the way
the curated archives were made (`load_folder` reads a whole folder of them).

* Survey data (FITS, float or integer .npy, 16-bit PNG) goes through MiraBest's recipe
  (data/survey.py, settings in SurveyImageConfig): the central field is cut in native
  pixels, resampled to the model's pixel scale, the background below 3 sigma is set to
  zero, and only then is the field stretched to 0..255. 8-bit PNG/JPEG and uint8 .npy
  were scaled by whoever made them: they are cropped to the same field and resampled
  when their pixel scale is known, and kept as they are otherwise. A camera's EXIF
  orientation is applied.
* The beam (FITS BMAJ / BMIN) is kept as beam_major_arcsec / beam_minor_arcsec. A beam
  wider than SurveyImageConfig.native_beam_pixels model pixels (NVSS's 45"; without a
  beam, 3 native pixels) keeps native pixels, 150 across, as FR-DEEP NVSS was made.
* Refused with their own error types, which a folder skips and counts: FITS whose BUNIT
  is present but not a brightness unit (NotBrightness; VLASS spectral-index maps carry
  ''), and partial cutouts, cut short on one side by a tile or mosaic edge
  (PartialCutout; FolderConfig.keep_partial keeps them).
* Arrays keep FITS row order (row 0 is the southern edge), as every shipped archive
  does; PNGs are taken as stored. A cube with one plane (e.g. (1, 1, H, W) from radio
  pipelines) gives that plane; more planes is an error.
* Positions and pixel scale come from the FITS WCS: the sky position of the image
  centre (the source is assumed to sit there) in ICRS, and the pixel scale along the
  second axis. Without a celestial WCS, CDELT2 or CD2_2 (degrees) gives the scale; files
  that carry none get FolderConfig.pixel_scale_arcsec (`--pixel-scale`).
* Sizes declared in a header beyond FolderConfig.max_image_pixels are refused before the
  data is read.
"""

from __future__ import annotations

import logging
import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.wcs import WCS, WcsError
from astropy.wcs.utils import proj_plane_pixel_scales
from PIL import Image, ImageOps

from radiolatent.config import FolderConfig, SurveyImageConfig
from radiolatent.core.errors import InputError
from radiolatent.data.survey import make_survey_cutout, native_pixels_config, partial_reason, picture_cutout

log = logging.getLogger(__name__)
_ARCSEC_PER_DEG = 3600.0
#: FITS BUNIT values that are sky brightness, case-insensitive: anything in Jansky (Jy/beam,
#: mJy/beam, Jy/pixel, JY/BEAM, Jy beam-1 ...) or kelvin (brightness temperature).
_BRIGHTNESS_UNIT = re.compile(r"jy|^[mµu]?k(elvin)?$", re.IGNORECASE)


@dataclass
class Cutout:
    """One image read from disk and cut to the model's field, before sizes are made common."""

    image: np.ndarray
    ra: float = np.nan
    dec: float = np.nan
    pixel_scale_arcsec: float = np.nan
    native_shape: tuple[int, int] = (0, 0)
    #: the restoring beam's FWHM (FITS BMAJ / BMIN), NaN where the file does not say.
    beam_major_arcsec: float = np.nan
    beam_minor_arcsec: float = np.nan


class NotBrightness(InputError):
    """An image whose unit (FITS BUNIT) says it is not sky brightness (a spectral-index map)."""


class PartialCutout(InputError):
    """A cutout a tile or mosaic edge cut short (SurveyImageConfig.min_aspect)."""


def read_cutout(file: Path, config: FolderConfig = FolderConfig()) -> Cutout:
    """One image file as a 2-D uint8 cutout of the model's field, with its position and scale."""
    name = file.name.lower()
    fallback = np.nan if config.pixel_scale_arcsec is None else float(config.pixel_scale_arcsec)
    if name.endswith(config.fits_suffixes):
        plane, ra, dec, scale, header = _read_fits(file, config.max_image_pixels)
        check_brightness_unit(header, file)
        return _survey(plane, ra, dec, scale if np.isfinite(scale) else fallback, file, config, _beam_arcsec(header))
    if name.endswith(config.picture_suffixes):
        return _cut(_read_picture(file, config.max_image_pixels), np.nan, np.nan, fallback, file, config)
    if name.endswith(config.array_suffixes):
        return _cut(_read_npy(file), np.nan, np.nan, fallback, file, config)
    raise InputError(file, "is not a supported image (FITS, PNG, JPEG or .npy)")


def _cut(image: np.ndarray, ra: float, dec: float, scale: float, file: Path, config: FolderConfig) -> Cutout:
    """uint8 pictures are cropped and resampled; anything else is survey data."""
    if image.dtype != np.uint8:
        return _survey(image, ra, dec, scale, file, config, (np.nan, np.nan))
    _check_varies(image, file)
    cut, out_scale = picture_cutout(image, scale, _survey_settings(file, scale, np.nan, config))
    return Cutout(cut, ra, dec, out_scale, image.shape)


def _survey(
    plane: np.ndarray, ra: float, dec: float, scale: float, file: Path, config: FolderConfig, beam: tuple[float, float]
) -> Cutout:
    """Float survey data: native pixels for a coarse beam, partial cutouts skipped or kept."""
    settings = _survey_settings(file, scale, beam[0], config)
    cut = make_survey_cutout(plane, scale, settings, str(file))
    partial = partial_reason(cut, scale, settings)
    if partial is not None and not config.keep_partial:
        raise PartialCutout(file, partial)
    if partial is not None:
        log.info("kept %s (`keep_partial`): %s", file, partial)
    return Cutout(cut.image, ra, dec, cut.pixel_scale_arcsec, plane.shape, *beam)


def _survey_settings(file: Path, scale: float, beam: float, config: FolderConfig) -> SurveyImageConfig:
    """The folder's survey settings, or native pixels for a beam too coarse for the model's."""
    settings = config.survey_image
    native = native_pixels_config(beam, scale, settings)
    if native is None:
        return settings
    per_beam = settings.pixels_per_beam
    if np.isfinite(beam):
        size = f'its {beam:.1f}" beam'
    else:
        size = f'its beam, taken as {per_beam:g} pixels ({per_beam * scale:.1f}") with none in the header,'
    log.info(
        '%s: read at its native %.1f"/px, %d pixels across as FR-DEEP NVSS, not resampled to %g"/px: '
        "%s is wider than %g model pixels",
        file,
        scale,
        settings.native_field_pixels,
        settings.pixel_scale_arcsec,
        size,
        settings.native_beam_pixels,
    )
    return native


def check_brightness_unit(header: fits.Header, file: Path) -> None:
    """A FITS image whose BUNIT is present but not a brightness unit (e.g. '' on VLASS
    spectral-index maps) is a NotBrightness error; a missing BUNIT is taken on trust
    (many pipelines omit it)."""
    if "BUNIT" not in header:
        return
    unit = str(header["BUNIT"]).strip()
    if not _BRIGHTNESS_UNIT.search(unit):
        raise NotBrightness(
            file, f"has BUNIT '{unit}', not a brightness unit (Jy/beam, Jy/pixel, K, ...); not sky brightness"
        )


def _beam_arcsec(header: fits.Header) -> tuple[float, float]:
    """(BMAJ, BMIN) in arcsec (FITS gives degrees); NaN where absent or not a positive number."""
    beam = []
    for key in ("BMAJ", "BMIN"):
        value = header.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) and value > 0
        beam.append(float(value) * _ARCSEC_PER_DEG if ok else np.nan)
    return beam[0], beam[1]


def _read_fits(
    file: Path, max_pixels: int = FolderConfig.max_image_pixels
) -> tuple[np.ndarray, float, float, float, fits.Header]:
    """(2-D float plane with NaN for blank pixels, ra, dec, arcsec/pixel, header) of a FITS file."""
    raw, header = _first_image_hdu(file, max_pixels)
    values = raw.astype(np.float64)
    bad = ~np.isfinite(values)
    if "BLANK" in header:
        bad |= raw == header["BLANK"]
    values = values * _header_number(header, "BSCALE", 1.0, file) + _header_number(header, "BZERO", 0.0, file)
    values[bad] = np.nan
    plane = _single_plane(values, file)
    ra, dec, scale = _fits_position(header, plane.shape)
    return plane, ra, dec, scale, header


def _header_number(header: fits.Header, key: str, default: float, file: Path) -> float:
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise InputError(file, f"header {key} is {value!r}, not a finite number")
    return float(value)


def _check_declared_size(header: fits.Header, file: Path, max_pixels: int) -> None:
    """Refuse, from the header alone, an image too large to read: its data is never touched."""
    axes = [header.get(f"NAXIS{i}", 0) for i in range(1, int(header.get("NAXIS", 0) or 0) + 1)]
    if not all(isinstance(n, int) and n >= 0 for n in axes):
        raise InputError(file, f"header declares axes {axes}, not whole numbers")
    pixels = int(np.prod(axes, dtype=object)) if axes else 0
    if pixels > max_pixels:
        raise InputError(
            file,
            f"header declares {' x '.join(map(str, axes))} = {pixels:,} pixels, more than the limit of "
            f"{max_pixels:,} (setting max_image_pixels)",
        )


def _first_image_hdu(file: Path, max_pixels: int = FolderConfig.max_image_pixels) -> tuple[np.ndarray, fits.Header]:
    image_types = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)
    try:
        with warnings.catch_warnings():
            # BLANK in a float image is non-standard but honoured; a corrupt file becomes an
            # InputError below. Astropy's warnings about either would only repeat that.
            warnings.filterwarnings("ignore", message=".*BLANK.*")
            warnings.simplefilter("ignore", VerifyWarning)
            with fits.open(file, memmap=False, do_not_scale_image_data=True) as hdus:
                for hdu in hdus:
                    if isinstance(hdu, image_types):
                        _check_declared_size(hdu.header, file, max_pixels)
                    if isinstance(hdu, image_types) and hdu.data is not None and hdu.data.ndim >= 2:
                        return np.array(hdu.data), hdu.header.copy()
    except InputError:
        raise
    except (OSError, ValueError, TypeError, EOFError, zlib.error) as exc:
        raise InputError(file, f"is not a readable FITS file ({exc})") from None
    raise InputError(file, "has no image HDU with 2-D data")


def _single_plane(values: np.ndarray, file: Path) -> np.ndarray:
    if values.ndim < 2:
        raise InputError(file, f"is {values.ndim}-D (shape {values.shape}); give one 2-D image")
    planes = int(np.prod(values.shape[:-2]))
    if planes > 1:
        raise InputError(file, f"is a {values.ndim}-D cube with {planes} planes; give one 2-D image")
    return values.reshape(values.shape[-2:])


def _fits_position(header: fits.Header, shape: tuple[int, int]) -> tuple[float, float, float]:
    """(ra, dec, arcsec/pixel) of the image centre; NaN where the header cannot say."""
    try:
        with warnings.catch_warnings():
            # Pipeline headers often carry non-standard keys; the position is best effort.
            warnings.simplefilter("ignore")
            wcs = WCS(header).celestial
            if not wcs.has_celestial:
                return np.nan, np.nan, _header_scale(header)
            scale = float(proj_plane_pixel_scales(wcs)[1]) * _ARCSEC_PER_DEG
            centre = wcs.pixel_to_world((shape[1] - 1) / 2, (shape[0] - 1) / 2).icrs
            return float(centre.ra.deg), float(centre.dec.deg), scale
    except (WcsError, ValueError, KeyError, TypeError, AttributeError):
        return np.nan, np.nan, _header_scale(header)


def _header_scale(header: fits.Header) -> float:
    for key in ("CDELT2", "CD2_2"):
        value = header.get(key)
        if isinstance(value, (int, float)) and value != 0:
            return abs(float(value)) * _ARCSEC_PER_DEG
    return np.nan


def _read_picture(file: Path, max_pixels: int = FolderConfig.max_image_pixels) -> np.ndarray:
    """8-bit pictures as uint8 greyscale; deeper ones (16-bit, float) as float survey data.
    A camera's EXIF orientation is applied, so a picture is read the way it is shown."""
    try:
        with Image.open(file) as picture:
            if picture.width * picture.height > max_pixels:
                raise InputError(
                    file,
                    f"declares {picture.width} x {picture.height} pixels, more than the limit of "
                    f"{max_pixels:,} (setting max_image_pixels)",
                )
            picture.load()
            upright = ImageOps.exif_transpose(picture)
            if upright.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                return np.asarray(upright, dtype=np.float64)
            return np.asarray(upright.convert("L"), dtype=np.uint8)
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InputError(file, f"is not a readable image ({exc})") from None


def _read_npy(file: Path) -> np.ndarray:
    """A plain numeric .npy array as one 2-D plane (uint8 kept, anything else as float)."""
    try:
        array = np.load(file, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(file, f"is not a readable .npy array ({exc})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise InputError(file, "does not hold a plain numeric array")
    plane = _single_plane(array, file)
    return np.array(plane) if plane.dtype == np.uint8 else plane.astype(np.float64)


def _check_varies(image: np.ndarray, source: Path) -> None:
    if image.size == 0:
        raise InputError(source, f"is an empty image (shape {image.shape})")
    if image.min() == image.max():
        raise InputError(source, f"is constant ({image.min()} everywhere); nothing to learn from")
