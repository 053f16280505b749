"""The hierarchical VAE: the bottom-up encoder, the top-down latent layers and the
likelihood, built from a `VDVAEConfig`; training loss, codes, reconstructions, samples."""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from radiolatent.config import VDVAEConfig
from radiolatent.models.likelihood import make_likelihood
from radiolatent.models.vdvae.blocks import BlockSpec, parse_blocks, parse_widths
from radiolatent.models.vdvae.layers import (
    AuxDecoder,
    Encoder,
    Resample,
    TopDownBlock,
    as_images,
    mid_width,
    same_conv,
)


class VDVAE(nn.Module):
    """The hierarchical VAE. Inputs are images in [0, 1], shape (N, 1, H, W) or (N, H, W)."""

    def __init__(self, cfg: VDVAEConfig):
        super().__init__()
        self.cfg = cfg
        enc_items = parse_blocks(cfg.encoder_blocks, "down")
        dec_items = parse_blocks(cfg.decoder_blocks, "up")
        widths = parse_widths(cfg.widths)
        _check_layout(cfg, enc_items, dec_items, widths)
        if cfg.bottom_up_init not in ("he", "default"):
            raise ValueError(f"bottom_up_init must be 'he' or 'default', got {cfg.bottom_up_init!r}")
        if cfg.top_head_width < cfg.z0_channels:
            raise ValueError("top_head_width must be >= z0_channels (else z0 is rank-limited)")
        self.encoder = Encoder(cfg, enc_items, widths)
        self.likelihood = make_likelihood(cfg.likelihood, cfg.n_mixtures, cfg.min_log_scale)
        self._build_decoder(cfg, dec_items, widths)
        self.aux: AuxDecoder | None = None
        if cfg.aux_likelihood not in ("same", "mse"):
            raise ValueError(f"aux_likelihood must be 'same' or 'mse', got {cfg.aux_likelihood!r}")
        if cfg.aux_weight > 0:
            top_res = dec_items[0].res
            n_params = self.likelihood.n_params if cfg.aux_likelihood == "same" else 1
            self.aux = AuxDecoder(cfg.z0_channels * top_res * top_res, cfg.aux_width, cfg.image_size, n_params)

    def _build_decoder(self, cfg: VDVAEConfig, items: list[BlockSpec], widths: dict[int, int]) -> None:
        n_blocks = sum(item.count for item in items if item.kind == "block")
        top_res = items[0].res
        self.stream_start = nn.Parameter(torch.zeros(1, widths[top_res], top_res, top_res))
        layers: list[nn.Module] = []
        self.layer_names: list[str] = []
        for item in items:
            if item.kind == "up":
                layers.append(Resample("up", item.res // item.source, widths[item.source], widths[item.res]))
                continue
            for _ in range(item.count):
                top = not self.layer_names
                zc = cfg.z0_channels if top else cfg.z_channels
                head = cfg.top_head_width if top else mid_width(cfg, widths[item.res])
                layers.append(TopDownBlock(cfg, item.res, widths[item.res], zc, head, n_blocks))
                self.layer_names.append(f"z{len(self.layer_names):02d}_r{item.res}")
        self.decoder = nn.ModuleList(layers)
        self.out_head = same_conv(widths[items[-1].res], self.likelihood.n_params, 1)

    @property
    def code_dim(self) -> int:
        return self.cfg.z0_channels

    @property
    def top_block(self) -> TopDownBlock:
        """z0's layer: the first top-down block."""
        return cast(TopDownBlock, self.decoder[0])

    def _top_down(
        self,
        acts: dict[int, torch.Tensor] | None,
        mode: str,
        n: int,
        drop: torch.Tensor | None = None,
        temperature: float = 1.0,
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor | None]]:
        """Run the decoder; returns (likelihood params, KL per layer list, posterior means)."""
        h = self.stream_start.expand(n, -1, -1, -1)
        kls: list[torch.Tensor] = []
        means: list[torch.Tensor | None] = []
        for layer in self.decoder:
            if isinstance(layer, Resample):
                h = layer(h)
                continue
            block = cast(TopDownBlock, layer)
            act = acts[block.res] if acts is not None else None
            layer_drop = drop if means else None  # z0 (the first latent) is never dropped
            h, kl, q_mean = block(h, act, mode, layer_drop, temperature)
            kls.append(kl)
            means.append(q_mean)
        params: torch.Tensor = self.out_head(h)
        return params, kls, means

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Negative ELBO terms, batch means in nats per image.

        Returns loss (recon + kl), recon, kl, kl_per_layer (L,), bits_per_dim, aux_recon
        (0 without an auxiliary decoder) and kl_per_image (N, L) for custom objectives.
        """
        x = as_images(x)
        n = x.shape[0]
        acts = self.encoder(x)
        drop = None
        if self.training and self.cfg.latent_dropout > 0:
            drop = torch.rand(n, device=x.device) < self.cfg.latent_dropout
        params, kls, means = self._top_down(acts, "sample", n, drop)
        recon = self.likelihood.nll(params.float(), x)  # float32 even under bf16 autocast
        kl_per_image = torch.stack(kls, dim=1)
        loss = recon + kl_per_image.sum(1)
        aux = torch.zeros((), device=x.device)
        if self.aux is not None and means[0] is not None:
            aux = self._aux_nll(self.aux(means[0]).float(), x).mean()
        dims = x[0].numel()
        return {
            "loss": loss.mean(),
            "recon": recon.mean(),
            "kl": kl_per_image.sum(1).mean(),
            "kl_per_layer": kl_per_image.mean(0),
            "kl_per_image": kl_per_image,
            "bits_per_dim": loss.mean() / (dims * math.log(2.0)),
            "aux_recon": aux,
        }

    def _aux_nll(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-image loss of the auxiliary decoder from z0 alone."""
        if self.cfg.aux_likelihood == "same":
            return self.likelihood.nll(params, x)
        nll: torch.Tensor = ((params - x) ** 2).flatten(1).sum(1) / (2 * self.cfg.aux_sigma**2)
        return nll

    @torch.no_grad()
    def encode_z0(self, x: torch.Tensor) -> torch.Tensor:
        """The representation: z0's posterior mean, (N, z0_channels). Deterministic."""
        return self.z0_mean(x)

    def z0_mean(self, x: torch.Tensor) -> torch.Tensor:
        """`encode_z0` with gradients (what distillation trains: training/recipes/distil.py)."""
        x = as_images(x)
        acts = self.encoder(x)
        top = self.top_block
        h = self.stream_start.expand(x.shape[0], -1, -1, -1)
        mean, _ = top.posterior_params(h, acts[top.res])
        return mean.flatten(1)

    @torch.no_grad()
    def encode_layers(self, x: torch.Tensor, pool: int = 1) -> dict[str, torch.Tensor]:
        """Every layer's posterior mean, average-pooled to at most pool x pool and
        flattened: {layer name: (N, C * p * p)}. The top-down pass uses posterior means
        (not samples) so the features are deterministic.
        """
        x = as_images(x)
        _, _, means = self._top_down(self.encoder(x), "mean", x.shape[0])
        feats = {}
        for name, mean in zip(self.layer_names, means):
            assert mean is not None  # mode "mean" gives every layer's posterior mean
            side = min(pool, mean.shape[-1])
            feats[name] = F.adaptive_avg_pool2d(mean, side).flatten(1)
        return feats

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Expected image given the posterior means of every layer, (N, 1, H, W) in [0, 1]."""
        x = as_images(x)
        params, _, _ = self._top_down(self.encoder(x), "mean", x.shape[0])
        return self.likelihood.mean(params)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """Images from the prior (latent std scaled by `temperature`), shown as the
        likelihood's expected value (less pixel noise than a draw), (n, 1, H, W) in [0, 1]."""
        params, _, _ = self._top_down(None, "prior", n, temperature=temperature)
        return self.likelihood.mean(params)


def _check_layout(
    cfg: VDVAEConfig, enc_items: list[BlockSpec], dec_items: list[BlockSpec], widths: dict[int, int]
) -> None:
    """Encoder and decoder must meet at matching resolutions with known widths."""
    enc_res = {item.res for item in enc_items if item.kind == "block"}
    if enc_items[0].res != cfg.image_size:
        raise ValueError(f"encoder starts at {enc_items[0].res}, images are {cfg.image_size}")
    if dec_items[-1].res != cfg.image_size or dec_items[-1].kind != "block":
        raise ValueError(f"decoder must end with blocks at {cfg.image_size}")
    if dec_items[0].res != min(enc_res) or dec_items[0].kind != "block":
        raise ValueError(f"decoder must start with blocks at {min(enc_res)} (the lowest)")
    for item in dec_items:
        if item.kind == "block" and item.res not in enc_res:
            raise ValueError(f"decoder blocks at {item.res} have no encoder activation there")
    needed = {item.res for item in enc_items} | {item.res for item in dec_items}
    missing = sorted(needed - set(widths))
    if missing:
        raise ValueError(f"widths {cfg.widths!r} give no width for resolutions {missing}")


def build_vdvae(cfg: VDVAEConfig, seed: int | None = None) -> VDVAE:
    """A freshly initialised model; with `seed`, the initialisation is reproducible."""
    if seed is None:
        return VDVAE(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VDVAE(cfg)
