"""The `radiolatent data` commands a person runs first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from radiolatent.cli import build_parser, main


def test_data_list_json_gives_the_published_split_counts(capsys):
    assert main(["data", "list", "--json"]) == 0
    rows = {(r["dataset"], r["subset"]): r for r in json.loads(capsys.readouterr().out)}
    mbc = rows[("mirabest", "confident")]
    assert (mbc["train"], mbc["test"]) == (729, 104)
    nvss = (
        rows[("frdeep-n", "")] if ("frdeep-n", "") in rows else next(r for k, r in rows.items() if k[0] == "frdeep-n")
    )
    assert (nvss["train"], nvss["test"]) == (550, 50)
    griese = next(r for k, r in rows.items() if k[0] == "first-galaxy")
    assert (griese["train"], griese["valid"], griese["test"]) == (1758, 200, 200)


def test_data_show_writes_a_grid(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["data", "show", "mbc:test", "-n", "6", "-o", str(out)]) == 0
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 200
    assert str(out) in capsys.readouterr().out


def test_data_pool_json_reports_composition(capsys):
    assert main(["data", "pool", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["size"] == sum(s["kept"] for s in summary["sources"])
    assert summary["image_shape"] == [64, 64]
    assert {s["source"] for s in summary["sources"]} >= {"first-galaxy:all", "frdeep-f:train"}


def test_bad_spec_is_a_one_line_error(capsys, tmp_path):
    assert main(["data", "show", "mirabest:nonsense", "-o", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nonsense" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize(
    "command",
    [
        "data",
        "embed",
        "train",
        "classify",
        "search",
        "map",
        "cluster",
        "importance",
        "duplicates",
        "reconstruct",
        "generate",
        "knn",
    ],
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_data_las_reports_the_spearman_and_plots(tmp_path, capsys):
    out = tmp_path / "las.png"
    assert main(["data", "las", "--json", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    summary = json.loads(text[: text.rindex("}") + 1])
    assert summary["n"] == 1256 and summary["spearman"] >= 0.8
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_data_show_v_says_what_it_did_with_each_file(tmp_path, capsys):
    """-v: one line per decision, naming the file and the reason; --keep-partial keeps the edge cutout."""
    with fits.open(sorted((Path(__file__).parents[1] / "data" / "first_fits").glob("*.fits"))[0]) as hdus:
        plane = hdus[0].data
    for name, scale, cut, keys in [
        ("first", 1.8, plane, {"BUNIT": "JY/BEAM"}),
        ("nvss", 15.0, plane, {"BUNIT": "JY/BEAM", "BMAJ": 0.0125, "BMIN": 0.0125}),
        ("alpha", 1.8, plane, {"BUNIT": ""}),
        ("edge", 1.8, plane[:, :120], {}),
    ]:
        header = fits.Header({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CRVAL1": 150.0, "CRVAL2": 2.0})
        header.update(CDELT1=-scale / 3600, CDELT2=scale / 3600, CRPIX1=cut.shape[1] / 2, CRPIX2=cut.shape[0] / 2)
        header.update(keys)
        fits.PrimaryHDU(np.asarray(cut), header).writeto(tmp_path / f"{name}.fits")
    grid = str(tmp_path / "g.png")
    assert main(["data", "show", f"folder@{tmp_path}", "-o", grid, "-v"]) == 0
    err = capsys.readouterr().err
    assert f'{tmp_path / "nvss.fits"}: read at its native 15.0"/px, 150 pixels across as FR-DEEP NVSS' in err
    assert f"skipped {tmp_path / 'alpha.fits'}: has BUNIT '', not a brightness unit" in err
    assert f"skipped {tmp_path / 'edge.fits'}: is a partial cutout" in err
    assert "skipped 1 files that are not sky brightness (BUNIT)" in err and "1 files that are partial cutouts" in err
    assert "first.fits" not in err  # nothing to say about a FIRST cutout read as always
    assert main(["data", "show", f"folder@{tmp_path}", "-o", grid, "-v", "--keep-partial"]) == 0
    err = capsys.readouterr().err
    assert (
        f"kept {tmp_path / 'edge.fits'} (--keep-partial): is a partial cutout" in err and "partial cutouts" not in err
    )
