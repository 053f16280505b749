"""Image grids with captions (data/grid.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from synthetic import gaussian, noisy

from radiolatent.config import GridConfig
from radiolatent.core.errors import InputError
from radiolatent.data.grid import caption_for, image_grid


def test_grid_png_size_and_captions(tmp_path):
    images = np.stack([noisy(gaussian((64, 64), (32, 32), 3 + i, 200), seed=i) for i in range(5)])
    path = image_grid(images, [f"img {i}" for i in range(5)], tmp_path / "g" / "grid.png", ncols=3, title="five")
    c = GridConfig()
    with Image.open(path) as png:
        assert png.format == "PNG"
        width, height = png.size
        pixels = np.asarray(png.convert("RGB"))
    assert width == round(3 * c.panel_inches * c.dpi)
    assert height == round((2 * (c.panel_inches + c.caption_inches) + c.title_inches) * c.dpi)
    assert pixels.std() > 10  # images drawn, not a blank page
    assert not list(path.parent.glob(".*part"))
    with pytest.raises(InputError, match="captions"):
        image_grid(images, ["one"], tmp_path / "bad.png")
    # a title wider than the grid (a search from a long file name) wraps onto a second line
    long = image_grid(images[:3], None, tmp_path / "long.png", ncols=3, title="search in mbc for " + "x" * 60)
    with Image.open(long) as png:
        assert png.size[1] == round((c.panel_inches + 2 * c.title_inches) * c.dpi)


def test_caption_for():
    assert caption_for({"label_name": "FRII", "label": 1, "las_arcsec": 34.4}) == "FRII · 34″"
    assert caption_for({"label_name": "", "label": -1, "las_arcsec": float("nan")}) == "unlabelled"
    assert caption_for({"label_name": "FRI", "label": 0, "las_arcsec": float("nan")}) == "FRI"


def test_a_folder_file_is_captioned_by_its_name():
    row = {"dataset": "folder", "filename": "sub/J010.2822-01.6700_ep1.1.fits.gz", "label": -1, "label_name": ""}
    assert caption_for(row) == "J010.28…00_ep1.1"
    assert caption_for(row | {"filename": "x.png", "label": 1, "label_name": "FRII"}) == "x · FRII"
