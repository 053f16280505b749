"""Survey images (float FITS) become cutouts like the curated archives' (data/survey.py)."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from radiolatent.config import FolderConfig, SurveyImageConfig
from radiolatent.core.errors import InputError
from radiolatent.data.grid import image_grid
from radiolatent.data.registry import load_dataset
from radiolatent.data.sources.folder import load_folder, skipped_files
from radiolatent.data.survey import survey_cutout
from radiolatent.explore.thumbs import colour_table, render_png

FIRST_FITS = Path(__file__).parent / "first_fits"


def _corr(a, b):
    a = a.astype(float).ravel() - a.mean()
    b = b.astype(float).ravel() - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


@pytest.fixture(scope="module")
def fits_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fits")
    for file in FIRST_FITS.glob("*.fits"):
        shutil.copy(file, folder)
    return folder


def test_raw_first_fits_reproduce_the_shipped_mirabest_images(fits_folder):
    """The same object rendered by MiraBest's pipeline and by our reader: the same image."""
    ours = load_folder(fits_folder)
    mirabest = load_dataset("mirabest")
    shipped = dict(zip(mirabest.meta["filename"].str.removesuffix(".png"), mirabest.images))
    assert ours.images.shape == (4, 150, 150)
    corr = [_corr(image, shipped[ident.removeprefix("folder:")]) for ident, image in zip(ours.meta["id"], ours.images)]
    assert min(corr) > 0.97 and np.median(corr) > 0.99, corr
    # shipped images are mostly exact zeros (background clipped), and so are ours
    assert 0.9 < (ours.images == 0).mean() < 0.995
    np.testing.assert_allclose(ours.meta["pixel_scale_arcsec"], 1.8)


def _real_plane():
    with fits.open(next(iter(sorted(FIRST_FITS.glob("*.fits"))))) as hdus:
        return hdus[0].data.astype(np.float64), hdus[0].header


def test_resampling_keeps_the_field_and_the_picture():
    plane, _ = _real_plane()
    native, scale = survey_cutout(plane, 1.8, SurveyImageConfig(), "native")
    # the same sky at half the pixel size (e.g. LoTSS's 1.5"), and at NVSS's 15"/px
    fine, fine_scale = survey_cutout(np.kron(plane, np.ones((2, 2))), 0.9, SurveyImageConfig(), "fine")
    assert native.shape == fine.shape == (150, 150) and scale == fine_scale == 1.8
    assert _corr(native, fine) > 0.95
    coarse, _ = survey_cutout(plane[::8, ::8], 15.0, SurveyImageConfig(field_arcsec=600.0), "coarse")
    assert coarse.shape == (317, 317)  # the whole 38-pixel image (570"), as 1.8" pixels
    kept, kept_scale = survey_cutout(plane, 1.8, SurveyImageConfig(pixel_scale_arcsec=None, field_arcsec=None), "x")
    assert kept.shape == (300, 300) and kept_scale == 1.8


def test_crop_comes_before_the_stretch():
    """A bright source outside the field must not steal the central source's grey levels."""
    plane, _ = _real_plane()
    centre_peak = plane[100:200, 100:200].max()
    plane[5:10, 5:10] = 50 * centre_peak
    image, _ = survey_cutout(plane, 1.8, SurveyImageConfig(), "bright-neighbour")
    assert image.max() == 255 and len(np.unique(image)) > 64


def test_blank_pixels_are_background_and_an_empty_field_is_an_error():
    plane, _ = _real_plane()
    plane[140:160, :60] = np.nan
    image, _ = survey_cutout(plane, 1.8, SurveyImageConfig(), "nans")
    assert image[140 - 75 : 160 - 75, :5].max() == 0 and image.max() == 255
    with pytest.raises(InputError, match=r"flat.fits: is constant"):
        survey_cutout(np.full((50, 50), 3.0), 1.8, SurveyImageConfig(), "flat.fits")
    blank = np.full((300, 300), np.nan)
    blank[:10, :10] = 1.0
    with pytest.raises(InputError, match="no finite pixels in the central field"):
        survey_cutout(blank, 1.8, SurveyImageConfig(), "corner.fits")


