"""SSL baselines (SimCLR, BYOL, SimSiam): checkpoints, embedding, views.
(Training and resume: tests/training/recipes/test_ssl.py.)"""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from synthetic import blobs

from radiolatent.cli import main
from radiolatent.codes import code_matrix, read_codes
from radiolatent.config import SSL_METHODS, SSLViewConfig, check_ssl_config, get_ssl_config, override
from radiolatent.data.ssl_views import random_view, two_views
from radiolatent.errors import InputError
from radiolatent.models.checkpoint import load_model, model_kind
from radiolatent.models.ssl import ResNetBackbone
from radiolatent.training import train_ssl

torch.set_num_threads(1)


def _blobs(n=40, seed=0):
    return blobs(n, seed, centres=(20, 44))


def _tiny(method, epochs=1):
    run = get_ssl_config(method, "tiny")
    return dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=epochs))


@pytest.fixture(scope="module")
def runs(ssl_runs):
    """One tiny run per method (conftest.py; the training tests read them too)."""
    return ssl_runs


# ---------------------------------------------------------------------------
# Checkpoints and embedding
# ---------------------------------------------------------------------------


def test_checkpoint_kind_is_detected(runs, tmp_path):
    for method in SSL_METHODS:
        folder, _ = runs[method]
        assert model_kind(folder) == method and model_kind(folder / "model") == method
        model = load_model(folder)
        assert isinstance(model, ResNetBackbone) and not model.training
        assert model(torch.zeros(2, 1, 64, 64)).shape == (2, 512)
    from radiolatent.embedding import SHIPPED_MODEL

    assert model_kind(SHIPPED_MODEL) == "vdvae"
    bad = tmp_path / "bad"
    shutil.copytree(runs["byol"][0] / "model", bad)
    config = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps(dict(config, kind="moco")))
    with pytest.raises(InputError, match="unknown model kind 'moco'"):
        load_model(bad)
    (bad / "config.json").write_text(json.dumps(dict(config, kind="simclr")))
    with pytest.raises(InputError, match="bad model config"):
        load_model(bad)


def test_exported_weights_are_half_precision_and_small(runs):
    from safetensors.torch import load_file

    folder = runs["simclr"][0] / "model"
    tensors = load_file(str(next(folder.glob("weights-*.safetensors"))))
    assert tensors["net.conv1.weight"].dtype == torch.float16
    assert tensors["net.bn1.running_var"].dtype == torch.float32
    assert not any(k.startswith(("projection", "target")) for k in tensors), "only the backbone is exported"


def test_embed_gives_512_columns_and_same_seed_same_codes(runs, tmp_path):
    folder, _ = runs["simsiam"]
    again = tmp_path / "simsiam-again"
    train_ssl(_blobs(), _tiny("simsiam"), again, seed=0, progress=False)
    tables = []
    for source, name in ((folder, "a.parquet"), (again, "b.parquet")):
        assert (
            main(
                ["embed", "--model", str(source), "--data", "mbc:test", "--single-view", "--out", str(tmp_path / name)]
            )
            == 0
        )
        tables.append(read_codes(tmp_path / name))
    codes = code_matrix(tables[0])
    assert codes.shape == (104, 512) and list(tables[0].filter(regex=r"^z\d").columns[[0, -1]]) == ["z000", "z511"]
    assert tables[0]["model"].iloc[0].startswith("simsiam")
    assert np.array_equal(codes, code_matrix(tables[1])), "same seed, same codes"
    assert codes.std(axis=0).max() > 0


def test_orientation_averaging_works_for_ssl_encoders(runs):
    from radiolatent.config import EmbedConfig
    from radiolatent.embedding import encode_images, get_encoder

    encoder = get_encoder(str(runs["byol"][0]), EmbedConfig())
    images = _blobs(4, seed=3)
    codes = encode_images(encoder, images, EmbedConfig())
    turned = np.ascontiguousarray(np.rot90(images, 1, axes=(1, 2))[:, ::-1])
    assert codes.shape == (4, 512)
    assert np.allclose(encode_images(encoder, turned, EmbedConfig()), codes, atol=1e-4)


