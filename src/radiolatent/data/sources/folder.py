"""Any folder of cutouts (FITS, PNG, JPEG, .npy), searched recursively, plus an optional catalogue.

Choices, so users know what they get:

* Each file is read by `data.image_file.read_cutout` (its doc says how: MiraBest's
  recipe for survey data, the beam, BUNIT, partial cutouts, orientation, WCS).
* Sizes: cutouts of known scale all come out field_arcsec / pixel_scale_arcsec pixels
  across. Others keep their size, capped at SurveyImageConfig.max_side; if sizes still
  differ, FolderConfig.mixed_sizes decides: "pad" (default) centre-pads each with 0 to
  the largest height and width; "resize" centre-crops each to a square of its shorter
  side and resizes (bilinear) to the most common side, rescaling `pixel_scale_arcsec`.
  `orig_height`/`orig_width` keep each file's native shape.
* Hidden files (names starting with '.') and the catalogue itself are ignored. Any other
  file that is not a readable image, not sky brightness (BUNIT) or a partial cutout is
  skipped and counted (`skipped_files`; -v names each file and why); with
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
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from radiolatent.config import FolderConfig
from radiolatent.core.errors import InputError
from radiolatent.data.dataset import RadioDataset, check_unique_ids, empty_meta
from radiolatent.data.image_file import Cutout, NotBrightness, PartialCutout, read_cutout
from radiolatent.data.sources.folder_catalogue import merge_catalogue as merge_catalogue

DATASET = "folder"
log = logging.getLogger(__name__)
SKIPPED_KEY = "skipped"


#: why files were skipped, in the one warning line: (error type, what the files are).
_SKIP_KINDS = (
    (NotBrightness, "are not sky brightness (BUNIT)"),
    (PartialCutout, "are partial cutouts (`keep_partial` keeps them)"),
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
    meta["id"] = [f"{DATASET}:{strip_suffix(name, config)}" for name in names]
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


def strip_suffix(name: str, config: FolderConfig = FolderConfig()) -> str:
    """A file name without the image suffix a folder reads it by ('a.fits.gz' -> 'a')."""
    suffixes = config.fits_suffixes + config.picture_suffixes + config.array_suffixes
    # Longest first, in case one configured suffix ends another.
    for suffix in sorted(suffixes, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
