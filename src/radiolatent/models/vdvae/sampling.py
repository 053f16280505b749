"""Pictures from a trained VDVAE: model outputs as uint8 images, and images drawn from its
prior (what `radiolatent generate` shows and what the density tools score as generated
sources)."""

from __future__ import annotations

import numpy as np
import torch

from radiolatent.models.vdvae.model import VDVAE


def as_uint8(images: torch.Tensor) -> np.ndarray:
    """Model outputs (N, 1, H, W) in [0, 1] as (N, H, W) uint8 pictures."""
    pictures: np.ndarray = (images[:, 0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    return pictures


def prior_samples(sampler: VDVAE, n: int, temperature: float = 1.0, batch_size: int | None = None) -> np.ndarray:
    """n uint8 images decoded from a loaded VDVAE's prior, `batch_size` at a time (all at once
    when None); the caller seeds torch."""
    batch_size = batch_size or max(n, 1)
    parts = [
        as_uint8(sampler.sample(min(batch_size, n - start), temperature=temperature))
        for start in range(0, n, batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0, 0), np.uint8)
