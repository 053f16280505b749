"""RGZ DR1 batch folders (data/sources/rgz.py): round trip with metadata, duplicates, the LAS cut,
streaming, bad and hostile batches named by file, and batches with no rows."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pandas as pd
import pytest
from fixtures_rgz import SIDE, py2_pickle, write_rgz_fixture

from radiolatent.config import META_COLUMNS
from radiolatent.core.errors import InputError
from radiolatent.data.safepickle import load_pickle
from radiolatent.data.sources.rgz import RGZCounts, iter_rgz_batches, load_rgz, rgz_summary


def empty_batch(data: np.ndarray | None = None) -> dict:
    """A batch with every key a reader needs and 0 rows, as numpy-using writers save it."""
    return {
        "batch_label": "empty",
        "data": np.zeros((0, SIDE * SIDE), dtype=np.uint8) if data is None else data,
        "filenames": [],
        "src_ids": np.array([], dtype="<U12"),
        "mb_flag": np.array([], dtype=np.int64),
        "LAS": np.array([], dtype=np.float64),
    }


@pytest.mark.parametrize("protocol", [0, 2, 4])
@pytest.mark.parametrize("data", [None, np.zeros(0, dtype=np.float64)], ids=["rows", "flat"])
def test_an_empty_batch_contributes_nothing(tmp_path, protocol, data):
    """Python 3 protocols 0-2 rebuild the empty array's bytes through bytes(): accepted."""
    truth = write_rgz_fixture(tmp_path, n_batches=1, per_batch=3)
    full = load_rgz(tmp_path)
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps(empty_batch(data), protocol=protocol))
    (tmp_path / "data_batch_3").write_bytes(py2_pickle(empty_batch(data)))
    with_empty = load_rgz(tmp_path)
    assert len(with_empty) == len(truth["images"]) == len(full)
    assert np.array_equal(with_empty.images, full.images)
    assert list(with_empty.meta["id"]) == list(full.meta["id"])


def test_a_folder_of_empty_batches_is_a_one_line_error(tmp_path):
    for name in ("data_batch_1", "test_batch"):
        (tmp_path / name).write_bytes(pickle.dumps(empty_batch(), protocol=2))
    with pytest.raises(InputError, match=r"every RGZ batch in this folder is empty \(2 files, 0 images\)") as err:
        load_rgz(tmp_path)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


class _BigBytes:
    """Pickles as bytes(10**12): the allowed empty-bytes call must not run it."""

    def __reduce__(self):
        return (bytes, (10**12,))


class _BytesOfObject:
    def __reduce__(self):
        return (bytes, ("text",))


@pytest.mark.parametrize("obj", [_BigBytes(), _BytesOfObject()])
def test_bytes_with_arguments_stays_refused(obj):
    data = pickle.dumps({"data": obj}, protocol=2)
    with pytest.raises(InputError, match=r"bad.pkl: corrupt or truncated pickle.*bytes\(\) with arguments"):
        load_pickle(data, "bad.pkl")
    assert load_pickle(pickle.dumps(b"", protocol=2), "ok.pkl") == b""


@pytest.fixture(scope="module")
def rgz(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rgz")
    return folder, write_rgz_fixture(folder)


def _rewrite_first_batch(folder, change):
    truth = write_rgz_fixture(folder, n_batches=1, per_batch=3)
    batch = {
        "data": truth["images"][:3].reshape(3, -1),
        "filenames": ["a.png", "b.png", "c.png"],
        "src_ids": ["a", "b", "c"],
        "mb_flag": [0, 0, 0],
        "LAS": [1.0, 2.0, 3.0],
    }
    change(batch)
    (folder / "data_batch_1").write_bytes(py2_pickle(batch))


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_rgz_round_trip_keeps_every_image_and_its_metadata(rgz):
    folder, truth = rgz
    data = load_rgz(folder)
    assert data.images.shape == (18, 150, 150) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images, truth["images"])
    meta = data.meta
    assert list(meta["id"]) == [f"rgz-dr1:{s}" for s in truth["src_ids"]]
    assert list(meta["split"]) == truth["split"]
    assert set(META_COLUMNS) <= set(meta.columns)
    assert (meta["dataset"] == "rgz-dr1").all() and (meta["label"] == -1).all()
    assert (meta["survey"] == "FIRST").all() and (meta["pixel_scale_arcsec"] == 1.8).all()
    assert meta["ra"].isna().all() and meta["dec"].isna().all()
    np.testing.assert_allclose(meta["las_arcsec"], truth["las"])
    assert list(meta["mb_flag"]) == list(truth["mb_flag"])
    assert meta["filename"].iloc[0] == f"{truth['src_ids'][0]}.png"
    assert rgz_summary(data) == {"read": 18, "mirabest": 0, "below_las": 0, "duplicate": 0, "kept": 18}


