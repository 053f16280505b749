"""The default pool must hold no evaluation source, by position and by image."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from radiolatent.config import DEFAULT_POOL
from radiolatent.data.pools import build_pool, load_pool, max_image_correlation, position_matches
from radiolatent.data.preprocess import preprocess
from radiolatent.data.registry import load_dataset


@pytest.fixture(scope="module")
def pool(cache):
    return build_pool(DEFAULT_POOL, progress=False)


def model_input(spec):
    ds = load_dataset(spec)
    return ds, preprocess(ds.images, ds.meta["pixel_scale_arcsec"].to_numpy(float), DEFAULT_POOL.preprocess)


def brute_force_max_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Independent of the pool code: Pearson correlation through np.corrcoef, in blocks."""
    fa = a.reshape(len(a), -1).astype(np.float64)
    fb = b.reshape(len(b), -1).astype(np.float64)
    best = np.full(len(fa), -1.0)
    for start in range(0, len(fa), 500):
        block = fa[start : start + 500]
        with np.errstate(invalid="ignore", divide="ignore"):  # a blank evaluation image has no correlation
            c = np.corrcoef(np.vstack([block, fb]))[: len(block), len(block) :]
        best[start : start + 500] = np.nanmax(c, axis=1)
    return best


def test_pool_has_no_mbc_source_by_position(pool):
    mbc = load_dataset("mbc")
    ra, dec = np.radians(pool.meta["ra"].to_numpy(float)), np.radians(pool.meta["dec"].to_numpy(float))
    has = np.isfinite(ra)
    assert has.sum() > 1000, "most pool sources carry positions"
    mra, mdec = np.radians(mbc.meta["ra"].to_numpy(float)), np.radians(mbc.meta["dec"].to_numpy(float))
    # haversine separation of every pool source to every MBC source, in arcsec
    d_ra = ra[has, None] - mra[None]
    d_dec = dec[has, None] - mdec[None]
    a = np.sin(d_dec / 2) ** 2 + np.cos(dec[has, None]) * np.cos(mdec[None]) * np.sin(d_ra / 2) ** 2
    sep = np.degrees(2 * np.arcsin(np.sqrt(a))) * 3600
    assert sep.min() > DEFAULT_POOL.match_radius_arcsec


def test_griese_overlap_with_mbc_test_is_dropped(pool):
    """93 of the 104 MBC test sources are in Griese: none of them may survive."""
    griese = load_dataset("first-galaxy")
    mbc_test = load_dataset("mbc:test")
    in_griese = position_matches(mbc_test.meta, griese.meta, 30.0)
    assert in_griese.sum() == 93
    assert not position_matches(pool.meta, mbc_test.meta, 30.0).any()
    row = pool.report.set_index("source").loc["first-galaxy:all"]
    assert row["dropped_position"] >= 93


@pytest.mark.parametrize("spec", ["mbc:test", "mbc:train", "frdeep-f:test"])
def test_pool_has_no_evaluation_image(pool, spec):
    _, images = model_input(spec)
    best = brute_force_max_corr(np.asarray(pool.images), images)
    assert best.max() <= DEFAULT_POOL.image_match_threshold


def test_frdeep_copies_of_mbc_test_are_caught(pool):
    """FR-DEEP FIRST train holds 3 exact copies of MBC test images (data README)."""
    _, fr = model_input("frdeep-f:train")
    _, mbc_test = model_input("mbc:test")
    assert (max_image_correlation(fr, mbc_test) > 0.999).sum() >= 3
    row = pool.report.set_index("source").loc["frdeep-f:train"]
    assert row["dropped_image"] >= 3


def test_pool_composition_adds_up(pool):
    r = pool.report
    dropped = r[["dropped_position", "dropped_image", "dropped_blank", "dropped_small", "dropped_duplicate"]].sum(axis=1)
    assert (r["candidates"] == r["kept"] + dropped).all()
    assert r["kept"].sum() == len(pool) == len(pool.meta)
    assert set(r["source"]) == set(DEFAULT_POOL.sources)
    assert pool.meta["id"].is_unique


def test_pool_is_a_memory_mapped_uint8_cache(pool):
    assert isinstance(pool.images, np.memmap)
    assert pool.images.dtype == np.uint8 and pool.images.shape[1:] == (64, 64)
    again = load_pool(pool.path)
    assert np.array_equal(np.asarray(again.images[:5]), np.asarray(pool.images[:5]))
    assert set(pool.meta["las_source"]) <= {"catalogue", "estimator"}
    assert np.isfinite(pool.meta["las_arcsec"]).all()


def test_no_blank_model_inputs(pool):
    flat = np.asarray(pool.images).reshape(len(pool), -1)
    assert (flat.max(axis=1) > flat.min(axis=1)).all()


def test_angular_size_cut():
    """A cut drops what is below it, using the catalogue LAS where there is one."""
    few = dataclasses.replace(DEFAULT_POOL, sources=("mirabest:uncertain", "frdeep-f:test"), exclude=())
    full = build_pool(few, progress=False)
    cut = build_pool(dataclasses.replace(few, min_las_arcsec=30.0), progress=False)
    assert 0 < len(cut) < len(full)
    assert (cut.meta["las_arcsec"] >= 30.0).all()
    assert cut.report["dropped_small"].sum() == (full.meta["las_arcsec"] < 30.0).sum()
    sources = full.meta.groupby("dataset")["las_source"].unique()
    assert list(sources["mirabest:uncertain"]) == ["catalogue"]
    assert list(sources["frdeep-f"]) == ["estimator"]


def test_rgz_batches_stream_into_a_pool(tmp_path):
    """A user's RGZ DR1 folder joins a pool batch by batch, MiraBest-flagged and duplicate images dropped."""
    from fixtures_rgz import write_rgz_fixture

    facts = write_rgz_fixture(tmp_path / "rgz", n_batches=2, per_batch=6)
    config = dataclasses.replace(DEFAULT_POOL, sources=(f"rgz-dr1@{tmp_path / 'rgz'}",), exclude=("mirabest:confident",))
    pool = build_pool(config, progress=False)
    row = pool.report.iloc[0]
    assert row["candidates"] == len(facts["images"]) - 2, "one MiraBest-flagged and one duplicate image dropped"
    ids = set(pool.meta["src_id"].astype(str))
    assert str(facts["src_ids"][facts["mirabest"]]) not in ids
    assert str(facts["src_ids"][facts["duplicate"]]) not in ids
    assert len(pool) == row["kept"] and set(pool.meta["las_source"]) == {"catalogue"}
    assert isinstance(pool.images, np.memmap) and pool.images.shape[1:] == (64, 64)
