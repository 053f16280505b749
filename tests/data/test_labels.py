"""The label store survives crashes: one JSON line per label, the last label of an id wins,
a torn last line is skipped then repaired, garbage elsewhere is a one-line error."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from radiolatent.core.errors import InputError
from radiolatent.data.labels import LabelStore


def test_label_store_appends_one_json_line_per_label_and_last_wins(tmp_path):
    store = LabelStore(tmp_path / "labels.jsonl")
    store.add("a", 1)
    store.add("b", 4.5, by="oracle")
    store.add("a", 3)
    lines = (tmp_path / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert set(first) == {"id", "score", "time", "by"} and first["by"] == "person"
    assert store.scores() == {"a": 3.0, "b": 4.5} and len(store) == 2
    store.export_csv(tmp_path / "labels.csv")
    csv = pd.read_csv(tmp_path / "labels.csv")
    assert list(csv.columns) == ["id", "score", "time", "by"] and list(csv["score"]) == [1.0, 4.5, 3.0]


def test_label_store_rejects_bad_scores(tmp_path):
    store = LabelStore(tmp_path / "labels.jsonl")
    for bad in (5.5, -1, float("nan"), float("inf")):
        with pytest.raises(InputError, match="outside"):
            store.add("a", bad)
    with pytest.raises(InputError, match="id"):
        store.add("", 2)
    assert not (tmp_path / "labels.jsonl").exists(), "a refused label writes nothing"


def test_truncated_last_line_is_skipped_then_repaired(tmp_path):
    path = tmp_path / "labels.jsonl"
    store = LabelStore(path)
    store.add("a", 1)
    store.add("b", 2)
    with open(path, "ab") as handle:  # a crash mid-write
        handle.write(b'{"id": "c", "score": 5, "ti')
    with pytest.warns(UserWarning, match="incomplete last label"):
        assert LabelStore(path).scores() == {"a": 1.0, "b": 2.0}
    with pytest.warns(UserWarning, match="removed an incomplete"):
        store.add("c", 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file is clean again
        assert LabelStore(path).scores() == {"a": 1.0, "b": 2.0, "c": 5.0}
    assert len(path.read_text().splitlines()) == 3


def test_garbage_before_the_last_line_or_bad_values_raise_input_error(tmp_path):
    path = tmp_path / "labels.jsonl"
    store = LabelStore(path)
    store.add("a", 1)
    with open(path, "ab") as handle:
        handle.write(b"garbage\n")
    store_line = json.dumps({"id": "b", "score": 2.0, "time": "2024-01-01T00:00:00+00:00", "by": "person"})
    with open(path, "a") as handle:
        handle.write(store_line + "\n")
    with pytest.raises(InputError, match=r"labels.jsonl: line 2"):
        store.scores()
    path.write_text(json.dumps({"id": "a", "score": 7, "time": "2024-01-01T00:00:00", "by": "x"}) + "\n")
    with pytest.raises(InputError, match=r"line 1: score 7\.0 is outside"):
        store.scores()
    path.write_text(json.dumps({"id": "a", "score": 2, "time": "yesterday", "by": "x"}) + "\n")
    with pytest.raises(InputError, match="ISO-8601"):
        store.scores()


def test_a_label_store_gives_its_scores_as_classes_to_the_rows_it_names(tmp_path):
    from downstream_fixtures import random_codes, table_of

    from radiolatent.data.labels import labelled_by_store

    store = LabelStore(tmp_path / "labels.jsonl")
    store.add("pool-1", 5)
    store.add("pool-2", 0)
    store.add("pool-1", 4)  # the last score wins
    table = labelled_by_store(table_of(random_codes(5), "pool"), store.path)
    assert table["label"].tolist() == [-1, 4, 0, -1, -1]
    assert table["label_name"].tolist() == ["", "4", "0", "", ""]
    with pytest.raises(InputError, match="no such label store"):
        labelled_by_store(table, tmp_path / "missing.jsonl")
