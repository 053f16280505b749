"""A classifier made from a pretrained encoder: the VDVAE's bottom-up path to z0's
posterior mean (256 numbers for the shipped model), or an SSL method's ResNet backbone
(512), then layer norm, dropout and a small head. Fine-tuned by
training/recipes/finetune.py; `predict --model` runs it (downstream/image_predict.py).

Besides its weights, a saved classifier holds two buffers: `temperature`, which divides
its logits (fitted on the validation split after training: calibrated probabilities),
and `domain_features`, its encoder's features of the labelled training images, against
which a new image's in-domain score is measured."""

from __future__ import annotations

import torch
from torch import nn

from radiolatent.config.finetune import ClassifierConfig
from radiolatent.models.ssl import FEATURE_DIM, ResNetBackbone
from radiolatent.models.vdvae import VDVAE
from radiolatent.models.vdvae.layers import as_images


class VDVAEBottomUp(nn.Module):
    """A VDVAE's encoder and z0's posterior head: (N, 1, H, W) -> z0's posterior mean,
    flattened (what `VDVAE.encode_z0` gives), with gradients and nothing of the decoder."""

    def __init__(self, vdvae: VDVAE):
        super().__init__()
        top = vdvae.top_block
        self.encoder = vdvae.encoder
        self.posterior = top.posterior
        self.stream_start = vdvae.stream_start
        self.res, self.z_channels = top.res, top.z_channels

    @property
    def feature_dim(self) -> int:
        return self.z_channels * self.res * self.res

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_images(x)
        act = self.encoder(x)[self.res]
        h = self.stream_start.expand(x.shape[0], -1, -1, -1)
        mean: torch.Tensor = self.posterior(torch.cat([h, act], dim=1))[:, : self.z_channels]
        return mean.flatten(1)


def build_encoder(cfg: ClassifierConfig) -> nn.Module:
    """The encoder `cfg` names, with fresh weights."""
    if cfg.encoder == "vdvae":
        return VDVAEBottomUp(VDVAE(cfg.vdvae))
    if cfg.ssl.method != cfg.encoder:
        raise ValueError(f"encoder {cfg.encoder!r} but ssl.method {cfg.ssl.method!r}")
    return ResNetBackbone(cfg.ssl)


def feature_dim(encoder: nn.Module) -> int:
    return encoder.feature_dim if isinstance(encoder, VDVAEBottomUp) else FEATURE_DIM


class Classifier(nn.Module):
    """(N, 1, H, W) in [0, 1] -> (N, classes) logits (divide by `temperature` for calibrated ones)."""

    temperature: torch.Tensor
    domain_features: torch.Tensor

    def __init__(self, cfg: ClassifierConfig, encoder: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder if encoder is not None else build_encoder(cfg)
        width = feature_dim(self.encoder)
        layers: list[nn.Module] = [nn.LayerNorm(width), nn.Dropout(cfg.dropout)]
        if cfg.head_hidden > 0:
            layers += [nn.Linear(width, cfg.head_hidden), nn.GELU(), nn.Dropout(cfg.dropout)]
            width = cfg.head_hidden
        self.head = nn.Sequential(*layers, nn.Linear(width, len(cfg.classes)))
        self.register_buffer("temperature", torch.ones(()))
        self.register_buffer("domain_features", torch.zeros(cfg.domain_rows, feature_dim(self.encoder)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.encoder(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.features(x))
        return logits
