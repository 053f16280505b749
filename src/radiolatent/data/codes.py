"""Codes tables: one parquet row per image with its metadata, `set`, `model` and code.

Layout (docs/architecture.md): the META_COLUMNS, `set` (the canonical spec that was
embedded), `model` (model id), float32 code columns `z000`..`zNNN`, and optional extra
blocks named `<block>_000`.. (e.g. `l3_000`).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import DATASET_ALIASES, META_COLUMNS
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import atomic_path

REQUIRED_COLUMNS = (*META_COLUMNS, "set", "model")
SPLITS = ("train", "valid", "test")
#: the subset name meaning "every row of this dataset".
ALL_SUBSET = "all"
#: the smallest zero-padding of code column numbers (z000).
CODE_DIGITS = 3


def table_source(df: pd.DataFrame) -> str:
    """The file a table came from (set by read_codes), for error messages."""
    return str(df.attrs.get("source", "codes table"))


def _block_pattern(block: str) -> re.Pattern[str]:
    # the main block is z000..; extra blocks carry an underscore so "l3_000" cannot
    # be mistaken for a column of a block named "l"
    prefix = "z" if block == "z" else f"{re.escape(block)}_"
    return re.compile(rf"^{prefix}(\d+)$")


def code_columns(df: pd.DataFrame, block: str = "z") -> list[str]:
    """The columns of one code block, ordered by their number (z000, z001, ...)."""
    pattern = _block_pattern(block)
    found = [(int(m.group(1)), c) for c in df.columns if (m := pattern.match(str(c)))]
    return [c for _, c in sorted(found)]


def _all_blocks(df: pd.DataFrame) -> list[str]:
    """Names of every code block present: 'z' plus any `<name>_NNN` block."""
    blocks = {"z"} if code_columns(df, "z") else set()
    for col in df.columns:
        m = re.match(r"^([A-Za-z][A-Za-z0-9]*)_\d+$", str(col))
        if m:
            blocks.add(m.group(1))
    return sorted(blocks)


def code_matrix(df: pd.DataFrame, block: str = "z") -> np.ndarray:
    """The (rows, dims) float32 matrix of one code block."""
    cols = code_columns(df, block)
    if not cols:
        raise InputError(table_source(df), f"no code columns for block '{block}' (blocks present: {_all_blocks(df)})")
    return df[cols].to_numpy(dtype=np.float32)


def _check_finite(df: pd.DataFrame, source: str) -> None:
    for block in _all_blocks(df):
        cols = code_columns(df, block)
        text = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])]
        if text:
            raise InputError(source, f"code column '{text[0]}' holds {df[text[0]].dtype} values, not numbers")
        values = df[cols].to_numpy(dtype=np.float64)
        bad_rows = ~np.isfinite(values).all(axis=1)
        if bad_rows.any():
            first = df["id"].iloc[int(np.flatnonzero(bad_rows)[0])] if "id" in df else int(np.flatnonzero(bad_rows)[0])
            raise InputError(source, f"{int(bad_rows.sum())} rows have NaN/inf in block '{block}' (first: {first})")


def validate_codes(df: pd.DataFrame, source: str) -> None:
    """Raise InputError unless `df` follows the codes-table contract."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(source, f"codes table lacks columns {missing}")
    if not code_columns(df, "z"):
        raise InputError(source, "codes table has no code columns (z000..)")
    _check_finite(df, source)


