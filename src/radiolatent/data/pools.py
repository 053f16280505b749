"""Leak-free pre-training pools.

A pool is a union of dataset subsets minus every source that is also in an
evaluation set. Exclusion is by sky position where both sides have one, and by
near-duplicate image (pixel correlation of the preprocessed cutouts) between
images of the same survey, which is what catches FR-DEEP (no positions) and
pipeline copies. Sources seen twice inside the pool (Griese re-uses MiraBest
objects) are kept once. The preprocessed pool is cached as a memory-mapped
uint8 array, so a 100k-image pool costs its uint8 size and no more.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord
from tqdm.auto import tqdm

from radiolatent.config import DEFAULT_POOL, FolderConfig, PoolConfig, config_hash
from radiolatent.core.errors import InputError
from radiolatent.data.archives import cache_dir
from radiolatent.data.dataset import RadioDataset
from radiolatent.data.las import estimate_las
from radiolatent.data.preprocess import preprocess

#: the columns of a pool's report, in order: why candidates were dropped.
DROP_REASONS = ("candidates", "dropped_position", "dropped_image", "dropped_blank", "dropped_small")


@dataclass
class Pool:
    """A preprocessed pool: `images` (N, size, size) uint8 memory map, `meta`, `report`."""

    images: np.ndarray
    meta: pd.DataFrame
    report: pd.DataFrame
    config: PoolConfig
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.images)

    def as_dataset(self) -> RadioDataset:
        return RadioDataset("pool", self.images, self.meta)

    def summary(self) -> dict[str, Any]:
        """Composition and provenance, JSON-ready."""
        return {
            "size": len(self),
            "image_shape": list(self.images.shape[1:]),
            "path": str(self.path) if self.path else None,
            "config": asdict(self.config),
            "sources": self.report.to_dict(orient="records"),
        }


# ---------------------------------------------------------------------------
# Reading sources
# ---------------------------------------------------------------------------


def parse_source(source: str) -> tuple[str, Path | None]:
    """'rgz-dr1@/data/rgz' -> ('rgz-dr1', Path('/data/rgz')); plain specs have no path.
    A set name in front (`mine=folder@/data`) is read as the registry reads it."""
    from radiolatent.data.registry import Source

    parsed = Source.parse(source)
    return parsed.spec, parsed.path


def check_sources(config: PoolConfig) -> None:
    """Every source and exclusion spec names a known dataset and an existing path of the
    right kind; checked before any work, so a typo in the last `--add` costs nothing."""
    from radiolatent.data.registry import DATASETS, Source, parse_spec

    for source in (*config.sources, *config.exclude):
        parsed = Source.parse(source)
        parsed.check()  # a known dataset; a path where one is needed, and that exists
        name, _, _ = parse_spec(parsed.spec)
        path = parsed.path
        if path is None:
            continue
        if name == "rgz-dr1":
            from radiolatent.data.sources.rgz import rgz_batch_files

            rgz_batch_files(path)  # a folder holding batch files, or a one-line error
        elif DATASETS[name].needs_path and not path.is_dir():
            raise InputError(path, f"is not a folder (pool source {source})")
        elif not DATASETS[name].needs_path and not path.is_file():
            raise InputError(path, f"is not an archive file (pool source {source})")


def path_fingerprint(path: Path) -> str:
    """A cheap digest of the files under `path` (relative names, sizes, modification
    times), so a pool built from a folder is rebuilt once files are added or changed."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        stat = file.stat()
        # fsencode keeps names with bytes that are not UTF-8 hashable as they are
        name = os.fsencode(file.relative_to(path)) if file != path else b""
        digest.update(name + b"\0" + f"{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def source_fingerprints(config: PoolConfig) -> dict[str, str]:
    """Each path-bearing source (and exclusion) -> the fingerprint of its files."""
    out = {}
    for source in (*config.sources, *config.exclude):
        _, path = parse_source(source)
        if path is not None:
            out[source] = path_fingerprint(path)
    # a catalogue named in the folder options may live outside every source folder
    catalogue = getattr(getattr(config, "folder", None), "catalogue", None)
    if out and catalogue is not None and Path(catalogue).is_file():
        out[f"catalogue {catalogue}"] = path_fingerprint(Path(catalogue))
    return out


def iter_source(source: str, folder: FolderConfig = FolderConfig()) -> Iterator[RadioDataset]:
    """Yield a source in chunks: RGZ DR1 batch by batch, everything else whole; folder
    sources are read with `folder`'s options."""
    from radiolatent.data.registry import load_source

    spec, path = parse_source(source)
    if spec.split(":")[0] == "rgz-dr1":
        from radiolatent.data.sources.rgz import iter_rgz_batches

        if path is None:
            raise InputError(source, "rgz-dr1 needs a folder: write it as rgz-dr1@/path/to/batches")
        for images, meta in iter_rgz_batches(path, drop_duplicates=True, drop_mirabest=True):
            yield RadioDataset(spec, images, meta)
        return
    yield load_source(source, folder)


# ---------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------


def _coords(meta: pd.DataFrame) -> tuple[np.ndarray, SkyCoord | None]:
    """Rows with a position, and their coordinates."""
    has = np.isfinite(meta["ra"].to_numpy(float)) & np.isfinite(meta["dec"].to_numpy(float))
    if not has.any():
        return has, None
    return has, SkyCoord(meta["ra"].to_numpy(float)[has] * u.deg, meta["dec"].to_numpy(float)[has] * u.deg)


def position_matches(meta: pd.DataFrame, reference: pd.DataFrame, radius_arcsec: float) -> np.ndarray:
    """Boolean per row of `meta`: within `radius_arcsec` of any positioned row of `reference`."""
    hit = np.zeros(len(meta), dtype=bool)
    has, coords = _coords(meta)
    _, ref_coords = _coords(reference)
    if coords is None or ref_coords is None:
        return hit
    _, sep, _ = coords.match_to_catalog_sky(ref_coords)
    hit[np.flatnonzero(has)] = sep.arcsec <= radius_arcsec
    return hit


def _standardise_rows(images: np.ndarray) -> np.ndarray:
    """Zero-mean unit-norm rows, so a dot product is the Pearson correlation."""
    x = images.reshape(len(images), -1).astype(np.float32)
    x -= x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
    return unit


def max_image_correlation(images: np.ndarray, reference: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Per image, its highest pixel correlation with any reference image (same shape)."""
    if len(reference) == 0 or len(images) == 0:
        return np.full(len(images), -1.0, dtype=np.float32)
    ref = _standardise_rows(reference)
    out = np.empty(len(images), dtype=np.float32)
    for start in range(0, len(images), chunk):
        block = _standardise_rows(images[start : start + chunk])
        out[start : start + chunk] = (block @ ref.T).max(axis=1)
    return out


def position_pairs(meta: pd.DataFrame, radius_arcsec: float) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers (a, b), a < b, of every pair of rows whose sky positions lie within
    `radius_arcsec` (astropy's search_around_sky); rows without a position take part in none."""
    has, coords = _coords(meta)
    if coords is None or len(coords) < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    rows = np.flatnonzero(has)
    i, j, _, _ = coords.search_around_sky(coords, radius_arcsec * u.arcsec)
    later = j > i
    return rows[i[later]], rows[j[later]]


def duplicates_by_position(meta: pd.DataFrame, radius_arcsec: float) -> np.ndarray:
    """Boolean per row: an earlier row lies within `radius_arcsec` (keep the first of each group)."""
    dup = np.zeros(len(meta), dtype=bool)
    dup[position_pairs(meta, radius_arcsec)[1]] = True
    return dup


# ---------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------


@dataclass
class _Exclusions:
    meta: pd.DataFrame
    images: dict[str, np.ndarray]  # survey -> preprocessed images


def _load_exclusions(config: PoolConfig) -> _Exclusions:
    metas: list[pd.DataFrame] = []
    by_survey: dict[str, list[np.ndarray]] = {}
    for spec in config.exclude:
        for ds in iter_source(spec):
            metas.append(ds.meta)
            pre = preprocess(ds.images, ds.meta["pixel_scale_arcsec"].to_numpy(float), config.preprocess)
            for survey in ds.meta["survey"].unique():
                rows = ds.meta["survey"].to_numpy() == survey
                by_survey.setdefault(survey, []).append(pre[rows])
    meta = pd.concat(metas, ignore_index=True) if metas else pd.DataFrame(columns=["ra", "dec"])
    return _Exclusions(meta, {s: np.concatenate(v) for s, v in by_survey.items()})


def _image_matches(ds: RadioDataset, pre: np.ndarray, excl: _Exclusions, threshold: float) -> np.ndarray:
    hit = np.zeros(len(ds), dtype=bool)
    for survey, ref in excl.images.items():
        rows = ds.meta["survey"].to_numpy() == survey
        if rows.any():
            hit[rows] = max_image_correlation(pre[rows], ref) > threshold
    return hit


def _angular_sizes(ds: RadioDataset, config: PoolConfig) -> tuple[np.ndarray, np.ndarray]:
    """Catalogue LAS where known, the estimator's elsewhere, and which was used."""
    las = ds.meta["las_arcsec"].to_numpy(float).copy()
    missing = ~np.isfinite(las)
    source = np.where(missing, "estimator", "catalogue").astype(object)
    if missing.any():
        scales = ds.meta["pixel_scale_arcsec"].to_numpy(float)[missing]
        las[missing] = estimate_las(np.asarray(ds.images[missing]), scales, config.las)
    return las, source


def _filter_chunk(
    ds: RadioDataset, excl: _Exclusions, config: PoolConfig
) -> tuple[np.ndarray, pd.DataFrame, dict[str, int]]:
    """Preprocess a chunk and drop what matches an evaluation source or is too small."""
    pre = preprocess(ds.images, ds.meta["pixel_scale_arcsec"].to_numpy(float), config.preprocess)
    by_pos = position_matches(ds.meta, excl.meta, config.match_radius_arcsec)
    by_img = _image_matches(ds, pre, excl, config.image_match_threshold) & ~by_pos
    flat = pre.reshape(len(pre), -1)
    blank = (flat.max(axis=1) == flat.min(axis=1)) & config.drop_blank & ~by_pos & ~by_img
    las, las_source = _angular_sizes(ds, config)
    small = (las < config.min_las_arcsec) & ~by_pos & ~by_img & ~blank
    keep = ~(by_pos | by_img | blank | small)
    meta = ds.meta.assign(las_arcsec=las, las_source=las_source)[keep].reset_index(drop=True)
    counts = {
        "candidates": len(ds),
        "dropped_position": int(by_pos.sum()),
        "dropped_image": int(by_img.sum()),
        "dropped_blank": int(blank.sum()),
        "dropped_small": int(small.sum()),
    }
    return pre[keep], meta, counts


def _report_row(source: str, counts: dict[str, int], dropped_dup: int, kept: int) -> dict[str, Any]:
    return {"source": source, **counts, "dropped_duplicate": dropped_dup, "kept": kept}


def build_pool(config: PoolConfig = DEFAULT_POOL, *, cache: bool = True, progress: bool = True) -> Pool:
    """Build (or load from cache) the preprocessed, leak-free pool described by `config`.

    Every source path is checked first. The pool is written to a staging folder that
    replaces the cache folder only when complete; on any failure (Ctrl-C included) the
    staging folder goes, so no partial `images.raw.part` is left behind.
    """
    check_sources(config)
    folder = pool_dir(config)
    if cache and (folder / "images.npy").exists():
        return load_pool(folder, config)
    excl = _load_exclusions(config)
    folder, staging = _staging_folder(folder)
    try:
        _write_pool(staging, excl, config, progress)
        _replace_folder(staging, folder)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        exc.target = getattr(exc, "target", None) or folder  # type: ignore[attr-defined]
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return load_pool(folder, config)


def _staging_folder(folder: Path) -> tuple[Path, Path]:
    """(where the pool goes, where it is built). A cache folder that cannot be written
    (read-only, or not a folder) costs the cache, not the run: the pool is built in a
    temporary folder removed when the process ends, with one warning."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        return folder, Path(tempfile.mkdtemp(prefix=f"{folder.name}.", suffix=".part", dir=folder.parent))
    except OSError as exc:
        private = Path(tempfile.mkdtemp(prefix="radiolatent-pool-"))
        atexit.register(shutil.rmtree, private, True)
        warnings.warn(
            f"{folder.parent}: cannot write the pool cache ({exc.strerror or exc}); "
            "building the pool for this run only",
            stacklevel=3,
        )
        return private / folder.name, Path(tempfile.mkdtemp(prefix=f"{folder.name}.", suffix=".part", dir=private))


def _write_pool(folder: Path, excl: _Exclusions, config: PoolConfig, progress: bool) -> None:
    """Filter every source into `folder`: images.npy, meta.parquet, report.json, config.json."""
    raw_path = folder / "images.raw.part"
    metas: list[pd.DataFrame] = []
    rows: list[dict[str, Any]] = []
    held_path = folder / "source.raw.part"
    with open(raw_path, "wb") as raw:
        for source in tqdm(config.sources, desc="pool sources", disable=not progress):
            counts = dict.fromkeys(DROP_REASONS, 0)
            kept_meta = []
            # a source's kept images wait on disk, not in memory, until its duplicates are known
            # (a 100,000-image source held in memory cost 0.8 GB more than one held on disk)
            with open(held_path, "wb") as held:
                for chunk in iter_source(source, config.folder):
                    pre, meta, c = _filter_chunk(chunk, excl, config)
                    counts = {k: counts[k] + c[k] for k in counts}
                    held.write(np.ascontiguousarray(pre).tobytes())
                    kept_meta.append(meta.assign(pool_source=source))
            meta = pd.concat(kept_meta, ignore_index=True)
            dup = _duplicates_against(meta, metas, config.match_radius_arcsec)
            _copy_rows(held_path, raw, ~dup, config.preprocess.size)
            os.unlink(held_path)
            metas.append(meta[~dup].reset_index(drop=True))
            rows.append(_report_row(source, counts, int(dup.sum()), int((~dup).sum())))
    _finish(folder, raw_path, metas, pd.DataFrame(rows), config)


def _copy_rows(path: Path, out: BinaryIO, keep: np.ndarray, size: int, chunk: int = 8192) -> None:
    """Append the `keep` rows of the (N, size, size) uint8 file `path` to the open file
    `out`, `chunk` rows in memory at a time (plain reads: a memory map's pages would
    count in the process's memory until it ends)."""
    with open(path, "rb") as held:
        for start in range(0, len(keep), chunk):
            rows = np.fromfile(held, dtype=np.uint8, count=min(chunk, len(keep) - start) * size * size)
            out.write(rows.reshape(-1, size, size)[keep[start : start + chunk]].tobytes())


def _replace_folder(staging: Path, folder: Path) -> None:
    """Move a complete pool into place; a previous pool there (a --rebuild) goes only
    after the new one is complete."""
    if folder.exists():
        old = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", suffix=".old", dir=folder.parent))
        os.replace(folder, old / "pool")
        os.replace(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, folder)


def _duplicates_against(meta: pd.DataFrame, earlier: list[pd.DataFrame], radius: float) -> np.ndarray:
    """Rows of `meta` already in the pool (earlier sources) or repeated within `meta`."""
    dup = duplicates_by_position(meta, radius)
    if earlier:
        dup |= position_matches(meta, pd.concat(earlier, ignore_index=True), radius)
    return dup


def _finish(folder: Path, raw_path: Path, metas: list[pd.DataFrame], report: pd.DataFrame, config: PoolConfig) -> None:
    meta = pd.concat(metas, ignore_index=True)
    size = config.preprocess.size
    # the raw rows behind a .npy header, copied through a small buffer (not two memory maps,
    # whose pages would all count in this process's peak memory)
    with open(raw_path, "rb") as flat, open(folder / "images.npy", "wb") as out:
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
            "fortran_order": False,
            "shape": (len(meta), size, size),
        }
        np.lib.format.write_array_header_1_0(out, header)
        shutil.copyfileobj(flat, out, 16 * 2**20)
    os.unlink(raw_path)
    # the staging folder is moved into place only once complete, so plain writes suffice here
    meta.to_parquet(folder / "meta.parquet", index=False)
    (folder / "report.json").write_text(json.dumps(report.to_dict(orient="records"), indent=2))
    (folder / "config.json").write_text(json.dumps(asdict(config), indent=2, default=str))


def pool_dir(config: PoolConfig) -> Path:
    """The pool's cache folder: keyed on its settings and, for sources read from a
    user's path, on those files' names, sizes and times (shipped sources alone keep
    the key they always had, so existing caches stay valid)."""
    fingerprints = source_fingerprints(config)
    key = config_hash(config, fingerprints) if fingerprints else config_hash(config)
    return cache_dir() / "pools" / key


def load_pool(folder: str | Path, config: PoolConfig | None = None) -> Pool:
    """Open a cached pool; images stay on disk as a memory map."""
    folder = Path(folder)
    try:
        images = np.load(folder / "images.npy", mmap_mode="r", allow_pickle=False)
        meta = pd.read_parquet(folder / "meta.parquet")
        report = pd.DataFrame(json.loads((folder / "report.json").read_text()))
    except (OSError, ValueError) as exc:
        raise InputError(folder, f"not a readable pool cache ({exc}); delete it to rebuild") from exc
    if len(images) != len(meta):
        raise InputError(folder, f"pool cache holds {len(images)} images but {len(meta)} rows; delete it to rebuild")
    if config is None:
        config = _config_from_json(folder / "config.json")
    return Pool(images, meta, report, config, folder)


def _config_from_json(path: Path) -> PoolConfig:
    from radiolatent.config import dataclass_from_dict

    config: PoolConfig = dataclass_from_dict(PoolConfig, json.loads(path.read_text()))
    return config
