"""The no-learning floors: `pixels-pca` (the 64x64 model input, PCA to 256 fitted on the
pool) and `random-conv` (an untrained conv encoder with a fixed seed). Every later table
prints them beside the learned encoders, so a result that does not beat them is visible
as such."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA

from radiolatent.config import FLOORS as FLOORS  # the floors' names, one list for the package
from radiolatent.config import EmbedConfig
from radiolatent.data.preprocess import to_unit_float
from radiolatent.embedding.views import batched

#: pixels-pca fits on the whole pool up to this many images, on a seeded sample of this many above.
PCA_FIT_ROWS = 20_000


@dataclass
class PixelsPCA:
    """Raw model-input pixels projected on the pool's first principal components."""

    pca: PCA
    name: str = "pixels-pca"

    @classmethod
    def fit(cls, pool_images: np.ndarray, config: EmbedConfig) -> PixelsPCA:
        if len(pool_images) <= PCA_FIT_ROWS:
            x = _flat(pool_images)
            return cls(PCA(n_components=min(config.pca_components, *x.shape), svd_solver="full").fit(x))
        # a large pool: fitted on a seeded sample (a full SVD of 100,000 x 4,096 pixels took
        # over 8 minutes and 7.6 GB), read from the pool's memory map row by row
        rows = np.sort(np.random.default_rng(0).choice(len(pool_images), PCA_FIT_ROWS, replace=False))
        x = _flat(np.asarray(pool_images[rows]))
        n = min(config.pca_components, *x.shape)
        return cls(PCA(n_components=n, svd_solver="randomized", random_state=0).fit(x))

    def encode(self, images: np.ndarray) -> np.ndarray:
        return self.pca.transform(_flat(images)).astype(np.float32)


def _flat(images: np.ndarray) -> np.ndarray:
    return to_unit_float(np.asarray(images)).reshape(len(images), -1)


class RandomConv(torch.nn.Module):
    """An untrained conv encoder: stride-2 stages, then global average pooling.

    Its raw outputs are tiny (~1e-4), which collapses svc and lr (docs/defaults.md),
    so codes are standardised with the pool's mean and spread, as the probe did.
    """

    name = "random-conv"

    def __init__(self, config: EmbedConfig):
        super().__init__()
        generator = torch.Generator().manual_seed(config.random_conv_seed)
        layers, c_in = [], 1
        for c_out in config.random_conv_channels:
            conv = torch.nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
            _reset(conv, generator)
            layers += [conv, torch.nn.ReLU()]
            c_in = c_out
        self.net = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.batch_size = config.batch_size
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, pool_images: np.ndarray) -> RandomConv:
        raw = self._raw(pool_images)
        self.mean, self.std = raw.mean(axis=0), raw.std(axis=0) + 1e-12
        return self

    @torch.no_grad()
    def _raw(self, images: np.ndarray) -> np.ndarray:
        return batched(self.net, images, self.batch_size)

    def encode(self, images: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("RandomConv.fit(pool_images) must run before encode")
        return ((self._raw(images) - self.mean) / self.std).astype(np.float32)


def _reset(conv: torch.nn.Conv2d, generator: torch.Generator) -> None:
    """Kaiming-uniform weights drawn from our own generator, so the floor never changes."""
    bound = 1.0 / np.sqrt(conv.weight[0].numel())
    with torch.no_grad():
        conv.weight.uniform_(-bound * np.sqrt(3), bound * np.sqrt(3), generator=generator)
        if conv.bias is not None:
            conv.bias.uniform_(-bound, bound, generator=generator)