def test_a_folder_with_no_pixel_scale_takes_one_from_the_user(tmp_path):
    plane, _ = _real_plane()
    fits.PrimaryHDU(plane.astype(np.float32)).writeto(tmp_path / "nowcs.fits")
    unknown = load_folder(tmp_path)
    assert unknown.images.shape == (1, 300, 300) and np.isnan(unknown.meta["pixel_scale_arcsec"].iloc[0])
    given = load_folder(tmp_path, config=FolderConfig(pixel_scale_arcsec=1.8, survey="FIRST"))
    assert given.images.shape == (1, 150, 150) and given.meta["survey"].iloc[0] == "FIRST"


def test_one_huge_picture_does_not_blow_up_the_folder(tmp_path):
    """A 4000x4000 picture among small cutouts is capped, not padded into every image."""
    small = np.zeros((64, 64), np.uint8)
    small[30:34, 30:34] = 200
    for i in range(3):
        Image.fromarray(small).save(tmp_path / f"s{i}.png")
    huge = np.zeros((4000, 4000), np.uint8)
    huge[1990:2010, 1990:2010] = 255
    Image.fromarray(huge).save(tmp_path / "mosaic.png")
    out = load_folder(tmp_path)
    assert out.images.shape == (4, 512, 512)
    assert list(out.meta["orig_height"]) == [4000, 64, 64, 64]


def test_north_is_up_in_pictures(tmp_path):
    """FITS rows run south to north; grids and explorer thumbnails show north at the top."""
    plane = np.zeros((64, 64))
    plane[50:54, 30:34] = 1.0  # high row index: north of the centre
    plane += np.random.default_rng(0).normal(0, 0.01, plane.shape)
    header = fits.Header(
        {
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRVAL1": 150.0,
            "CRVAL2": 2.0,
            "CDELT1": -0.0005,
            "CDELT2": 0.0005,
            "CRPIX1": 32.5,
            "CRPIX2": 32.5,
        }
    )
    fits.PrimaryHDU(plane, header).writeto(tmp_path / "north.fits")
    image = load_folder(tmp_path).images[0]
    assert np.unravel_index(image.argmax(), image.shape)[0] > 32  # array keeps FITS order
    grid = np.asarray(Image.open(image_grid(image[None], None, tmp_path / "g.png")).convert("L"))
    bright_rows = np.flatnonzero((grid > 200).any(axis=1))
    assert bright_rows.mean() < grid.shape[0] / 2
    thumb = np.asarray(Image.open(io.BytesIO(render_png(image, colour_table("gray"), 64))).convert("L"))
    assert np.unravel_index(thumb.argmax(), thumb.shape)[0] < 32


def test_a_file_name_that_is_not_utf8_is_kept_and_stored(tmp_path):
    image = np.zeros((20, 20), np.uint8)
    image[8:12, 8:12] = 255
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.npy"), "wb") as fh:
        np.save(fh, image)
    out = load_folder(tmp_path)
    assert list(out.meta["id"]) == ["folder:caf\\xe9"]
    out.meta.to_parquet(tmp_path / "meta.parquet")  # pyarrow needs valid UTF-8