def test_rgz_drop_duplicates_keeps_first_copy(rgz):
    folder, truth = rgz
    data = load_rgz(folder, drop_duplicates=True)
    copy_id = f"rgz-dr1:{truth['src_ids'][truth['duplicate']]}"
    assert len(data) == 17 and copy_id not in set(data.meta["id"])
    assert data.meta["id"].iloc[0] == f"rgz-dr1:{truth['src_ids'][0]}"
    assert rgz_summary(data)["duplicate"] == 1


def test_rgz_las_cut_drops_small_sources(rgz):
    folder, truth = rgz
    data = load_rgz(folder, min_las_arcsec=30.0)
    expected = int((truth["las"] < 30.0).sum())
    assert expected > 0 and len(data) == 18 - expected
    assert (data.meta["las_arcsec"] >= 30.0).all()
    assert rgz_summary(data)["below_las"] == expected


def test_rgz_drop_mirabest(rgz):
    folder, truth = rgz
    data = load_rgz(folder, drop_mirabest=True)
    assert len(data) == 17 and (data.meta["mb_flag"] == 0).all()
    assert f"rgz-dr1:{truth['src_ids'][truth['mirabest']]}" not in set(data.meta["id"])
    assert rgz_summary(data)["mirabest"] == 1


def test_rgz_streaming_matches_load_and_counts(rgz):
    folder, _ = rgz
    options = {"drop_duplicates": True, "min_las_arcsec": 12.0, "drop_mirabest": True}
    counts = RGZCounts()
    parts = list(iter_rgz_batches(folder, counts=counts, **options))
    assert len(parts) == 3  # data_batch_1, data_batch_2, test_batch
    loaded = load_rgz(folder, **options)
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), loaded.images)
    assert list(pd.concat([p[1] for p in parts])["id"]) == list(loaded.meta["id"])
    assert counts.as_dict() == rgz_summary(loaded)
    # LAS 12 drops rows 0 and 1 (5.0, 9.41), so the planted duplicate of row 0 is kept
    assert counts.as_dict() == {"read": 18, "mirabest": 1, "below_las": 2, "duplicate": 0, "kept": 15}


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda b: b.pop("LAS"), "lacks keys ['LAS']"),
        (lambda b: b.update(data=b["data"][:, :22000]), "expected (n, 22500)"),
        (lambda b: b.update(src_ids=["a", "b"]), "'src_ids' has 2 entries but 'data' has 3"),
        (lambda b: b.update(LAS=[1.0, "big", 3.0]), "'LAS' holds values that are not numbers"),
        (lambda b: b.update(src_ids=["a", "a", "c"]), "duplicate ids"),
    ],
)
def test_rgz_bad_batch_names_the_file(tmp_path, change, problem):
    _rewrite_first_batch(tmp_path, change)
    with pytest.raises(InputError, match="data_batch_1") as err:
        load_rgz(tmp_path)
    assert problem in str(err.value)


def test_rgz_missing_folder_and_no_batches(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        load_rgz(tmp_path / "absent")
    (tmp_path / "batches.meta").write_bytes(py2_pickle({}))
    with pytest.raises(InputError, match="no RGZ batches"):
        load_rgz(tmp_path)


def test_rgz_not_a_dict_and_truncated(tmp_path):
    write_rgz_fixture(tmp_path, n_batches=1, per_batch=2)
    (tmp_path / "test_batch").write_bytes(py2_pickle([1, 2, 3]))
    with pytest.raises(InputError, match="test_batch: batch is a list"):
        load_rgz(tmp_path)
    (tmp_path / "test_batch").write_bytes(py2_pickle({"data": np.zeros(4)})[:20])
    with pytest.raises(InputError, match="test_batch: corrupt or truncated"):
        load_rgz(tmp_path)


def test_rgz_hostile_pickle_runs_nothing(tmp_path):
    folder = tmp_path / "rgz"
    write_rgz_fixture(folder, n_batches=1, per_batch=2)
    marker = tmp_path / "pwned"
    (folder / "data_batch_1").write_bytes(pickle.dumps({"data": _Hostile(marker)}, protocol=2))
    with pytest.raises(InputError, match=r"data_batch_1.*not allowed"):
        load_rgz(folder)
    assert not marker.exists()
