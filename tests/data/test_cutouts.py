"""Cutouts from survey mosaics: built from the vendored raw FIRST files placed onto larger canvases."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.table import Table
from astropy.wcs import WCS
from reproject import reproject_interp

from radiolatent.cli import main
from radiolatent.config import CutoutConfig
from radiolatent.core.errors import InputError
from radiolatent.data.cutouts import EDGE, NO_IMAGE, REPORT_NAME, make_cutouts
from radiolatent.data.sources.folder import load_folder

FIRST = Path(__file__).parent / "first_fits"
# The close pair (about 15' apart) goes onto one canvas; the two far ones get a mosaic each.
PAIR = ("110_010.804-010.666_0.1275_0095.51", "210_010.862-010.906_0.1275_0051.00")
CUBE = "110_130.389+040.345_0.1683_0020.46"
PLAIN = "210_135.747+006.329_0.0771_0033.27"
SIZE_ARCSEC = 360.0  # 200 FIRST pixels, inside each 300-pixel original
BEAM = {"BMAJ": 5.4 / 3600, "BMIN": 5.4 / 3600, "BPA": 0.0}
EDGE_SOURCE = ("near_edge", 10.83, -10.592)  # on the canvas, about 40" inside its northern edge
OFF_SOURCE = ("nowhere", 200.0, 30.0)


def read(path: Path) -> tuple[np.ndarray, fits.Header]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)  # SkyView's comment cards hold tabs
        with fits.open(path) as hdus:
            data, header = hdus[0].data.astype(np.float64), hdus[0].header.copy()
    # Only the comment cards hold the tabs; without them the header prints cleanly for WCS.
    for key in ("COMMENT", "HISTORY"):
        header.remove(key, ignore_missing=True, remove_all=True)
    return data, header


def canvas_header() -> fits.Header:
    """A FIRST-like TAN grid, 460 x 820 pixels of 1.8", covering the close pair with a margin."""
    header = fits.Header()
    header.update(
        NAXIS=2,
        NAXIS1=460,
        NAXIS2=820,
        CTYPE1="RA---TAN",
        CTYPE2="DEC--TAN",
        CRVAL1=10.833,
        CRVAL2=-10.786,
        CRPIX1=230.5,
        CRPIX2=410.5,
        CDELT1=-0.0005,
        CDELT2=0.0005,
        BUNIT="JY/BEAM",
        **BEAM,
    )
    return header


def four_d(data: np.ndarray, header: fits.Header) -> fits.PrimaryHDU:
    """The plane as a radio pipeline writes it: (1, 1, H, W) with frequency and Stokes axes."""
    hdu = fits.PrimaryHDU(data[None, None].astype(np.float32))
    for key in ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2", "BUNIT"):
        hdu.header[key] = header[key]
    hdu.header.update(
        CTYPE3="FREQ", CRVAL3=1.4e9, CRPIX3=1.0, CDELT3=1e6, CTYPE4="STOKES", CRVAL4=1.0, CRPIX4=1.0, CDELT4=1.0, **BEAM
    )
    return hdu


@pytest.fixture(scope="module")
def sky(tmp_path_factory) -> Path:
    """mosaics/ holding the canvas, a 4-D mosaic, a plain one and a strip of the first source
    near its edge; catalogue.csv with the four sources plus one near the canvas edge and one off all."""
    root = tmp_path_factory.mktemp("sky")
    mosaics = root / "mosaics"
    mosaics.mkdir()
    header = canvas_header()
    canvas = np.full((header["NAXIS2"], header["NAXIS1"]), np.nan)
    for name in PAIR:
        data, original = read(FIRST / f"{name}.fits")
        placed, _ = reproject_interp((data, WCS(original)), header)
        canvas = np.where(np.isfinite(placed), placed, canvas)
    fits.PrimaryHDU(canvas.astype(np.float32), header).writeto(mosaics / "canvas.fits")
    data, original = read(FIRST / f"{CUBE}.fits")
    four_d(data, original).writeto(mosaics / "cube.fits")
    shutil.copy(FIRST / f"{PLAIN}.fits", mosaics / "plain.fits")
    # The first source again, 30 pixels from this strip's right edge: the canvas must win.
    data, original = read(FIRST / f"{PAIR[0]}.fits")
    fits.PrimaryHDU(data[:, :180].astype(np.float32), WCS(original).to_header()).writeto(mosaics / "strip.fits")
    rows = [source_row(name) for name in (*PAIR, CUBE, PLAIN)]
    rows += [
        {"id": i, "ra": ra, "dec": dec, "label": -1, "las_arcsec": np.nan} for i, ra, dec in (EDGE_SOURCE, OFF_SOURCE)
    ]
    pd.DataFrame(rows).to_csv(root / "catalogue.csv", index=False)
    return root


