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
    dropped = r[["dropped_position", "dropped_image", "dropped_blank", "dropped_small", "dropped_duplicate"]].sum(
        axis=1
    )
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
    config = dataclasses.replace(
        DEFAULT_POOL, sources=(f"rgz-dr1@{tmp_path / 'rgz'}",), exclude=("mirabest:confident",)
    )
    pool = build_pool(config, progress=False)
    row = pool.report.iloc[0]
    assert row["candidates"] == len(facts["images"]) - 2, "one MiraBest-flagged and one duplicate image dropped"
    ids = set(pool.meta["src_id"].astype(str))
    assert str(facts["src_ids"][facts["mirabest"]]) not in ids
    assert str(facts["src_ids"][facts["duplicate"]]) not in ids
    assert len(pool) == row["kept"] and set(pool.meta["las_source"]) == {"catalogue"}
    assert isinstance(pool.images, np.memmap) and pool.images.shape[1:] == (64, 64)


# ---------------------------------------------------------------------------
# User folders in a pool: cache keyed on their files, nothing half-built, paths checked first
# ---------------------------------------------------------------------------


def _fits_cutout(path, seed: int) -> None:
    """A 150x150 uint8 FIRST-like cutout with a celestial WCS at 1.8"/pixel, at its own position."""
    from astropy.io import fits
    from fixtures_rgz import blob_image

    header = fits.Header()
    header.update(
        CTYPE1="RA---SIN",
        CTYPE2="DEC--SIN",
        CRVAL1=150.0 + seed,
        CRVAL2=2.0 + seed,
        CDELT1=-0.0005,
        CDELT2=0.0005,
        CRPIX1=75.5,
        CRPIX2=75.5,
    )
    fits.PrimaryHDU(blob_image(np.random.default_rng(seed)), header).writeto(path)


def _small_pool(*sources):
    return dataclasses.replace(DEFAULT_POOL, sources=sources, exclude=())


def test_adding_files_to_a_folder_source_rebuilds_the_pool(tmp_path):
    """The cache is keyed on the folder's files, not only its path: no --rebuild needed."""
    folder = tmp_path / "cutouts"
    folder.mkdir()
    for seed in range(3):
        _fits_cutout(folder / f"src{seed}.fits", seed)
    config = _small_pool(f"folder@{folder}")
    first = build_pool(config, progress=False)
    assert len(first) == 3
    assert build_pool(config, progress=False).path == first.path, "unchanged files: the same cache"
    (folder / "sub").mkdir()
    _fits_cutout(folder / "sub" / "src9.fits", 9)
    second = build_pool(config, progress=False)
    assert len(second) == 4 and second.path != first.path
    assert "folder:sub/src9" in set(second.meta["id"])


def test_adding_a_batch_to_an_rgz_source_rebuilds_the_pool(tmp_path):
    from fixtures_rgz import blob_image, py2_pickle, write_rgz_fixture

    write_rgz_fixture(tmp_path / "rgz", n_batches=1, per_batch=4)
    config = _small_pool(f"rgz-dr1@{tmp_path / 'rgz'}")
    first = build_pool(config, progress=False)
    rng = np.random.default_rng(3)
    batch = {
        "data": np.stack([blob_image(rng).ravel() for _ in range(4)]),
        "LAS": [20.0] * 4,
        "src_ids": [f"RGZJ9{i:05d}" for i in range(4)],
        "filenames": [f"new{i}.png" for i in range(4)],
        "mb_flag": [0] * 4,
    }
    (tmp_path / "rgz" / "data_batch_2").write_bytes(py2_pickle(batch))
    second = build_pool(config, progress=False)
    assert len(second) == len(first) + 4


def test_a_changed_catalogue_outside_the_folder_changes_the_cache_key(tmp_path):
    from radiolatent.data.pools import pool_dir

    (tmp_path / "cutouts").mkdir()
    _fits_cutout(tmp_path / "cutouts" / "a.fits", 0)
    catalogue = tmp_path / "labels.csv"
    catalogue.write_text("filename,label\na.fits,0\n")
    config = _small_pool(f"folder@{tmp_path / 'cutouts'}")
    config = dataclasses.replace(config, folder=dataclasses.replace(config.folder, catalogue=str(catalogue)))
    before = pool_dir(config)
    assert pool_dir(config) == before
    catalogue.write_text("filename,label\na.fits,1\n# relabelled\n")
    assert pool_dir(config) != before


