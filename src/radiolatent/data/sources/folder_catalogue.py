"""A folder's catalogue (CSV, FITS table or VOTable) merged into the metadata of its files:
columns copied to the rows whose file a `filename` or `id` column names, or else to the
file whose WCS centre lies within 30" of the row's ra / dec (`load_folder` calls it)."""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import FolderConfig
from radiolatent.core.errors import InputError

log = logging.getLogger(__name__)
_TEXT_COLUMNS = ("label_name", "survey")
#: a catalogue row and a file closer than this on the sky are the same source.
_POSITION_MATCH_ARCSEC = 30.0


def merge_catalogue(meta: pd.DataFrame, catalogue: str | Path, config: FolderConfig = FolderConfig()) -> None:
    """Copy catalogue columns into `meta` (in place) for the rows whose file they name.

    Rows are matched by a `filename` column (relative path or basename) or else an
    `id` column (file stem, relative path without extension, or the full id); a
    catalogue with neither is matched by sky position (ra / dec columns against the
    files' WCS centres, within 30").
    """
    from radiolatent.data.catalogue import read_catalogue

    source = Path(catalogue)
    table = read_catalogue(source)
    key = "filename" if "filename" in table.columns else "id" if "id" in table.columns else None
    if key is None:
        rows = _position_rows(table, meta, source)
    else:
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


def _position_rows(table: pd.DataFrame, meta: pd.DataFrame, source: Path) -> list[int]:
    """For each catalogue row, the file whose centre lies within 30" of it, or -1."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    if not {"ra", "dec"} <= set(table.columns):
        raise InputError(
            source,
            f"has no 'filename' or 'id' column, nor 'ra' and 'dec' to match files by (has {list(table.columns)})",
        )
    placed = np.isfinite(meta["ra"].to_numpy(float)) & np.isfinite(meta["dec"].to_numpy(float))
    if not placed.any():
        raise InputError(source, "matches files by position, but no file carries a sky position (WCS)")
    ra, dec = table["ra"].to_numpy(float), table["dec"].to_numpy(float)  # numbers: read_catalogue
    files = SkyCoord(meta["ra"].to_numpy(float)[placed] * u.deg, meta["dec"].to_numpy(float)[placed] * u.deg)
    nearest, sep, _ = SkyCoord(np.nan_to_num(ra) * u.deg, np.nan_to_num(dec) * u.deg).match_to_catalog_sky(files)
    close = np.isfinite(ra) & np.isfinite(dec) & (sep.arcsec <= _POSITION_MATCH_ARCSEC)
    rows = np.where(close, np.flatnonzero(placed)[nearest], -1)
    taken = rows[rows >= 0]
    if len(taken) != len(set(taken)):
        twice = Counter(taken.tolist()).most_common(1)[0][0]
        raise InputError(
            source,
            f'more than one row lies within {_POSITION_MATCH_ARCSEC:g}" of '
            f"{meta['filename'].iloc[twice]}; add a filename column",
        )
    matched: list[int] = rows.tolist()
    return matched


def _lookup(meta: pd.DataFrame, key: str) -> dict[str, list[int]]:
    """Every name a catalogue row may use for each file -> the files it names."""
    lookup: dict[str, list[int]] = {}
    for row, (ident, filename) in enumerate(zip(meta["id"], meta["filename"])):
        rel_stem = ident.split(":", 1)[-1]  # ids are 'folder:<relative path without extension>'
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
    if unmatched and len(set(used)) == len(meta):
        # Every file found its row: the rest describe other files, e.g. another folder's
        # when one catalogue serves two folders, which is no cause for a warning.
        log.info("%s: %d catalogue rows name files not in this folder, e.g. '%s'", source, len(unmatched), unmatched[0])
    elif unmatched:
        warnings.warn(f"{source}: {len(unmatched)} catalogue rows match no file, e.g. '{unmatched[0]}'", stacklevel=3)
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
    # ra and dec were checked (numbers, in range) when the catalogue was read
    meta.loc[target[given], name] = values