def source_row(name: str) -> dict:
    """id, position (the file's centre), label and LAS of one vendored file, from its header and name."""
    _, header = read(FIRST / f"{name}.fits")
    return {
        "id": name,
        "ra": header["CRVAL1"],
        "dec": header["CRVAL2"],
        "label": 0 if name.startswith("1") else 1,
        "las_arcsec": float(name.rsplit("_", 1)[1]),
    }


@pytest.fixture(scope="module")
def result(sky, tmp_path_factory):
    out = tmp_path_factory.mktemp("cut") / "cutouts"
    return make_cutouts(sky / "catalogue.csv", str(sky / "mosaics" / "*.fits"), SIZE_ARCSEC, out, progress=False)


def correlation_with_original(cutout: Path, name: str) -> float:
    """Pixel correlation of a cutout with its original file, on the cutout's grid, over the common area."""
    cut, header = read(cutout)
    data, original = read(FIRST / f"{name}.fits")
    expected, _ = reproject_interp((data, WCS(original)), WCS(header), shape_out=cut.shape)
    both = np.isfinite(cut) & np.isfinite(expected)
    assert both.mean() > 0.9
    return float(np.corrcoef(cut[both], expected[both])[0, 1])


@pytest.mark.parametrize("name", [*PAIR, CUBE, PLAIN])
def test_each_cutout_matches_its_original(result, name):
    path = result.out_dir / f"{name}.fits"
    assert correlation_with_original(path, name) >= 0.99
    cut, header = read(path)
    assert cut.shape == (200, 200) and header["BUNIT"] == "JY/BEAM"
    # The catalogue position is the cutout's centre, to a pixel.
    row = source_row(name)
    x, y = WCS(header).celestial.all_world2pix([row["ra"]], [row["dec"]], 0)
    assert abs(x[0] - 99.5) <= 1 and abs(y[0] - 99.5) <= 1


def test_a_shifted_cutout_would_not_pass(result):
    """The correlation bar above is a real check: the same cutout one pixel off falls below it."""
    cut, header = read(result.out_dir / f"{PAIR[1]}.fits")
    header["CRPIX1"] += 1
    fits.PrimaryHDU(cut.astype(np.float32), header).writeto(result.out_dir.parent / "shifted.fits", overwrite=True)
    assert correlation_with_original(result.out_dir.parent / "shifted.fits", PAIR[1]) < 0.99


def test_sources_come_from_the_mosaic_where_they_are_farthest_from_the_edge(result):
    mosaic = result.written.set_index("id")["mosaic"]
    assert mosaic[PAIR[0]] == "canvas.fits" and mosaic[PAIR[1]] == "canvas.fits"
    assert mosaic[CUBE] == "cube.fits" and mosaic[PLAIN] == "plain.fits"


def test_beam_keywords_are_kept(result):
    _, header = read(result.out_dir / f"{CUBE}.fits")
    assert header["BMAJ"] == pytest.approx(BEAM["BMAJ"]) and header["BPA"] == 0.0
    assert header["NAXIS"] == 2 and header["MOSAIC"] == "cube.fits"


def test_edge_and_off_sky_sources_are_reported_not_dropped(result):
    report = pd.read_csv(result.report_path)
    assert result.report_path.name == REPORT_NAME
    reasons = dict(zip(report["id"], report["reason"]))
    assert reasons == {EDGE_SOURCE[0]: EDGE, OFF_SOURCE[0]: NO_IMAGE}
    assert result.count(EDGE) == 1 and result.count(NO_IMAGE) == 1
    assert not (result.out_dir / "near_edge.fits").exists() and len(result.written) == 4