def test_shipped_sources_keep_their_cache_key():
    from radiolatent.config import config_hash
    from radiolatent.data.pools import pool_dir

    assert pool_dir(DEFAULT_POOL).name == config_hash(DEFAULT_POOL)


def test_worker_counts_leave_the_cache_key_alone():
    """How many processes estimate sizes changes no image or row, so not the key; a
    setting that changes the pool does."""
    from radiolatent.data.pools import pool_dir

    las = DEFAULT_POOL.las
    fewer = dataclasses.replace(DEFAULT_POOL, las=dataclasses.replace(las, jobs=1, parallel_from=10))
    assert pool_dir(fewer) == pool_dir(DEFAULT_POOL)
    other = dataclasses.replace(DEFAULT_POOL, las=dataclasses.replace(las, k_sigma=4.0))
    assert pool_dir(other) != pool_dir(DEFAULT_POOL)


def _leftovers(cache) -> list:
    pools = cache / "pools"
    return sorted(p.name for p in pools.rglob("*") if p.name.endswith((".part", ".old")) or "raw" in p.name)


@pytest.mark.parametrize("failure", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_a_failed_build_leaves_nothing_behind(tmp_path, monkeypatch, cache, failure):
    """A source failing midway (after another was written) removes the partial pool; a
    failed --rebuild keeps the complete pool it would have replaced."""
    from fixtures_rgz import write_rgz_fixture

    from radiolatent.data.pools import pool_dir
    from radiolatent.data.sources import rgz

    write_rgz_fixture(tmp_path / "rgz", n_batches=2, per_batch=3)
    config = _small_pool("mirabest:uncertain", f"rgz-dr1@{tmp_path / 'rgz'}")
    real, calls = rgz.read_rgz_batch, []

    def fails_on_second_batch(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise failure
        return real(*args, **kwargs)

    monkeypatch.setattr(rgz, "read_rgz_batch", fails_on_second_batch)
    with pytest.raises(type(failure)):
        build_pool(config, progress=False)
    assert len(calls) == 2 and not pool_dir(config).exists()
    assert _leftovers(cache) == []

    monkeypatch.setattr(rgz, "read_rgz_batch", real)
    good = build_pool(config, progress=False)
    n = len(good)
    calls.clear()
    monkeypatch.setattr(rgz, "read_rgz_batch", fails_on_second_batch)
    with pytest.raises(type(failure)):
        build_pool(config, cache=False, progress=False)
    assert _leftovers(cache) == []
    again = load_pool(pool_dir(config))
    assert len(again) == n and np.array_equal(np.asarray(again.images), np.asarray(good.images))


@pytest.mark.parametrize(
    "source, problem",
    [
        ("folder@{tmp}/absent", "absent: no such folder"),
        ("mine=folder@{tmp}/file.txt", "file.txt: is not a folder"),
        ("rgz-dr1@{tmp}", "no RGZ batches"),
        ("rgz-dr1", "rgz-dr1 needs a folder"),
        ("mirabest:uncertain@{tmp}", "is not an archive file"),
        ("nosuchset", "unknown dataset 'nosuchset'"),
    ],
)
def test_a_bad_source_is_reported_before_any_work(tmp_path, monkeypatch, source, problem):
    """The bad spec comes last, yet nothing is loaded before the one-line error."""
    from radiolatent.data import pools

    (tmp_path / "file.txt").write_text("not images")
    loaded = []
    monkeypatch.setattr(pools, "iter_source", lambda spec: loaded.append(spec) or iter(()))
    config = dataclasses.replace(DEFAULT_POOL, sources=(*DEFAULT_POOL.sources, source.format(tmp=tmp_path)))
    with pytest.raises(pools.InputError, match=problem) as err:
        build_pool(config, progress=False)
    assert loaded == [] and "\n" not in str(err.value)


def test_cli_bad_add_is_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    from radiolatent.cli import main
    from radiolatent.data import pools

    monkeypatch.setattr(pools, "iter_source", lambda *a, **k: pytest.fail("a source was loaded"))
    assert main(["data", "pool", "--add", f"folder@{tmp_path}/typo"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path}/typo: no such folder"
