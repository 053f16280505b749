"""The z0 encoder (what `embed` runs): the full model's z0 with nothing else computed."""

import pytest
import torch
from synthetic import blobs

from radiolatent.config import preset
from radiolatent.models.checkpoint import load_model
from radiolatent.models.vdvae import build_vdvae, z0_encoder

torch.set_num_threads(1)


def _sparse_sources(n, seed=0):
    """Radio-like inputs in [0, 1]: empty sky with one or two blobs (tests/synthetic.py)."""
    return torch.from_numpy(blobs(n, seed)).float().div(255.0).unsqueeze(1)


def _real_images(n):
    """The first `n` MiraBest test images as the model sees them, (n, 1, 64, 64) in [0, 1]."""
    from radiolatent.data.inputs import model_input

    images = torch.from_numpy(model_input("mbc:test").images[:n].copy())
    return images.float().div(255.0).unsqueeze(1)


@pytest.mark.parametrize("channels_last", [False, True])
def test_z0_fast_path_gives_the_full_models_z0_on_real_images(channels_last):
    """Z0Encoder (embedding's fast path) skips the decoder and pools before the last 1x1
    convolutions: the same codes as the full model's top-down pass, to float rounding."""
    from radiolatent.models.shipped import SHIPPED_MODEL

    model = load_model(SHIPPED_MODEL).eval()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = _real_images(24)
    full = model.encode_layers(x, pool=64)[model.layer_names[0]]  # posterior means, whole model
    fast = z0_encoder(model).to(memory_format=fmt)(x)
    assert fast.shape == full.shape == (24, 256)
    assert torch.allclose(fast, full, rtol=1e-5, atol=1e-5)
    assert torch.allclose(fast, model.encode_z0(x), rtol=1e-5, atol=1e-5)
    assert fast.std(0).mean() > 0.01, "different sources get different codes"
    assert torch.equal(fast, z0_encoder(model).to(memory_format=fmt)(x)), "deterministic"


@pytest.mark.parametrize("name", ["tiny", "paper"])
def test_z0_fast_path_fits_every_layout(name):
    """Stages of several blocks and a 1x1 z0 (paper): still the model's own z0."""
    model = build_vdvae(preset("vdvae", name).model, seed=0).eval()
    x = _sparse_sources(6)
    assert torch.allclose(z0_encoder(model)(x), model.encode_z0(x), rtol=1e-5, atol=1e-5)
    assert torch.equal(x, _sparse_sources(6)), "the input is not overwritten"
