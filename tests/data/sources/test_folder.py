"""Any folder of cutouts (data/sources/folder.py): FITS, PNG, JPEG and NumPy images, their catalogues
matched by name, id or position, and bad or skipped files named. (RGZ batch folders: test_rgz.py.)"""

from __future__ import annotations

import gzip
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image

from radiolatent.config import FolderConfig
from radiolatent.core.errors import InputError
from radiolatent.data.sources.folder import load_folder, skipped_files

# ---------------------------------------------------------------------------
# Folders of cutouts
# ---------------------------------------------------------------------------


def _blob(height=40, width=40, peak=1.0):
    y, x = np.mgrid[:height, :width]
    return peak * np.exp(-((y - height / 2) ** 2 + (x - width / 3) ** 2) / 30.0) + 0.01 * x / width


def _sky_header(nx, ny, ra=150.0, dec=2.0, cdelt=0.0005):
    header = fits.Header()
    header.update(
        CTYPE1="RA---SIN",
        CTYPE2="DEC--SIN",
        CRVAL1=ra,
        CRVAL2=dec,
        CDELT1=-cdelt,
        CDELT2=cdelt,
        CRPIX1=(nx + 1) / 2,
        CRPIX2=(ny + 1) / 2,
    )
    return header


def _scaled(values):
    finite = np.isfinite(values)
    low, high = values[finite].min(), values[finite].max()
    return np.round((np.where(finite, values, low) - low) / (high - low) * 255).astype(np.uint8)


def _peak(image):
    return np.unravel_index(np.argmax(image), image.shape)


def test_fits_float_kept_in_fits_row_order_clipped_scaled_and_positioned(tmp_path):
    data = _blob().astype(np.float32)
    data[0, :5] = np.nan
    data[3, 3] = np.inf
    fits.PrimaryHDU(data, _sky_header(40, 40)).writeto(tmp_path / "src.fits")
    out = load_folder(tmp_path)
    image = out.images[0]
    # FITS row order, as the shipped archives: the blob stays in row 20, column 13
    assert _peak(image) == (20, 13) and image.max() == 255
    # blank pixels and the faint background (below 3 sigma) are zero, the source is not
    assert image[0, :5].tolist() == [0] * 5 and image[3, 3] == 0 and image[:, -1].max() == 0
    assert (image > 0).sum() == (data > 0.05).sum() or (image > 0).sum() > 10
    row = out.meta.iloc[0]
    assert row["id"] == "folder:src" and row["dataset"] == "folder" and row["split"] == "all"
    assert row["pixel_scale_arcsec"] == pytest.approx(1.8)
    assert row["ra"] == pytest.approx(150.0) and row["dec"] == pytest.approx(2.0)


def test_fits_blank_integer_pixels_become_background(tmp_path):
    data = np.round(_blob() * 1000).astype(np.int16) + 50
    data[10:12, 10:12] = -32768
    hdu = fits.PrimaryHDU(data)
    hdu.header["BLANK"] = -32768
    hdu.writeto(tmp_path / "int.fits")
    out = load_folder(tmp_path)
    image = out.images[0]
    assert image[10:12, 10:12].max() == 0 and _peak(image) == (20, 13) and image.max() == 255
    assert np.isnan(out.meta["ra"].iloc[0]) and np.isnan(out.meta["pixel_scale_arcsec"].iloc[0])


def test_fits_gz_and_degenerate_cube_load(tmp_path):
    plane = _blob().astype(np.float32)
    fits.PrimaryHDU(plane, _sky_header(40, 40)).writeto(tmp_path / "a.fits.gz")
    header = _sky_header(40, 40, ra=200.0, dec=-30.0)
    header.update(
        CTYPE3="FREQ", CRVAL3=1.4e9, CDELT3=1e6, CRPIX3=1.0, CTYPE4="STOKES", CRVAL4=1.0, CDELT4=1.0, CRPIX4=1.0
    )
    fits.PrimaryHDU(plane[None, None], header).writeto(tmp_path / "cube.fit")
    with gzip.open(tmp_path / "a.fits.gz") as fh:
        assert fh.read(6) == b"SIMPLE"
    out = load_folder(tmp_path)
    assert list(out.meta["id"]) == ["folder:a", "folder:cube"]
    np.testing.assert_array_equal(out.images[0], out.images[1])
    assert out.meta["ra"].iloc[1] == pytest.approx(200.0) and out.meta["dec"].iloc[1] == pytest.approx(-30.0)


@pytest.mark.parametrize(
    "data, problem",
    [
        (np.stack([_blob()] * 3).astype(np.float32), "is a 3-D cube with 3 planes; give one 2-D image"),
        (np.full((20, 20), np.nan, dtype=np.float32), "has no finite pixels"),
        (np.full((20, 20), 7.0, dtype=np.float32), "is constant"),
    ],
)
def test_bad_fits_names_the_file(tmp_path, data, problem):
    fits.PrimaryHDU(data).writeto(tmp_path / "bad.fits")
    with pytest.raises(InputError, match=r"bad.fits") as err:
        load_folder(tmp_path)
    assert problem in str(err.value)


