"""The one in-memory form every dataset takes: uint8 images plus a metadata table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import META_COLUMNS
from radiolatent.core.errors import InputError


@dataclass
class RadioDataset:
    """`images` is (N, H, W) uint8 (possibly a memory map); `meta` has one row per image.

    `meta` always holds META_COLUMNS (NaN, -1 or "" where unknown) and may hold
    dataset-specific extras (e.g. MiraBest's `mb_code`).
    """

    name: str
    images: np.ndarray
    meta: pd.DataFrame

    def __post_init__(self) -> None:
        if self.images.ndim != 3:
            raise InputError(self.name, f"images must be (N, H, W), got shape {self.images.shape}")
        if self.images.dtype != np.uint8:
            raise InputError(self.name, f"images must be uint8, got {self.images.dtype}")
        if len(self.meta) != len(self.images):
            raise InputError(self.name, f"{len(self.images)} images but {len(self.meta)} metadata rows")
        missing = [c for c in META_COLUMNS if c not in self.meta.columns]
        if missing:
            raise InputError(self.name, f"metadata lacks columns {missing}")
        self.meta = self.meta.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.images)

    def take(self, index: np.ndarray | list[int] | pd.Series, name: str | None = None) -> RadioDataset:
        """Rows by integer index or boolean mask."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return RadioDataset(name or self.name, np.asarray(self.images[idx]), self.meta.iloc[idx])

    def split(self, split: str) -> RadioDataset:
        if split not in set(self.meta["split"]):
            raise InputError(self.name, f"no split '{split}' (has {sorted(set(self.meta['split']))})")
        return self.take(self.meta["split"].to_numpy() == split, f"{self.name}:{split}")


def pick(n_total: int, n: int, seed: int) -> np.ndarray:
    """n distinct random rows of n_total (all when fewer), in a stable order."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_total, size=min(n, n_total), replace=False))


def empty_meta(n: int) -> pd.DataFrame:
    """A metadata table of n rows with every standard column set to 'unknown'."""
    return pd.DataFrame(
        {
            "id": [""] * n,
            "dataset": [""] * n,
            "split": [""] * n,
            "label": np.full(n, -1, dtype=np.int64),
            "label_name": [""] * n,
            "ra": np.full(n, np.nan),
            "dec": np.full(n, np.nan),
            "las_arcsec": np.full(n, np.nan),
            "redshift": np.full(n, np.nan),
            "survey": [""] * n,
            "pixel_scale_arcsec": np.full(n, np.nan),
        }
    )


def check_unique_ids(meta: pd.DataFrame, source: str | Path) -> None:
    dup = meta["id"][meta["id"].duplicated()]
    if len(dup):
        raise InputError(source, f"duplicate ids, e.g. '{dup.iloc[0]}' ({len(dup)} repeats)")


def concat(datasets: list[RadioDataset], name: str) -> RadioDataset:
    """Stack datasets of equal image size."""
    shapes = {d.images.shape[1:] for d in datasets}
    if len(shapes) != 1:
        raise InputError(name, f"cannot stack images of different sizes {sorted(shapes)}")
    images = np.concatenate([np.asarray(d.images) for d in datasets])
    meta = pd.concat([d.meta for d in datasets], ignore_index=True)
    return RadioDataset(name, images, meta)


def class_names(rows: pd.DataFrame, values: np.ndarray) -> list[str]:
    """Each label value's name: its `label_name` in the rows, else the number itself."""
    names = []
    for value in values:
        named = rows.loc[rows["label"] == value, "label_name"].astype(str)
        named = named[named.str.len() > 0]
        names.append(named.iloc[0] if len(named) else str(value))
    return names
