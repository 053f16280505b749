"""Cutouts of catalogue sources from survey mosaics, as a folder the folder loader reads.

`make_cutouts(catalogue, images, size_arcsec, out_dir)`:

1. reads the catalogue (CSV, FITS table or VOTable; `data.catalogue.read_catalogue`) and
   expands the image paths and globs; a missing file or a glob matching nothing is an
   InputError before any work;
2. reads every mosaic's header only, and gives each source to the mosaic whose array holds
   its position farthest (in arcsec) from the array's edge;
3. opens the mosaics one at a time, memory-mapped, and cuts each of its sources with
   astropy's Cutout2D on the mosaic's celestial WCS (degenerate axes, e.g. (1, 1, H, W),
   squeezed), writing one float32 FITS file per source with the cutout's WCS and the
   mosaic's BUNIT / BMAJ / BMIN / BPA;
4. writes `catalogue.csv` (filename, id, ra, dec, mosaic and the input's label /
   label_name / las_arcsec / redshift / survey columns) for `load_folder`, and
   `.not_cut.csv` listing every source not cut cleanly with the reason: in no image,
   at the edge (cutout not fully inside any mosaic), no position, or blank pixels.

A source at an edge is skipped by default (CutoutConfig.edge = "skip"); with "fill" it is
written with NaN outside the mosaic, and still listed. The report file's name starts
with '.', so the folder loader does not take it for an image.
"""

from __future__ import annotations

import glob
import re
import warnings
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.nddata import Cutout2D
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales
from numpy.typing import ArrayLike
from tqdm.auto import tqdm

from radiolatent.config import CutoutConfig
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import atomic_path, folder_entries, write_csv
from radiolatent.data.catalogue import read_catalogue

CATALOGUE_NAME = "catalogue.csv"
REPORT_NAME = ".not_cut.csv"
_ARCSEC_PER_DEG = 3600.0
_GLOB_CHARS = re.compile(r"[*?\[]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")

# Reasons a source is listed in the report.
NO_IMAGE = "in no image"
EDGE = "at edge"
NO_POSITION = "no position"
BLANK = "blank"


@dataclass
class Mosaic:
    """What the header of one mosaic says: enough to assign sources without its pixels."""

    path: Path
    hdu: int
    wcs: WCS
    shape: tuple[int, int]
    scale_arcsec: float


@dataclass
class CutoutResult:
    """What make_cutouts wrote and what it could not cut."""

    out_dir: Path
    catalogue_path: Path
    report_path: Path
    written: pd.DataFrame
    not_cut: pd.DataFrame

    def count(self, reason: str) -> int:
        return int((self.not_cut["reason"] == reason).sum()) if len(self.not_cut) else 0


def make_cutouts(
    catalogue: str | Path | pd.DataFrame,
    images: str | Path | list[str | Path],
    size_arcsec: float,
    out_dir: str | Path,
    *,
    config: CutoutConfig = CutoutConfig(),
    overwrite: bool = False,
    progress: bool = True,
) -> CutoutResult:
    """Cut a square of `size_arcsec` around every catalogue source; see the module doc.

    `catalogue` is a file (or a DataFrame with ra, dec and optionally id columns);
    `images` a path, a glob such as 'mosaics/*.fits', or a list of either.
    Raises InputError, before anything is written, for a bad catalogue, an image
    path or glob that names no file, a mosaic without a celestial WCS, a non-empty
    `out_dir` (unless overwrite) or a size that is not a positive number.
    """
    if not np.isfinite(size_arcsec) or size_arcsec <= 0:
        raise InputError("size", f"must be a positive number of arcsec (got {size_arcsec})")
    if config.edge not in ("skip", "fill"):
        raise InputError("CutoutConfig.edge", f"unknown value '{config.edge}' (use 'skip' or 'fill')")
    sources = _sources(catalogue, config)
    mosaics = [_read_header(path) for path in expand_images(images)]
    out = _check_out_dir(Path(out_dir), overwrite)
    best, distance = _assign(sources, mosaics)
    half_size = size_arcsec / 2
    written: list[dict[Hashable, Any]] = []
    not_cut: list[dict[str, Any]] = []
    bar = tqdm(total=int((best >= 0).sum()), desc="cutting", unit="source", disable=not progress)
    for index, mosaic in enumerate(mosaics):
        rows = np.flatnonzero(best == index)
        if len(rows):
            _cut_mosaic(
                mosaic, sources.iloc[rows], distance[rows] < half_size, size_arcsec, out, config, written, not_cut, bar
            )
    bar.close()
    for _, source in sources[best < 0].iterrows():
        reason = NO_POSITION if not np.isfinite([source["ra"], source["dec"]]).all() else NO_IMAGE
        not_cut.append(_problem(source, reason, "", False))
    return _finish(out, sources, written, not_cut, config)


