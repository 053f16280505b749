"""RGZ DR1 in the published "rgz108k" batch format: a folder the user supplies.

The folder holds `data_batch_1..N` (split 'train') and `test_batch` (split 'test'),
each a pickle of a dict with `data` (n, 150*150) uint8, `filenames`, `src_ids`,
`mb_flag` (1 where the source is in MiraBest) and `LAS` (largest angular size,
arcsec). `batches.meta` carries nothing the metadata needs, so it is not read.
The format carries no sky positions: `ra`/`dec` stay NaN.

The three cuts users of these batches make before pre-training are options; each
row dropped is counted under the first rule that drops it, in the order
MiraBest flag, angular size, exact duplicate (duplicates are looked for only
among rows the other rules keep, so the first kept copy of an image survives).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiolatent.config import RGZConfig
from radiolatent.core.errors import InputError
from radiolatent.data.dataset import RadioDataset, check_unique_ids, empty_meta
from radiolatent.data.facts import PIXEL_SCALE_ARCSEC
from radiolatent.data.safepickle import load_pickle

DATASET = "rgz-dr1"
COUNTS_KEY = "rgz_counts"
_HASH_BYTES = 16


@dataclass
class RGZCounts:
    """How many images were read and how many each rule dropped."""

    read: int = 0
    mirabest: int = 0
    below_las: int = 0
    duplicate: int = 0

    @property
    def kept(self) -> int:
        return self.read - self.mirabest - self.below_las - self.duplicate

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "kept": self.kept}


def rgz_batch_files(path: str | Path, config: RGZConfig = RGZConfig()) -> list[tuple[Path, str]]:
    """The folder's batch files in reading order, each with its split."""
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(folder, "no such folder (expected RGZ DR1 batches data_batch_1..N and test_batch)")
    pattern = re.compile(re.escape(config.train_prefix) + r"(\d+)")
    numbered = []
    for file in folder.iterdir():
        match = pattern.fullmatch(file.name)
        if match and file.is_file():
            numbered.append((int(match.group(1)), file))
    files = [(file, "train") for _, file in sorted(numbered)]
    test = folder / config.test_name
    if test.is_file():
        files.append((test, "test"))
    if not files:
        raise InputError(folder, f"no RGZ batches ({config.train_prefix}<n> or {config.test_name}) in this folder")
    return files


def read_rgz_batch(file: Path, split: str, config: RGZConfig = RGZConfig()) -> tuple[np.ndarray, pd.DataFrame]:
    """One batch file as (images (n, side, side) uint8, metadata), nothing dropped."""
    batch = _load_dict(file)
    missing = [key for key in config.required_keys if key not in batch]
    if missing:
        raise InputError(file, f"batch lacks keys {missing} (has {sorted(batch)})")
    images = _images(batch["data"], file, config.image_side)
    n = len(images)
    src_ids = _strings(batch["src_ids"], "src_ids", n, file)
    filenames = _strings(batch["filenames"], "filenames", n, file)
    mb_flag = _numbers(batch["mb_flag"], "mb_flag", n, file)
    if not np.all(np.isfinite(mb_flag) & (mb_flag == np.round(mb_flag))):
        raise InputError(file, "'mb_flag' holds values that are not whole numbers")
    las = _numbers(batch["LAS"], "LAS", n, file)

    meta = empty_meta(n)
    meta["id"] = [f"{DATASET}:{s}" for s in src_ids]
    meta["dataset"] = DATASET
    meta["split"] = split
    meta["las_arcsec"] = las
    meta["survey"] = config.survey
    meta["pixel_scale_arcsec"] = PIXEL_SCALE_ARCSEC[config.survey]
    meta["src_id"] = src_ids
    meta["mb_flag"] = mb_flag.astype(np.int64)
    meta["filename"] = filenames
    return images, meta


