"""`radiolatent predict`: a folder of raw FIRST FITS with no labels becomes a predictions
catalogue (CSV, FITS or VOTable) that other tools and the explorer read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radiolatent.cli import main
from radiolatent.data.catalogue import read_catalogue
from radiolatent.explore.state import load_table, with_predictions

FITS = Path(__file__).parents[1] / "data" / "first_fits"


@pytest.fixture(scope="module")
def codes(tmp_path_factory):
    """The shipped VDVAE's single-pass codes of MBC train and the four vendored raw FITS."""
    path = tmp_path_factory.mktemp("predict") / "codes.parquet"
    data = f"mbc:train,fits=folder@{FITS}"
    assert main(["embed", "--data", data, "--survey", "FIRST", "--single-view", "--out", str(path)]) == 0
    return path


def test_a_folder_of_raw_fits_without_labels_becomes_a_predictions_catalogue(codes, tmp_path, capsys):
    out = tmp_path / "predictions.fits"
    argv = ["predict", "--codes", str(codes), "--train", "mbc:train", "--in", "fits", "--classifiers", "svc,knn"]
    assert main([*argv, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "trained on 729 labelled rows of mbc:train (FRI, FRII)" in said and f"wrote {out}: 4 rows" in said
    table = read_catalogue(out)
    assert list(table.columns[:5]) == ["id", "ra", "dec", "p_fri", "p_frii"]
    assert np.allclose(table["p_fri"] + table["p_frii"], 1) and table["ra"].between(0, 360).all()
    assert (table["prediction"] == np.where(table["p_frii"] > 0.5, "FRII", "FRI")).all()
    assert table["label"].eq(-1).all(), "no labels went in: these are MiraBest uncertain sources, unlabelled here"
    assert (
        set(table["classifier"]) <= {"svc", "knn", "ext"} and table["nearest_train"].str.count("mirabest:").min() == 3
    )
    for suffix in (".csv", ".vot"):
        again = tmp_path / f"predictions{suffix}"
        assert main([*argv, "--out", str(again)]) == 0
        assert np.allclose(read_catalogue(again)["p_frii"], table["p_frii"])


def test_the_explorer_colours_its_map_by_a_predictions_file(codes, tmp_path):
    out = tmp_path / "p.csv"
    argv = [
        "predict",
        "--codes",
        str(codes),
        "--train",
        "mbc:train",
        "--in",
        "fits",
        "--classifier",
        "svc",
        "--classifiers",
        "svc,knn",
    ]
    assert main([*argv, "--out", str(out)]) == 0
    joined = with_predictions(load_table(codes), out)
    fits_rows = joined["set"] == "fits"
    assert joined.loc[fits_rows, "prediction"].notna().all() and joined.loc[~fits_rows, "prediction"].isna().all()
    assert {"p_frii", "in_domain", "out_of_domain", "agreement"} <= set(joined.columns)


def test_bad_predict_requests_are_one_line_errors(codes, tmp_path, capsys):
    base = ["predict", "--codes", str(codes), "--in", "fits"]
    assert main([*base, "--train", "mbc:train", "--out", str(tmp_path / "p.parquet")]) == 2
    assert "unknown catalogue format" in capsys.readouterr().err
    assert main([*base, "--train", "fits", "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "'fits' has no labelled rows" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.csv").exists()
