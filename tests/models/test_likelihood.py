"""Pixel likelihoods: proper distributions over the 256 pixel values."""

import pytest
import torch

from radiolatent.models.likelihood import DiscretisedGaussian, MixtureOfLogistics, to_signed


def _images(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 64, 64), generator=gen).float() / 255.0


def _random_params(n_params, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(1, n_params, 1, 1, generator=gen)


@pytest.mark.parametrize("likelihood", [MixtureOfLogistics(4, -7.0), DiscretisedGaussian(-7.0)])
@pytest.mark.parametrize("log_scale", [-1.0, -3.0, -6.0])
def test_pixel_probabilities_sum_to_one(likelihood, log_scale):
    params = _random_params(likelihood.n_params).repeat(256, 1, 1, 1)
    k = likelihood.n_params // (3 if isinstance(likelihood, MixtureOfLogistics) else 2)
    params[:, -k:] = log_scale  # the log-scales are the last chunk in both layouts
    values = torch.arange(256).float().view(256, 1, 1, 1) / 255.0
    probs = likelihood.pixel_log_prob(params, to_signed(values)).exp().sum()
    # Narrow components use the density approximation for tiny bins, hence the tolerance.
    assert probs.item() == pytest.approx(1.0, abs=1e-4 if log_scale > -5 else 2e-3)


def test_dmol_prefers_the_right_image():
    lik = MixtureOfLogistics(3, -7.0)
    image = _images(1, seed=3)
    wrong = _images(1, seed=4)
    params = torch.zeros(1, 9, 64, 64)
    params[:, 3:6] = to_signed(image)  # every component centred on the image
    params[:, 6:9] = -5.0  # sharp
    assert lik.nll(params, image).item() < lik.nll(params, wrong).item()
    assert torch.allclose(lik.mean(params), image, atol=1e-6)
    assert lik.nll(params, image).item() > 0  # a proper distribution: -log p >= 0
