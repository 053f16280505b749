"""Source catalogues: CSV, FITS table and VOTable read into the same columns."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from radiolatent.core.errors import InputError
from radiolatent.data.catalogue import read_catalogue


def survey_table() -> Table:
    """A catalogue spelled as survey catalogues spell it: VizieR names, bytes ids, a vector column."""
    return Table(
        {
            "Source_Name": np.array([b"J0043-1040", b"J0843+0420"]),
            "RAJ2000": [10.804, 130.389],
            "DEJ2000": [-10.666, 40.345],
            "LAS": [95.5, 20.5],
            "Label": [0, 1],
        }
    )


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("cat.csv", "ascii.csv"),
        ("cat.ecsv", "ascii.ecsv"),
        ("cat.fits", "fits"),
        ("cat.vot", "votable"),
        ("cat.xml", "votable"),
    ],
)
def test_every_format_gives_the_same_columns_and_values(tmp_path, name, fmt):
    path = tmp_path / name
    survey_table().write(path, format=fmt)
    frame = read_catalogue(path)
    assert list(frame.columns) == ["id", "ra", "dec", "las_arcsec", "label"]
    assert frame["id"].tolist() == ["J0043-1040", "J0843+0420"]
    np.testing.assert_allclose(frame["ra"], [10.804, 130.389])
    np.testing.assert_allclose(frame["dec"], [-10.666, 40.345])
    assert frame["label"].tolist() == [0, 1]


def test_vector_columns_are_left_out_and_bytes_decoded(tmp_path):
    table = survey_table()
    table["beam"] = np.ones((2, 3))
    table["note"] = np.array([b"ok ", b"x"])
    table.write(tmp_path / "cat.fits")
    frame = read_catalogue(tmp_path / "cat.fits")
    assert "beam" not in frame.columns
    assert all(isinstance(v, str) for v in frame["note"]) and frame["note"].tolist()[1] == "x"


def test_an_alias_never_overwrites_a_column_already_named(tmp_path):
    (tmp_path / "cat.csv").write_text(" ra ,RAJ2000,dec\n1.0,2.0,3.0\n")
    frame = read_catalogue(tmp_path / "cat.csv")
    assert frame["ra"].tolist() == [1.0] and frame["raj2000"].tolist() == [2.0]


def test_blank_positions_stay_nan(tmp_path):
    (tmp_path / "cat.csv").write_text("id,ra,dec\na,10,\nb,,5\n")
    frame = read_catalogue(tmp_path / "cat.csv")
    assert np.isnan(frame["dec"][0]) and np.isnan(frame["ra"][1])


@pytest.mark.parametrize(
    "text,words",
    [
        ("id,ra,dec\na,400,1\n", ["'ra'", "0..360"]),
        ("id,ra,dec\na,10,-91\n", ["'dec'", "-90..90"]),
        ("id,ra,dec\na,10:43:12,1\n", ["'ra'", "not numbers", "10:43:12"]),
    ],
)
def test_bad_positions_are_a_one_line_error_naming_the_file(tmp_path, text, words):
    path = tmp_path / "cat.csv"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        read_catalogue(path)
    message = str(exc.value)
    assert message.startswith(str(path)) and len(message.splitlines()) == 1
    assert all(word in message for word in words)


@pytest.mark.parametrize(
    "name,content,problem",
    [
        ("missing.csv", None, "no such catalogue file"),
        ("broken.fits", b"not a fits file at all", "not a readable fits table"),
        ("broken.vot", b"<VOTABLE><oops", "not a readable votable table"),
        ("cat.dat", b"ra,dec\n1,2\n", "unknown catalogue format"),
    ],
)
def test_unreadable_catalogues_are_a_one_line_error_naming_the_file(tmp_path, name, content, problem):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        read_catalogue(path)
    assert str(exc.value).startswith(str(path)) and problem in str(exc.value)
    assert len(str(exc.value).splitlines()) == 1