def test_png_jpeg_and_npy(tmp_path):
    grey = _scaled(_blob())
    rgb = np.stack([grey, grey, grey], axis=-1)
    Image.fromarray(rgb).save(tmp_path / "p.png")
    Image.fromarray(grey).save(tmp_path / "j.jpg", quality=95)
    np.save(tmp_path / "u.npy", grey)
    np.save(tmp_path / "f.npy", _blob())
    Image.fromarray(np.round(_blob() * 60000).astype(np.uint16)).save(tmp_path / "deep.png")
    out = load_folder(tmp_path)
    by_id = dict(zip(out.meta["id"], out.images))
    np.testing.assert_array_equal(by_id["folder:p"], grey)
    np.testing.assert_array_equal(by_id["folder:u"], grey)
    assert np.abs(by_id["folder:j"].astype(int) - grey).max() <= 8  # lossy JPEG
    # float .npy and 16-bit PNG are survey data: background clipped, rescaled (not clipped at 255)
    np.testing.assert_array_equal(by_id["folder:deep"], by_id["folder:f"])
    assert by_id["folder:f"].max() == 255 and by_id["folder:f"][:, -1].max() == 0
    assert _peak(by_id["folder:f"]) == _peak(grey)
    assert out.meta["pixel_scale_arcsec"].isna().all()


def test_mixed_sizes_pad_and_resize(tmp_path):
    big, small = _scaled(_blob(60, 60)), _scaled(_blob(30, 40))
    sub = tmp_path / "sub"
    sub.mkdir()
    np.save(tmp_path / "big.npy", big)
    np.save(sub / "small.npy", small)
    padded = load_folder(tmp_path)
    assert padded.images.shape == (2, 60, 60)
    np.testing.assert_array_equal(padded.images[1][15:45, 10:50], small)
    assert padded.images[1][:15].max() == 0
    assert list(padded.meta["id"]) == ["folder:big", "folder:sub/small"]
    assert list(padded.meta["orig_height"]) == [60, 30] and list(padded.meta["orig_width"]) == [60, 40]
    resized = load_folder(tmp_path, config=FolderConfig(mixed_sizes="resize"))
    assert resized.images.shape == (2, 60, 60)  # tie between 60 and 30: larger wins


