"""Any folder of cutouts (FITS, PNG, JPEG, .npy), searched recursively, plus an optional CSV.

Choices, so users know what they get:

* Pixels become uint8. PNG/JPEG 8-bit images are converted to greyscale and kept as
  they are; anything else (FITS, 16-bit PNG, float or int .npy) is scaled linearly
  from its finite minimum (0) to its maximum (255), after NaN, inf and FITS BLANK
  pixels are set to that minimum. A constant image carries nothing to learn: error.
* FITS images are flipped vertically so that row 0 is the top (north), as in PNGs.
  A cube with one plane (e.g. (1, 1, H, W) from radio pipelines) gives that plane;
  more planes is an error.
* Positions and pixel scale come from the FITS WCS: the sky position of the image
  centre (the source is assumed to sit there) in ICRS, and the pixel scale along the
  second axis. Without a celestial WCS, CDELT2 or CD2_2 (degrees) gives the scale.
* Sizes: if every image has the same shape it is kept. Otherwise FolderConfig.mixed_sizes
  decides: "pad" (default) centre-pads each with 0 to the largest height and width,
  keeping the pixel scale so pixel crops stay right; "resize" centre-crops each to a
  square of its shorter side and resizes (bilinear) to the most common side,
  rescaling `pixel_scale_arcsec`. `orig_height`/`orig_width` keep the native shape.
* Hidden files (names starting with '.') and the catalogue itself are ignored; any
  other file that is not a readable image is an error, or, with skip_bad=True, is
  skipped and listed in `meta.attrs["skipped"]` (see `skipped_files`).

ids are 'folder:<relative path without extension>'; dataset 'folder'; split 'all'.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.wcs import WCS, WcsError
from astropy.wcs.utils import proj_plane_pixel_scales
from PIL import Image

from radiolatent.config import FolderConfig
from radiolatent.data.dataset import RadioDataset, check_unique_ids, empty_meta
from radiolatent.errors import InputError

DATASET = "folder"
SKIPPED_KEY = "skipped"
_ARCSEC_PER_DEG = 3600.0
_UINT8_MAX = 255
_FLOAT_COLUMNS = ("ra", "dec", "las_arcsec", "redshift", "pixel_scale_arcsec")
_TEXT_COLUMNS = ("label_name", "survey")


@dataclass
class Cutout:
    """One image read from disk, before sizes are made common."""

    image: np.ndarray
    ra: float = np.nan
    dec: float = np.nan
    pixel_scale_arcsec: float = np.nan


def load_folder(
    path: str | Path,
    catalogue: str | Path | None = None,
    *,
    skip_bad: bool = False,
    config: FolderConfig = FolderConfig(),
) -> RadioDataset:
    """Every image under `path` as one dataset, merged with an optional CSV catalogue.

    Raises InputError naming the file for any unreadable image (unless skip_bad),
    and for an empty folder or a bad catalogue.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(root, "no such folder")
    cat_path = Path(catalogue).resolve() if catalogue is not None else None
    names, cutouts, skipped = [], [], []
    for file in _candidate_files(root, cat_path):
        rel = file.relative_to(root).as_posix()
        try:
            cutouts.append(read_cutout(file, config))
            names.append(rel)
        except InputError as exc:
            if not skip_bad:
                raise
            skipped.append({"file": rel, "problem": exc.problem})
    if not cutouts:
        note = f"; {len(skipped)} unreadable files skipped" if skipped else ""
        raise InputError(root, f"no images (FITS, PNG, JPEG or .npy) found{note}")
    if skipped:
        warnings.warn(f"{root}: skipped {len(skipped)} unreadable files, e.g. {skipped[0]['file']}: "
                      f"{skipped[0]['problem']}", stacklevel=2)
    images, scale_factor = common_size([c.image for c in cutouts], config.mixed_sizes)
    meta = _meta(names, cutouts, scale_factor, config)
    if catalogue is not None:
        merge_catalogue(meta, catalogue, config)
    check_unique_ids(meta, str(root))
    dataset = RadioDataset(DATASET, images, meta)
    dataset.meta.attrs[SKIPPED_KEY] = skipped
    return dataset