def iter_rgz_batches(
    path: str | Path,
    *,
    drop_duplicates: bool = False,
    min_las_arcsec: float = 0.0,
    drop_mirabest: bool = False,
    counts: RGZCounts | None = None,
    config: RGZConfig = RGZConfig(),
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """Yield (images, meta) for each batch file in turn, with the chosen rows dropped.

    Only one batch is held at a time, so a pool builder can stream all of RGZ DR1
    into a memory map. Duplicate detection and id uniqueness span all batches.
    Pass `counts` to have it updated as batches are read.
    """
    counts = counts if counts is not None else RGZCounts()
    seen_images: set[bytes] = set()
    seen_ids: set[str] = set()
    files = rgz_batch_files(path, config)
    n_read = 0
    for file, split in files:
        images, meta = read_rgz_batch(file, split, config)
        if len(images) == 0:  # a valid batch with no rows contributes nothing
            continue
        n_read += len(images)
        keep = _keep_mask(images, meta, drop_mirabest, min_las_arcsec, drop_duplicates, seen_images, counts)
        images = np.ascontiguousarray(images[keep])
        meta = meta[keep].reset_index(drop=True)
        _check_new_ids(meta, seen_ids, file)
        yield images, meta
    if n_read == 0:
        raise InputError(path, f"every RGZ batch in this folder is empty ({len(files)} files, 0 images)")


def load_rgz(
    path: str | Path,
    *,
    drop_duplicates: bool = False,
    min_las_arcsec: float = 0.0,
    drop_mirabest: bool = False,
    config: RGZConfig = RGZConfig(),
) -> RadioDataset:
    """All of an RGZ DR1 batch folder in memory; see `rgz_summary` for what was dropped."""
    counts = RGZCounts()
    parts = list(
        iter_rgz_batches(
            path,
            drop_duplicates=drop_duplicates,
            min_las_arcsec=min_las_arcsec,
            drop_mirabest=drop_mirabest,
            counts=counts,
            config=config,
        )
    )
    images = np.concatenate([images for images, _ in parts])
    meta = pd.concat([meta for _, meta in parts], ignore_index=True)
    check_unique_ids(meta, str(path))
    dataset = RadioDataset(DATASET, images, meta)
    dataset.meta.attrs[COUNTS_KEY] = counts.as_dict()
    return dataset


def rgz_summary(dataset: RadioDataset) -> dict[str, int]:
    """Counts read / dropped by each rule / kept, for a dataset from `load_rgz`."""
    if COUNTS_KEY not in dataset.meta.attrs:
        raise InputError(dataset.name, "carries no RGZ counts (was it made by load_rgz and not sliced since?)")
    return dict(dataset.meta.attrs[COUNTS_KEY])


def _load_dict(file: Path) -> dict[str, Any]:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(file, f"cannot read: {exc.strerror or exc}") from None
    raw = load_pickle(data, file)
    if not isinstance(raw, dict):
        raise InputError(file, f"batch is a {type(raw).__name__}, expected a dict")
    # Python 2 pickles may carry byte-string keys.
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in raw.items()}


def _images(data: object, file: Path, side: int) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        raise InputError(file, f"'data' is a {type(data).__name__}, expected a numpy array")
    pixels = side * side
    if data.ndim >= 1 and len(data) == 0:  # no rows: whatever dtype or row shape it was saved with
        return np.zeros((0, side, side), dtype=np.uint8)
    if data.ndim == 2 and data.shape[1] == pixels:
        data = data.reshape(len(data), side, side)
    elif not (data.ndim == 3 and data.shape[1:] == (side, side)):
        raise InputError(file, f"'data' has shape {data.shape}; expected (n, {pixels}) rows of {side}x{side} images")
    if data.dtype != np.uint8:
        if data.dtype.kind not in "iu" or (data.size and (data.min() < 0 or data.max() > 255)):
            raise InputError(file, f"'data' is {data.dtype}, expected uint8 pixels 0..255")
        data = data.astype(np.uint8)
    return data


def _as_list(values: object, key: str, n: int, file: Path) -> list[Any]:
    if isinstance(values, np.ndarray):
        values = values.reshape(-1).tolist() if values.ndim <= 1 else None
    if not isinstance(values, (list, tuple)):
        raise InputError(file, f"'{key}' is not a list or 1-D array")
    if len(values) != n:
        raise InputError(file, f"'{key}' has {len(values)} entries but 'data' has {n} images")
    return list(values)


def _strings(values: object, key: str, n: int, file: Path) -> list[str]:
    items = _as_list(values, key, n, file)
    return [v.decode("latin1") if isinstance(v, bytes) else str(v) for v in items]


def _numbers(values: object, key: str, n: int, file: Path) -> np.ndarray:
    items = _as_list(values, key, n, file)
    try:
        return np.asarray(items, dtype=np.float64).reshape(n)
    except (TypeError, ValueError):
        raise InputError(file, f"'{key}' holds values that are not numbers") from None


def _keep_mask(
    images: np.ndarray,
    meta: pd.DataFrame,
    drop_mirabest: bool,
    min_las_arcsec: float,
    drop_duplicates: bool,
    seen: set[bytes],
    counts: RGZCounts,
) -> np.ndarray:
    keep = np.ones(len(images), dtype=bool)
    counts.read += len(images)
    if drop_mirabest:
        flagged = meta["mb_flag"].to_numpy() != 0
        counts.mirabest += int(flagged.sum())
        keep &= ~flagged
    if min_las_arcsec > 0:
        # A NaN LAS cannot be shown to pass the cut, so it is dropped with the small ones.
        small = keep & ~(meta["las_arcsec"].to_numpy() >= min_las_arcsec)
        counts.below_las += int(small.sum())
        keep &= ~small
    if drop_duplicates:
        for i in np.flatnonzero(keep):
            digest = hashlib.blake2b(images[i].tobytes(), digest_size=_HASH_BYTES).digest()
            if digest in seen:
                keep[i] = False
                counts.duplicate += 1
            else:
                seen.add(digest)
    return keep


def _check_new_ids(meta: pd.DataFrame, seen: set[str], file: Path) -> None:
    check_unique_ids(meta, str(file))
    repeated = [i for i in meta["id"] if i in seen]
    if repeated:
        raise InputError(file, f"id '{repeated[0]}' already appeared in an earlier batch ({len(repeated)} repeats)")
    seen.update(meta["id"])
