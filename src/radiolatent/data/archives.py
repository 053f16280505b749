"""The vendored archives: where they are, checking their MD5, reading members, caching.

Members are read into memory and never extracted, so a hostile archive cannot write
outside anywhere (no path traversal, no links). Decoded datasets are cached as
.npy + .parquet keyed by the archive's MD5, so a changed archive never meets a stale cache.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiolatent.config import ARCHIVES, ArchiveConfig
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import atomic_path
from radiolatent.data.dataset import RadioDataset
from radiolatent.data.safepickle import load_pickle

ARCHIVE_DIR = Path(__file__).resolve().parent / "archives"

#: archive file name -> the authors' MD5 (see the data README).
ARCHIVE_MD5 = {
    "MiraBest_F_batches.tar.gz": "7d4e3a623d29db7204bce81676ee8ce2",
    "NVSS_PNG_dataset.tar.gz": "2584ed1e174ea71f581d0e0d6f32ef38",
    "FIRST_PNG_dataset.tar.gz": "2f39461e6c62fb45289559915106013a",
    "galaxy_data.zip": "79bc5dfae745fce0186a7e686e99dac8",
}
#: side of the square cutouts in the CIFAR-style batch files (MiraBest, FR-DEEP).
BATCH_IMAGE_SIDE = 150
BATCH_TEST_NAME = "test_batch"

#: (resolved path, size, mtime_ns) -> MD5 hex, so each archive is hashed once per process.
_MD5_MEMO: dict[tuple[str, int, int], str] = {}

#: errors the archive modules raise on damaged input.
_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


def archive_path(name: str) -> Path:
    """Path of a vendored archive by file name (one of ARCHIVE_MD5)."""
    if name not in ARCHIVE_MD5:
        raise InputError(name, f"not a shipped archive (choose from {sorted(ARCHIVE_MD5)})")
    path = ARCHIVE_DIR / name
    if not path.is_file():
        raise InputError(path, "shipped archive is missing from the installation")
    return path


def file_md5(path: str | Path) -> str:
    """MD5 hex digest of a file, computed once per process per (path, size, mtime)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputError(path, f"cannot read archive: {exc.strerror or exc}") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _MD5_MEMO:
        digest = hashlib.md5()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        _MD5_MEMO[key] = digest.hexdigest()
    return _MD5_MEMO[key]


def verify_md5(path: str | Path, expected: str) -> str:
    """Return the file's MD5; raise InputError naming file, expected and actual on mismatch."""
    actual = file_md5(path)
    if actual != expected.lower():
        raise InputError(path, f"MD5 mismatch: expected {expected.lower()}, got {actual} (corrupt or altered copy)")
    return actual


def resolve_archive(archive: str | Path | None, default_name: str, verify: bool = True) -> tuple[Path, str]:
    """(path, md5) of the archive to read: `archive` if given, else the shipped one.

    With `verify`, the MD5 must equal the published one for `default_name`.
    """
    path = Path(archive) if archive is not None else archive_path(default_name)
    if not path.is_file():
        raise InputError(path, "archive not found")
    md5 = verify_md5(path, ARCHIVE_MD5[default_name]) if verify else file_md5(path)
    return path, md5


