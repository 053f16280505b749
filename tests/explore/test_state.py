"""The explorer's map of a large table: UMAP fitted on a sample, every other row placed.

UMAP itself is replaced by a cheap stand-in layout here (its compile alone costs a
minute on 2 shared cores); what is checked is the explorer's own part: which rows are
fitted, where the others land, and that the cache tells the two kinds of map apart.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from radiolatent.config import DEFAULT_EXPLORE
from radiolatent.explore import state


def clusters(n: int, seed: int = 0) -> np.ndarray:
    """n 32-d codes in three well separated clusters (cluster = row % 3)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 20, (3, 32))
    return (centres[np.arange(n) % 3] + rng.normal(0, 1, (n, 32))).astype(np.float32)


def stand_in_layout(codes, config, n_epochs=None):
    """A deterministic 2-D layout of whatever it is given (the first two code values)."""
    stand_in_layout.fitted.append(len(codes))
    return np.asarray(codes[:, :2], np.float32)


def test_a_large_table_is_fitted_on_a_sample_and_every_row_placed(monkeypatch):
    stand_in_layout.fitted = []
    monkeypatch.setattr(state, "fit_umap", stand_in_layout)
    config = dataclasses.replace(DEFAULT_EXPLORE, umap_fit_rows=200)
    codes = clusters(1000)
    xy = state.umap_map(codes, config)
    assert stand_in_layout.fitted == [200]
    assert xy.shape == (1000, 2) and np.isfinite(xy).all()
    # every placed row lands in its own cluster's region of the map, not between clusters
    centre = np.stack([xy[np.arange(1000) % 3 == c].mean(axis=0) for c in range(3)])
    nearest = np.argmin(((xy[:, None, :] - centre[None]) ** 2).sum(-1), axis=1)
    assert (nearest == np.arange(1000) % 3).all()


def test_a_placed_copy_of_a_fitted_code_lands_on_it():
    fitted = clusters(300)
    fitted_xy = np.random.default_rng(1).normal(size=(300, 2)).astype(np.float32)
    xy = state.place_among(fitted[[5, 77, 150]], fitted, fitted_xy, k=15)
    np.testing.assert_allclose(xy, fitted_xy[[5, 77, 150]], atol=1e-3)


def test_a_small_table_is_fitted_whole(monkeypatch):
    stand_in_layout.fitted = []
    monkeypatch.setattr(state, "fit_umap", stand_in_layout)
    state.umap_map(clusters(150), DEFAULT_EXPLORE)
    assert stand_in_layout.fitted == [150]


def test_the_cache_tells_a_sampled_map_from_a_whole_one(tmp_path):
    codes = clusters(300)
    whole = state.map_cache_file(tmp_path, codes, DEFAULT_EXPLORE)
    assert whole == state.map_cache_file(tmp_path, codes, dataclasses.replace(DEFAULT_EXPLORE, umap_fit_rows=5000))
    sampled = state.map_cache_file(tmp_path, codes, dataclasses.replace(DEFAULT_EXPLORE, umap_fit_rows=100))
    assert sampled != whole


def test_embed_writes_the_map_of_a_large_table_and_the_explorer_reads_it(monkeypatch, tmp_path):
    """`embed` maps a table of at least `explorer_map_rows` rows as it writes it, so the
    explorer's first start reads the map instead of waiting for UMAP; a smaller table is
    left to the explorer."""
    from radiolatent.cli import main

    stand_in_layout.fitted = []
    monkeypatch.setattr(state, "fit_umap", stand_in_layout)
    big, small = tmp_path / "big.parquet", tmp_path / "small.parquet"
    embed = ["embed", "--model", "random-conv", "--data", "mbc:test", "--single-view"]
    assert main([*embed, "--out", str(big), "--set", "explorer_map_rows=100"]) == 0
    assert stand_in_layout.fitted == [104] and list(state.cache_folder(big).glob("umap-*.npy"))
    explorer = state.Explorer(big, log=lambda message: None)
    assert stand_in_layout.fitted == [104] and explorer.xy.shape == (104, 2)  # read, not fitted again
    assert main([*embed, "--out", str(small), "--set", "explorer_map_rows=105"]) == 0
    assert stand_in_layout.fitted == [104] and not state.cache_folder(small).exists()
