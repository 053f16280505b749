"""Any folder of cutouts (FITS, PNG, JPEG, .npy), searched recursively, plus an optional catalogue.

Choices, so users know what they get:

* Survey data (FITS, float or integer .npy, 16-bit PNG) goes through MiraBest's recipe
  (data/survey.py, settings in SurveyImageConfig): the central field is cut in native
  pixels, resampled to the model's pixel scale, the background below 3 sigma is set to
  zero, and only then is the field stretched to 0..255. 8-bit PNG/JPEG and uint8 .npy
  were scaled by whoever made them: they are cropped to the same field and resampled
  when their pixel scale is known, and kept as they are otherwise.
* The beam (FITS BMAJ / BMIN) is kept as beam_major_arcsec / beam_minor_arcsec. A beam
  wider than SurveyImageConfig.native_beam_pixels model pixels (NVSS's 45"; without a
  beam, 3 native pixels) keeps native pixels, 150 across, as FR-DEEP NVSS was made.
* Skipped and counted (`skipped_files`; -v names each file and why): FITS whose BUNIT is
  present but not a brightness unit (VLASS spectral-index maps carry ''), and partial
  cutouts, cut short on one side by a tile or mosaic edge (FolderConfig.keep_partial
  keeps them).
* Arrays keep FITS row order (row 0 is the southern edge), as every shipped archive
  does; PNGs are taken as stored. A cube with one plane (e.g. (1, 1, H, W) from radio
  pipelines) gives that plane; more planes is an error.
* Positions and pixel scale come from the FITS WCS: the sky position of the image
  centre (the source is assumed to sit there) in ICRS, and the pixel scale along the
  second axis. Without a celestial WCS, CDELT2 or CD2_2 (degrees) gives the scale; files
  that carry none get FolderConfig.pixel_scale_arcsec (`--pixel-scale`).
* Sizes: cutouts of known scale all come out field_arcsec / pixel_scale_arcsec pixels
  across. Others keep their size, capped at SurveyImageConfig.max_side; if sizes still
  differ, FolderConfig.mixed_sizes decides: "pad" (default) centre-pads each with 0 to
  the largest height and width; "resize" centre-crops each to a square of its shorter
  side and resizes (bilinear) to the most common side, rescaling `pixel_scale_arcsec`.
  `orig_height`/`orig_width` keep each file's native shape.
* Hidden files (names starting with '.') and the catalogue itself are ignored. Any other
  file that is not a readable image is skipped and counted (`skipped_files`); with
  FolderConfig.strict, any file that would be skipped stops the load.
* A catalogue (CSV, FITS table or VOTable; FolderConfig.catalogue, or catalogue.csv /
  .fits / .vot / .xml at the folder's top) adds ra / dec / label / las_arcsec / ...
  columns, matched to files by a `filename` or `id` column, or else by sky position
  (`folder_catalogue.merge_catalogue`, also imported from here).

ids are 'folder:<relative path without extension>'; dataset 'folder'; split 'all'.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.wcs import WCS, WcsError
from astropy.wcs.utils import proj_plane_pixel_scales
from PIL import Image, ImageOps

from radiolatent.config import FolderConfig, SurveyImageConfig
from radiolatent.data.dataset import RadioDataset, check_unique_ids, empty_meta
from radiolatent.data.folder_catalogue import merge_catalogue as merge_catalogue
from radiolatent.data.survey import make_survey_cutout, native_pixels_config, partial_reason, picture_cutout
from radiolatent.errors import InputError

DATASET = "folder"
log = logging.getLogger(__name__)
SKIPPED_KEY = "skipped"
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


#: why files were skipped, in the one warning line: (error type, what the files are).
_SKIP_KINDS = (
    (NotBrightness, "are not sky brightness (BUNIT)"),
    (PartialCutout, "are partial cutouts (--keep-partial keeps them)"),
    (InputError, "are not readable images"),
)


def load_folder(
    path: str | Path, catalogue: str | Path | None = None, *, config: FolderConfig = FolderConfig()
) -> RadioDataset:
    """Every image under `path` as one dataset, merged with an optional catalogue.

    Files that are not readable images are skipped and counted (see `skipped_files`),
    or raise an InputError naming the file when config.strict. An empty folder or a bad
    catalogue is an InputError.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(root, "no such folder")
    cat_path = _catalogue_path(root, catalogue, config)
    names, cutouts, skipped = [], [], []
    for file in _candidate_files(root, cat_path, config):
        rel = safe_name(file.relative_to(root).as_posix())
        try:
            cutouts.append(read_cutout(file, config))
            names.append(rel)
        except InputError as exc:
            if config.strict:
                raise
            skipped.append({"file": rel, "problem": exc.problem, "kind": _skip_kind(exc)})
            log.info("skipped %s: %s", root / rel, exc.problem)
    if not cutouts:
        note = f"; skipped {_skip_summary(skipped)}" if skipped else ""
        raise InputError(root, f"no images (FITS, PNG, JPEG or .npy) found{note}")
    if skipped:
        warnings.warn(f"{root}: skipped {_skip_summary(skipped)} (-v lists them)", stacklevel=2)
    images, scale_factor = common_size([c.image for c in cutouts], config.mixed_sizes)
    meta = _meta(names, cutouts, scale_factor, config)
    if cat_path is not None:
        merge_catalogue(meta, cat_path, config)
    check_unique_ids(meta, str(root))
    dataset = RadioDataset(DATASET, images, meta)
    dataset.meta.attrs[SKIPPED_KEY] = skipped
    return dataset


