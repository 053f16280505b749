"""The SSL views (data/ssl_views.py): shape, range, seeds, exact geometry, a kept central source."""

import dataclasses

import numpy as np
import torch
from synthetic import central_blobs

from radiolatent.config import SSLViewConfig
from radiolatent.data.ssl_views import random_view, two_views


def test_views_keep_shape_and_range_and_follow_the_seed():
    x = torch.from_numpy(central_blobs(6)).float().div(255).unsqueeze(1)
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


def test_zoom_out_shrinks_a_central_source_and_smooths_it():
    """A shrink by 2 (issue 21: FIRST sources seen as a coarser survey would) keeps the
    source central, divides its flux by 4 and its width by about 2, beam added."""
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    x = torch.exp(-((yy - 31.5) ** 2 + (xx - 31.5) ** 2) / (2 * 6.0**2)).expand(8, 1, 64, 64).clone()
    still = SSLViewConfig(
        flip_p=0.0, rotate_p=0.0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), blur_p=0.0, jitter_p=0.0
    )
    shrunk = dataclasses.replace(still, zoom_out_p=1.0, zoom_out=(2.0, 2.0), zoom_out_beam=1.0)
    views = random_view(x, np.random.default_rng(0), shrunk)
    flux = views.sum(dim=(1, 2, 3)) / x[0].sum()
    assert torch.allclose(flux, torch.full_like(flux, 0.25), atol=0.01)
    weights = views[0, 0] / views[0, 0].sum()
    centre = ((weights * yy).sum(), (weights * xx).sum())
    assert abs(float(centre[0]) - 31.5) < 0.1 and abs(float(centre[1]) - 31.5) < 0.1
    sigma = float(((weights * ((yy - 31.5) ** 2)).sum()).sqrt())
    assert abs(sigma - (3.0**2 + 1.0**2) ** 0.5) < 0.3, "6 px / 2, with a 1 px beam added in quadrature"


def test_zoom_out_off_draws_nothing():
    """zoom_out_p = 0 leaves the views of a seed exactly as before the option existed."""
    x = torch.from_numpy(central_blobs(6)).float().div(255).unsqueeze(1)
    plain = random_view(x, np.random.default_rng(3), SSLViewConfig())
    off = random_view(x, np.random.default_rng(3), dataclasses.replace(SSLViewConfig(), zoom_out=(3.0, 5.0)))
    assert torch.equal(plain, off)
