"""The MAF density: it learns the codes' density, ranks outliers low, keeps the best
held-out epoch, saves without pickle."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from downstream_fixtures import TINY, banana

from radiolatent.core.errors import InputError
from radiolatent.downstream.density import DensityModel, standard_normal_loglik
from radiolatent.training.parts import split_indices


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
    train_rows, valid_rows = split_indices(len(x), round(len(x) * config.valid_fraction), 0)
    assert model.info["n_valid"] == len(valid_rows) and not set(train_rows) & set(valid_rows)
    # the kept weights are the best epoch's: rescoring the held-out rows gives its value
    assert model.score(x[valid_rows]) == pytest.approx(model.valid_loglik, abs=1e-3)


def test_a_flow_that_diverges_stops_at_once_and_keeps_its_best_epoch(monkeypatch):
    """A held-out log-likelihood that falls `diverged_drop` nats below its best ends the fit
    there, not `patience` epochs later; the best epoch's weights are the ones kept."""
    import torch

    held_out: list[float] = []  # the mean held-out log-likelihood of each coming epoch

    def log_prob(self, z):
        return torch.full((len(z),), held_out.pop(0) if held_out else -1.0e4)

    monkeypatch.setattr(DensityModel, "_log_prob", log_prob)
    config = dataclasses.replace(TINY, epochs=50, patience=20, diverged_drop=100.0, standardise="scale")
    held_out[:] = [-50.0, -20.0, -10.0, -5000.0]
    model = DensityModel(config).fit(banana(120), seed=0)
    assert len(model.history) == 4 and model.stopped == "diverged" and model.best_epoch == 3
    # [A]'s protocol (the paper preset): never stop on a drop, only after `patience` epochs
    held_out[:] = [-50.0, -20.0, -10.0, *[-5000.0] * 30]
    model = DensityModel(dataclasses.replace(config, diverged_drop=0.0)).fit(banana(120), seed=0)
    assert model.stopped == "" and len(model.history) == 3 + 20 and model.best_epoch == 3


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
