"""Writes small RGZ DR1 "rgz108k"-style batch folders for tests.

The real batches were pickled by Python 2, so byte strings appear as py2 `str`
(BINSTRING) rather than Python 3's `_codecs.encode` call; the writer below does the
same, so the files load through the restricted unpickler exactly as real ones do.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np

SIDE = 150
_MAX_SHORT = 256


class Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes bytes and str as Python 2 `str` opcodes."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, raw: bytes, obj: object) -> None:
        if len(raw) < _MAX_SHORT:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    def save_bytes(self, obj: bytes) -> None:
        self._save_py2_str(obj, obj)

    def save_str(self, obj: str) -> None:
        self._save_py2_str(obj.encode("latin1"), obj)

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def py2_pickle(obj: object) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def blob_image(rng: np.random.Generator) -> np.ndarray:
    """A 150x150 uint8 image of one to three Gaussian components over faint noise."""
    y, x = np.mgrid[:SIDE, :SIDE]
    image = rng.normal(0.0, 0.02, (SIDE, SIDE))
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(50, 100, 2)
        sigma = rng.uniform(2, 12)
        image += rng.uniform(0.3, 1.0) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))
    image = (image - image.min()) / (image.max() - image.min())
    return np.round(image * 255).astype(np.uint8)


def write_rgz_fixture(folder: str | Path, n_batches: int = 2, per_batch: int = 6, seed: int = 0) -> dict:
    """Write `data_batch_1..n_batches`, `test_batch` and `batches.meta` under `folder`.

    Planted: the last image of data_batch_2 (or of the last batch) is an exact copy
    of the first image of data_batch_1 (under another src_id); the third source of
    data_batch_1 has mb_flag 1; LAS rises evenly from 5 to 80 arcsec over all rows.
    Returns what was written: images (N,150,150), src_ids, las, mb_flag, split, and
    the row indices `duplicate` (the later copy) and `mirabest`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    total = (n_batches + 1) * per_batch
    images = np.stack([blob_image(rng) for _ in range(total)])
    duplicate = n_batches * per_batch - 1
    images[duplicate] = images[0]
    src_ids = [f"RGZJ{100000 + 37 * i:06d}" for i in range(total)]
    las = np.round(np.linspace(5.0, 80.0, total), 2)
    mb_flag = np.zeros(total, dtype=np.int64)
    mirabest = 2
    mb_flag[mirabest] = 1
    names = [f"data_batch_{b + 1}" for b in range(n_batches)] + ["test_batch"]
    for b, name in enumerate(names):
        rows = slice(b * per_batch, (b + 1) * per_batch)
        batch = {
            "batch_label": f"batch {b + 1} of {len(names)}",
            "data": images[rows].reshape(per_batch, SIDE * SIDE).copy(),
            "filenames": [f"{s}.png" for s in src_ids[rows]],
            "src_ids": src_ids[rows],
            "mb_flag": mb_flag[rows].tolist(),
            "LAS": [np.float64(v) for v in las[rows]],
        }
        (folder / name).write_bytes(py2_pickle(batch))
    meta = {"num_cases_per_batch": per_batch, "num_vis": SIDE * SIDE}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    split = ["train"] * (n_batches * per_batch) + ["test"] * per_batch
    return {"images": images, "src_ids": src_ids, "las": las, "mb_flag": mb_flag, "split": split,
            "duplicate": duplicate, "mirabest": mirabest}
