"""The SSL run configs (config/training.py): bad settings refused before any work, the paper presets."""

import pytest
from synthetic import central_blobs

from radiolatent.cli import main
from radiolatent.config import SSL_METHODS, check_ssl_config, override, preset
from radiolatent.core.errors import InputError
from radiolatent.training import train_ssl


def test_bad_configs_are_refused(tmp_path, capsys):
    with pytest.raises(KeyError, match="unknown kind of settings 'moco'"):
        preset("moco", "cpu")
    with pytest.raises(KeyError, match="unknown byol config"):
        preset("byol", "huge")
    with pytest.raises(ValueError, match="crop_scale"):
        check_ssl_config(override(preset("byol", "tiny"), ["views.crop_scale=0.9,0.5"]))
    with pytest.raises(ValueError, match="zoom_out"):  # a zoom-out factor below 1 would magnify
        check_ssl_config(override(preset("simclr", "tiny"), ["views.zoom_out=0.5,2"]))
    with pytest.raises(ValueError, match=r"model\.backbone"):
        check_ssl_config(override(preset("simclr", "tiny"), ["model.backbone=resnet99"]))
    with pytest.raises(InputError, match=r"train\.optimizer"):
        train_ssl(
            central_blobs(),
            override(preset("simsiam", "tiny"), ["train.optimizer=adagrad"]),
            tmp_path / "x",
            progress=False,
        )
    code = main(["train", "byol", "--config", "tiny", "--set", "model.stem_stride=3", "--out", str(tmp_path / "y")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and "stem_stride" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "y").exists()


def test_paper_presets_follow_the_paper():
    for method in SSL_METHODS:
        paper = preset(method, "paper")
        assert (paper.model.backbone, paper.train.optimizer, paper.train.batch_size, paper.train.epochs) == (
            "resnet34",
            "lars",
            1024,
            1000,
        )
        assert paper.train.lr == (1e-3 if method == "simclr" else 5e-4)
        assert paper.views.crop_scale[0] >= 0.8 and paper.views.blur_kernel == 3 and paper.views.blur_p == 0.05
        assert preset(method, "cpu").model.backbone == "resnet18"
