"""Image grids: `data show`, similarity-search results, galleries.

Panels are square and the figure is laid out in inches from GridConfig with no tight
bounding box, so a grid's PNG size is exactly (ncols * panel) x (nrows * (panel + caption)
+ title) inches times the dpi.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiolatent.config import GridConfig
from radiolatent.core.errors import InputError
from radiolatent.data.las import check_images
from radiolatent.data.sources.folder import strip_suffix

#: a caption holds about 27 characters under a 1.6" panel; a file name gets this many.
_FILE_CHARS = 16


def caption_for(meta_row: Mapping[str, Any] | pd.Series) -> str:
    """Short caption from a metadata row: 'FRII · 34″', 'unlabelled', 'unlabelled · 12″';
    a folder's file by its name: 'J010.28-01.67_ep1.1', 'J010.28-01.67_ep1.1 · FRII'."""
    name = str(meta_row.get("label_name", "") or "")
    label = meta_row.get("label", -1)
    labelled = bool(name) and not _missing(label) and int(label) >= 0
    if meta_row.get("dataset") == "folder" and meta_row.get("filename"):
        # a folder's images are told apart by their files, not by 'unlabelled' on every one
        file = _short(str(meta_row["filename"]).rsplit("/", 1)[-1])
        return f"{file} · {name}" if labelled else file
    if not labelled:
        name = "unlabelled"
    las = meta_row.get("las_arcsec", float("nan"))
    if _missing(las) or float(las) <= 0:
        return name
    return f"{name} · {float(las):.0f}″"


def _short(file: str) -> str:
    """A file name without its suffixes, its middle elided to fit a caption."""
    stem = strip_suffix(file) or file
    if len(stem) <= _FILE_CHARS:
        return stem
    head = (_FILE_CHARS - 1) // 2
    return f"{stem[:head]}…{stem[-(_FILE_CHARS - 1 - head) :]}"


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(np.isnan(float(value)))
    except (TypeError, ValueError):
        return True


def grid_shape(n: int, ncols: int | None) -> tuple[int, int]:
    """(rows, cols): near-square by default."""
    cols = ncols if ncols is not None else math.ceil(math.sqrt(n))
    if cols < 1:
        raise InputError("image grid", f"ncols must be positive, got {cols}")
    cols = min(cols, n)
    return math.ceil(n / cols), cols


def image_grid(
    images: np.ndarray,
    captions: list[str] | None,
    path: str | Path,
    ncols: int | None = None,
    title: str | None = None,
    cmap: str = "inferno",
    config: GridConfig | None = None,
) -> Path:
    """Write (N, H, W) uint8 images as a PNG grid (captions under each panel); return the path.

    Pixel values are shown on the fixed 0..255 range, so faint images look faint.
    The file is written to a temporary name and renamed, never left half-written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radiolatent.core.fileio import save_figure

    config = config or GridConfig()
    check_images(images, "image grid")
    if len(images) == 0:
        raise InputError("image grid", "no images to show")
    if captions is not None and len(captions) != len(images):
        raise InputError("image grid", f"{len(images)} images but {len(captions)} captions")
    rows, cols = grid_shape(len(images), ncols)
    cell_h = config.panel_inches + (config.caption_inches if captions is not None else 0.0)
    width = cols * config.panel_inches
    # a title longer than the grid is wide (a search from a long file name) wraps, not clips
    lines = textwrap.wrap(title, width=max(20, int(width * 72 / (0.6 * config.title_fontsize)))) if title else []
    top = config.title_inches * len(lines)
    height = rows * cell_h + top
    fig = plt.figure(figsize=(width, height), dpi=config.dpi)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        # axes placed in figure fractions: panel at the top of its cell, caption below it
        bottom = height - top - r * cell_h - config.panel_inches
        ax = fig.add_axes(
            (
                c * config.panel_inches / width,
                bottom / height,
                config.panel_inches / width,
                config.panel_inches / height,
            )
        )
        # FITS row order (row 0 = south, as in every archive): origin="lower" puts north up
        ax.imshow(np.asarray(image), cmap=cmap, vmin=0, vmax=255, interpolation="nearest", origin="lower")
        ax.set_axis_off()
        if captions is not None:
            fig.text(
                (c + 0.5) * config.panel_inches / width,
                (bottom - config.caption_inches / 2) / height,
                captions[i],
                ha="center",
                va="center",
                fontsize=config.caption_fontsize,
            )
    if title:
        fig.text(0.5, 1 - top / 2 / height, "\n".join(lines), ha="center", va="center", fontsize=config.title_fontsize)
    return save_figure(fig, path, tight_layout=False, dpi=config.dpi, facecolor="white")
