"""[B]'s angular-size cut study (radiolatent.studies.cut_study, `radiolatent cut-study`): Figure 3
(kNN accuracy against the cut, mean +- standard error) and Figure 5 (against epoch)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from radiolatent.cli import main
from radiolatent.config import DEFAULT_POOL
from radiolatent.studies.cut_study import summarise

torch.set_num_threads(1)


def test_study_cut_writes_its_tables_and_both_figures(tmp_path, monkeypatch):
    # A MiraBest-only pool (422 images, catalogue LAS) builds in seconds; the default
    # pool's LAS estimation would take most of this file's time budget.
    small = dataclasses.replace(DEFAULT_POOL, sources=("mirabest:uncertain", "mirabest:hybrid"))
    monkeypatch.setattr("radiolatent.cli.data.DEFAULT_POOL", small)
    out = tmp_path / "study"
    args = [
        "cut-study",
        "--model",
        "byol",
        "--thresholds",
        "0,40",
        "--config",
        "tiny",
        "--seeds",
        "2",
        "--set",
        "train.epochs=2",
        "--max-images",
        "40",
        "--single-view",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    runs = pd.read_csv(out / "cut_study.csv")
    assert list(runs["threshold_arcsec"]) == [0.0, 0.0, 40.0, 40.0] and list(runs["seed"]) == [0, 1, 0, 1]
    assert runs["pool_images"].iloc[0] > runs["pool_images"].iloc[2] > 0, "the cut removes small sources"
    assert runs["knn_accuracy"].between(0, 1).all() and (runs["train_images"] == 40).all()
    for png in ("cut_study.png", "cut_study_epochs.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    summary = pd.read_csv(out / "cut_study_summary.csv")
    assert len(summary) == 2 and (summary["seeds"] == 2).all()
    # Figure 5: every run scored kNN after each of its 2 epochs; one curve per cut.
    metrics = pd.read_csv(out / "runs" / "t40-s1" / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2] and metrics["val_knn_accuracy"].between(0, 1).all()
    curves = pd.read_csv(out / "cut_study_epochs.csv")
    assert len(curves) == 4 and (curves["seeds"] == 2).all()
    both = pd.concat([pd.read_csv(out / "runs" / f"t40-s{s}" / "metrics.csv") for s in (0, 1)])
    last = curves[(curves["threshold_arcsec"] == 40) & (curves["epoch"] == 2)].iloc[0]
    assert last["mean"] == pytest.approx(both[both["epoch"] == 2]["val_knn_accuracy"].mean())
    # Finished runs are skipped on a second call: same numbers, no retraining.
    stamp = (out / "runs" / "t0-s0" / "cut_result.json").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "runs" / "t0-s0" / "cut_result.json").stat().st_mtime_ns == stamp
    assert pd.read_csv(out / "cut_study.csv").equals(runs)


def test_the_summary_gives_the_standard_error_as_b():
    runs = pd.DataFrame(
        {
            "threshold_arcsec": [0.0] * 4 + [20.0],
            "knn_accuracy": [0.6, 0.7, 0.8, 0.7, 0.75],
            "pool_images": [100] * 4 + [80],
        }
    )
    summary = summarise(runs).set_index("threshold_arcsec")
    sd = np.std([0.6, 0.7, 0.8, 0.7], ddof=1)
    assert summary.loc[0.0, "std"] == pytest.approx(sd) and summary.loc[0.0, "sem"] == pytest.approx(sd / 2)
    assert summary.loc[20.0, "sem"] == 0 and summary.loc[20.0, "seeds"] == 1


def test_bad_thresholds_are_refused(tmp_path, capsys):
    code = main(["cut-study", "--method", "byol", "--thresholds", "10,-5", "--out", str(tmp_path / "z")])
    assert code == 2 and "--thresholds" in capsys.readouterr().err
