"""Images and codes: datasets, the encoders by name, `embed`, and codes tables and
catalogues read and written."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from radiolatent.config import (
    DEFAULT_POOL,
    EmbedConfig,
    EmbedDevice,
    EmbedPrecision,
    FolderConfig,
    PoolConfig,
    with_given,
)

if TYPE_CHECKING:
    from radiolatent.data.dataset import RadioDataset

#: what a `codes` argument may be: a codes table, or the parquet file that holds one.
Codes = pd.DataFrame | str | Path
#: `embed`'s settings unless told otherwise: on the CPU (`embed --config default` runs on
#: a GPU when there is one).
DEFAULT_EMBED = EmbedConfig()


def codes_table(codes: Codes) -> pd.DataFrame:
    """A codes table from a DataFrame (checked, returned as is) or a parquet path.

    >>> import radiolatent as rl
    >>> rl.codes_table("no-such-file.parquet")
    Traceback (most recent call last):
    ...
    radiolatent.core.errors.InputError: no-such-file.parquet: no such codes file
    """
    from radiolatent.data.codes import read_codes, validate_codes

    if isinstance(codes, pd.DataFrame):
        validate_codes(codes, str(codes.attrs.get("source", "codes table")))
        return codes
    return read_codes(codes)


def folder_options(
    survey: str | None = None,
    catalogue: str | Path | None = None,
    pixel_scale: float | None = None,
    keep_partial: bool = False,
) -> PoolConfig:
    """The default pool settings with a folder's options, as `--survey`, `--catalogue`,
    `--pixel-scale` and `--keep-partial` set them."""
    folder = FolderConfig(
        survey=survey,
        catalogue=None if catalogue is None else str(catalogue),
        pixel_scale_arcsec=pixel_scale,
        keep_partial=keep_partial,
    )
    return dataclasses.replace(DEFAULT_POOL, folder=folder)


def load(
    data: str,
    *,
    survey: str | None = None,
    catalogue: str | Path | None = None,
    pixel_scale: float | None = None,
    keep_partial: bool = False,
) -> RadioDataset:
    """One dataset's images and metadata, as `radiolatent data show` reads it: a shipped
    set (`mbc:test`, `nvss`, `first-galaxy:valid`), or a folder of cutouts
    (`folder@DIR`, `rgz-dr1@DIR`) with its options. `.images` is a uint8 array
    (N, H, W) and `.meta` a DataFrame with one row per image.

    >>> import radiolatent as rl
    >>> fits = rl.load("folder@tests/data/first_fits", survey="FIRST")
    >>> fits.images.shape, fits.meta["survey"].iloc[0]
    ((4, 150, 150), 'FIRST')
    """
    from radiolatent.data.registry import load_source

    return load_source(data, folder_options(survey, catalogue, pixel_scale, keep_partial).folder)


def model_names() -> list[str]:
    """The model names `embed` takes besides a run folder: the shipped checkpoints and
    the no-learning floors. Nothing is downloaded: they ship inside the package.

    >>> import radiolatent as rl
    >>> "vdvae-cpu" in rl.model_names() and "pixels-pca" in rl.model_names()
    True
    """
    from radiolatent.embedding import FLOORS
    from radiolatent.models.shipped import shipped_models

    return sorted(shipped_models()) + list(FLOORS)


def embed(
    data: str | list[str],
    *,
    model: str | Path | None = None,
    single_view: bool | None = None,
    survey: str | None = None,
    catalogue: str | Path | None = None,
    pixel_scale: float | None = None,
    keep_partial: bool = False,
    batch_size: int | None = None,
    device: EmbedDevice | None = None,
    precision: EmbedPrecision | None = None,
    progress: bool = True,
    pool_config: PoolConfig | None = None,
    config: EmbedConfig = DEFAULT_EMBED,
) -> pd.DataFrame:
    """A codes table: every image of `data` (comma-separated specs or a list, as `embed
    --data`) encoded by `model` (default the shipped VDVAE; any name of `model_names()` or a run
    folder), averaged over the 8 flips and quarter turns unless `single_view`; `precision`
    "auto" runs the SSL backbones in bfloat16 where the CPU has it natively (default fp32). `device`
    "cuda" runs the encoder on a GPU. `pool_config` (every pool and folder setting, as
    `embed`'s options build it) replaces `survey`, `catalogue`, `pixel_scale` and
    `keep_partial` when given. `config`: every encoding setting (`EmbedConfig`; `embed
    --config/--set` builds one); `batch_size`, `device`, `precision` and `single_view`
    (its `dihedral_average`, reversed), when given, replace its (by default 64 images per
    pass on the CPU in fp32, 8 orientations averaged).

    >>> import radiolatent as rl
    >>> codes = rl.embed("fits=folder@tests/data/first_fits", survey="FIRST", progress=False)
    >>> len(codes), codes["set"].iloc[0], codes["model"].iloc[0], len(rl.code_columns(codes))
    (4, 'fits', 'vdvae-cpu+d8', 256)
    """
    from radiolatent.embedding import embed as embed_specs

    specs = [s.strip() for s in (data.split(",") if isinstance(data, str) else data) if s.strip()]
    given: dict[str, Any] = {
        "batch_size": batch_size,
        "device": device,
        "precision": precision,
        "dihedral_average": None if single_view is None else not single_view,
    }
    config = with_given(config, given)
    pool = pool_config or folder_options(survey, catalogue, pixel_scale, keep_partial)
    return embed_specs(None if model is None else str(model), specs, config, pool, progress=progress)


def code_columns(codes: pd.DataFrame) -> list[str]:
    """The code columns of a codes table, in order (`z000`, `z001`, ...).

    >>> import radiolatent as rl
    >>> codes = rl.embed("fits=folder@tests/data/first_fits", single_view=True, progress=False)
    >>> columns = rl.code_columns(codes)
    >>> columns[:2], codes[columns].to_numpy().shape
    (['z000', 'z001'], (4, 256))
    """
    from radiolatent.data.codes import code_columns as columns

    return columns(codes)


def read_codes(path: str | Path) -> pd.DataFrame:
    """A codes table from the parquet file `embed` wrote (checked); see `write_codes`."""
    from radiolatent.data.codes import read_codes as read

    return read(path)


def write_codes(codes: pd.DataFrame, path: str | Path) -> Path:
    """Write a codes table to parquet, atomically (the file appears only once complete).

    >>> import tempfile, radiolatent as rl
    >>> codes = rl.embed("fits=folder@tests/data/first_fits", single_view=True, progress=False)
    >>> path = rl.write_codes(codes, tempfile.mkdtemp() + "/fits.parquet")
    >>> again = rl.read_codes(path)
    >>> again["id"].tolist() == codes["id"].tolist() and path.name
    'fits.parquet'
    """
    from radiolatent.data.codes import write_codes as write

    return write(codes, path)


def write_catalogue(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table (e.g. `predict`'s) as CSV, ECSV, FITS or VOTable, chosen by the suffix;
    positions get their units (deg), so astropy and TOPCAT read them as such.

    >>> import tempfile, radiolatent as rl
    >>> from astropy.table import Table
    >>> codes = rl.embed("fits=folder@tests/data/first_fits", single_view=True, progress=False)
    >>> path = rl.write_catalogue(codes[["id", "ra", "dec"]], tempfile.mkdtemp() + "/sources.fits")
    >>> catalogue = Table.read(path)
    >>> len(catalogue), str(catalogue["ra"].unit)
    (4, 'deg')
    """
    from radiolatent.data.catalogue import write_catalogue as write

    return write(table, path)