def skipped_files(dataset: RadioDataset) -> list[dict[str, str]]:
    """Files load_folder(skip_bad=True) skipped, each {'file', 'problem'}."""
    return list(dataset.meta.attrs.get(SKIPPED_KEY, []))


def read_cutout(file: Path, config: FolderConfig = FolderConfig()) -> Cutout:
    """One image file as a 2-D uint8 cutout with whatever position it carries."""
    name = file.name.lower()
    if name.endswith(config.fits_suffixes):
        return _read_fits(file)
    if name.endswith(config.picture_suffixes):
        return Cutout(_read_picture(file))
    if name.endswith(config.array_suffixes):
        return Cutout(_read_npy(file))
    raise InputError(file, "is not a supported image (FITS, PNG, JPEG or .npy)")


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


def merge_catalogue(meta: pd.DataFrame, catalogue: str | Path, config: FolderConfig = FolderConfig()) -> None:
    """Copy catalogue columns into `meta` (in place) for the rows whose file they name.

    Rows are matched by a `filename` column (relative path or basename) or else an
    `id` column (file stem, relative path without extension, or the full id).
    """
    source = Path(catalogue)
    table = _read_csv(source)
    key = "filename" if "filename" in table.columns else "id" if "id" in table.columns else None
    if key is None:
        raise InputError(source, f"has no 'id' or 'filename' column to match files by (has {list(table.columns)})")
    values = table[key].astype(str).str.strip()
    if key == "filename":
        values = values.str.replace("\\", "/").str.removeprefix("./")
    repeated = values[values.duplicated()]
    if len(repeated):
        raise InputError(source, f"duplicate {key}s, e.g. '{repeated.iloc[0]}' ({len(repeated)} repeats)")
    rows = _match_rows(values.tolist(), _lookup(meta, key), meta, source)
    for column in config.catalogue_columns:
        if column in table.columns:
            _copy_column(meta, table[column], rows, column, source)


def _candidate_files(root: Path, catalogue: Path | None) -> list[Path]:
    files = []
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not file.is_file():
            continue
        if catalogue is not None and file.resolve() == catalogue:
            continue
        files.append(file)
    return files


def _read_fits(file: Path) -> Cutout:
    raw, header = _first_image_hdu(file)
    values = raw.astype(np.float64)
    bad = ~np.isfinite(values)
    if "BLANK" in header:
        bad |= raw == header["BLANK"]
    values = values * header.get("BSCALE", 1.0) + header.get("BZERO", 0.0)
    values[bad] = np.nan
    plane = _single_plane(values, file)
    ra, dec, scale = _fits_position(header, plane.shape)
    # FITS rows run bottom to top; flip so row 0 is the top, as in PNGs.
    return Cutout(to_uint8(np.flipud(plane), file), ra, dec, scale)


def _first_image_hdu(file: Path) -> tuple[np.ndarray, fits.Header]:
    image_types = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)
    try:
        with warnings.catch_warnings():
            # BLANK in a float image is non-standard but honoured; a corrupt file becomes an
            # InputError below. Astropy's warnings about either would only repeat that.
            warnings.filterwarnings("ignore", message=".*BLANK.*")
            warnings.simplefilter("ignore", VerifyWarning)
            with fits.open(file, memmap=False, do_not_scale_image_data=True) as hdus:
                for hdu in hdus:
                    if isinstance(hdu, image_types) and hdu.data is not None and hdu.data.ndim >= 2:
                        return np.array(hdu.data), hdu.header.copy()
    except (OSError, ValueError, TypeError, EOFError) as exc:
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