def skipped_files(dataset: RadioDataset) -> list[dict[str, str]]:
    """Files load_folder skipped, each {'file', 'problem', 'kind'}: kind says what the file
    is ('are not readable images', 'are not sky brightness (BUNIT)', ...)."""
    return list(dataset.meta.attrs.get(SKIPPED_KEY, []))


def _skip_kind(exc: InputError) -> str:
    return next(kind for error, kind in _SKIP_KINDS if isinstance(exc, error))


def _skip_summary(skipped: list[dict[str, str]]) -> str:
    """'3 files that are not readable images, e.g. a.txt: ...; 1 files that are ...'."""
    parts = []
    for _, kind in _SKIP_KINDS:
        items = [item for item in skipped if item["kind"] == kind]
        if items:
            parts.append(f"{len(items)} files that {kind}, e.g. {items[0]['file']}: {items[0]['problem']}")
    return "; ".join(parts)


def safe_name(name: str) -> str:
    """A file name as valid UTF-8: undecodable bytes (kept by Python as surrogates) are
    written as \\xNN, so parquet can store the name and distinct names stay distinct."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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
        log.info("kept %s (--keep-partial): %s", file, partial)
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


def common_size(images: list[np.ndarray], mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Stack 2-D uint8 images of any sizes; also return each one's pixel-scale factor."""
    factor = np.ones(len(images))
    if len({im.shape for im in images}) == 1:
        return np.stack(images), factor
    if mode == "pad":
        return _pad_all(images), factor
    if mode == "resize":
        return _resize_all(images)
    raise InputError("FolderConfig.mixed_sizes", f"unknown mode '{mode}' (use 'pad' or 'resize')")


def _catalogue_path(root: Path, catalogue: str | Path | None, config: FolderConfig) -> Path | None:
    given = catalogue if catalogue is not None else config.catalogue
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise InputError(path, "no such catalogue file")
        return path.resolve()
    found = [root / name for name in config.catalogue_names if (root / name).is_file()]
    if len(found) > 1:
        raise InputError(
            root, f"holds {len(found)} catalogues ({', '.join(f.name for f in found)}); name the one to use"
        )
    return found[0].resolve() if found else None


def _candidate_files(root: Path, catalogue: Path | None, config: FolderConfig) -> list[Path]:
    files = []
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not file.is_file():
            continue
        if catalogue is not None and file.resolve() == catalogue:
            continue
        # "**/*.fits" should also take top-level files, as a shell with globstar does.
        pattern = config.files
        if not (
            fnmatch.fnmatch(rel.as_posix(), pattern) or fnmatch.fnmatch(rel.as_posix(), pattern.removeprefix("**/"))
        ):
            continue
        files.append(file)
    return files


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


def _pad_all(images: list[np.ndarray]) -> np.ndarray:
    height = max(im.shape[0] for im in images)
    width = max(im.shape[1] for im in images)
    out = np.zeros((len(images), height, width), dtype=np.uint8)
    for slot, im in zip(out, images):
        top, left = (height - im.shape[0]) // 2, (width - im.shape[1]) // 2
        slot[top : top + im.shape[0], left : left + im.shape[1]] = im
    return out


def _resize_all(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    sides = [min(im.shape) for im in images]
    counts = Counter(sides)
    # Most common side; ties go to the larger, so less detail is thrown away.
    target = max(counts, key=lambda side: (counts[side], side))
    out = np.empty((len(images), target, target), dtype=np.uint8)
    for slot, im, side in zip(out, images, sides):
        top, left = (im.shape[0] - side) // 2, (im.shape[1] - side) // 2
        square = im[top : top + side, left : left + side]
        slot[:] = np.asarray(Image.fromarray(square).resize((target, target), Image.Resampling.BILINEAR))
    return out, np.asarray(sides, dtype=np.float64) / target


def _meta(names: list[str], cutouts: list[Cutout], scale_factor: np.ndarray, config: FolderConfig) -> pd.DataFrame:
    meta = empty_meta(len(names))
    meta["id"] = [f"{DATASET}:{_strip_suffix(name, config)}" for name in names]
    meta["dataset"] = DATASET
    meta["split"] = "all"
    meta["ra"] = [c.ra for c in cutouts]
    meta["dec"] = [c.dec for c in cutouts]
    meta["pixel_scale_arcsec"] = np.array([c.pixel_scale_arcsec for c in cutouts]) * scale_factor
    meta["filename"] = names
    meta["orig_height"] = np.array([c.native_shape[0] for c in cutouts], dtype=np.int64)
    meta["orig_width"] = np.array([c.native_shape[1] for c in cutouts], dtype=np.int64)
    meta["beam_major_arcsec"] = np.array([c.beam_major_arcsec for c in cutouts], dtype=np.float64)
    meta["beam_minor_arcsec"] = np.array([c.beam_minor_arcsec for c in cutouts], dtype=np.float64)
    if config.survey is not None:
        meta["survey"] = config.survey
    return meta


def _strip_suffix(name: str, config: FolderConfig) -> str:
    suffixes = config.fits_suffixes + config.picture_suffixes + config.array_suffixes
    # Longest first, in case one configured suffix ends another.
    for suffix in sorted(suffixes, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
