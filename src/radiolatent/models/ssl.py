"""SimCLR, BYOL and SimSiam on a one-channel ResNet, with lightly's heads, losses and
momentum update ([A] built its baselines with lightly).

`ResNetBackbone` is what gets exported and embedded: a torchvision ResNet (BasicBlocks)
whose stem reads one channel and keeps most of a 64x64 image (see `SSLModelConfig`),
ending in global average pooling: the 512-d representation.

`SSLModel` holds the backbone and the method's heads; `forward(view0, view1)` returns the
symmetrised loss and a collapse monitor. BYOL's target network is a frozen copy moved
towards the online one by `update_target` after each accepted optimiser step.
"""

from __future__ import annotations

import copy
import math

import torch
from lightly.loss import NegativeCosineSimilarity, NTXentLoss
from lightly.models.modules.heads import (
    BYOLPredictionHead,
    BYOLProjectionHead,
    ProjectionHead,
    SimCLRProjectionHead,
    SimSiamPredictionHead,
)
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from radiolatent.config import SSL_BACKBONES, SSLModelConfig

#: length of the representation (the last ResNet stage's channels, BasicBlocks).
FEATURE_DIM = 512


class ResNetBackbone(nn.Module):
    """(N, 1, H, W) in [0, 1] -> (N, 512) pooled features."""

    def __init__(self, cfg: SSLModelConfig):
        super().__init__()
        if cfg.backbone not in SSL_BACKBONES:
            raise ValueError(f"unknown backbone {cfg.backbone!r}; choose from {sorted(SSL_BACKBONES)}")
        self.cfg = cfg
        net = ResNet(BasicBlock, list(SSL_BACKBONES[cfg.backbone]))
        net.conv1 = nn.Conv2d(1, 64, cfg.stem_kernel, cfg.stem_stride, cfg.stem_kernel // 2, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        if not cfg.stem_max_pool:
            net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.net(x)
        return features


def feature_spread(features: torch.Tensor) -> torch.Tensor:
    """Collapse monitor (SimSiam paper): per-dimension std of L2-normalised features across
    the batch, averaged, times sqrt(d): ~1 for well-spread features, 0 when collapsed."""
    unit = nn.functional.normalize(features.detach().float(), dim=1)
    return unit.std(dim=0).mean() * math.sqrt(unit.shape[1])


class SSLModel(nn.Module):
    """Backbone + heads of one method; the loss of a pair of views."""

    def __init__(self, cfg: SSLModelConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = ResNetBackbone(cfg)
        self.projection = _projection_head(cfg)
        self.prediction = _prediction_head(cfg)
        if cfg.method == "byol":
            self.target_backbone = copy.deepcopy(self.backbone)
            self.target_projection = copy.deepcopy(self.projection)
            deactivate_requires_grad(self.target_backbone)
            deactivate_requires_grad(self.target_projection)
        if cfg.method == "simclr":
            # Training under DDP: every rank's projections serve as negatives. Validation
            # runs on rank 0 alone, where a gather would wait for the others forever.
            self.criterion = NTXentLoss(temperature=cfg.temperature, gather_distributed=True)
            self.local_criterion = NTXentLoss(temperature=cfg.temperature)
        else:
            self.criterion = NegativeCosineSimilarity()

    def forward(self, view0: torch.Tensor, view1: torch.Tensor) -> dict[str, torch.Tensor]:
        # Losses and spreads in float32: under bf16 autocast the heads give bf16 outputs,
        # too coarse for normalised dot products and softmaxes (.float() is free in fp32).
        h0, h1 = self.backbone(view0), self.backbone(view1)
        z0, z1 = self.projection(h0), self.projection(h1)
        if self.cfg.method == "simclr":
            loss = (self.criterion if self.training else self.local_criterion)(z0.float(), z1.float())
        else:
            assert self.prediction is not None, "SimSiam and BYOL have a prediction head"
            p0, p1 = self.prediction(z0).float(), self.prediction(z1).float()
            if self.cfg.method == "simsiam":
                loss = 0.5 * (self.criterion(p0, z1.detach().float()) + self.criterion(p1, z0.detach().float()))
            else:
                with torch.no_grad():
                    t0 = self.target_projection(self.target_backbone(view0)).float()
                    t1 = self.target_projection(self.target_backbone(view1)).float()
                loss = 0.5 * (self.criterion(p0, t1) + self.criterion(p1, t0))
        return {
            "loss": loss,
            "feature_spread": feature_spread(h0.float()),
            "projection_spread": feature_spread(z0.float()),
        }

    @torch.no_grad()
    def update_target(self, step: int, total_steps: int) -> None:
        """BYOL: target <- m target + (1 - m) online, m rising (cosine) to momentum_end."""
        if self.cfg.method != "byol":
            return
        m = target_momentum(self.cfg, step, total_steps)
        update_momentum(self.backbone, self.target_backbone, m)
        update_momentum(self.projection, self.target_projection, m)


def target_momentum(cfg: SSLModelConfig, step: int, total_steps: int) -> float:
    """BYOL's target momentum at `step`: cosine from momentum_start to momentum_end."""
    return float(cosine_schedule(min(step, total_steps), max(1, total_steps), cfg.momentum_start, cfg.momentum_end))


def _projection_head(cfg: SSLModelConfig) -> nn.Module:
    head: nn.Module  # lightly's heads are untyped
    if cfg.method == "simclr":
        head = SimCLRProjectionHead(FEATURE_DIM, cfg.projection_hidden, cfg.projection_dim)
    elif cfg.method == "byol":
        head = BYOLProjectionHead(FEATURE_DIM, cfg.projection_hidden, cfg.projection_dim)
    elif cfg.method == "simsiam":
        # [A]: one hidden layer (lightly's SimSiamProjectionHead has two); BN on the output
        # without affine, as SimSiam does.
        head = ProjectionHead(
            [
                (FEATURE_DIM, cfg.projection_hidden, nn.BatchNorm1d(cfg.projection_hidden), nn.ReLU()),
                (cfg.projection_hidden, cfg.projection_dim, nn.BatchNorm1d(cfg.projection_dim, affine=False), None),
            ]
        )
    else:
        raise ValueError(f"unknown SSL method {cfg.method!r}")
    return head


def _prediction_head(cfg: SSLModelConfig) -> nn.Module | None:
    head: nn.Module | None = None  # lightly's heads are untyped
    if cfg.method == "byol":
        head = BYOLPredictionHead(cfg.projection_dim, cfg.prediction_hidden, cfg.projection_dim)
    elif cfg.method == "simsiam":
        head = SimSiamPredictionHead(cfg.projection_dim, cfg.prediction_hidden, cfg.projection_dim)
    return head


def build_ssl(cfg: SSLModelConfig, seed: int = 0) -> SSLModel:
    """An SSL model with weights drawn from `seed` (the global RNG state is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SSLModel(cfg)
