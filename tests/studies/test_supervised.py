"""The supervised ceiling (radiolatent.studies.supervised, `radiolatent train supervised`)."""

import numpy as np
import pytest
import torch
from synthetic import blobs

from radiolatent.cli import main
from radiolatent.config.supervised import SupervisedConfig
from radiolatent.studies.supervised import _schedule, frii_probability, train_classifier, validate, validation_split

torch.set_num_threads(1)

TINY = SupervisedConfig(backbone="resnet10", max_epochs=4, patience=1, batch_size=8, threads=1)


def _labelled(n=48):
    """Blobs left of centre (FRI, 0) or right of it (FRII, 1): a learnable split."""
    left, right = blobs(n // 2, 0, centres=(16, 28)), blobs(n // 2, 1, centres=(36, 48))
    return np.concatenate([left, right]), np.repeat([0, 1], n // 2)


def test_the_model_kept_is_the_one_with_the_best_validation_roc_auc():
    images, labels = _labelled()
    model, history = train_classifier(images, labels, TINY, seed=0, progress=False)
    assert 1 <= len(history) <= TINY.max_epochs
    _, valid = validation_split(labels, TINY.valid_fraction, 0)
    kept = validate(model, images[valid], labels[valid])
    best = max(history, key=lambda row: (row["val_roc_auc"], -row["val_loss"], -row["epoch"]))
    assert kept["val_roc_auc"] == best["val_roc_auc"]
    assert kept["val_loss"] == pytest.approx(best["val_loss"], rel=1e-5)
    # early stopping: training ends `patience` epochs after the best one, or at max_epochs
    assert len(history) == min(TINY.max_epochs, best["epoch"] + TINY.patience)


def test_the_learning_rate_warms_up_then_anneals_to_zero():
    factor = _schedule(SupervisedConfig(max_epochs=10, warmup_epochs=2), steps_per_epoch=5)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(10) == pytest.approx(1.0) and factor(30) == pytest.approx(0.5)
    assert factor(50) == pytest.approx(0.0) and factor(20) > factor(40)


def test_the_validation_split_is_stratified_and_disjoint():
    labels = np.repeat([0, 1], [30, 50])
    train, valid = validation_split(labels, 0.2, seed=3)
    assert len(set(train) & set(valid)) == 0 and len(train) + len(valid) == 80
    assert (labels[valid] == 1).sum() == 10 and (labels[valid] == 0).sum() == 6


def test_a_seed_gives_the_same_classifier():
    images, labels = _labelled()
    one = frii_probability(train_classifier(images, labels, TINY, seed=1, progress=False)[0], images)
    two = frii_probability(train_classifier(images, labels, TINY, seed=1, progress=False)[0], images)
    assert np.array_equal(one, two) and ((one >= 0) & (one <= 1)).all()


def test_bad_supervised_options_are_one_line_errors(tmp_path, capsys):
    assert main(["train", "supervised", "--train", "mbc:test", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --train") and "mbc:train" in err and len(err.splitlines()) == 1
    assert main(["train", "supervised", "--set", "max_epochs=0", "--out", str(tmp_path / "b")]) == 2
    assert "max_epochs" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
