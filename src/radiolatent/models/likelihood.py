"""Likelihoods for 8-bit single-channel images.

Pixels k = 0..255 are mapped to bin centres x = 2k/255 - 1 in [-1, 1]; each of the 256
bins has width 2/255 and the two edge bins extend to -inf / +inf, so the probabilities of
the 256 values sum to 1 exactly (the interior bins telescope). Both likelihoods below are
such discretised continuous distributions, so their negative log-likelihoods are
comparable nats per image:

- `MixtureOfLogistics`: a mixture of K logistics per pixel (one channel, so no colour
  coupling); decoder parameters (N, 3K, H, W) = mixture logits, means, log-scales.
- `DiscretisedGaussian`: one Gaussian per pixel; parameters (N, 2, H, W) = mean, log-scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

#: half the width of one of the 256 bins on the [-1, 1] scale.
HALF_BIN = 1.0 / 255.0
#: below this bin probability the CDF difference loses precision in float32; the density
#: at the bin centre times the bin width is used instead.
MIN_BIN_PROB = 1e-5
#: edge bins: bin centres are exactly -1 and 1; anything beyond +-EDGE is an edge bin.
EDGE = 0.999


def to_signed(x01: torch.Tensor) -> torch.Tensor:
    """Map images in [0, 1] (k/255) to bin centres in [-1, 1]."""
    return x01 * 2.0 - 1.0


#: a log-CDF or log-PDF of a standardised distribution, elementwise.
_LogFn = Callable[[torch.Tensor], torch.Tensor]


def _logistic_log_cdf(z: torch.Tensor) -> torch.Tensor:
    return F.logsigmoid(z)


def _logistic_log_pdf(z: torch.Tensor) -> torch.Tensor:
    return z - 2.0 * F.softplus(z)


def _normal_log_cdf(z: torch.Tensor) -> torch.Tensor:
    log_cdf: torch.Tensor = torch.special.log_ndtr(z)
    return log_cdf


def _normal_log_pdf(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * z * z - 0.5 * math.log(2.0 * math.pi)


def discretised_log_prob(
    x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, log_cdf: _LogFn, log_pdf: _LogFn
) -> torch.Tensor:
    """Log-probability of bin centres `x` under a discretised location-scale family.

    `log_cdf` / `log_pdf` are those of the standardised distribution, which must be
    symmetric (used for the upper tail, and to take CDF differences on the side of the
    mean where they are accurate).
    """
    inv_scale = torch.exp(-log_scale)
    upper = inv_scale * (x - mean + HALF_BIN)
    lower = inv_scale * (x - mean - HALF_BIN)
    centre = inv_scale * (x - mean)
    low_edge = log_cdf(upper)
    high_edge = log_cdf(-lower)
    # Above the mean, 1 - CDF differences avoid cancellation between two values near 1.
    left = torch.exp(log_cdf(upper)) - torch.exp(log_cdf(lower))
    right = torch.exp(log_cdf(-lower)) - torch.exp(log_cdf(-upper))
    bin_prob = torch.where(centre > 0, right, left)
    by_density = log_pdf(centre) - log_scale + math.log(2.0 * HALF_BIN)
    interior = torch.where(bin_prob > MIN_BIN_PROB, torch.log(bin_prob.clamp_min(MIN_BIN_PROB)), by_density)
    return torch.where(x < -EDGE, low_edge, torch.where(x > EDGE, high_edge, interior))


class MixtureOfLogistics:
    """Discretised mixture of `n_mixtures` logistics per pixel (single channel)."""

    def __init__(self, n_mixtures: int, min_log_scale: float):
        self.n_mixtures = n_mixtures
        self.min_log_scale = min_log_scale
        self.n_params = 3 * n_mixtures

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, means, log_scales = params.chunk(3, dim=1)
        return logits, means, log_scales.clamp_min(self.min_log_scale)

    def pixel_log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel log-probability (N, 1, H, W) of bin centres x (N, 1, H, W) in [-1, 1]."""
        logits, means, log_scales = self._split(params)
        per_component = discretised_log_prob(x, means, log_scales, _logistic_log_cdf, _logistic_log_pdf)
        weighted = per_component + F.log_softmax(logits, dim=1)
        return torch.logsumexp(weighted, dim=1, keepdim=True)

    def nll(self, params: torch.Tensor, x01: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood in nats per image, shape (N,), of images in [0, 1]."""
        return -self.pixel_log_prob(params, to_signed(x01)).flatten(1).sum(1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """Expected image in [0, 1] (component means clipped to the pixel range)."""
        logits, means, _ = self._split(params)
        weights = F.softmax(logits, dim=1)
        signed = (weights * means.clamp(-1.0, 1.0)).sum(1, keepdim=True)
        return (signed + 1.0) / 2.0

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        """One draw per pixel, as images in [0, 1] on the 256-level grid."""
        logits, means, log_scales = self._split(params)
        gumbel = -torch.log(-torch.log(torch.rand_like(logits).clamp(1e-7, 1 - 1e-7)))
        pick = F.one_hot((logits + gumbel).argmax(1), self.n_mixtures).permute(0, 3, 1, 2)
        mean = (means * pick).sum(1, keepdim=True)
        log_scale = (log_scales * pick).sum(1, keepdim=True)
        u = torch.rand_like(mean).clamp(1e-5, 1 - 1e-5)
        signed = mean + torch.exp(log_scale) * (torch.log(u) - torch.log1p(-u))
        return _quantise(signed)


class DiscretisedGaussian:
    """Discretised Gaussian per pixel, with a learned per-pixel scale."""

    n_params = 2

    def __init__(self, min_log_scale: float):
        self.min_log_scale = min_log_scale

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_scale = params.chunk(2, dim=1)
        return mean, log_scale.clamp_min(self.min_log_scale)

    def pixel_log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel log-probability (N, 1, H, W) of bin centres x (N, 1, H, W) in [-1, 1]."""
        mean, log_scale = self._split(params)
        return discretised_log_prob(x, mean, log_scale, _normal_log_cdf, _normal_log_pdf)

    def nll(self, params: torch.Tensor, x01: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood in nats per image, shape (N,), of images in [0, 1]."""
        return -self.pixel_log_prob(params, to_signed(x01)).flatten(1).sum(1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """The Gaussian mean clipped to the pixel range, as an image in [0, 1]."""
        mean, _ = self._split(params)
        return (mean.clamp(-1.0, 1.0) + 1.0) / 2.0

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        """One draw per pixel, as images in [0, 1] on the 256-level grid."""
        mean, log_scale = self._split(params)
        return _quantise(mean + torch.exp(log_scale) * torch.randn_like(mean))


def _quantise(signed: torch.Tensor) -> torch.Tensor:
    levels = torch.round((signed.clamp(-1.0, 1.0) + 1.0) * 127.5)
    return levels / 255.0


def make_likelihood(kind: str, n_mixtures: int, min_log_scale: float) -> MixtureOfLogistics | DiscretisedGaussian:
    """The likelihood named by `VDVAEConfig.likelihood` ("dmol" or "gaussian")."""
    if kind == "dmol":
        return MixtureOfLogistics(n_mixtures, min_log_scale)
    if kind == "gaussian":
        return DiscretisedGaussian(min_log_scale)
    raise ValueError(f"unknown likelihood {kind!r}; choose 'dmol' or 'gaussian'")
