"""Dataset specs `name[:subset][:split]` -> RadioDataset, and the table of shipped datasets.

Examples: `mirabest:confident:train`, `mbc:test` (alias), `frdeep-n`, `first-galaxy:valid`,
`rgz-dr1` and `folder` (these two read a user-supplied `path`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from radiolatent.config import DATASET_ALIASES, FolderConfig
from radiolatent.core.errors import InputError
from radiolatent.data.dataset import RadioDataset
from radiolatent.data.facts import FIRST_GALAXY_SPLITS, MIRABEST_SUBSETS, PIXEL_SCALE_ARCSEC

SPLIT_COLUMNS = ("train", "valid", "test")

#: one line per shipped dataset, for `list_datasets()`.
DATASET_DESCRIPTIONS = {
    "mirabest": "MiraBest F (Porter & Scaife 2023), FIRST 150x150, FRI/FRII/hybrid",
    "frdeep-n": "FR-DEEP NVSS (Tang et al. 2019), 150x150, FRI/FRII",
    "frdeep-f": "FR-DEEP FIRST (Tang et al. 2019), 150x150, FRI/FRII",
    "first-galaxy": "FIRST Radio Galaxy Dataset (Griese et al. 2023), 300x300, FRI/FRII/Compact/Bent",
}


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset name accepts: its subsets (first is the default), splits, survey."""

    subsets: tuple[str, ...]
    splits: tuple[str, ...]
    survey: str = ""
    needs_path: bool = False


DATASETS: dict[str, DatasetInfo] = {
    "mirabest": DatasetInfo(("all", *MIRABEST_SUBSETS), ("train", "test"), "FIRST"),
    "frdeep-n": DatasetInfo((), ("train", "test"), "NVSS"),
    "frdeep-f": DatasetInfo((), ("train", "test"), "FIRST"),
    "first-galaxy": DatasetInfo(("all",), FIRST_GALAXY_SPLITS, "FIRST"),
    # user-supplied data: whatever splits the files carry (often just "all")
    "rgz-dr1": DatasetInfo((), ("train", "valid", "test", "all"), "FIRST", needs_path=True),
    "folder": DatasetInfo((), ("train", "valid", "test", "all"), "", needs_path=True),
}


