"""Density estimation: the MAF learns the codes' density, ranks outliers low, saves without pickle."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from radiolatent.codes import make_codes_table, write_codes
from radiolatent.config import get_density_config
from radiolatent.downstream.density import DensityModel, split_rows, standard_normal_loglik
from radiolatent.errors import InputError

TINY = get_density_config("tiny")


def banana(n: int, seed: int = 0) -> np.ndarray:
    """Standardised 4-d data with a curved dependency a Gaussian cannot capture."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = a**2 + 0.2 * rng.normal(size=n)
    c = np.sin(2 * a) + 0.1 * rng.normal(size=n)
    x = np.stack([a, b, c, rng.normal(size=n)], axis=1)
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    x = banana(500)
    return x, DensityModel(TINY).fit(x, seed=0)


def test_flow_beats_a_standard_normal_on_its_data(fitted):
    x, model = fitted
    # the data are standardised, so N(0, I) is the best Gaussian with their moments
    assert model.score(x) > standard_normal_loglik(x).mean() + 0.5
    fresh = banana(400, seed=1)
    assert model.score(fresh) > standard_normal_loglik(fresh).mean() + 0.5


def test_a_point_far_from_the_data_scores_lower_than_every_row(fitted):
    x, model = fitted
    far = np.array([[8.0, -6.0, 8.0, 0.0]], dtype=np.float32)
    assert model.score_samples(far)[0] < model.score_samples(x).min()


def test_log_likelihood_includes_the_standardisation_jacobian():
    # scaling the codes by 4 (exact in floating point) gives the same standardised data,
    # so the same flow, and log p must drop by exactly D * log 4
    config = dataclasses.replace(TINY, epochs=5, standardise="scale")
    x = banana(300)
    base = DensityModel(config).fit(x, seed=3)
    scaled = DensityModel(config).fit(4 * x, seed=3)
    np.testing.assert_allclose(scaled.score_samples(4 * x), base.score_samples(x) - 4 * np.log(4), atol=1e-4)


def test_whitened_flow_matches_a_known_correlated_gaussian():
    # small, strongly correlated codes: the whitening's log-Jacobian is ~ +17 nats here,
    # so leaving it out (or whitening wrongly) would miss the true density by far
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(4, 4)) * 0.01
    cov = mixing @ mixing.T + 1e-6 * np.eye(4)
    x = rng.multivariate_normal(np.ones(4), cov, size=1500).astype(np.float32)
    fresh = rng.multivariate_normal(np.ones(4), cov, size=1000)
    model = DensityModel(dataclasses.replace(TINY, epochs=10)).fit(x, seed=0)
    from scipy.stats import multivariate_normal

    truth = multivariate_normal(np.ones(4), cov).logpdf(fresh)
    assert truth.mean() > 10
    assert abs(model.score(fresh) - truth.mean()) < 0.3
    scaled = DensityModel(dataclasses.replace(TINY, epochs=10, standardise="scale")).fit(x, seed=0)
    assert model.score(fresh) > scaled.score(fresh), "whitening should help on correlated codes"


def test_early_stopping_keeps_the_best_held_out_epoch():
    x = banana(120)
    config = dataclasses.replace(TINY, epochs=400, patience=5, lr=3e-3)
    model = DensityModel(config).fit(x, seed=0)
    valid = [h["valid_loglik"] for h in model.history]
    assert len(valid) < 400, "patience should stop training long before the epoch limit"
    assert model.best_epoch == int(np.argmax(valid)) + 1
    assert model.valid_loglik == pytest.approx(max(valid))
    assert len(valid) == model.best_epoch + 5
    train_rows, valid_rows = split_rows(len(x), config.valid_fraction, 0)
    assert model.info["n_valid"] == len(valid_rows) and not set(train_rows) & set(valid_rows)
    # the kept weights are the best epoch's: rescoring the held-out rows gives its value
    assert model.score(x[valid_rows]) == pytest.approx(model.valid_loglik, abs=1e-3)


def test_save_load_round_trip_gives_identical_scores(fitted, tmp_path):
    x, model = fitted
    model.info["note"] = "round trip"
    model.save(tmp_path / "m")
    loaded = DensityModel.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.score_samples(x), model.score_samples(x))
    assert loaded.history == model.history and loaded.best_epoch == model.best_epoch
    assert loaded.info["note"] == "round trip" and loaded.config == model.config
    assert not list((tmp_path / "m").glob("*.pt")) and not list((tmp_path / "m").glob("*.pkl"))