def test_a_survey_folder_from_the_command_line(tmp_path, capsys):
    """The README's path on the vendored FITS: look, embed, select the set by the name given."""
    from radiolatent.cli import main
    from radiolatent.data.codes import read_codes, select

    folder = tmp_path / "fits"
    shutil.copytree(FIRST_FITS, folder)
    assert main(["data", "show", f"folder@{folder}", "-n", "4", "-o", str(tmp_path / "g.png"), "-v"]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 files that are not readable images, e.g. README.md" in err
    assert f"skipped {folder / 'README.md'}" in err  # -v lists each one
    out = tmp_path / "mine.parquet"
    assert (
        main(["embed", "--data", f"mine=folder@{folder}", "--single-view", "--survey", "FIRST", "--out", str(out)]) == 0
    )
    table = read_codes(out)
    rows = select(table, "mine")
    assert len(rows) == 4 and set(rows["survey"]) == {"FIRST"}
    assert len(select(table, f"mine=folder@{folder}")) == 4
    assert main(["embed", "--data", f"folder@{tmp_path / 'typo'}", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "typo: no such folder" in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()


# ---------------------------------------------------------------------------
# Survey-aware reading: coarse beams at native pixels, partial (tile-edge) cutouts
# ---------------------------------------------------------------------------


def _write(path, plane, arcsec_per_pixel=1.8, **keys):
    """A real FIRST plane (or a piece of it) as a FITS file of the given scale and keywords."""
    height, width = plane.shape
    header = fits.Header(
        {
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRVAL1": 150.0,
            "CRVAL2": 2.0,
            "CDELT1": -arcsec_per_pixel / 3600,
            "CDELT2": arcsec_per_pixel / 3600,
            "CRPIX1": (width + 1) / 2,
            "CRPIX2": (height + 1) / 2,
            "BUNIT": "JY/BEAM",
            **keys,
        }
    )
    fits.PrimaryHDU(plane.astype(np.float32), header).writeto(path)
    return path


def test_a_coarse_beam_is_read_at_native_pixels_as_frdeep_nvss(tmp_path, caplog):
    """NVSS (15"/px, 45" beam) keeps its pixels, 150 across, as the shipped FR-DEEP NVSS set."""
    plane, _ = _real_plane()
    _write(tmp_path / "nvss.fits", plane, 15.0, BMAJ=45 / 3600, BMIN=45 / 3600)
    _write(tmp_path / "nobeam.fits", plane, 15.0)  # no beam: 3 native pixels stand for it
    _write(tmp_path / "first.fits", plane, 1.8, BMAJ=5.4 / 3600, BMIN=5.4 / 3600)
    with caplog.at_level("INFO", logger="radiolatent"):
        out = load_folder(tmp_path)
    meta = out.meta.set_index("id")
    assert out.images.shape == (3, 150, 150)
    assert list(meta["pixel_scale_arcsec"].round(3)) == [1.8, 15.0, 15.0]
    np.testing.assert_array_equal(out.images[1], out.images[2])  # native: 150 of the 300 pixels
    np.testing.assert_array_equal(out.images[1], survey_cutout(plane, 1.8, SurveyImageConfig(), "same")[0])
    assert meta.loc["folder:nvss", "beam_major_arcsec"] == pytest.approx(45.0)
    assert meta.loc["folder:first", "beam_minor_arcsec"] == pytest.approx(5.4)
    assert np.isnan(meta.loc["folder:nobeam", "beam_major_arcsec"])
    native = [r.getMessage() for r in caplog.records if "native" in r.getMessage()]
    assert len(native) == 2 and f'{tmp_path / "nvss.fits"}: read at its native 15.0"/px' in native[1]
    assert 'its 45.0" beam is wider than 10 model pixels' in native[1] and "none in the header" in native[0]
    # None resamples every image to 1.8"/px, as before: NVSS's 270" are 18 pixels blown up
    resampled = load_folder(tmp_path, config=FolderConfig(survey_image=SurveyImageConfig(native_beam_pixels=None)))
    assert set(resampled.meta["pixel_scale_arcsec"].round(3)) == {1.8}
    assert _corr(resampled.images[1], out.images[1]) < 0.5


def test_edge_cutouts_are_skipped_and_kept_with_keep_partial(tmp_path, caplog):
    """A tile edge cut one side short, or left it blank: skipped and counted, or kept."""
    plane, _ = _real_plane()
    _write(tmp_path / "whole.fits", plane)
    _write(tmp_path / "cut.fits", plane[:, 40:170])  # 130 columns (234") of the 150 asked
    blank = plane.copy()
    blank[:, :100] = np.nan  # a cutout written with NaN outside its mosaic
    _write(tmp_path / "blank.fits", blank)
    small = plane[90:210, 90:210]  # a smaller square cutout (216") is whole
    _write(tmp_path / "small.fits", small)
    with pytest.warns(UserWarning, match=r"skipped 2 files that are partial cutouts \(`keep_partial` keeps them\)"):
        out = load_folder(tmp_path)
    assert list(out.meta["id"]) == ["folder:small", "folder:whole"]
    problems = {s["file"]: s["problem"] for s in skipped_files(out)}
    assert problems["cut.fits"] == (
        'is a partial cutout: its data span 270" x 234" of the field, one side cut short (a tile or mosaic edge)'
    )
    assert '270" x 225"' in problems["blank.fits"]
    with caplog.at_level("INFO", logger="radiolatent"):
        kept = load_folder(tmp_path, config=FolderConfig(keep_partial=True))
    assert len(kept) == 4
    lines = [r.getMessage() for r in caplog.records]
    assert f"kept {tmp_path / 'cut.fits'} (`keep_partial`): is a partial cutout" in "\n".join(lines)
    with pytest.raises(InputError, match=r"blank.fits: is a partial cutout"):
        load_folder(tmp_path, config=FolderConfig(strict=True))
