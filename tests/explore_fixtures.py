"""A small real codes table for the explorer tests: the shipped VDVAE's codes of MBC test.

Built once per test session (~10 s) and shared by explore/test_server.py and
explore/test_e2e.py; each test writes it into its own folder, so map caches and label
stores never leak between tests.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from radiolatent.config import ActiveLearningConfig

#: the set embedded: 104 real MiraBest sources with labels, LAS and positions.
SPEC = "mbc:test"
#: fewer isolation-forest trees than the default 300: the tests check wiring, not the forest.
FAST_ACTIVE = ActiveLearningConfig(iforest_estimators=20, n_restarts=0)


@functools.lru_cache(maxsize=1)
def mbc_test_codes() -> pd.DataFrame:
    """One pass of the shipped encoder (model id `vdvae-cpu`): the 8-orientation average
    would cost 8 passes, and a dropped file is then embedded the same single-pass way."""
    from radiolatent.config import EmbedConfig
    from radiolatent.embedding import embed

    return embed(None, [SPEC], EmbedConfig(dihedral_average=False), progress=False)


def write_mbc_codes(folder: Path) -> Path:
    """The shared table as `folder/codes.parquet`."""
    from radiolatent.data.codes import write_codes

    return write_codes(mbc_test_codes(), Path(folder) / "codes.parquet")


#: rows of the large explorer table: the scale the page must stay usable at in a test.
STANDIN_ROWS = 20_000


def write_standin_codes(folder: Path, n: int = STANDIN_ROWS) -> Path:
    """`folder/codes.parquet`: MBC test's 104 real sources (labelled) and `n` unlabelled
    stand-in sources made from them by the scale benchmark's generator
    (`fixtures_rgz.standin_images`: offset crops, flips, quarter turns), coded by a cheap
    floor fitted here: the first 16 principal components of 4x4 block means of the pixels
    (the pixels-pca floor's recipe, smaller; the floor itself takes a minute to fit).
    Their model inputs are one .npy the table points at (`images`/`image_row`, as `embed`
    writes them), so thumbnails load as they do for any table.

    The map is seeded with the codes' first two principal components, written where the
    explorer caches its UMAP: the page test is about drawing and using 20,000 points, and
    a UMAP of that many takes minutes on 2 shared cores (the benchmark times it)."""
    import numpy as np
    from fixtures_rgz import standin_images

    from radiolatent.config import DEFAULT_EXPLORE
    from radiolatent.data.codes import make_codes_table, write_codes
    from radiolatent.data.inputs import IMAGE_ROW_COLUMN, IMAGES_COLUMN, model_input, set_name
    from radiolatent.data.preprocess import to_unit_float
    from radiolatent.explore.state import cache_folder, map_cache_file

    folder = Path(folder)
    real = model_input(SPEC)
    made = standin_images(real.images, 0, n, side=real.images.shape[1], seed=0)
    images = np.concatenate([np.asarray(real.images), made])
    np.save(folder / "inputs.npy", images)
    # 4x4 block means (256 numbers an image), then their first 16 principal components
    pixels = to_unit_float(images).reshape(len(images), 16, 4, 16, 4).mean(axis=(2, 4)).reshape(len(images), -1)
    fitted = pixels[::10]
    mean = fitted.mean(axis=0)
    axes = np.linalg.svd(fitted - mean, full_matrices=False)[2][:16]
    codes = ((pixels - mean) @ axes.T).astype(np.float32)
    model = "pixels-pca-16"
    ids = [f"rgz-dr1:SYN{i:07d}" for i in range(n)]
    made_meta = pd.DataFrame(
        {
            "id": ids,
            "dataset": "rgz-dr1",
            "split": "train",
            "label": -1,
            "label_name": None,
            "ra": np.nan,
            "dec": np.nan,
            "las_arcsec": np.round(np.random.default_rng(0).uniform(10, 120, n), 2),
            "redshift": np.nan,
            "survey": "FIRST",
            "pixel_scale_arcsec": 1.8,
            "filename": [f"{i[8:]}.png" for i in ids],
        }
    )
    tables = [
        make_codes_table(real.meta, codes[: len(real.meta)], set_name(SPEC), model),
        make_codes_table(made_meta, codes[len(real.meta) :], "rgz-dr1", model),
    ]
    table = pd.concat(tables, ignore_index=True)
    table.insert(table.columns.get_loc("model") + 1, IMAGES_COLUMN, str(folder / "inputs.npy"))
    table.insert(table.columns.get_loc(IMAGES_COLUMN) + 1, IMAGE_ROW_COLUMN, np.arange(len(table)))
    path = write_codes(table, folder / "codes.parquet")
    centred = codes - codes.mean(axis=0)
    xy = centred @ np.linalg.svd(centred[::10], full_matrices=False)[2][:2].T
    seeded = map_cache_file(cache_folder(path), codes, DEFAULT_EXPLORE)
    seeded.parent.mkdir(parents=True, exist_ok=True)
    np.save(seeded, xy.astype(np.float32))
    return path
