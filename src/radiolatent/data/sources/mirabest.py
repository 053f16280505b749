"""MiraBest F (Porter & Scaife 2023): 1,256 FIRST cutouts, 150x150, FRI / FRII / hybrid.

Every filename carries the source's position, redshift and largest angular size:
`<code>_<RA><Dec>_<redshift>_<LAS>.png`, e.g. `100_123.251+043.797_0.1281_0034.09.png`.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from radiolatent.core.errors import InputError
from radiolatent.data.archives import BATCH_IMAGE_SIDE, BATCH_TEST_NAME, cached_dataset, read_batches, resolve_archive
from radiolatent.data.dataset import RadioDataset, check_unique_ids, empty_meta
from radiolatent.data.facts import MIRABEST_SUBSETS, PIXEL_SCALE_ARCSEC

MIRABEST_ARCHIVE = "MiraBest_F_batches.tar.gz"
#: MiraBest batch label index -> MiraBest code (the batches.meta label_names).
MIRABEST_CODES = ("100", "102", "104", "110", "112", "200", "201", "210", "300", "310")
#: first digit of a MiraBest code -> (label, label_name).
MIRABEST_CLASSES = {"1": (0, "FRI"), "2": (1, "FRII"), "3": (2, "hybrid")}
#: second digit -> confidence.
MIRABEST_CONFIDENCE = {"0": "confident", "1": "uncertain"}
#: third digit -> morphology.
MIRABEST_MORPHOLOGY = {
    "0": "standard",
    "1": "double-double",
    "2": "wide-angle tail",
    "3": "diffuse",
    "4": "head-tail",
}
MIRABEST_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 8))

NAME = "mirabest"
SUBSETS = (*MIRABEST_SUBSETS, "all")
_FOLDER = "F_batches"
_NUMBER = r"\d+(?:\.\d+)?"
_FILENAME = re.compile(rf"^(\d{{3}})_({_NUMBER})([+-]{_NUMBER})_({_NUMBER})_({_NUMBER})$")
_SUBSET_OF_CODE = {code: subset for subset, codes in MIRABEST_SUBSETS.items() for code in codes}


def parse_filename(filename: str, source: str | Path) -> dict[str, Any]:
    """Code, position, redshift and LAS from a MiraBest filename (any folder prefix, .png optional)."""
    stem = PurePosixPath(filename).name.removesuffix(".png")
    match = _FILENAME.match(stem)
    if not match:
        raise InputError(source, f"MiraBest filename '{filename}' is not <code>_<RA><Dec>_<z>_<LAS>")
    code, ra, dec, redshift, las = match.groups()
    if code not in _SUBSET_OF_CODE:
        raise InputError(source, f"MiraBest filename '{filename}' has unknown code {code}")
    return {
        "stem": stem,
        "mb_code": code,
        "ra": float(ra),
        "dec": float(dec),
        "redshift": float(redshift),
        "las_arcsec": float(las),
    }


def load_mirabest(subset: str = "all", archive: str | Path | None = None, *, verify: bool = True) -> RadioDataset:
    """MiraBest F, one subset (confident / uncertain / hybrid) or all, train and test.

    `archive` defaults to the shipped one; `verify` checks its published MD5.
    """
    if subset not in SUBSETS:
        raise InputError(f"{NAME}:{subset}", f"unknown MiraBest subset (choose from {', '.join(SUBSETS)})")
    path, md5 = resolve_archive(archive, MIRABEST_ARCHIVE, verify)
    full = cached_dataset(NAME, md5, lambda: _decode(path))
    if subset == "all":
        return RadioDataset(f"{NAME}:all", full.images, full.meta)
    return full.take(full.meta["dataset"].to_numpy() == f"{NAME}:{subset}", f"{NAME}:{subset}")


def _decode(path: Path) -> RadioDataset:
    names = (*MIRABEST_TRAIN_BATCHES, BATCH_TEST_NAME)
    batches = read_batches(path, _FOLDER, names, BATCH_IMAGE_SIDE)
    images, metas = [], []
    for name in names:
        batch = batches[name]
        split = "test" if name == BATCH_TEST_NAME else "train"
        images.append(batch["images"])
        metas.append(_batch_meta(batch, split, f"{path}:{_FOLDER}/{name}"))
    meta = pd.concat(metas, ignore_index=True)
    check_unique_ids(meta, path)
    return RadioDataset(NAME, np.concatenate(images), meta)


def _batch_meta(batch: dict[str, Any], split: str, source: str) -> pd.DataFrame:
    rows = [parse_filename(f, source) for f in batch["filenames"]]
    for row, label_index, filename in zip(rows, batch["labels"], batch["filenames"]):
        if not 0 <= label_index < len(MIRABEST_CODES) or MIRABEST_CODES[label_index] != row["mb_code"]:
            raise InputError(source, f"label {label_index} disagrees with the code in '{filename}'")
    codes = [r["mb_code"] for r in rows]
    meta = empty_meta(len(rows))
    meta["id"] = [f"{NAME}:{r['stem']}" for r in rows]
    meta["dataset"] = [f"{NAME}:{_SUBSET_OF_CODE[c]}" for c in codes]
    meta["split"] = split
    meta["label"] = np.array([MIRABEST_CLASSES[c[0]][0] for c in codes], dtype=np.int64)
    meta["label_name"] = [MIRABEST_CLASSES[c[0]][1] for c in codes]
    for column in ("ra", "dec", "las_arcsec", "redshift"):
        meta[column] = np.array([r[column] for r in rows], dtype=np.float64)
    meta["survey"] = "FIRST"
    meta["pixel_scale_arcsec"] = PIXEL_SCALE_ARCSEC["FIRST"]
    meta["mb_code"] = codes
    meta["confidence"] = [MIRABEST_CONFIDENCE[c[1]] for c in codes]
    meta["morphology"] = [MIRABEST_MORPHOLOGY[c[2]] for c in codes]
    meta["filename"] = [PurePosixPath(f).name for f in batch["filenames"]]
    return meta
