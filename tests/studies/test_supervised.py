"""The supervised ceiling (radiolatent.studies.supervised, `radiolatent train supervised`):
a ResNet-18 from random weights fine-tuned in the shared loop, kept at its best validation
ROC-AUC."""

import json

import pytest
import torch

from radiolatent.cli import main
from radiolatent.data.inputs import model_input
from radiolatent.models.checkpoint import load_model
from radiolatent.studies.supervised import ceiling_run
from radiolatent.training.finetune import finetune, labelled_images
from radiolatent.training.loop import best_epoch

torch.set_num_threads(1)

TINY = ["train.epochs=4", "train.patience=1", "train.batch_size=8", "train.threads=1", "train.lr_warmup_steps=2"]


@pytest.fixture(scope="module")
def ceiling(tmp_path_factory):
    """The ceiling's recipe, 4 epochs at most, on 48 labelled MBC images."""
    data = labelled_images(model_input("mbc:train"), "mbc:train", n_labels=48, seed=0)
    out = tmp_path_factory.mktemp("ceiling") / "run"
    return out, finetune(data, ceiling_run(TINY), out, seed=0, progress=False)


def test_the_ceiling_is_a_resnet_from_random_weights_with_torchvisions_stem(ceiling):
    out, _ = ceiling
    model = load_model(out / "model")
    assert model.cfg.encoder == "simclr" and model.cfg.ssl.stem_stride == 2 and model.cfg.ssl.stem_max_pool
    assert json.loads((out / "model" / "config.json").read_text())["encoder_from"]["init"] == "random"


def test_the_model_kept_is_the_one_with_the_best_validation_roc_auc(ceiling):
    out, result = ceiling
    best = max(result.history, key=lambda row: (row["val_roc_auc"], -row["val_loss"], -row["epoch"]))
    assert best_epoch(result.history, "val_roc_auc") == best["epoch"]
    assert json.loads((out / "model" / "config.json").read_text())["epoch"] == best["epoch"]
    # early stopping: training ends `patience` epochs after the best one, or at its last epoch
    assert result.epochs_completed == min(4, best["epoch"] + 1)


def test_the_best_roc_auc_breaks_ties_on_the_lower_loss_then_the_earlier_epoch():
    history = [
        {"epoch": 1, "val_loss": 0.6, "val_roc_auc": 0.9},
        {"epoch": 2, "val_loss": 0.5, "val_roc_auc": 0.9},
        {"epoch": 3, "val_loss": 0.5, "val_roc_auc": 0.9},
        {"epoch": 4, "val_loss": 0.1, "val_roc_auc": float("nan")},
    ]
    assert best_epoch(history, "val_roc_auc") == 2
    assert best_epoch(history, "val_loss") == 4


def test_bad_supervised_options_are_one_line_errors(tmp_path, capsys):
    assert main(["train", "supervised", "--train", "mbc:test", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --train") and "mbc:train" in err and len(err.splitlines()) == 1
    assert main(["train", "supervised", "--set", "train.epochs=0", "--out", str(tmp_path / "b")]) == 2
    assert "epochs" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "supervised",
                "--set",
                "stem=torchvision",
                "--set",
                "init=pretrained",
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 2
    )
    assert "stem" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "abc")
