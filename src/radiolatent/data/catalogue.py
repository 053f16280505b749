"""Source catalogues in CSV, FITS-table or VOTable form, read into one shape.

`read_catalogue` picks the format from the file's suffix, reads it with astropy's
Table reader, and returns a DataFrame whose column names are stripped, lower-cased
and mapped from common survey spellings to ours (RAJ2000 -> ra, Source_Name -> id,
LAS -> las_arcsec, ...). Text comes back as str, never bytes. Positions, where
given, must be numbers in degrees inside the sky's ranges; blanks stay NaN.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from radiolatent.core.errors import InputError
from radiolatent.core.fileio import atomic_path

#: suffix -> astropy Table.read format. Longest suffixes are tried first.
FORMATS = {
    ".csv": "ascii.csv",
    ".ecsv": "ascii.ecsv",
    ".txt": "ascii",
    ".fits": "fits",
    ".fit": "fits",
    ".fits.gz": "fits",
    ".vot": "votable",
    ".xml": "votable",
    ".votable": "votable",
}

#: lower-cased catalogue column name -> our name. Survey catalogues (FIRST, NVSS,
#: LoTSS, VizieR exports) spell the same quantity many ways; only these are mapped.
ALIASES = {
    "raj2000": "ra",
    "ra_deg": "ra",
    "ra_j2000": "ra",
    "ra_icrs": "ra",
    "dej2000": "dec",
    "decj2000": "dec",
    "dec_deg": "dec",
    "de_icrs": "dec",
    "dec_j2000": "dec",
    "name": "id",
    "source_id": "id",
    "source_name": "id",
    "las": "las_arcsec",
    "z": "redshift",
}

_LIMITS = {"ra": (0.0, 360.0), "dec": (-90.0, 90.0)}


def read_catalogue(path: str | Path) -> pd.DataFrame:
    """The catalogue at `path` as a DataFrame with our column names.

    Raises InputError naming the file when it is missing, unreadable, of an unknown
    suffix, or has ra/dec values that are not numbers in degrees within range.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(source, "no such catalogue file")
    table = _read_table(source, _format_of(source))
    frame = _to_frame(table)
    # Excel writes UTF-8 CSVs with a byte-order mark, which would stick to the first name
    frame.columns = _our_names([str(c).lstrip("\ufeff") for c in frame.columns])
    _decode_bytes(frame)
    for column in ("ra", "dec"):
        if column in frame.columns:
            frame[column] = _positions(frame[column], column, source)
    if "id" in frame.columns:
        frame["id"] = frame["id"].map(lambda v: v if pd.isna(v) else str(v).strip())
    return frame


def _format_of(source: Path) -> str:
    name = source.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    known = ", ".join(FORMATS)
    raise InputError(source, f"unknown catalogue format (use a file ending in {known})")


def _read_table(source: Path, fmt: str) -> Table:
    try:
        with warnings.catch_warnings():
            # Unit strings astropy does not know (e.g. 'Jy/beam' spellings, 'DEG') only
            # warn; the values are still read and units are not used here.
            warnings.simplefilter("ignore")
            # VOTables name columns by ID unless told otherwise; names are what people see.
            options = {"use_names_over_ids": True} if fmt == "votable" else {}
            table = Table.read(source, format=fmt, **options)
    except Exception as exc:  # astropy raises many types for a corrupt file; all mean the same.
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(source, f"is not a readable {fmt} table ({problem})") from None
    table.convert_bytestring_to_unicode()
    return table


def _to_frame(table: Table) -> pd.DataFrame:
    # Vector cells (e.g. a FITS column of 2-element arrays) have no DataFrame form;
    # they carry nothing the loaders use, so they are left out.
    flat = [name for name in table.colnames if len(table[name].shape) <= 1]
    frame: pd.DataFrame = table[flat].to_pandas()
    return frame.reset_index(drop=True)


def _our_names(names: list[str]) -> list[str]:
    """Strip, lower-case and map aliases, never renaming onto a column already there."""
    lowered = [name.strip().lower() for name in names]
    taken = set(lowered)
    out = []
    for name in lowered:
        target = ALIASES.get(name)
        if target is not None and target not in taken:
            taken.add(target)
            name = target
        out.append(name)
    return out


def _decode_bytes(frame: pd.DataFrame) -> None:
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(
                lambda v: v.decode("utf-8", errors="replace").strip() if isinstance(v, bytes) else v
            )


def _positions(column: pd.Series, name: str, source: Path) -> pd.Series:
    values = column.map(lambda v: v.strip() if isinstance(v, str) else v).replace("", np.nan)
    numbers = pd.to_numeric(values, errors="coerce").astype(np.float64)
    bad = numbers.isna() & values.notna()
    if bad.any():
        example = values[bad].iloc[0]
        raise InputError(source, f"column '{name}' holds values that are not numbers in degrees, e.g. '{example}'")
    low, high = _LIMITS[name]
    outside = (numbers < low) | (numbers > high)
    if outside.any():
        raise InputError(
            source, f"column '{name}' has values outside {low:g}..{high:g} degrees, e.g. {numbers[outside].iloc[0]:g}"
        )
    return numbers


#: units written into FITS and VOTable catalogues, so other tools read positions as such.
UNITS = {"ra": "deg", "dec": "deg", "las_arcsec": "arcsec"}


def write_catalogue(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as a catalogue, the format chosen by the suffix as `read_catalogue`
    reads it (CSV, ECSV, FITS, VOTable); written atomically, so a failure leaves no
    half-written file."""
    target = Path(path)
    fmt = _format_of(target)
    table = Table.from_pandas(frame.reset_index(drop=True))
    for name, unit in UNITS.items():
        if name in table.colnames:
            table[name].unit = unit
    with atomic_path(target) as tmp:
        if fmt == "ascii.csv":
            frame.to_csv(tmp, index=False)
        else:
            table.write(tmp, format=fmt, overwrite=True)
    return target
