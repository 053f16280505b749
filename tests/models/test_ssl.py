"""SSL baselines (SimCLR, BYOL, SimSiam): checkpoints and embedding. (Training and resume:
tests/training/recipes/test_ssl.py; views: tests/data/test_ssl_views.py; configs:
tests/config/test_training.py.)"""

import json
import shutil

import numpy as np
import pytest
import torch
from synthetic import central_blobs, tiny_ssl

from radiolatent.cli import main
from radiolatent.config import SSL_METHODS
from radiolatent.core.errors import InputError
from radiolatent.data.codes import code_matrix, read_codes
from radiolatent.models.checkpoint import load_model, model_kind
from radiolatent.models.ssl import ResNetBackbone
from radiolatent.training import train_ssl

torch.set_num_threads(1)


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
    from radiolatent.models.shipped import SHIPPED_MODEL

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
    train_ssl(central_blobs(), tiny_ssl("simsiam"), again, seed=0, progress=False)
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
    images = central_blobs(4, seed=3)
    codes = encode_images(encoder, images, EmbedConfig())
    turned = np.ascontiguousarray(np.rot90(images, 1, axes=(1, 2))[:, ::-1])
    assert codes.shape == (4, 512)
    assert np.allclose(encode_images(encoder, turned, EmbedConfig()), codes, atol=1e-4)
