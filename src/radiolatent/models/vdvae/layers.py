"""The VDVAE's layers: residual blocks, resampling, the bottom-up encoder and the
top-down (latent) blocks, with the Gaussian KL they use."""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from radiolatent.config import VDVAEConfig
from radiolatent.models.vdvae.blocks import BlockSpec


def gaussian_kl(
    mean_q: torch.Tensor, logstd_q: torch.Tensor, mean_p: torch.Tensor, logstd_p: torch.Tensor
) -> torch.Tensor:
    """Elementwise KL(N(mean_q, std_q^2) || N(mean_p, std_p^2))."""
    var_ratio = torch.exp(2.0 * (logstd_q - logstd_p))
    mean_term = (mean_q - mean_p) ** 2 * torch.exp(-2.0 * logstd_p)
    kl: torch.Tensor = 0.5 * (var_ratio + mean_term - 1.0) - (logstd_q - logstd_p)
    return kl


def same_conv(in_w: int, out_w: int, kernel: int, he: bool = False) -> nn.Conv2d:
    """A same-padded convolution; `he` draws its weights for unit gain through GELU/ReLU
    (He et al. 2015) instead of PyTorch's default, which shrinks the signal ~3x a layer."""
    conv = nn.Conv2d(in_w, out_w, kernel, padding=kernel // 2)
    if he:
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    return conv


class ResBlock(nn.Module):
    """GELU -> 1x1 -> GELU -> 3x3 -> GELU -> 3x3 -> GELU -> 1x1, optionally residual."""

    def __init__(
        self,
        in_w: int,
        mid_w: int,
        out_w: int,
        use_3x3: bool,
        residual: bool,
        last_scale: float = 1.0,
        he: bool = False,
    ):
        super().__init__()
        kernel = 3 if use_3x3 else 1
        convs = [
            same_conv(in_w, mid_w, 1, he),
            same_conv(mid_w, mid_w, kernel, he),
            same_conv(mid_w, mid_w, kernel, he),
            same_conv(mid_w, out_w, 1, he),
        ]
        # Deep residual stacks stay stable at init when each branch starts small.
        with torch.no_grad():
            convs[-1].weight.mul_(last_scale)
        self.convs = nn.ModuleList(convs)
        self.residual = residual

    @property
    def conv_layers(self) -> list[nn.Conv2d]:
        """The four convolutions, typed (a ModuleList's items are plain Modules to mypy)."""
        return [cast(nn.Conv2d, conv) for conv in self.convs]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in self.convs:
            h = conv(F.gelu(h))
        return x + h if self.residual else h


class Resample(nn.Module):
    """Average-pool or nearest-upsample by `factor`, then a 1x1 conv if the width changes."""

    def __init__(self, mode: str, factor: int, in_w: int, out_w: int, he: bool = False):
        super().__init__()
        self.mode, self.factor = mode, factor
        self.proj = same_conv(in_w, out_w, 1, he) if in_w != out_w else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "down":
            x = F.avg_pool2d(x, self.factor)
        else:
            x = F.interpolate(x, scale_factor=self.factor, mode="nearest")
        out: torch.Tensor = self.proj(x)
        return out


class Encoder(nn.Module):
    """Bottom-up residual stages; returns {resolution: last activation there}."""

    def __init__(self, cfg: VDVAEConfig, items: list[BlockSpec], widths: dict[int, int]):
        super().__init__()
        first = items[0].res
        he = cfg.bottom_up_init == "he"
        self.stem = same_conv(1, widths[first], 3, he)
        n_blocks = sum(item.count for item in items if item.kind == "block")
        layers: list[nn.Module] = []
        self.layer_res: list[int] = []
        for item in items:
            if item.kind == "block":
                w = widths[item.res]
                for _ in range(item.count):
                    layers.append(
                        ResBlock(
                            w,
                            mid_width(cfg, w),
                            w,
                            item.res > cfg.max_res_1x1,
                            residual=True,
                            last_scale=math.sqrt(1 / n_blocks),
                            he=he,
                        )
                    )
                    self.layer_res.append(item.res)
            else:
                low = item.res // item.count
                layers.append(Resample("down", item.count, widths[item.res], widths[low], he))
                self.layer_res.append(low)
        self.layers = nn.ModuleList(layers)

    def forward(self, x01: torch.Tensor) -> dict[int, torch.Tensor]:
        h = self.stem(x01 * 2.0 - 1.0)
        acts: dict[int, torch.Tensor] = {}
        for layer, res in zip(self.layers, self.layer_res):
            h = layer(h)
            acts[res] = h
        return acts


def mid_width(cfg: VDVAEConfig, width: int) -> int:
    return max(1, round(width * cfg.bottleneck))


class TopDownBlock(nn.Module):
    """One latent layer: prior, posterior, latent projection, output residual block."""

    def __init__(self, cfg: VDVAEConfig, res: int, width: int, z_channels: int, head_width: int, n_blocks: int):
        super().__init__()
        use_3x3 = res > cfg.max_res_1x1
        self.res, self.width, self.z_channels = res, width, z_channels
        self.logstd_limit = cfg.logstd_limit
        self.posterior = ResBlock(
            2 * width, head_width, 2 * z_channels, use_3x3, residual=False, he=cfg.bottom_up_init == "he"
        )
        # A zero last layer starts every prior at N(0, 1) with no stream feature, so the
        # first steps' KL is not dominated by a random prior.
        self.prior = ResBlock(width, head_width, 2 * z_channels + width, use_3x3, residual=False, last_scale=0.0)
        self.z_proj = same_conv(z_channels, width, 1)
        self.out = ResBlock(
            width, mid_width(cfg, width), width, use_3x3, residual=True, last_scale=math.sqrt(1 / n_blocks)
        )
        with torch.no_grad():
            self.z_proj.weight.mul_(math.sqrt(1 / n_blocks))

    def _soft(self, logstd: torch.Tensor) -> torch.Tensor:
        return self.logstd_limit * torch.tanh(logstd / self.logstd_limit)

    def prior_params(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Prior mean, log-std and the feature the prior adds to the stream."""
        out = self.prior(h)
        zc = self.z_channels
        return out[:, :zc], self._soft(out[:, zc : 2 * zc]), out[:, 2 * zc :]

    def posterior_params(self, h: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.posterior(torch.cat([h, act], dim=1))
        return out[:, : self.z_channels], self._soft(out[:, self.z_channels :])

    def forward(
        self,
        h: torch.Tensor,
        act: torch.Tensor | None,
        mode: str,
        drop: torch.Tensor | None = None,
        temperature: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Advance the stream. mode: "sample" (posterior sample, training), "mean"
        (posterior means, deterministic codes) or "prior" (generation; `act` unused).

        `drop` (N,) bool: images whose z here comes from the prior (latent dropout);
        their KL counts as 0. Returns (stream, kl per image (N,), posterior mean or None).
        """
        p_mean, p_logstd, feature = self.prior_params(h)
        if mode == "prior":
            z = p_mean + temperature * torch.exp(p_logstd) * torch.randn_like(p_mean)
            kl, q_mean = torch.zeros(h.shape[0], device=h.device), None
        else:
            if act is None:
                raise ValueError(f"mode {mode!r} needs the encoder's activation")
            q_mean, q_logstd = self.posterior_params(h, act)
            z = q_mean if mode == "mean" else q_mean + torch.exp(q_logstd) * torch.randn_like(q_mean)
            # float32 even under bf16 autocast: a sum of thousands of small terms
            kl = gaussian_kl(q_mean.float(), q_logstd.float(), p_mean.float(), p_logstd.float()).flatten(1).sum(1)
            if drop is not None:
                from_prior = p_mean + torch.exp(p_logstd) * torch.randn_like(p_mean)
                z = torch.where(drop[:, None, None, None], from_prior, z)
                kl = torch.where(drop, torch.zeros_like(kl), kl)
        h = h + feature + self.z_proj(z)
        return self.out(h), kl, q_mean


class AuxDecoder(nn.Module):
    """A small decoder from z0 alone to likelihood parameters (pushes information into z0)."""

    def __init__(self, z_channels: int, width: int, image_size: int, n_params: int):
        super().__init__()
        self.start = 4
        self.width = width
        self.fc = nn.Linear(z_channels, width * self.start * self.start)
        n_up = int(math.log2(image_size // self.start))
        convs: list[nn.Module] = []
        w = width
        for i in range(n_up):
            out_w = max(8, width // 2) if i >= n_up - 2 else width
            convs.append(same_conv(w, out_w, 3))
            w = out_w
        self.convs = nn.ModuleList(convs)
        self.head = same_conv(w, n_params, 1)

    def forward(self, z0: torch.Tensor) -> torch.Tensor:
        h = self.fc(z0.flatten(1)).view(-1, self.width, self.start, self.start)
        for conv in self.convs:
            h = F.gelu(conv(F.interpolate(h, scale_factor=2, mode="nearest")))
        params: torch.Tensor = self.head(h)
        return params


def as_images(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected images (N, 1, H, W) or (N, H, W), got {tuple(x.shape)}")
    return x
