"""[C]'s protocol: SSL trained on a labelled set itself, from random or pretrained weights
(radiolatent.studies.mirabest_ssl, `radiolatent train byol --train SPEC --init ...`)."""

import pytest
import torch

from radiolatent.cli import main
from radiolatent.config import preset
from radiolatent.core.errors import InputError
from radiolatent.models.checkpoint import load_model
from radiolatent.models.shipped import shipped_models
from radiolatent.studies.mirabest_ssl import recipe_for

torch.set_num_threads(1)


def test_a_pretrained_start_is_the_shipped_backbone():
    recipe = recipe_for(preset("byol", "c-mirabest"), "pretrained")
    model = recipe.build(seed=0)
    shipped = load_model(shipped_models()["byol-cpu"]).state_dict()
    for name, tensor in shipped.items():
        assert torch.equal(model.backbone.state_dict()[name], tensor), name
        assert torch.equal(model.target_backbone.state_dict()[name], tensor), name
    random = recipe_for(preset("byol", "c-mirabest"), "random").build(seed=0)
    conv = "net.conv1.weight"
    assert not torch.equal(random.backbone.state_dict()[conv], shipped[conv])


def test_a_pretrained_start_needs_the_shipped_architecture():
    with pytest.raises(InputError, match="does not fit"):
        recipe_for(preset("byol", "tiny"), "pretrained").build(seed=0)


def test_train_on_a_labelled_set_prints_cs_knn_score(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "byol", "--config", "tiny", "--set", "train.epochs=1", "--train", "mbc:test", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "on mbc:test (104 images)" in printed and "kNN (k=5, 50 random 75/25 splits of MBC" in printed
    assert (out / "model").is_dir() and (out / "metrics.csv").is_file()
    assert main(args) == 2, "a finished run is not overwritten without --overwrite or --resume"


def test_pretrained_without_a_set_is_refused(tmp_path, capsys):
    assert main(["train", "byol", "--init", "pretrained", "--out", str(tmp_path / "x")]) == 2
    assert "--init" in capsys.readouterr().err and not (tmp_path / "x").exists()