def expand_images(images: str | Path | list[str | Path]) -> list[Path]:
    """Every file the paths and globs name, in order, each once; InputError for one that names none."""
    items = [images] if isinstance(images, (str, Path)) else list(images)
    if not items:
        raise InputError("images", "no image paths given")
    found: list[Path] = []
    for item in items:
        text = str(item)
        if _GLOB_CHARS.search(text):
            matches = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
            if not matches:
                raise InputError(text, "matches no files")
        elif Path(text).is_file():
            matches = [Path(text)]
        else:
            raise InputError(text, "no such image file")
        found.extend(m for m in matches if m not in found)
    return found


def _sources(catalogue: str | Path | pd.DataFrame, config: CutoutConfig) -> pd.DataFrame:
    """The catalogue with ra, dec, a unique id per row and the file name it will get."""
    name = "catalogue" if isinstance(catalogue, pd.DataFrame) else str(catalogue)
    table = catalogue.copy() if isinstance(catalogue, pd.DataFrame) else read_catalogue(catalogue)
    missing = [c for c in ("ra", "dec") if c not in table.columns]
    if missing:
        raise InputError(name, f"has no {' or '.join(missing)} column (has {list(table.columns)})")
    if not len(table):
        raise InputError(name, "has no sources")
    table = table.reset_index(drop=True)
    table["ra"] = pd.to_numeric(table["ra"], errors="coerce").astype(float)
    table["dec"] = pd.to_numeric(table["dec"], errors="coerce").astype(float)
    if "id" not in table.columns:
        table["id"] = [_position_name(ra, dec, row) for row, (ra, dec) in enumerate(zip(table["ra"], table["dec"]))]
    table["id"] = [
        str(v).strip() if pd.notna(v) and str(v).strip() else f"row{row}" for row, v in enumerate(table["id"])
    ]
    table["filename"] = [_UNSAFE.sub("_", ident).strip("._") + ".fits" for ident in table["id"]]
    for column, what in (("id", "ids"), ("filename", "ids once made file names")):
        repeated = table[column][table[column].duplicated()]
        if len(repeated):
            raise InputError(name, f"duplicate {what}, e.g. '{repeated.iloc[0]}' ({len(repeated)} repeats)")
    return table


def _position_name(ra: float, dec: float, row: int) -> str:
    if not np.isfinite([ra, dec]).all():
        return f"row{row}"
    return f"J{ra:08.4f}{dec:+08.4f}"


def _read_header(path: Path) -> Mosaic:
    """The first image HDU's celestial WCS and 2-D shape, without reading its pixels."""
    try:
        with warnings.catch_warnings():
            # Survey headers carry non-standard keys (e.g. old-style date or beam cards);
            # astropy fixes or ignores them and says so, which the user cannot act on.
            warnings.simplefilter("ignore", (VerifyWarning, FITSFixedWarning))
            with fits.open(path, memmap=True) as hdus:
                for number, hdu in enumerate(hdus):
                    if hdu.is_image and hdu.header.get("NAXIS", 0) >= 2:
                        return _mosaic(path, number, hdu.header)
    except (OSError, ValueError, TypeError, EOFError) as exc:
        raise InputError(path, f"is not a readable FITS file ({exc})") from None
    raise InputError(path, "has no image HDU with 2-D data")


