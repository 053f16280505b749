"""Codes tables: parquet round trip, the contract's checks, and row selection by spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiolatent.config import META_COLUMNS
from radiolatent.core.errors import InputError
from radiolatent.data.codes import code_columns, code_matrix, make_codes_table, read_codes, select, write_codes


def meta_rows(dataset: str, split: str, labels: list[int], prefix: str | None = None) -> pd.DataFrame:
    """Metadata as the data loaders produce it (META_COLUMNS, unknowns as NaN / '')."""
    n = len(labels)
    stem = prefix or dataset.replace(":", "-")
    return pd.DataFrame(
        {
            "id": [f"{stem}-{split}-{i:03d}" for i in range(n)],
            "dataset": [dataset] * n,
            "split": [split] * n,
            "label": labels,
            "label_name": ["FRII" if v == 1 else "FRI" for v in labels],
            "ra": np.linspace(120.0, 130.0, n),
            "dec": np.linspace(10.0, 20.0, n),
            "las_arcsec": np.full(n, np.nan),
            "redshift": np.full(n, np.nan),
            "survey": ["FIRST"] * n,
            "pixel_scale_arcsec": np.full(n, 1.8),
        }
    )


def mixed_table(dim: int = 8) -> pd.DataFrame:
    """MBC train/test, MiraBest hybrid, FR-DEEP NVSS test and pool rows in one table."""
    rng = np.random.default_rng(0)
    parts = [
        (meta_rows("mirabest:confident", "train", [0, 1] * 5), "mirabest:confident"),
        (meta_rows("mirabest:confident", "test", [0, 1] * 3), "mirabest:confident"),
        (meta_rows("mirabest:hybrid", "train", [2] * 4), "mirabest:hybrid"),
        (meta_rows("frdeep-n", "test", [0, 1] * 2), "frdeep-n"),
        (meta_rows("first-galaxy", "train", [0, 1, 2]), "pool"),
    ]
    tables = [make_codes_table(m, rng.normal(size=(len(m), dim)), s, "vdvae-test") for m, s in parts]
    return pd.concat(tables, ignore_index=True)


def test_round_trip_keeps_values_and_float32(tmp_path):
    meta = meta_rows("mirabest:confident", "train", [0, 1, 1, 0])
    codes = np.arange(4 * 12, dtype=np.float64).reshape(4, 12) / 7
    table = make_codes_table(meta, codes, "mirabest:confident", "vdvae-w64", extra_blocks={"l3": np.ones((4, 5))})
    path = write_codes(table, tmp_path / "codes.parquet")
    back = read_codes(path)
    assert list(back.columns[: len(META_COLUMNS)]) == list(META_COLUMNS)
    assert code_columns(back) == [f"z{i:03d}" for i in range(12)]
    assert code_columns(back, "l3") == [f"l3_{i:03d}" for i in range(5)]
    assert back["z011"].dtype == np.float32
    np.testing.assert_array_equal(code_matrix(back), codes.astype(np.float32))
    np.testing.assert_array_equal(code_matrix(back, "l3"), np.ones((4, 5), np.float32))
    assert (back["set"] == "mirabest:confident").all() and (back["model"] == "vdvae-w64").all()
    assert [p.name for p in tmp_path.iterdir()] == ["codes.parquet"]  # no temporary left behind


def test_code_columns_are_ordered_by_number_not_position():
    table = make_codes_table(meta_rows("frdeep-n", "train", [0, 1]), np.eye(2, 1001), "frdeep-n", "m")
    # over 1000 dims the names widen to four digits and still sort numerically
    assert code_columns(table)[:2] == ["z0000", "z0001"] and code_columns(table)[-1] == "z1000"
    shuffled = table[list(reversed(table.columns))]
    assert code_columns(shuffled) == code_columns(table)
    np.testing.assert_array_equal(code_matrix(shuffled), np.eye(2, 1001, dtype=np.float32))
    with pytest.raises(InputError, match="no code columns for block 'l3'"):
        code_matrix(table, "l3")


def test_make_codes_table_rejects_bad_shapes_and_nan():
    meta = meta_rows("frdeep-n", "train", [0, 1, 0])
    with pytest.raises(InputError, match=r"shape \(2, 4\)"):
        make_codes_table(meta, np.zeros((2, 4)), "frdeep-n", "m")
    bad = np.zeros((3, 4))
    bad[1, 2] = np.nan
    with pytest.raises(InputError, match=r"1 rows have NaN/inf in block 'z'.*frdeep-n-train-001"):
        make_codes_table(meta, bad, "frdeep-n", "m")
    with pytest.raises(InputError, match="lacks columns"):
        make_codes_table(meta.drop(columns=["label"]), np.zeros((3, 4)), "frdeep-n", "m")


def _written(tmp_path, table: pd.DataFrame, name: str = "c.parquet"):
    # bypass write_codes' own checks to produce files that break the contract
    path = tmp_path / name
    table.to_parquet(path, index=False)
    return path


def test_read_codes_errors_name_the_file(tmp_path):
    table = make_codes_table(meta_rows("frdeep-n", "test", [0, 1, 0]), np.ones((3, 4)), "frdeep-n", "m")
    missing = tmp_path / "absent.parquet"
    with pytest.raises(InputError, match="no such codes file") as err:
        read_codes(missing)
    assert err.value.source == str(missing)

    text = tmp_path / "notes.parquet"
    text.write_text("id,z000\n")
    with pytest.raises(InputError, match="not a readable parquet") as err:
        read_codes(text)
    assert err.value.source == str(text)

    for column in ("set", "model", "label"):
        path = _written(tmp_path, table.drop(columns=[column]), f"no_{column}.parquet")
        with pytest.raises(InputError, match=f"lacks columns \\['{column}'\\]") as err:
            read_codes(path)
        assert err.value.source == str(path)

    path = _written(tmp_path, table.drop(columns=code_columns(table)), "nocodes.parquet")
    with pytest.raises(InputError, match="no code columns"):
        read_codes(path)

    for value in (np.nan, np.inf):
        broken = table.copy()
        broken.loc[2, "z003"] = value
        path = _written(tmp_path, broken, "nan.parquet")
        with pytest.raises(InputError, match=r"1 rows have NaN/inf.*frdeep-n-test-002") as err:
            read_codes(path)
        assert err.value.source == str(path)


def test_write_codes_refuses_bad_table_and_leaves_nothing(tmp_path):
    table = make_codes_table(meta_rows("frdeep-n", "test", [0, 1]), np.ones((2, 3)), "frdeep-n", "m")
    with pytest.raises(InputError, match="lacks columns"):
        write_codes(table.drop(columns=["model"]), tmp_path / "out.parquet")
    assert list(tmp_path.iterdir()) == []


def test_select_aliases_splits_and_prefixes():
    table = mixed_table()
    mbc_train = select(table, "mbc:train")
    assert len(mbc_train) == 10
    assert set(mbc_train["dataset"]) == {"mirabest:confident"} and set(mbc_train["split"]) == {"train"}
    assert len(select(table, "mirabest:confident")) == 16
    assert len(select(table, "mbc")) == 16
    # a name matches every finer subset: confident + hybrid
    assert set(select(table, "mirabest")["dataset"]) == {"mirabest:confident", "mirabest:hybrid"}
    assert len(select(table, "mirabest:train")) == 14
    # mb -> mirabest:all means every MiraBest row
    assert len(select(table, "mb")) == 20 and len(select(table, "mb:test")) == 6
    assert list(select(table, "nvss:test")["id"]) == [f"frdeep-n-test-{i:03d}" for i in range(4)]
    assert set(select(table, "pool")["set"]) == {"pool"} and len(select(table, "pool")) == 3


def test_select_deduplicates_by_id_keeping_first():
    table = mixed_table()
    # the same MBC test rows embedded twice (e.g. once alone, once inside a larger set)
    again = table[table["dataset"] == "mirabest:confident"].assign(set="mirabest", z000=99.0)
    both = pd.concat([table, again], ignore_index=True)
    rows = select(both, "mbc:test")
    assert len(rows) == 6 and rows["id"].is_unique
    assert (rows["z000"] != 99.0).all()  # the first copy won
    assert (select(pd.concat([again, table]), "mbc:test")["z000"] == 99.0).all()


def test_select_empty_lists_what_exists(tmp_path):
    path = write_codes(mixed_table(), tmp_path / "c.parquet")
    table = read_codes(path)
    with pytest.raises(
        InputError, match=r"no rows match 'frdeep-f:test'.*sets: \[.*'pool'.*datasets: .*'frdeep-n'"
    ) as err:
        select(table, "frdeep-f:test")
    assert err.value.source == str(path)
    with pytest.raises(InputError, match="no rows match 'nvss:train'"):
        select(table, "nvss:train")
