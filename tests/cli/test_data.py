"""The `radiolatent data` commands a person runs first."""

from __future__ import annotations

import json

import pytest
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
