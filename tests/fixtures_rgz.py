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
from typing import ClassVar

import numpy as np

SIDE = 150
_MAX_SHORT = 256


class Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes bytes and str as Python 2 `str` opcodes."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

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
    return {
        "images": images,
        "src_ids": src_ids,
        "las": las,
        "mb_flag": mb_flag,
        "split": split,
        "duplicate": duplicate,
        "mirabest": mirabest,
    }


# ---------------------------------------------------------------------------
# A scale stand-in: many RGZ-format images made from a few real ones
# ---------------------------------------------------------------------------

#: largest shift, in pixels, of a stand-in's window from the centre of its base image.
STANDIN_SHIFT = 12


def standin_images(base: np.ndarray, start: int, count: int, side: int = SIDE, seed: int = 0) -> np.ndarray:
    """Images `start..start+count` of an endless stand-in sequence made from `base` (M, H, W)
    uint8 images (H, W >= side): each is a side x side window of one base image, offset up
    to STANDIN_SHIFT pixels from its centre (zeros beyond the edge), then flipped and turned
    by quarter turns. Image i depends only on (i, seed), so a folder can be written in
    batches and any slice regenerated. A scale stand-in, not science data: every image is a
    re-cut of a real source, so near-duplicates are common."""
    pad = STANDIN_SHIFT + max(0, (side - min(np.shape(base)[1:])) // 2 + 1)
    padded = np.pad(np.asarray(base), ((0, 0), (pad, pad), (pad, pad)))
    # every image's choices come from one stream, drawn up to the last one asked for
    rng = np.random.default_rng(seed)
    total = start + count
    which = rng.integers(len(padded), size=total)[start:]
    shift = rng.integers(-STANDIN_SHIFT, STANDIN_SHIFT + 1, size=(total, 2))[start:]
    orientation = rng.integers(8, size=total)[start:]
    top0, left0 = (padded.shape[1] - side) // 2, (padded.shape[2] - side) // 2
    out = np.empty((count, side, side), np.uint8)
    for k in range(count):
        top, left = top0 + shift[k, 0], left0 + shift[k, 1]
        out[k] = padded[which[k], top : top + side, left : left + side]
    for o in range(1, 8):  # orientation o: flipped if o >= 4, then o % 4 quarter turns
        rows = np.flatnonzero(orientation == o)
        views = out[rows][:, :, ::-1] if o >= 4 else out[rows]
        out[rows] = np.rot90(views, o % 4, axes=(1, 2))
    return out


def write_rgz_standin(
    folder: str | Path, base: np.ndarray, n: int, per_batch: int = 10_000, seed: int = 0, progress=None
) -> dict:
    """Write an n-image RGZ DR1 batch folder of `standin_images` (the last batch is
    `test_batch`, the others `data_batch_1..`), one batch in memory at a time. Ids are
    `SYN0000000..`; LAS is drawn from 10 to 120 arcsec; no source is flagged MiraBest.
    `progress(done, n)` is called after each batch. Returns {files, n, src_ids}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    starts = list(range(0, n, per_batch))
    names = [f"data_batch_{b + 1}" for b in range(len(starts) - 1)] + ["test_batch"]
    las_rng = np.random.default_rng((seed, 2**32 - 1))  # apart from every image's stream
    las = np.round(las_rng.uniform(10.0, 120.0, n), 2)
    files = []
    for name, start in zip(names, starts):
        count = min(per_batch, n - start)
        images = standin_images(base, start, count, SIDE, seed)
        src_ids = [f"SYN{i:07d}" for i in range(start, start + count)]
        batch = {
            "batch_label": f"stand-in {name}",
            "data": images.reshape(count, SIDE * SIDE),
            "filenames": [f"{s}.png" for s in src_ids],
            "src_ids": src_ids,
            "mb_flag": [0] * count,
            "LAS": [float(v) for v in las[start : start + count]],
        }
        (folder / name).write_bytes(py2_pickle(batch))
        files.append(folder / name)
        if progress is not None:
            progress(start + count, n)
    (folder / "batches.meta").write_bytes(py2_pickle({"num_cases_per_batch": per_batch, "num_vis": SIDE * SIDE}))
    return {"files": files, "n": n, "src_ids": [f"SYN{i:07d}" for i in range(n)]}
