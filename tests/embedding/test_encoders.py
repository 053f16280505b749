"""Encoders by name: the shipped checkpoint by default, a one-line error for an unknown model."""

import numpy as np

from radiolatent.cli import main
from radiolatent.config import EmbedConfig
from radiolatent.data.inputs import model_input


def test_unknown_model_is_a_one_line_error(tmp_path, capsys):
    assert (
        main(["embed", "--model", str(tmp_path / "nope"), "--data", "mbc:test", "--out", str(tmp_path / "c.parquet")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nope" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c.parquet").exists()


def test_the_shipped_checkpoint_embeds_without_a_model_argument():
    """`embed` with no --model uses the VDVAE committed with the package: 256 numbers, deterministic."""
    from radiolatent.embedding import get_encoder
    from radiolatent.models.shipped import SHIPPED_MODEL

    assert (SHIPPED_MODEL / "config.json").is_file()
    assert sum(f.stat().st_size for f in SHIPPED_MODEL.iterdir()) < 20 * 2**20
    encoder = get_encoder(None, EmbedConfig())
    images = np.asarray(model_input("mbc:test").images[:6])
    codes = encoder.encode(images)
    assert encoder.name == "vdvae-cpu"
    assert codes.shape == (6, 256) and np.isfinite(codes).all()
    assert np.array_equal(codes, get_encoder(None, EmbedConfig()).encode(images))
    assert codes.std(axis=0).max() > 0, "different sources get different codes"