def _mosaic(path: Path, number: int, header: fits.Header) -> Mosaic:
    naxis = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, int(header["NAXIS"]) + 1)]
    planes = int(np.prod(naxis[2:])) if len(naxis) > 2 else 1
    if planes != 1:
        raise InputError(path, f"is a cube with {planes} planes (axes {naxis}); give 2-D mosaics")
    try:
        full = WCS(header)
    except Exception as exc:  # astropy's WCS parser raises many types for a bad header
        raise InputError(path, f"has an unreadable WCS ({exc})") from None
    if not full.has_celestial:
        raise InputError(path, "has no celestial WCS (RA/Dec axes) in its header")
    # The celestial axes must be the image's first two, so data[..., y, x] is the sky plane.
    if sorted((full.wcs.lng, full.wcs.lat)) != [0, 1]:
        raise InputError(path, "has its celestial axes after a spectral or Stokes axis; reorder them")
    wcs = full.celestial
    scale = float(np.mean(proj_plane_pixel_scales(wcs))) * _ARCSEC_PER_DEG
    return Mosaic(path, number, wcs, (naxis[1], naxis[0]), scale)


def _check_out_dir(out: Path, overwrite: bool) -> Path:
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    if folder_entries(out) and not overwrite:
        raise InputError(out, "is not empty; choose a new folder or overwrite (files of the same name are replaced)")
    return out


def _assign(sources: pd.DataFrame, mosaics: list[Mosaic]) -> tuple[np.ndarray, np.ndarray]:
    """Per source, the mosaic holding it farthest from an edge (-1: none), and that distance in arcsec."""
    best = np.full(len(sources), -1)
    distance = np.full(len(sources), -np.inf)
    ra, dec = sources["ra"].to_numpy(), sources["dec"].to_numpy()
    known = np.isfinite(ra) & np.isfinite(dec)
    for index, mosaic in enumerate(mosaics):
        margin = np.full(len(sources), -np.inf)
        margin[known] = _edge_distance(mosaic, ra[known], dec[known])
        better = margin > np.maximum(distance, 0)
        best[better], distance[better] = index, margin[better]
    return best, distance


def _edge_distance(mosaic: Mosaic, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Arcsec from each position to the nearest edge of the mosaic's array; -inf outside it."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore")  # positions far outside a projection's domain are NaN, as they should be
        x, y = mosaic.wcs.all_world2pix(ra, dec, 0)
        # Some projections (e.g. SIN) put the far side of the sky onto the same plane:
        # a position counts only if the pixel maps back to it.
        back_ra, back_dec = mosaic.wcs.all_pix2world(x, y, 0)
    height, width = mosaic.shape
    pixels = np.minimum.reduce([x + 0.5, width - 0.5 - x, y + 0.5, height - 0.5 - y])
    same = _separation_arcsec(ra, dec, back_ra, back_dec) < mosaic.scale_arcsec
    return np.where(np.isfinite(pixels) & (pixels > 0) & same, pixels * mosaic.scale_arcsec, -np.inf)


def _separation_arcsec(ra1: ArrayLike, dec1: ArrayLike, ra2: ArrayLike, dec2: ArrayLike) -> np.ndarray:
    a1, d1, a2, d2 = (np.radians(np.asarray(v, dtype=float)) for v in (ra1, dec1, ra2, dec2))
    cos = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(a1 - a2)
    arcsec: np.ndarray = np.degrees(np.arccos(np.clip(cos, -1, 1))) * _ARCSEC_PER_DEG
    return arcsec


def _cut_mosaic(
    mosaic: Mosaic,
    sources: pd.DataFrame,
    at_edge: np.ndarray,
    size_arcsec: float,
    out: Path,
    config: CutoutConfig,
    written: list[dict[Hashable, Any]],
    not_cut: list[dict[str, Any]],
    bar: tqdm[Any],
) -> None:
    """Open one mosaic memory-mapped and write the cutouts of the sources given to it."""
    name = mosaic.path.name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (VerifyWarning, FITSFixedWarning))
        with fits.open(mosaic.path, memmap=True, do_not_scale_image_data=True) as hdus:
            hdu = hdus[mosaic.hdu]
            # A view: (1, 1, H, W) -> (H, W) without reading the pixels.
            data = hdu.data.reshape(mosaic.shape)
            header = hdu.header
            for (_, source), edge in zip(sources.iterrows(), at_edge):
                bar.update()
                if edge and config.edge == "skip":
                    not_cut.append(_problem(source, EDGE, name, False))
                    continue
                image, wcs = _cutout(data, header, mosaic, source, size_arcsec)
                if not np.isfinite(image).any():
                    not_cut.append(_problem(source, BLANK, name, False))
                    continue
                _write_fits(out / source["filename"], image, wcs, header, source, name, config)
                written.append({**source.to_dict(), "mosaic": name})
                if edge:
                    not_cut.append(_problem(source, EDGE, name, True))


