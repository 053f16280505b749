"""What each data spec means as model input, and where a codes table's model inputs are
kept so its rows can be shown again (pictures, search grids, the explorer)."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_POOL, PoolConfig
from radiolatent.core.errors import InputError
from radiolatent.data.dataset import RadioDataset

#: codes-table columns saying where each row's model input is kept, and at which row.
IMAGES_COLUMN = "images"
IMAGE_ROW_COLUMN = "image_row"


def model_input(spec: str, pool_config: PoolConfig = DEFAULT_POOL) -> RadioDataset:
    """Preprocessed 64x64 images and metadata for a source ('pool', 'mbc', 'frdeep-n:test',
    'folder@/data/fits', 'myfits=folder@/data/fits', ...)."""
    return set_input(spec, pool_config)[0]


def set_input(spec: str, pool_config: PoolConfig = DEFAULT_POOL) -> tuple[RadioDataset, Path | None]:
    """model_input, and where the pool keeps these images already (None: not a pool)."""
    if spec == "pool":
        from radiolatent.data.pools import build_pool

        pool = build_pool(pool_config)
        return pool.as_dataset(), pool.path
    from radiolatent.data.preprocess import preprocess
    from radiolatent.data.registry import load_source

    ds = load_source(spec, pool_config.folder)
    images = preprocess(ds.images, ds.meta["pixel_scale_arcsec"].to_numpy(float), pool_config.preprocess)
    return RadioDataset(ds.name, images, ds.meta), None


def set_name(spec: str) -> str:
    """The canonical name stored in a codes table's `set` column."""
    if spec == "pool":
        return "pool"
    from radiolatent.data.registry import Source

    return Source.parse(spec).set_name


def keep_inputs(images: np.ndarray, pool_path: Path | None) -> Path | None:
    """Where a set's model inputs stay readable for pictures, search grids and the explorer:
    the pool's own cache, or a content-addressed .npy in the cache (written once). None
    when the cache cannot be written: the pictures are then rebuilt from the set."""
    if pool_path is not None:
        return pool_path
    from radiolatent.core.fileio import atomic_path
    from radiolatent.data.archives import cache_dir

    images = np.ascontiguousarray(images)
    digest = hashlib.blake2b(images.tobytes(), digest_size=16).hexdigest()
    path = cache_dir() / "inputs" / f"{digest}-{len(images)}x{images.shape[1]}.npy"
    if not path.is_file():
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, images)
        except OSError as exc:
            warnings.warn(
                f"{path.parent}: cannot keep the model inputs ({exc.strerror or exc}); "
                "pictures of these codes will rebuild them from the set",
                stacklevel=2,
            )
            return None
    return path


def load_images_for(rows: pd.DataFrame, pool_config: PoolConfig = DEFAULT_POOL) -> np.ndarray:
    """The 64x64 model inputs of codes-table rows: read where `embed` kept them (the pool's
    cache or a .npy in the cache), or, for tables written before it kept them, rebuilt
    from their `set`."""
    size = pool_config.preprocess.size
    if IMAGES_COLUMN not in rows.columns:
        return _rebuild_images_for(rows, pool_config)
    out = np.zeros((len(rows), size, size), np.uint8)
    where = rows[IMAGES_COLUMN].astype(str).to_numpy()
    for source in np.unique(where):
        mine = np.flatnonzero(where == source)
        images = _kept_inputs(Path(source))
        index = rows[IMAGE_ROW_COLUMN].to_numpy(np.int64)[mine]
        if images.shape[1:] != (size, size) or index.max(initial=0) >= len(images):
            raise InputError(source, "does not hold these codes' images (changed since embedding); embed again")
        order = np.argsort(index)  # rows read in increasing order: a memory map reads forwards
        out[mine[order]] = images[index[order]]
    return out


def _kept_inputs(path: Path) -> np.ndarray:
    if path.is_dir():
        from radiolatent.data.pools import load_pool

        return load_pool(path).images
    if not path.is_file():
        raise InputError(path, "the images these codes were made from are gone from the cache; embed again")
    try:
        images = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # not .npy, or a pickle numpy will not load
        raise InputError(path, f"named by these codes' {IMAGES_COLUMN} column is not an image array ({exc})") from None
    if not isinstance(images, np.ndarray) or images.ndim != 3:
        raise InputError(path, f"named by these codes' {IMAGES_COLUMN} column is not a stack of images")
    return images


def _rebuild_images_for(rows: pd.DataFrame, pool_config: PoolConfig) -> np.ndarray:
    out = np.zeros((len(rows), pool_config.preprocess.size, pool_config.preprocess.size), np.uint8)
    for set_value in rows["set"].unique():
        ds = model_input(set_value, pool_config)
        where = pd.Index(ds.meta["id"]).get_indexer(rows["id"][rows["set"] == set_value])
        if (where < 0).any():
            missing = rows["id"][rows["set"] == set_value].iloc[int(np.flatnonzero(where < 0)[0])]
            raise InputError(set_value, f"no image with id {missing!r}: the codes table is out of date")
        out[np.flatnonzero((rows["set"] == set_value).to_numpy())] = np.asarray(ds.images)[where]
    return out