# ---------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------


def test_views_keep_shape_and_range_and_follow_the_seed():
    x = torch.from_numpy(_blobs(6)).float().div(255).unsqueeze(1)
    cfg = dataclasses.replace(SSLViewConfig(), blur_p=1.0)  # exercise every step
    a = random_view(x, np.random.default_rng(7), cfg)
    b = random_view(x, np.random.default_rng(7), cfg)
    c = random_view(x, np.random.default_rng(8), cfg)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b) and not torch.equal(a, c)
    v0, v1 = two_views(x, np.random.default_rng(0), SSLViewConfig())
    assert not torch.equal(v0, v1), "the two views of a pair differ"


def test_view_geometry_is_exact_without_randomness():
    x = torch.rand(3, 1, 64, 64)
    still = SSLViewConfig(
        flip_p=0.0, rotate_p=0.0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), blur_p=0.0, jitter_p=0.0
    )
    assert torch.allclose(random_view(x, np.random.default_rng(0), still), x, atol=1e-5)
    flipped = dataclasses.replace(still, flip_p=1.0)
    assert torch.allclose(random_view(x, np.random.default_rng(0), flipped), x.flip(-1, -2), atol=1e-5)


def test_crops_keep_a_central_source():
    """Crop >= 80 % of the area + any rotation: a central source stays whole in the view."""
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    x = torch.exp(-((yy - 31.5) ** 2 + (xx - 31.5) ** 2) / (2 * 5.0**2)).expand(32, 1, 64, 64).clone()
    cfg = dataclasses.replace(SSLViewConfig(), jitter_p=0.0, blur_p=0.0)
    views = random_view(x, np.random.default_rng(0), cfg)
    flux = views.sum(dim=(1, 2, 3)) / x[0].sum()
    # magnified by at most 1/0.8 in area; nothing of the source is cut away.
    assert float(flux.min()) > 0.99 and float(flux.max()) < 1.0 / 0.8 + 0.01


# ---------------------------------------------------------------------------
# Configs and the CLI
# ---------------------------------------------------------------------------


def test_bad_configs_are_refused(tmp_path, capsys):
    with pytest.raises(KeyError, match="unknown SSL method"):
        get_ssl_config("moco", "cpu")
    with pytest.raises(KeyError, match="unknown byol config"):
        get_ssl_config("byol", "huge")
    with pytest.raises(ValueError, match="crop_scale"):
        check_ssl_config(override(get_ssl_config("byol", "tiny"), ["views.crop_scale=0.9,0.5"]))
    with pytest.raises(ValueError, match=r"model\.backbone"):
        check_ssl_config(override(get_ssl_config("simclr", "tiny"), ["model.backbone=resnet99"]))
    with pytest.raises(InputError, match=r"train\.optimizer"):
        train_ssl(
            _blobs(),
            override(get_ssl_config("simsiam", "tiny"), ["train.optimizer=adagrad"]),
            tmp_path / "x",
            progress=False,
        )
    code = main(["train", "byol", "--config", "tiny", "--set", "model.stem_stride=3", "--out", str(tmp_path / "y")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and "stem_stride" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "y").exists()


def test_paper_presets_follow_the_paper():
    for method in SSL_METHODS:
        paper = get_ssl_config(method, "paper")
        assert (paper.model.backbone, paper.train.optimizer, paper.train.batch_size, paper.train.epochs) == (
            "resnet34",
            "lars",
            1024,
            1000,
        )
        assert paper.train.lr == (1e-3 if method == "simclr" else 5e-4)
        assert paper.views.crop_scale[0] >= 0.8 and paper.views.blur_kernel == 3 and paper.views.blur_p == 0.05
        assert get_ssl_config(method, "cpu").model.backbone == "resnet18"