def iter_members(path: str | Path, cfg: ArchiveConfig = ARCHIVES) -> Iterator[tuple[str, bytes]]:
    """Yield (member name, bytes) for every regular file in a .tar.gz / .tgz / .zip archive.

    Directories and links are skipped. A truncated or corrupt archive raises InputError.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".zip"):
        reader = _zip_members
    elif name.endswith((".tar.gz", ".tgz", ".tar")):
        reader = _tar_members
    else:
        raise InputError(path, "unsupported archive type (expected .tar.gz, .tgz, .tar or .zip)")
    try:
        yield from reader(path, cfg.max_member_bytes)
    except InputError:
        raise
    except _ARCHIVE_ERRORS as exc:
        raise InputError(path, f"corrupt or truncated archive: {type(exc).__name__}: {exc}") from None


def _tar_members(path: Path, max_bytes: int) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            _check_size(path, member.name, member.size, max_bytes)
            fh = tar.extractfile(member)
            data = fh.read() if fh is not None else b""
            if len(data) != member.size:
                raise InputError(path, f"corrupt or truncated archive: member {member.name} is short")
            yield member.name, data


def _zip_members(path: Path, max_bytes: int) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            _check_size(path, info.filename, info.file_size, max_bytes)
            yield info.filename, zf.read(info)


def _check_size(path: Path, member: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise InputError(path, f"member {member} is {size} bytes, over the {max_bytes}-byte limit")


def cache_dir(cfg: ArchiveConfig = ARCHIVES) -> Path:
    """Folder for decoded datasets: $RADIOLATENT_CACHE, else ~/.cache/radiolatent."""
    return Path(os.environ.get(cfg.cache_env) or cfg.default_cache_dir).expanduser()


def cached_dataset(
    tag: str, md5: str, build: Callable[[], RadioDataset], cfg: ArchiveConfig = ARCHIVES
) -> RadioDataset:
    """The dataset `build()` makes from the archive with this MD5, cached as .npy + .parquet.

    A cache hit memory-maps the images read-only; a damaged cache is rebuilt.
    """
    stem = cache_dir(cfg) / f"{tag}-{md5}-v{cfg.cache_version}"
    images_path, meta_path = stem.with_suffix(".npy"), stem.with_suffix(".parquet")
    if images_path.is_file() and meta_path.is_file():
        try:
            images = np.load(images_path, mmap_mode="r", allow_pickle=False)
            return RadioDataset(tag, images, pd.read_parquet(meta_path))
        except (OSError, ValueError) as exc:
            warnings.warn(f"{stem}: unreadable cache, rebuilding ({exc})", stacklevel=2)
    dataset = build()
    _write_cache(dataset, images_path, meta_path)
    return dataset


def _write_cache(dataset: RadioDataset, images_path: Path, meta_path: Path) -> None:
    # A cache that cannot be written (read-only home, full disk) only costs speed.
    try:
        with atomic_path(images_path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(dataset.images), allow_pickle=False)
        with atomic_path(meta_path) as tmp:
            dataset.meta.to_parquet(tmp, index=False)
    except OSError as exc:
        warnings.warn(f"{images_path.parent}: cannot write dataset cache ({exc})", stacklevel=3)


def read_batches(path: Path, folder: str, names: tuple[str, ...], side: int) -> dict[str, dict[str, Any]]:
    """Read CIFAR-style batch pickles `folder/<name>` from an archive.

    Returns name -> {"images": (n, side, side) uint8, "labels": int array, "filenames": [str]}.
    Every name must be present; other members are ignored (never unpickled).
    """
    wanted = {f"{folder}/{name}": name for name in names}
    batches = {}
    for member, data in iter_members(path):
        if member in wanted:
            source = f"{path}:{member}"
            batches[wanted[member]] = _check_batch(load_pickle(data, source), source, side)
    missing = [n for n in names if n not in batches]
    if missing:
        raise InputError(path, f"archive lacks batch files {missing} under {folder}/")
    return batches


def _check_batch(obj: object, source: str, side: int) -> dict[str, Any]:
    """Validate one batch dict and bring its images to (n, side, side) uint8."""
    if not isinstance(obj, dict) or not {"data", "labels", "filenames"} <= set(obj):
        raise InputError(source, "not a batch: expected a dict with data, labels and filenames")
    try:
        images = np.asarray(obj["data"])
    except ValueError as exc:
        raise InputError(source, f"batch data is not one array: {exc}") from None
    n = len(images)
    if images.dtype != np.uint8 or images.size != n * side * side:
        raise InputError(
            source, f"batch data must be {n} uint8 images of {side}x{side}, got {images.dtype} {images.shape}"
        )
    labels = np.asarray(obj["labels"])
    if len(labels) != n or len(obj["filenames"]) != n or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(source, f"{n} images but {len(labels)} labels and {len(obj['filenames'])} filenames")
    return {
        "images": images.reshape(n, side, side),
        "labels": labels.astype(np.int64),
        "filenames": [str(f) for f in obj["filenames"]],
    }
