"""Augmentations for self-supervised training on sparse radio images, batched in torch.

One view of a batch (N, 1, H, W) in [0, 1] is, per image:

1. a geometric transform done as ONE resampling (affine grid + bilinear sampling, zeros
   outside): a random crop of `crop_scale` of the area (aspect ratio in `crop_ratio`)
   resized back to H x W, a rotation by any angle (probability `rotate_p`), and
   horizontal / vertical flips (`flip_p` each). One resampling instead of three keeps
   faint emission from being blurred twice; zeros outside match the empty sky around a
   min-max scaled source. Crops keep >= 80 % of the area, so jets are not cut off ([B]).
2. brightness (multiply) and contrast (blend with the image mean) jitter, probability
   `jitter_p`, clamped back to [0, 1]; no ImageNet colour normalisation.
3. a weak Gaussian blur ([B]: 3 px kernel, probability 0.05).

Optionally (`zoom_out_p` > 0) step 1 also shrinks the image by a factor in
`zoom_out`, smoothed first by a beam of `zoom_out_beam` output pixels: a FIRST cutout
(1.8"/px, 5" beam) then looks more like a source in NVSS (15"/px, 45" beam), as
FR-DEEP N shows it.

Every random number comes from a numpy Generator, so a view is a pure function of the
batch and the generator's state: the same seed gives the same views on any device.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from radiolatent.config import SSLViewConfig


def random_view(x: torch.Tensor, rng: np.random.Generator, cfg: SSLViewConfig) -> torch.Tensor:
    """One augmented view of a batch (N, 1, H, W) in [0, 1]; same shape, values in [0, 1]."""
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected a batch (N, 1, H, W), got shape {tuple(x.shape)}")
    out = _geometric(x, rng, cfg)
    out = _jitter(out, rng, cfg)
    out = _blur(out, rng, cfg)
    return out.clamp_(0.0, 1.0)


def _geometric(x: torch.Tensor, rng: np.random.Generator, cfg: SSLViewConfig) -> torch.Tensor:
    """Crop + rotation + flips as one affine resampling."""
    n = x.shape[0]
    area = rng.uniform(cfg.crop_scale[0], cfg.crop_scale[1], n)
    log_ratio = rng.uniform(math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]), n)
    ratio = np.exp(log_ratio)
    # Crop half-sizes in normalised coordinates (the image spans -1..1), at most the image.
    width = np.minimum(1.0, np.sqrt(area * ratio))
    height = np.minimum(1.0, np.sqrt(area / ratio))
    centre_x = rng.uniform(-1.0, 1.0, n) * (1.0 - width)
    centre_y = rng.uniform(-1.0, 1.0, n) * (1.0 - height)
    zoom = _zoom_out(n, rng, cfg)
    if zoom is not None:
        # Shrink about the crop's centre: the source stays central, as in a survey cutout.
        x = _beam(x, zoom, cfg.zoom_out_beam)
        width, height = width * zoom, height * zoom
    angle = rng.uniform(0.0, 2.0 * math.pi, n) * (rng.random(n) < cfg.rotate_p)
    flip_x = np.where(rng.random(n) < cfg.flip_p, -1.0, 1.0)
    flip_y = np.where(rng.random(n) < cfg.flip_p, -1.0, 1.0)
    cos, sin = np.cos(angle), np.sin(angle)
    # input = centre + diag(width, height) @ rotation @ diag(flip_x, flip_y) @ output
    theta = np.zeros((n, 2, 3))
    theta[:, 0, 0] = width * cos * flip_x
    theta[:, 0, 1] = -width * sin * flip_y
    theta[:, 1, 0] = height * sin * flip_x
    theta[:, 1, 1] = height * cos * flip_y
    theta[:, 0, 2] = centre_x
    theta[:, 1, 2] = centre_y
    affine = torch.from_numpy(theta).to(dtype=x.dtype, device=x.device)
    grid = F.affine_grid(affine, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _zoom_out(n: int, rng: np.random.Generator, cfg: SSLViewConfig) -> np.ndarray | None:
    """Linear shrink factor per image (1 = none), log-uniform in `zoom_out` with probability
    `zoom_out_p`; None, drawing nothing, when off (the views of older configs are unchanged)."""
    if cfg.zoom_out_p <= 0:
        return None
    apply = rng.random(n) < cfg.zoom_out_p
    factor = np.exp(rng.uniform(math.log(cfg.zoom_out[0]), math.log(cfg.zoom_out[1]), n))
    return np.where(apply, factor, 1.0)


def _beam(x: torch.Tensor, zoom: np.ndarray, sigma_out: float) -> torch.Tensor:
    """Smooth each image to be shrunk by `zoom` with a Gaussian of sigma_out * zoom input
    pixels, i.e. sigma_out pixels after shrinking: a coarser survey's beam, and the
    anti-aliasing a plain bilinear shrink lacks. Separable, zero padding (empty sky)."""
    chosen = np.flatnonzero(zoom > 1.0)
    if len(chosen) == 0 or sigma_out <= 0:
        return x
    sigmas = sigma_out * zoom[chosen]
    half = min(math.ceil(3.0 * float(sigmas.max())), x.shape[-1] - 1)
    axis = torch.arange(-half, half + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (axis[None, :] / torch.from_numpy(sigmas)[:, None]) ** 2)
    g = (g / g.sum(dim=1, keepdim=True)).to(x)  # (k, 2 half + 1)
    picked = x[chosen].transpose(0, 1)  # (1, k, H, W): one group per image
    k = len(chosen)
    picked = F.conv2d(picked, g[:, None, None, :], padding=(0, half), groups=k)
    picked = F.conv2d(picked, g[:, None, :, None], padding=(half, 0), groups=k)
    out = x.clone()
    out[torch.from_numpy(chosen)] = picked.transpose(0, 1)
    return out


def _jitter(x: torch.Tensor, rng: np.random.Generator, cfg: SSLViewConfig) -> torch.Tensor:
    """Brightness then contrast, as torchvision's ColorJitter does on a grey image."""
    n = x.shape[0]
    apply = rng.random(n) < cfg.jitter_p
    brightness = np.where(apply, rng.uniform(1.0 - cfg.brightness, 1.0 + cfg.brightness, n), 1.0)
    contrast = np.where(apply, rng.uniform(1.0 - cfg.contrast, 1.0 + cfg.contrast, n), 1.0)
    shape = (n, 1, 1, 1)
    b = torch.from_numpy(brightness).to(x).view(shape)
    c = torch.from_numpy(contrast).to(x).view(shape)
    x = (x * b).clamp(0.0, 1.0)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (mean + c * (x - mean)).clamp(0.0, 1.0)


