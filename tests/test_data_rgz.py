"""RGZ DR1 batches with no rows: valid, contributing nothing; the unpickler stays restricted."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from fixtures_rgz import SIDE, py2_pickle, write_rgz_fixture

from radiolatent.data.rgz import load_rgz
from radiolatent.data.safepickle import load_pickle
from radiolatent.errors import InputError


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