def test_missing_or_corrupt_model_folders_raise_input_error(fitted, tmp_path):
    _, model = fitted
    with pytest.raises(InputError, match="no such density model"):
        DensityModel.load(tmp_path / "absent")
    model.save(tmp_path / "m")
    weights = next((tmp_path / "m").glob("flow-*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum"):
        DensityModel.load(tmp_path / "m")
    (tmp_path / "m" / "density.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        DensityModel.load(tmp_path / "m")
    model.save(tmp_path / "k")
    meta = json.loads((tmp_path / "k" / "density.json").read_text())
    (tmp_path / "k" / "density.json").write_text(json.dumps(dict(meta, kind="vdvae")))
    with pytest.raises(InputError, match="not a density model"):
        DensityModel.load(tmp_path / "k")


def test_bad_codes_raise_input_error(fitted):
    x, model = fitted
    bad = x[:5].copy()
    bad[2, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        model.score_samples(bad)
    with pytest.raises(InputError, match="components"):
        model.score_samples(x[:, :3])
    with pytest.raises(InputError, match="NaN"):
        DensityModel(TINY).fit(bad)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def codes_table(codes: np.ndarray, name: str, model: str = "test-model") -> pd.DataFrame:
    n = len(codes)
    meta = pd.DataFrame({
        "id": [f"{name}-{i}" for i in range(n)], "dataset": name, "split": "all",
        "label": np.arange(n) % 2, "label_name": np.where(np.arange(n) % 2, "FRII", "FRI"),
        "ra": np.nan, "dec": np.nan, "las_arcsec": 20.0, "redshift": np.nan, "survey": "FIRST",
        "pixel_scale_arcsec": 1.8,
    })
    return make_codes_table(meta, codes, name, model)


def fake_images(monkeypatch, seen: list):
    """Stand-in for image loading: a constant image per row (its number), recording the ids asked for."""
    from radiolatent import embedding

    def load(rows):
        seen.append(list(rows["id"]))
        return np.stack([np.full((64, 64), int(str(i).rsplit("-", 1)[1]) % 256, np.uint8) for i in rows["id"]])

    monkeypatch.setattr(embedding, "load_images_for", load)


def test_cli_fit_score_plot_write_their_files(tmp_path, monkeypatch, capsys):
    from radiolatent.cli import main

    pool, outliers = banana(300), banana(40, seed=5)
    outliers[0] = [9.0, -9.0, 9.0, 9.0]  # one source unlike anything in the pool
    table = pd.concat([codes_table(pool, "pool"), codes_table(outliers, "mbc-like")], ignore_index=True)
    write_codes(table, tmp_path / "codes.parquet")
    codes = str(tmp_path / "codes.parquet")
    assert main(["density", "fit", "--codes", codes, "--config", "tiny", "--set", "epochs=15",
                 "--out", str(tmp_path / "model")]) == 0
    assert (tmp_path / "model" / "density.json").is_file() and (tmp_path / "model" / "history.png").is_file()
    assert main(["density", "score", "--codes", codes, "--model", str(tmp_path / "model"),
                 "--out", str(tmp_path / "ll.csv")]) == 0
    scores = pd.read_csv(tmp_path / "ll.csv")
    assert list(scores.columns) == ["id", "set", "split", "label", "label_name", "loglik"]
    assert len(scores) == 340 and set(scores["set"]) == {"pool", "mbc-like"}
    lowest = scores.sort_values("loglik").iloc[0]
    assert lowest["id"] == "mbc-like-0"
    seen: list = []
    fake_images(monkeypatch, seen)
    out = tmp_path / "figs"
    assert main(["density", "plot", "--scores", str(tmp_path / "ll.csv"), "--codes", codes, "--set", "mbc-like",
                 "-n", "6", "-k", "4", "--out", str(out)]) == 0
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
    assert main(["density", "fit", "--codes", codes, "--on", "nosuchset", "--config", "tiny"]) == 2
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
    from radiolatent.embedding import SHIPPED_MODEL

    if not (SHIPPED_MODEL / "config.json").is_file():
        pytest.skip("the shipped VDVAE is not installed")
    rng = np.random.default_rng(0)
    write_codes(codes_table(rng.normal(size=(60, 256)).astype(np.float32), "pool", model="vdvae-cpu"),
                tmp_path / "codes.parquet")
    DensityModel(dataclasses.replace(TINY, epochs=2)).fit(rng.normal(size=(60, 256))).save(tmp_path / "m")
    assert main(["density", "score", "--codes", str(tmp_path / "codes.parquet"), "--model", str(tmp_path / "m"),
                 "--generated", "3", "--out", str(tmp_path / "ll.csv")]) == 0
    scores = pd.read_csv(tmp_path / "ll.csv")
    generated = scores[scores["set"] == "generated"]
    assert len(generated) == 3 and np.isfinite(generated["loglik"]).all()
    assert list(generated["id"]) == ["generated-0", "generated-1", "generated-2"]


def test_cli_embeds_generated_images_with_a_trained_run_that_made_the_table(tmp_path):
    """A VDVAE trained here (not shipped, so not rebuildable by name) that made the codes
    also embeds its own samples: `reproduce --retrain` scores generated images this way."""
    import shutil

    from radiolatent.cli import main
    from radiolatent.embedding import SHIPPED_MODEL

    if not (SHIPPED_MODEL / "config.json").is_file():
        pytest.skip("the shipped VDVAE is not installed")
    run = shutil.copytree(SHIPPED_MODEL, tmp_path / "model")
    rng = np.random.default_rng(0)
    write_codes(codes_table(rng.normal(size=(60, 256)).astype(np.float32), "pool", model="vdvae-model"),
                tmp_path / "codes.parquet")
    DensityModel(dataclasses.replace(TINY, epochs=2)).fit(rng.normal(size=(60, 256))).save(tmp_path / "m")
    args = ["density", "score", "--codes", str(tmp_path / "codes.parquet"), "--model", str(tmp_path / "m"),
            "--generated", "2", "--out", str(tmp_path / "ll.csv")]
    assert main(args) == 2  # the shipped model did not make these codes, and "vdvae-model" names nothing
    assert main(args + ["--vdvae", str(run)]) == 0
    scores = pd.read_csv(tmp_path / "ll.csv")
    assert (scores["set"] == "generated").sum() == 2