def _read_picture(file: Path) -> np.ndarray:
    try:
        with Image.open(file) as picture:
            picture.load()
            if picture.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                # More than 8 bits per pixel: scale like float data instead of clipping.
                return to_uint8(np.asarray(picture, dtype=np.float64), file)
            image = np.asarray(picture.convert("L"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InputError(file, f"is not a readable image ({exc})") from None
    _check_varies(image, file)
    return image


def _read_npy(file: Path) -> np.ndarray:
    try:
        array = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(file, f"is not a readable .npy array ({exc})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise InputError(file, "does not hold a plain numeric array")
    plane = _single_plane(array, file)
    if plane.dtype == np.uint8:
        _check_varies(plane, file)
        return plane
    return to_uint8(plane.astype(np.float64), file)


def to_uint8(values: np.ndarray, source: str | Path) -> np.ndarray:
    """Scale a float image min..max to 0..255, NaN/inf set to the finite minimum."""
    if values.size == 0:
        raise InputError(source, f"is an empty image (shape {values.shape})")
    finite = np.isfinite(values)
    if not finite.any():
        raise InputError(source, "has no finite pixels (all NaN, inf or BLANK)")
    low, high = values[finite].min(), values[finite].max()
    if high == low:
        raise InputError(source, f"is constant ({low:g} everywhere); nothing to learn from")
    filled = np.where(finite, values, low)
    return np.round((filled - low) / (high - low) * _UINT8_MAX).astype(np.uint8)


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
    meta["orig_height"] = np.array([c.image.shape[0] for c in cutouts], dtype=np.int64)
    meta["orig_width"] = np.array([c.image.shape[1] for c in cutouts], dtype=np.int64)
    return meta


def _strip_suffix(name: str, config: FolderConfig) -> str:
    suffixes = config.fits_suffixes + config.picture_suffixes + config.array_suffixes
    # Longest first, in case one configured suffix ends another.
    for suffix in sorted(suffixes, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _read_csv(source: Path) -> pd.DataFrame:
    if not source.is_file():
        raise InputError(source, "no such catalogue file")
    try:
        table = pd.read_csv(source)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(source, f"is not a readable CSV ({exc})") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


def _lookup(meta: pd.DataFrame, key: str) -> dict[str, list[int]]:
    """Every name a catalogue row may use for each file -> the files it names."""
    lookup: dict[str, list[int]] = {}
    for row, (ident, filename) in enumerate(zip(meta["id"], meta["filename"])):
        rel_stem = ident.removeprefix(f"{DATASET}:")
        if key == "filename":
            names = {filename, filename.rsplit("/", 1)[-1]}
        else:
            names = {ident, rel_stem, rel_stem.rsplit("/", 1)[-1]}
        for name in names:
            lookup.setdefault(name, []).append(row)
    return lookup


def _match_rows(values: list[str], lookup: dict[str, list[int]], meta: pd.DataFrame, source: Path) -> list[int]:
    """For each catalogue row, the meta row it names, or -1 (with a warning) if none."""
    rows, unmatched = [], []
    for value in values:
        found = lookup.get(value, [])
        if len(found) > 1:
            files = ", ".join(meta["filename"].iloc[found])
            raise InputError(source, f"'{value}' matches {len(found)} files ({files}); use relative paths")
        rows.append(found[0] if found else -1)
        if not found:
            unmatched.append(value)
    used = [r for r in rows if r >= 0]
    if len(used) != len(set(used)):
        twice = Counter(used).most_common(1)[0][0]
        raise InputError(source, f"more than one row names the file {meta['filename'].iloc[twice]}")
    if unmatched:
        warnings.warn(f"{source}: {len(unmatched)} catalogue rows match no file, e.g. '{unmatched[0]}'",
                      stacklevel=3)
    return rows


def _copy_column(meta: pd.DataFrame, column: pd.Series, rows: list[int], name: str, source: Path) -> None:
    target = np.asarray(rows)
    present = target >= 0
    if name in _TEXT_COLUMNS:
        given = column.notna().to_numpy() & present
        meta.loc[target[given], name] = column[given].astype(str).to_numpy()
        return
    numbers = pd.to_numeric(column, errors="coerce")
    if (numbers.isna() & column.notna()).any():
        raise InputError(source, f"column '{name}' holds values that are not numbers")
    given = numbers.notna().to_numpy() & present
    values = numbers[given].to_numpy(dtype=np.float64)
    if name == "label":
        if np.any(values != np.round(values)):
            raise InputError(source, "column 'label' holds values that are not whole numbers")
        values = values.astype(np.int64)
    _check_range(name, values, source)
    meta.loc[target[given], name] = values


def _check_range(name: str, values: np.ndarray, source: Path) -> None:
    limits = {"ra": (0.0, 360.0), "dec": (-90.0, 90.0)}
    if name in limits and len(values):
        low, high = limits[name]
        if values.min() < low or values.max() > high:
            raise InputError(source, f"column '{name}' has values outside {low:g}..{high:g} degrees")
