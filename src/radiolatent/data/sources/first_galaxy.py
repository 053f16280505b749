"""FIRST Radio Galaxy Dataset (Griese et al. 2023): 2,158 FIRST cutouts, 300x300.

Read from the PNG release, `galaxy_data/{train,valid,test}/<class>/<RA>_<Dec>_<label>_<catalogue>.png`.
The archive also holds an `all/` copy of every image; it is not decoded, only checked to
hold exactly the files of the three splits.
"""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from radiolatent.core.errors import InputError
from radiolatent.data.archives import cached_dataset, iter_members, resolve_archive
from radiolatent.data.dataset import RadioDataset, check_unique_ids, empty_meta
from radiolatent.data.facts import FIRST_GALAXY_SPLITS, PIXEL_SCALE_ARCSEC

FIRST_GALAXY_ARCHIVE = "galaxy_data.zip"
#: side of the Griese FIRST Radio Galaxy Dataset PNGs.
FIRST_GALAXY_IMAGE_SIDE = 300
#: Griese class folder -> label (0 FRI, 1 FRII, 2 Compact, 3 Bent).
FIRST_GALAXY_CLASSES = {"FRI": 0, "FRII": 1, "Compact": 2, "Bent": 3}

NAME = "first-galaxy"
_ROOT = "galaxy_data"
_ALL = "all"
_LABEL_NAMES = {label: name for name, label in FIRST_GALAXY_CLASSES.items()}


def parse_filename(filename: str, source: str | Path) -> dict[str, Any]:
    """ra, dec, label and catalogue from `<RA>_<Dec>_<label>_<catalogue>.png`."""
    stem = PurePosixPath(filename).name.removesuffix(".png")
    parts = stem.split("_", 3)
    try:
        if len(parts) != 4 or not parts[3]:
            raise ValueError("expected four fields")
        return {
            "stem": stem,
            "ra": float(parts[0]),
            "dec": float(parts[1]),
            "label": int(parts[2]),
            "catalogue": parts[3],
        }
    except ValueError:
        raise InputError(source, f"filename '{filename}' is not <RA>_<Dec>_<label>_<catalogue>.png") from None


def load_first_galaxy(archive: str | Path | None = None, *, verify: bool = True) -> RadioDataset:
    """All 2,158 images (train 1,758 / valid 200 / test 200), labels 0 FRI 1 FRII 2 Compact 3 Bent.

    `archive` defaults to the shipped galaxy_data.zip; `verify` checks its published MD5.
    Decoded arrays are cached, keyed by the archive's MD5.
    """
    path, md5 = resolve_archive(archive, FIRST_GALAXY_ARCHIVE, verify)
    return cached_dataset(NAME, md5, lambda: _decode(path))


def _decode(path: Path) -> RadioDataset:
    entries: list[tuple[tuple[Any, ...], np.ndarray, dict[str, Any]]] = []
    copies: set[tuple[str, str]] = set()
    for member, data in iter_members(path):
        parts = PurePosixPath(member).parts
        if len(parts) != 4 or parts[0] != _ROOT or not parts[3].lower().endswith(".png"):
            continue
        _, split, class_name, filename = parts
        if split == _ALL:
            copies.add((class_name, filename))
        elif split in FIRST_GALAXY_SPLITS:
            source = f"{path}:{member}"
            row = _row(split, class_name, filename, source)
            order = (FIRST_GALAXY_SPLITS.index(split), row["label"], filename)
            entries.append((order, _decode_png(data, source), row))
    _check_complete(path, entries, copies)
    entries.sort(key=lambda e: e[0])
    meta = _meta([e[2] for e in entries])
    check_unique_ids(meta, path)
    return RadioDataset(NAME, np.stack([e[1] for e in entries]), meta)


def _row(split: str, class_name: str, filename: str, source: str) -> dict[str, Any]:
    if class_name not in FIRST_GALAXY_CLASSES:
        raise InputError(source, f"unknown class folder '{class_name}' (expected {list(FIRST_GALAXY_CLASSES)})")
    row = parse_filename(filename, source)
    if row["label"] != FIRST_GALAXY_CLASSES[class_name]:
        raise InputError(source, f"label {row['label']} in the name disagrees with folder {class_name}")
    row["split"] = split
    return row


def _decode_png(data: bytes, source: str) -> np.ndarray:
    """One PNG as (side, side) uint8 greyscale."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            grey = image if image.mode == "L" else image.convert("L")
            array = np.asarray(grey, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(source, f"cannot decode PNG: {exc}") from None
    side = FIRST_GALAXY_IMAGE_SIDE
    if array.shape != (side, side):
        raise InputError(source, f"image is {array.shape}, expected ({side}, {side})")
    return array


def _check_complete(path: Path, entries: list[Any], copies: set[tuple[str, str]]) -> None:
    """The `all/` copy must hold exactly the split files; every split must be present."""
    in_splits = {(_LABEL_NAMES[e[2]["label"]], f"{e[2]['stem']}.png") for e in entries}
    if len(in_splits) != len(entries) or in_splits != copies:
        raise InputError(
            path,
            f"{len(entries)} images in {'/'.join(FIRST_GALAXY_SPLITS)} but {len(copies)} in {_ROOT}/{_ALL}/"
            f" ({len(in_splits ^ copies)} files differ)",
        )
    found = {e[2]["split"] for e in entries}
    missing = [s for s in FIRST_GALAXY_SPLITS if s not in found]
    if missing:
        raise InputError(path, f"archive has no {missing} images under {_ROOT}/")


def _meta(rows: list[dict[str, Any]]) -> pd.DataFrame:
    meta = empty_meta(len(rows))
    meta["id"] = [f"{NAME}:{r['stem']}" for r in rows]
    meta["dataset"] = NAME
    meta["split"] = [r["split"] for r in rows]
    meta["label"] = np.array([r["label"] for r in rows], dtype=np.int64)
    meta["label_name"] = [_LABEL_NAMES[r["label"]] for r in rows]
    meta["ra"] = np.array([r["ra"] for r in rows], dtype=np.float64)
    meta["dec"] = np.array([r["dec"] for r in rows], dtype=np.float64)
    meta["survey"] = "FIRST"
    meta["pixel_scale_arcsec"] = PIXEL_SCALE_ARCSEC["FIRST"]
    meta["catalogue"] = [r["catalogue"] for r in rows]
    meta["filename"] = [f"{r['stem']}.png" for r in rows]
    return meta