def test_fill_writes_an_edge_source_with_nan_outside_the_mosaic(sky, tmp_path):
    config = CutoutConfig(edge="fill")
    result = make_cutouts(
        sky / "catalogue.csv",
        sky / "mosaics" / "canvas.fits",
        SIZE_ARCSEC,
        tmp_path / "out",
        config=config,
        progress=False,
    )
    cut, _ = read(tmp_path / "out" / "near_edge.fits")
    # 40" inside the northern edge: the top rows are beyond the canvas.
    assert np.isnan(cut[-50:]).all() and np.isfinite(cut[:50]).any()
    report = pd.read_csv(result.report_path).set_index("id")
    assert report.loc["near_edge", "reason"] == EDGE and bool(report.loc["near_edge", "written"])


def test_the_folder_loads_with_its_catalogue(result):
    dataset = load_folder(result.out_dir, catalogue=result.catalogue_path)
    meta = dataset.meta.set_index("id")
    assert len(meta) == 4
    for name in (*PAIR, CUBE, PLAIN):
        row = source_row(name)
        assert meta.loc[f"folder:{name}", "ra"] == pytest.approx(row["ra"])
        assert meta.loc[f"folder:{name}", "dec"] == pytest.approx(row["dec"])
        assert meta.loc[f"folder:{name}", "label"] == row["label"]
        assert meta.loc[f"folder:{name}", "las_arcsec"] == pytest.approx(row["las_arcsec"])


@pytest.mark.parametrize("suffix,fmt", [(".fits", "fits"), (".vot", "votable")])
def test_fits_and_votable_catalogues_give_the_same_cutouts(sky, result, tmp_path, suffix, fmt):
    table = Table.from_pandas(pd.read_csv(sky / "catalogue.csv"))
    table.rename_columns(["id", "ra", "dec"], ["Source_Name", "RAJ2000", "DEJ2000"])
    table.write(tmp_path / f"cat{suffix}", format=fmt)
    other = make_cutouts(
        tmp_path / f"cat{suffix}", str(sky / "mosaics" / "*.fits"), SIZE_ARCSEC, tmp_path / "out", progress=False
    )
    pd.testing.assert_frame_equal(other.written, result.written, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_csv(other.report_path), pd.read_csv(result.report_path))
    for name in other.written["filename"]:
        np.testing.assert_array_equal(read(tmp_path / "out" / name)[0], read(result.out_dir / name)[0])


def test_bad_inputs_are_one_line_errors_before_any_work(sky, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,ra,dec\na,361,0\n")
    cases = [
        (bad, str(sky / "mosaics" / "*.fits"), str(bad)),
        (sky / "catalogue.csv", str(tmp_path / "none" / "*.fits"), "matches no files"),
        (sky / "catalogue.csv", str(tmp_path / "missing.fits"), "no such image file"),
    ]
    for catalogue, images, words in cases:
        with pytest.raises(InputError) as exc:
            make_cutouts(catalogue, images, SIZE_ARCSEC, tmp_path / "out", progress=False)
        assert words in str(exc.value) and len(str(exc.value).splitlines()) == 1
        assert not (tmp_path / "out").exists()


def test_a_non_empty_output_folder_is_refused(sky, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        make_cutouts(sky / "catalogue.csv", sky / "mosaics" / "plain.fits", SIZE_ARCSEC, tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_cli_writes_the_folder_and_says_what_it_could_not_cut(sky, tmp_path, capsys):
    out = tmp_path / "cut"
    code = main(
        [
            "data",
            "cutouts",
            "--catalogue",
            str(sky / "catalogue.csv"),
            "--images",
            str(sky / "mosaics" / "*.fits"),
            "--size",
            "360",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "wrote 4 cutouts" in text and "at an edge: 1" in text and "in no image: 1" in text
    assert str(out / REPORT_NAME) in text
    assert sorted(p.name for p in out.glob("*.fits")) == sorted(f"{n}.fits" for n in (*PAIR, CUBE, PLAIN))


def test_cli_bad_glob_is_a_one_line_error(sky, tmp_path, capsys):
    code = main(
        [
            "data",
            "cutouts",
            "--catalogue",
            str(sky / "catalogue.csv"),
            "--images",
            str(tmp_path / "*.fits"),
            "--size",
            "360",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "matches no files" in err