def make_codes_table(
    meta: pd.DataFrame,
    codes: np.ndarray,
    set_name: str,
    model: str,
    extra_blocks: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Build a codes table from a dataset's metadata and its (N, D) codes."""
    missing = [c for c in META_COLUMNS if c not in meta.columns]
    if missing:
        raise InputError(set_name, f"metadata lacks columns {missing}")
    blocks = {"z": codes, **(extra_blocks or {})}
    parts = [meta.reset_index(drop=True).assign(set=set_name, model=model)]
    for block, values in blocks.items():
        parts.append(_block_frame(block, np.asarray(values), len(meta), set_name))
    table = pd.concat(parts, axis=1)
    validate_codes(table, set_name)
    return table


def _block_frame(block: str, values: np.ndarray, n_rows: int, source: str) -> pd.DataFrame:
    if values.ndim != 2 or len(values) != n_rows:
        raise InputError(source, f"block '{block}' has shape {values.shape}, expected ({n_rows}, D)")
    digits = max(CODE_DIGITS, len(str(values.shape[1] - 1)))
    prefix = "z" if block == "z" else f"{block}_"
    names = [f"{prefix}{i:0{digits}d}" for i in range(values.shape[1])]
    return pd.DataFrame(values.astype(np.float32), columns=names)


def write_codes(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a codes table to parquet; the file appears only once complete."""
    validate_codes(df, str(path))
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def read_codes(path: str | Path) -> pd.DataFrame:
    """Read and check a codes table; errors name the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such codes file")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a non-parquet file
        raise InputError(
            path,
            f"is not a parquet codes table (not a readable parquet file: {type(exc).__name__}; "
            "`radiolatent embed` writes codes tables)",
        ) from None
    validate_codes(df, str(path))
    _warn_repeated_ids(df, str(path))
    df.attrs["source"] = str(path)
    return df


def _warn_repeated_ids(df: pd.DataFrame, source: str) -> None:
    """An id repeated within one set is a damaged table: `select` keeps the first row of
    each id, so the others would be dropped unseen. (The same id in two sets is normal:
    an image can be embedded as part of the pool and of its own dataset.)"""
    repeated = df.duplicated(["set", "id"], keep="first").to_numpy()
    if repeated.any():
        first = df[repeated].iloc[0]
        warnings.warn(
            f"{source}: {int(repeated.sum())} rows repeat an id within their set "
            f"(first: '{first['id']}' in set '{first['set']}'); only the first row of each id is used",
            stacklevel=3,
        )


def resolve_spec(spec: str) -> tuple[str, str | None]:
    """Split a spec into (canonical name, split or None), expanding aliases.

    `mbc:test` -> (`mirabest:confident`, `test`); `nvss` -> (`frdeep-n`, None).
    """
    parts = [p for p in spec.strip().split(":") if p]
    if not parts:
        raise InputError(spec, "empty dataset spec")
    head = DATASET_ALIASES.get(parts[0])
    if head is not None:
        parts = head.split(":") + parts[1:]
    split = None
    if len(parts) > 1 and parts[-1] in SPLITS:
        split = parts.pop()
    return ":".join(parts), split


def _name_matches(df: pd.DataFrame, name: str) -> pd.Series:
    dataset = df["dataset"].astype(str)
    match = (df["set"].astype(str) == name) | (dataset == name) | dataset.str.startswith(name + ":")
    base, _, subset = name.rpartition(":")
    if base and subset == ALL_SUBSET:
        # "mirabest:all" means every MiraBest row, whatever its finer subset
        match |= (dataset == base) | dataset.str.startswith(base + ":")
    return match


def select(df: pd.DataFrame, spec: str) -> pd.DataFrame:
    """Rows matching `name[:subset][:split]` (aliases allowed), de-duplicated by id.

    A row matches when its `set` equals the name, or its `dataset` equals the name or
    starts with name + ':' (so `mirabest` matches `mirabest:confident` rows); `pool`
    picks the pool rows. The first row of each id is kept.
    """
    if "@" in spec or "=" in spec:
        # a source as embedded (folder@DIR, myfits=folder@DIR): its rows are its set
        from radiolatent.data.registry import Source

        spec = Source.parse(spec).set_name
    name, split = resolve_spec(spec)
    mask = _name_matches(df, name) | (df["set"].astype(str) == spec)
    if split is not None:
        mask &= df["split"].astype(str) == split
    out = df[mask.to_numpy()]
    out = out[~out["id"].duplicated(keep="first")].reset_index(drop=True)
    if out.empty:
        sets = sorted(df["set"].astype(str).unique())
        datasets = sorted(df["dataset"].astype(str).unique())
        raise InputError(table_source(df), f"no rows match '{spec}' (sets: {sets}; datasets: {datasets})")
    out.attrs["source"] = table_source(df)
    return out