def _choices(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(values) if values else "none"


def parse_spec(spec: str) -> tuple[str, str | None, str | None]:
    """(name, subset or None, split or None) of a spec, aliases resolved and checked."""
    parts = [p.strip().lower() for p in str(spec).strip().split(":")]
    if parts[0] in DATASET_ALIASES:
        parts = DATASET_ALIASES[parts[0]].split(":") + parts[1:]
    name, rest = parts[0], parts[1:]
    if name not in DATASETS:
        known = sorted(DATASETS) + sorted(f"{a} (= {t})" for a, t in DATASET_ALIASES.items())
        raise InputError(spec, f"unknown dataset '{name}' (choose from {_choices(known)})")
    info = DATASETS[name]
    subset = info.subsets[0] if info.subsets else None
    if len(rest) > 2:
        raise InputError(spec, "a dataset spec is name[:subset][:split]")
    if len(rest) == 2:
        return name, _check(spec, rest[0], info.subsets, "subset"), _check(spec, rest[1], info.splits, "split")
    if len(rest) == 1:
        token = rest[0]
        if token in info.subsets:
            return name, token, None
        if token in info.splits:
            return name, subset, token
        raise InputError(
            spec,
            f"'{token}' is neither a subset ({_choices(info.subsets)}) nor a split ({_choices(info.splits)}) of {name}",
        )
    return name, subset, None


def _check(spec: str, token: str, valid: tuple[str, ...], kind: str) -> str:
    if token not in valid:
        raise InputError(spec, f"unknown {kind} '{token}' (choose from {_choices(valid)})")
    return token


def canonical_spec(spec: str) -> tuple[str, str | None]:
    """(`name[:subset]` with aliases resolved and the default subset filled in, split or None)."""
    name, subset, split = parse_spec(spec)
    return (f"{name}:{subset}" if subset else name), split


@dataclass(frozen=True)
class Source:
    """A dataset as a user writes it: `[NAME=]SPEC[@PATH]`.

    `folder@/data/fits`, `rgz-dr1:test@/data/rgz108k`, `myfits=folder@/data/fits`. NAME,
    when given, is the set name its rows get in a codes table (default: SPEC)."""

    spec: str
    path: Path | None = None
    name: str | None = None

    @classmethod
    def parse(cls, text: str) -> Source:
        text = str(text).strip()
        given, eq, rest = text.partition("=")
        name: str | None = given
        if not eq or "@" in given or ":" in given:
            name, rest = None, text
        spec, _, path = rest.partition("@")
        if not spec.strip() or (name is not None and not name.strip()):
            raise InputError(text, "a dataset is written [NAME=]DATASET[:SPLIT][@PATH], e.g. myfits=folder@/data/fits")
        return cls(spec.strip(), Path(path).expanduser() if path.strip() else None, name.strip() if name else None)

    @property
    def set_name(self) -> str:
        """The name of this source's rows in a codes table."""
        if self.name:
            return self.name
        name, split = canonical_spec(self.spec)
        return f"{name}:{split}" if split else name

    def check(self) -> None:
        """A missing or wrong path, reported before any work."""
        name, _, _ = parse_spec(self.spec)
        if DATASETS[name].needs_path and self.path is None:
            raise InputError(self.spec, f"{name} needs a folder: write it as {name}@/path/to/folder")
        if self.path is not None and not self.path.exists():
            raise InputError(self.path, f"no such {'folder' if DATASETS[name].needs_path else 'file'}")


def load_source(source: str | Source, folder: FolderConfig = FolderConfig()) -> RadioDataset:
    """The dataset a `[NAME=]SPEC[@PATH]` source names; folders read with `folder`'s options."""
    source = source if isinstance(source, Source) else Source.parse(source)
    source.check()
    options = {"config": folder} if parse_spec(source.spec)[0] == "folder" else {}
    return load_dataset(source.spec, path=source.path, **options)


def load_dataset(spec: str, path: str | Path | None = None, **options: Any) -> RadioDataset:
    """Load the dataset a spec names, optionally one split.

    `path` is required for `rgz-dr1` and `folder`; for a shipped dataset it replaces the
    vendored archive with a copy (whose MD5 is still checked unless `verify=False`).
    Other `options` go to the loader (e.g. `drop_duplicates=True` for rgz-dr1).
    """
    name, subset, split = parse_spec(spec)
    info = DATASETS[name]
    if info.needs_path and path is None:
        raise InputError(spec, f"{name} needs a path to the data")
    try:
        loader, fixed = _loader(name, subset, path)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("radiolatent."):
            raise
        raise InputError(spec, f"{name} support is not available in this installation ({exc.name})") from None
    _check_options(spec, loader, fixed, options)
    dataset = loader(**fixed, **options)
    full_name = f"{name}:{subset}" if subset else name
    dataset = RadioDataset(full_name, dataset.images, dataset.meta)
    return dataset.split(split) if split else dataset


def _loader(
    name: str, subset: str | None, path: str | Path | None
) -> tuple[Callable[..., RadioDataset], dict[str, Any]]:
    """The loader function and the arguments the spec fixes; imported late so that one
    missing or broken loader module does not break the others."""
    if name == "mirabest":
        from radiolatent.data.sources.mirabest import load_mirabest

        return load_mirabest, {"subset": subset, "archive": path}
    if name in ("frdeep-n", "frdeep-f"):
        from radiolatent.data.sources.frdeep import load_frdeep

        return load_frdeep, {"name": name, "archive": path}
    if name == "first-galaxy":
        from radiolatent.data.sources.first_galaxy import load_first_galaxy

        return load_first_galaxy, {"archive": path}
    if name == "rgz-dr1":
        from radiolatent.data.sources.rgz import load_rgz

        return load_rgz, {"path": path}
    from radiolatent.data.sources.folder import load_folder

    return load_folder, {"path": path}


def _check_options(
    spec: str, loader: Callable[..., RadioDataset], fixed: dict[str, Any], options: dict[str, Any]
) -> None:
    allowed = [p for p in inspect.signature(loader).parameters if p not in fixed]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(spec, f"unknown option(s) {unknown} (this dataset takes {_choices(allowed)})")


def list_datasets() -> pd.DataFrame:
    """One row per shipped dataset and subset, with image counts per split."""
    rows: list[dict[str, Any]] = []
    for name, info in DATASETS.items():
        if info.needs_path:
            continue
        for subset in info.subsets or ("",):
            spec = f"{name}:{subset}" if subset else name
            counts = load_dataset(spec).meta["split"].value_counts()
            row: dict[str, Any] = {"dataset": name, "subset": subset}
            row.update({s: int(counts.get(s, 0)) for s in SPLIT_COLUMNS})
            row["total"] = int(counts.sum())
            row["survey"] = info.survey
            row["pixel_scale_arcsec"] = PIXEL_SCALE_ARCSEC[info.survey]
            row["description"] = DATASET_DESCRIPTIONS[name]
            rows.append(row)
    return pd.DataFrame(rows)
