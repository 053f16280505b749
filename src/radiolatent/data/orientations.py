"""An image's 8 flips and quarter turns (the dihedral group): radio sources have no
preferred orientation, so codes and class probabilities are averaged over them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

#: the 8 flips and quarter turns as (flip the width axis first, quarter turns k).
DIHEDRAL_ORDER = tuple((flip, k) for flip in (False, True) for k in range(4))


def dihedral_views(images: np.ndarray) -> list[np.ndarray]:
    """The 8 flips and quarter turns of (N, H, W) images."""
    images = np.asarray(images)
    return [
        np.ascontiguousarray(np.rot90(images[:, :, ::-1] if flip else images, k, axes=(1, 2)))
        for flip, k in DIHEDRAL_ORDER
    ]


def each_view(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """fn's outputs for the 8 flips and quarter turns of a batch x (N, 1, H, W): (8, N, ...),
    in DIHEDRAL_ORDER. Each orientation goes through fn as its own batch of N, so the
    upright one's outputs are fn(x)'s to the bit: an image's single-pass code comes free
    with its 8-view average."""
    return torch.stack([fn(_oriented(x, flip, k)) for flip, k in DIHEDRAL_ORDER])


def _oriented(x: torch.Tensor, flip: bool, k: int) -> torch.Tensor:
    """x flipped (width axis) then turned k quarter turns; upright, x itself."""
    if not (flip or k):
        return x
    return torch.rot90(x.flip(3) if flip else x, k, dims=(2, 3))


def view_mean(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, views: int) -> torch.Tensor:
    """fn's outputs for x's 8 flips and quarter turns (one batch), averaged per image."""
    if views != len(DIHEDRAL_ORDER):
        raise ValueError(f"views must be 1 or {len(DIHEDRAL_ORDER)}, got {views}")
    return each_view(fn, x).mean(0)
