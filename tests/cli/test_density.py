"""`radiolatent density fit | score | plot` write their files (and score generated images); errors are one line."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from downstream_fixtures import TINY, banana

from radiolatent.data.codes import make_codes_table, write_codes
from radiolatent.downstream.density import DensityModel


def codes_table(codes: np.ndarray, name: str, model: str = "test-model") -> pd.DataFrame:
    n = len(codes)
    meta = pd.DataFrame(
        {
            "id": [f"{name}-{i}" for i in range(n)],
            "dataset": name,
            "split": "all",
            "label": np.arange(n) % 2,
            "label_name": np.where(np.arange(n) % 2, "FRII", "FRI"),
            "ra": np.nan,
            "dec": np.nan,
            "las_arcsec": 20.0,
            "redshift": np.nan,
            "survey": "FIRST",
            "pixel_scale_arcsec": 1.8,
        }
    )
    return make_codes_table(meta, codes, name, model)


def fake_images(monkeypatch, seen: list):
    """Stand-in for image loading: a constant image per row (its number), recording the ids asked for."""
    from radiolatent.data import inputs

    def load(rows):
        seen.append(list(rows["id"]))
        return np.stack([np.full((64, 64), int(str(i).rsplit("-", 1)[1]) % 256, np.uint8) for i in rows["id"]])

    monkeypatch.setattr(inputs, "load_images_for", load)


def test_cli_fit_score_plot_write_their_files(tmp_path, monkeypatch, capsys):
    from radiolatent.cli import main

    pool, outliers = banana(300), banana(40, seed=5)
    outliers[0] = [9.0, -9.0, 9.0, 9.0]  # one source unlike anything in the pool
    table = pd.concat([codes_table(pool, "pool"), codes_table(outliers, "mbc-like")], ignore_index=True)
    write_codes(table, tmp_path / "codes.parquet")
    codes = str(tmp_path / "codes.parquet")
    assert (
        main(
            [
                "density",
                "fit",
                "--codes",
                codes,
                "--config",
                "tiny",
                "--set",
                "epochs=15",
                "--out",
                str(tmp_path / "model"),
            ]
        )
        == 0
    )
    assert (tmp_path / "model" / "density.json").is_file() and (tmp_path / "model" / "history.png").is_file()
    assert (
        main(
            [
                "density",
                "score",
                "--codes",
                codes,
                "--model",
                str(tmp_path / "model"),
                "--out",
                str(tmp_path / "ll.csv"),
            ]
        )
        == 0
    )
    scores = pd.read_csv(tmp_path / "ll.csv")
    assert list(scores.columns) == ["id", "set", "split", "label", "label_name", "loglik"]
    assert len(scores) == 340 and set(scores["set"]) == {"pool", "mbc-like"}
    lowest = scores.sort_values("loglik").iloc[0]
    assert lowest["id"] == "mbc-like-0"
    seen: list = []
    fake_images(monkeypatch, seen)
    out = tmp_path / "figs"
    assert (
        main(
            [
                "density",
                "plot",
                "--scores",
                str(tmp_path / "ll.csv"),
                "--codes",
                codes,
                "--gallery",
                "mbc-like",
                "-n",
                "6",
                "-k",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for name in ("loglik_hist.png", "lowest_mbc-like.png", "search_from_lowest.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gallery = pd.read_csv(out / "lowest_mbc-like.csv")
    assert gallery["id"].iloc[0] == "mbc-like-0" and len(gallery) == 6
    search = pd.read_csv(out / "search_from_lowest.csv")
    assert len(search) == 4 and search["id"].str.startswith("pool-").all()
    assert seen[0] == list(gallery["id"]) and seen[1] == ["mbc-like-0"] and seen[2] == list(search["id"])


def test_cli_errors_are_one_line(tmp_path, capsys):
    from radiolatent.cli import main

    write_codes(codes_table(banana(50), "pool"), tmp_path / "codes.parquet")
    codes = str(tmp_path / "codes.parquet")
    assert main(["density", "fit", "--codes", codes, "--in", "nosuchset", "--config", "tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "nosuchset" in err and "\n" not in err
    assert main(["density", "score", "--codes", codes, "--model", str(tmp_path / "nomodel")]) == 2
    assert "no such density model" in capsys.readouterr().err
    table = codes_table(banana(50), "pool")
    table.drop(columns=["z003"]).to_parquet(tmp_path / "short.parquet")
    DensityModel(dataclasses.replace(TINY, epochs=2)).fit(banana(50)).save(tmp_path / "m")
    assert main(["density", "score", "--codes", str(tmp_path / "short.parquet"), "--model", str(tmp_path / "m")]) == 2
    assert "fitted on 4" in capsys.readouterr().err
    table.loc[3, "z001"] = np.nan
    table.to_parquet(tmp_path / "nan.parquet")
    assert main(["density", "fit", "--codes", str(tmp_path / "nan.parquet"), "--config", "tiny"]) == 2
    assert "NaN" in capsys.readouterr().err


def test_cli_scores_codes_of_generated_images(tmp_path):
    """--generated decodes prior samples with the shipped VDVAE, embeds and scores them."""
    from radiolatent.cli import main
    from radiolatent.models.shipped import SHIPPED_MODEL

    if not (SHIPPED_MODEL / "config.json").is_file():
        pytest.skip("the shipped VDVAE is not installed")
    rng = np.random.default_rng(0)
    write_codes(
        codes_table(rng.normal(size=(60, 256)).astype(np.float32), "pool", model="vdvae-cpu"),
        tmp_path / "codes.parquet",
    )
    DensityModel(dataclasses.replace(TINY, epochs=2)).fit(rng.normal(size=(60, 256))).save(tmp_path / "m")
    assert (
        main(
            [
                "density",
                "score",
                "--codes",
                str(tmp_path / "codes.parquet"),
                "--model",
                str(tmp_path / "m"),
                "--generated",
                "3",
                "--out",
                str(tmp_path / "ll.csv"),
            ]
        )
        == 0
    )
    scores = pd.read_csv(tmp_path / "ll.csv")
    generated = scores[scores["set"] == "generated"]
    assert len(generated) == 3 and np.isfinite(generated["loglik"]).all()
    assert list(generated["id"]) == ["generated-0", "generated-1", "generated-2"]


def test_cli_embeds_generated_images_with_a_trained_run_that_made_the_table(tmp_path):
    """A VDVAE trained here (not shipped, so not rebuildable by name) that made the codes
    also embeds its own samples: `reproduce --retrain` scores generated images this way."""
    import shutil

    from radiolatent.cli import main
    from radiolatent.models.shipped import SHIPPED_MODEL

    if not (SHIPPED_MODEL / "config.json").is_file():
        pytest.skip("the shipped VDVAE is not installed")
    run = shutil.copytree(SHIPPED_MODEL, tmp_path / "model")
    rng = np.random.default_rng(0)
    write_codes(
        codes_table(rng.normal(size=(60, 256)).astype(np.float32), "pool", model="vdvae-model"),
        tmp_path / "codes.parquet",
    )
    DensityModel(dataclasses.replace(TINY, epochs=2)).fit(rng.normal(size=(60, 256))).save(tmp_path / "m")
    args = [
        "density",
        "score",
        "--codes",
        str(tmp_path / "codes.parquet"),
        "--model",
        str(tmp_path / "m"),
        "--generated",
        "2",
        "--out",
        str(tmp_path / "ll.csv"),
    ]
    assert main(args) == 2  # the shipped model did not make these codes, and "vdvae-model" names nothing
    assert main([*args, "--vdvae", str(run)]) == 0
    scores = pd.read_csv(tmp_path / "ll.csv")
    assert (scores["set"] == "generated").sum() == 2