def _cutout(
    data: np.ndarray, header: fits.Header, mosaic: Mosaic, source: pd.Series, size_arcsec: float
) -> tuple[np.ndarray, WCS]:
    """The float cutout (NaN outside the mosaic and at BLANK pixels) and its WCS."""
    x, y = mosaic.wcs.all_world2pix(source["ra"], source["dec"], 0)
    fill = np.nan if data.dtype.kind == "f" else 0
    cut = Cutout2D(
        data,
        (float(x), float(y)),
        u.Quantity(size_arcsec, u.arcsec),
        wcs=mosaic.wcs,
        mode="partial",
        fill_value=fill,
        copy=True,
    )
    raw = cut.data
    image = raw.astype(np.float64) * header.get("BSCALE", 1.0) + header.get("BZERO", 0.0)
    bad = ~np.isfinite(image)
    if "BLANK" in header and raw.dtype.kind in "iu":
        bad |= raw == header["BLANK"]
    inside = np.zeros(raw.shape, dtype=bool)
    inside[cut.slices_cutout] = True
    image[bad | ~inside] = np.nan
    return image, cut.wcs


def _write_fits(
    path: Path,
    image: np.ndarray,
    wcs: WCS,
    mosaic_header: fits.Header,
    source: pd.Series,
    mosaic_name: str,
    config: CutoutConfig,
) -> None:
    header = wcs.to_header()
    for key in config.keep_keywords:
        if key in mosaic_header:
            header[key] = (mosaic_header[key], mosaic_header.comments[key])
    header["OBJECT"] = _header_text(source["id"])
    header["MOSAIC"] = (_header_text(mosaic_name), "survey image this was cut from")
    with atomic_path(path) as tmp:
        fits.PrimaryHDU(image.astype(np.float32), header).writeto(tmp, overwrite=True)


def _header_text(value: object) -> str:
    """FITS header strings are printable ASCII of at most 68 characters."""
    return str(value).encode("ascii", "replace").decode("ascii")[:68]


def _problem(source: pd.Series, reason: str, mosaic: str, written: bool) -> dict[str, Any]:
    return {
        "id": source["id"],
        "ra": source["ra"],
        "dec": source["dec"],
        "reason": reason,
        "mosaic": mosaic,
        "written": written,
    }


def _finish(
    out: Path,
    sources: pd.DataFrame,
    written: list[dict[Hashable, Any]],
    not_cut: list[dict[str, Any]],
    config: CutoutConfig,
) -> CutoutResult:
    carried = [c for c in config.carry_columns if c in sources.columns]
    columns = ["filename", "id", "ra", "dec", "mosaic", *carried]
    table = pd.DataFrame(written, columns=[*sources.columns, "mosaic"])[columns]
    # Catalogue order, whatever order the mosaics were cut in.
    order = {ident: row for row, ident in enumerate(sources["id"])}
    table = table.sort_values("id", key=lambda ids: ids.map(order))
    problems = pd.DataFrame(not_cut, columns=["id", "ra", "dec", "reason", "mosaic", "written"])
    out.mkdir(parents=True, exist_ok=True)
    catalogue_path = write_csv(table.reset_index(drop=True), out / CATALOGUE_NAME)
    report_path = write_csv(problems, out / REPORT_NAME)
    return CutoutResult(out, catalogue_path, report_path, table.reset_index(drop=True), problems)