def _blur(x: torch.Tensor, rng: np.random.Generator, cfg: SSLViewConfig) -> torch.Tensor:
    """Gaussian blur of the chosen images, each with its own sigma (reflect padding)."""
    n = x.shape[0]
    apply = rng.random(n) < cfg.blur_p
    sigma = rng.uniform(cfg.blur_sigma[0], cfg.blur_sigma[1], n)
    chosen = np.flatnonzero(apply)
    if len(chosen) == 0:
        return x
    kernels = torch.stack([_gaussian_kernel(cfg.blur_kernel, s) for s in sigma[chosen]]).to(x)
    pad = cfg.blur_kernel // 2
    picked = F.pad(x[chosen].transpose(0, 1), (pad, pad, pad, pad), mode="reflect")
    blurred = F.conv2d(picked, kernels[:, None], groups=len(chosen)).transpose(0, 1)
    out = x.clone()
    out[torch.from_numpy(chosen)] = blurred
    return out


def _gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    half = (size - 1) / 2.0
    axis = torch.arange(size, dtype=torch.float64) - half
    g = torch.exp(-0.5 * (axis / sigma) ** 2)
    g = g / g.sum()
    return torch.outer(g, g).float()


def two_views(x: torch.Tensor, rng: np.random.Generator, cfg: SSLViewConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent views of the same batch (the SSL positive pairs)."""
    return random_view(x, rng, cfg), random_view(x, rng, cfg)
