"""FR-DEEP (Tang, Scaife & Leahy 2019): 600 FRI/FRII cutouts, 150x150, NVSS or FIRST.

Filenames name the source catalogue and its row, not a position, e.g. `42_FRICAT_FR1_.png`
(NVSS) or `42_FRICAT_FR1_example.png` (FIRST); FRII files and the FIRST CoNFIG FRIs carry
only the row (`12a.png`, `29_example.png`). The FIRST names repeat (two objects share
`37_example.png`), so ids hold the batch and position as well as the name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiolatent.core.errors import InputError
from radiolatent.data.archives import BATCH_IMAGE_SIDE, BATCH_TEST_NAME, cached_dataset, read_batches, resolve_archive
from radiolatent.data.dataset import RadioDataset, check_unique_ids, empty_meta
from radiolatent.data.facts import PIXEL_SCALE_ARCSEC

#: FR-DEEP variant -> (archive, folder inside it, survey).
FRDEEP_VARIANTS = {
    "frdeep-n": ("NVSS_PNG_dataset.tar.gz", "NVSS_PNG_dataset", "NVSS"),
    "frdeep-f": ("FIRST_PNG_dataset.tar.gz", "FIRST_PNG_dataset", "FIRST"),
}
FRDEEP_LABEL_NAMES = ("FRI", "FRII")
FRDEEP_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 12))

NAMES = tuple(FRDEEP_VARIANTS)
_FILENAME = re.compile(r"^(\d+)[a-z]?(?:_([A-Za-z]+)_FR([12])_)?(?:_?example)?$")


def parse_filename(filename: str, source: str | Path) -> tuple[str, int, int | None]:
    """(catalogue or "", catalogue row, FR class the name states or None) from an FR-DEEP name."""
    stem = filename.removesuffix(".png")
    match = _FILENAME.match(stem)
    if not match:
        raise InputError(source, f"FR-DEEP filename '{filename}' does not start with a catalogue row")
    row, catalogue, fr = match.groups()
    return catalogue or "", int(row), int(fr) if fr else None


def load_frdeep(name: str, archive: str | Path | None = None, *, verify: bool = True) -> RadioDataset:
    """FR-DEEP `frdeep-n` (NVSS, 15"/px) or `frdeep-f` (FIRST, 1.8"/px): 550 train, 50 test.

    `archive` defaults to the shipped one; `verify` checks its published MD5.
    """
    if name not in FRDEEP_VARIANTS:
        raise InputError(name, f"unknown FR-DEEP variant (choose from {', '.join(NAMES)})")
    archive_name, _, _ = FRDEEP_VARIANTS[name]
    path, md5 = resolve_archive(archive, archive_name, verify)
    return cached_dataset(name, md5, lambda: _decode(name, path))


def _decode(name: str, path: Path) -> RadioDataset:
    _, folder, survey = FRDEEP_VARIANTS[name]
    batch_names = (*FRDEEP_TRAIN_BATCHES, BATCH_TEST_NAME)
    batches = read_batches(path, folder, batch_names, BATCH_IMAGE_SIDE)
    metas = [
        _batch_meta(name, survey, batch_name, batches[batch_name], f"{path}:{folder}/{batch_name}")
        for batch_name in batch_names
    ]
    meta = pd.concat(metas, ignore_index=True)
    check_unique_ids(meta, path)
    images = np.concatenate([batches[b]["images"] for b in batch_names])
    return RadioDataset(name, images, meta)


def _batch_meta(name: str, survey: str, batch_name: str, batch: dict[str, Any], source: str) -> pd.DataFrame:
    labels = batch["labels"]
    if labels.size and (labels.min() < 0 or labels.max() >= len(FRDEEP_LABEL_NAMES)):
        raise InputError(source, f"labels must be 0 (FRI) or 1 (FRII), got {sorted(set(labels.tolist()))}")
    parsed = [parse_filename(f, source) for f in batch["filenames"]]
    for (_, _, fr), label, filename in zip(parsed, labels, batch["filenames"]):
        if fr is not None and fr != label + 1:
            raise InputError(source, f"label {label} disagrees with FR{fr} in '{filename}'")
    meta = empty_meta(len(labels))
    stems = [f.removesuffix(".png") for f in batch["filenames"]]
    meta["id"] = [f"{name}:{batch_name}:{i:02d}:{stem}" for i, stem in enumerate(stems)]
    meta["dataset"] = name
    meta["split"] = "test" if batch_name == BATCH_TEST_NAME else "train"
    meta["label"] = labels
    meta["label_name"] = [FRDEEP_LABEL_NAMES[i] for i in labels]
    meta["survey"] = survey
    meta["pixel_scale_arcsec"] = PIXEL_SCALE_ARCSEC[survey]
    meta["catalogue"] = [p[0] for p in parsed]
    meta["catalogue_row"] = np.array([p[1] for p in parsed], dtype=np.int64)
    meta["filename"] = list(batch["filenames"])
    return meta