def test_catalogue_merge_by_filename_and_id(tmp_path):
    images = tmp_path / "imgs"
    (images / "b").mkdir(parents=True)
    for name in ("x.npy", "y.npy", "b/z.npy"):
        np.save(images / name, _scaled(_blob()))
    csv = tmp_path / "cat.csv"
    pd.DataFrame(
        {
            "filename": ["x.npy", "b/z.npy", "gone.npy"],
            "ra": [10.5, 20.0, 1.0],
            "label": [1, 0, 1],
            "label_name": ["FRII", "FRI", "FRII"],
            "redshift": [0.1, np.nan, 0.3],
        }
    ).to_csv(csv, index=False)
    with pytest.warns(UserWarning, match="1 catalogue rows match no file, e.g. 'gone.npy'"):
        out = load_folder(images, csv)
    meta = out.meta.set_index("id")
    assert meta.loc["folder:x", "ra"] == 10.5 and meta.loc["folder:x", "label"] == 1
    assert meta.loc["folder:b/z", "label_name"] == "FRI" and np.isnan(meta.loc["folder:b/z", "redshift"])
    assert meta.loc["folder:y", "label"] == -1 and np.isnan(meta.loc["folder:y", "ra"])
    pd.DataFrame({"id": ["y", "b/z"], "las_arcsec": [33.0, 44.0]}).to_csv(csv, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meta = load_folder(images, csv).meta.set_index("id")
    assert meta.loc["folder:y", "las_arcsec"] == 33.0 and meta.loc["folder:b/z", "las_arcsec"] == 44.0


@pytest.mark.parametrize(
    "table, problem",
    [
        ({"flux": ["x"], "ra": [1.0]}, "has no 'filename' or 'id' column, nor 'ra' and 'dec'"),
        ({"ra": [1.0], "dec": [2.0]}, "no file carries a sky position"),
        ({"id": ["x", "x"], "ra": [1.0, 2.0]}, "duplicate ids, e.g. 'x'"),
        ({"id": ["x"], "dec": [95.0]}, "column 'dec' has values outside"),
        ({"id": ["x"], "label": ["FRI"]}, "column 'label' holds values that are not numbers"),
    ],
)
def test_bad_catalogue_names_the_csv(tmp_path, table, problem):
    np.save(tmp_path / "x.npy", _scaled(_blob()))
    csv = tmp_path / "cat.csv"  # inside the folder: must not be read as an image
    pd.DataFrame(table).to_csv(csv, index=False)
    with pytest.raises(InputError, match=r"cat.csv") as err:
        load_folder(tmp_path, csv)
    assert problem in str(err.value)


def test_empty_folder_and_missing_folder(tmp_path):
    with pytest.raises(InputError, match="no images"):
        load_folder(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        load_folder(tmp_path / "absent")


def test_non_image_files_are_skipped_and_counted_or_fatal_when_strict(tmp_path):
    np.save(tmp_path / "ok.npy", _scaled(_blob()))
    (tmp_path / "notes.txt").write_text("observing log\n")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    np.save(tmp_path / "empty.npy", np.zeros((0, 5)))
    (tmp_path / "junk.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    with pytest.warns(UserWarning, match="skipped 4 files that are not readable images"):
        out = load_folder(tmp_path)
    assert list(out.meta["id"]) == ["folder:ok"]
    skipped = {s["file"]: s["problem"] for s in skipped_files(out)}
    assert set(skipped) == {"broken.png", "empty.npy", "junk.fits", "notes.txt"}
    assert "not a supported image" in skipped["notes.txt"] and "empty image" in skipped["empty.npy"]
    assert "not a readable FITS file" in skipped["junk.fits"]
    with pytest.raises(InputError, match=r"broken.png: is not a readable image"):
        load_folder(tmp_path, config=FolderConfig(strict=True))


FIRST_FITS = Path(__file__).parents[1] / "first_fits"


def test_fits_table_catalogue_matched_by_position(tmp_path):
    """Real FIRST cutouts: a FITS-table catalogue with only positions finds its files."""
    from astropy.table import Table

    folder = tmp_path / "fits"
    shutil.copytree(FIRST_FITS, folder, ignore=shutil.ignore_patterns("*.md"))
    names = sorted(p.name for p in folder.glob("*.fits"))
    # positions from the file names (MiraBest's catalogue), a few arcsec off the WCS centres
    ra = [float(n[4:11]) for n in names]
    dec = [float(n[11:18]) for n in names]
    Table({"RAJ2000": ra, "DEJ2000": dec, "Class": [int(n[0]) - 1 for n in names]}).write(folder / "catalogue.fits")
    out = load_folder(folder)  # catalogue.fits at the top is found and not read as an image
    assert len(out) == 4 and out.images.shape == (4, 150, 150)
    assert list(out.meta["id"]) == [f"folder:{n[:-5]}" for n in names]
    np.testing.assert_allclose(out.meta["ra"], ra, atol=0.01)
    with pytest.raises(InputError, match="no such catalogue file"):
        load_folder(folder, catalogue=folder / "absent.csv")


def _first_with_unit(path, unit=None):
    """A vendored FIRST cutout written again with BUNIT = unit (None: no BUNIT keyword)."""
    with fits.open(next(iter(sorted(FIRST_FITS.glob("*.fits"))))) as hdus:
        data = hdus[0].data
    header = _sky_header(*data.shape[::-1], cdelt=1.8 / 3600)
    if unit is not None:
        header["BUNIT"] = unit
    fits.PrimaryHDU(data, header).writeto(path)


def test_images_that_are_not_sky_brightness_are_skipped_and_listed(tmp_path, caplog):
    """VLASS spectral-index maps carry BUNIT = ''; intensity maps Jy/beam; some carry none."""
    for name, unit in [("alpha", ""), ("index", "spectral index"), ("jy", "mJy/beam"), ("k", "K"), ("none", None)]:
        _first_with_unit(tmp_path / f"{name}.fits", unit)
    brightness = (
        r"skipped 2 files that are not sky brightness \(BUNIT\), e.g. alpha.fits: has BUNIT '', not a brightness"
    )
    with caplog.at_level("INFO", logger="radiolatent"), pytest.warns(UserWarning, match=brightness):
        out = load_folder(tmp_path)
    assert list(out.meta["id"]) == ["folder:jy", "folder:k", "folder:none"]
    np.testing.assert_array_equal(out.images[0], out.images[2])
    skipped = {s["file"]: s["problem"] for s in skipped_files(out)}
    assert skipped["index.fits"].startswith("has BUNIT 'spectral index', not a brightness unit")
    lines = [r.getMessage() for r in caplog.records]
    assert f"skipped {tmp_path / 'alpha.fits'}: has BUNIT ''" in "\n".join(lines)
    with pytest.raises(InputError, match=r"alpha.fits: has BUNIT '', not a brightness unit"):
        load_folder(tmp_path, config=FolderConfig(strict=True))


def test_one_catalogue_shared_by_two_folders_warns_about_neither(tmp_path, caplog):
    for folder, names in (("a", ["x.npy", "y.npy"]), ("b", ["z.npy"])):
        (tmp_path / folder).mkdir()
        for name in names:
            np.save(tmp_path / folder / name, _scaled(_blob()))
    csv = tmp_path / "cat.csv"
    pd.DataFrame({"filename": ["x.npy", "y.npy", "z.npy"], "label": [0, 1, 1]}).to_csv(csv, index=False)
    with warnings.catch_warnings(), caplog.at_level("INFO", logger="radiolatent"):
        warnings.simplefilter("error")
        a, b = load_folder(tmp_path / "a", csv), load_folder(tmp_path / "b", csv)
    assert list(a.meta["label"]) == [0, 1] and list(b.meta["label"]) == [1]
    assert f"{csv}: 1 catalogue rows name files not in this folder, e.g. 'z.npy'" in caplog.messages
    assert f"{csv}: 2 catalogue rows name files not in this folder, e.g. 'x.npy'" in caplog.messages
