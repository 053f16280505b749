"""A Very Deep VAE (after Child 2020) for 64x64 single-channel radio images.

The architecture is data (`config.VDVAEConfig`): block strings say how many blocks run
at each resolution, and a width string gives the channels per resolution, so the paper's
six stages and the small CPU variants are configurations of one model.

- Encoder (`encoder_blocks`, image resolution downwards): "64x3" = 3 residual blocks at
  64x64; "64d2" = average-pool 64 -> 32. The output of the last block at each resolution
  is kept for the decoder.
- Decoder (`decoder_blocks`, lowest resolution upwards): "1x5" = 5 top-down blocks at
  1x1; "4m1" = nearest-neighbour upsampling 1 -> 4. Each top-down block is one latent
  layer. The decoder string runs from the lowest resolution because that is the order in
  which the top-down pass executes (as in Child's VDVAE), and it is how we read the
  paper's decoder counts {5,5,4,3,2,1}: 5 blocks at 1x1 ... 1 at 64x64. Blocks at low
  resolution cost little, so this order also trains ~4x faster on CPU than the reverse
  (measurements.md).
- Residual block: 4 convolutions (1x1 bottleneck, 3x3, 3x3, 1x1), each after a GELU.
- Top-down block: a prior block on the decoder stream gives p(z | z_above) plus a
  feature added to the stream; a posterior block on [stream, encoder activation] gives
  q(z | x, z_above); z (a posterior sample when encoding, a prior sample when
  generating) is projected by a 1x1 convolution into the stream; an output residual
  block follows. KL(q || p) is analytic (diagonal Gaussians) per layer.
- z0 is the first decoder layer (1x1, `z0_channels`); its posterior mean is the
  representation. Its prior and posterior heads are `top_head_width` wide (>= the code
  length), so the code is not rank-limited by a W/4 bottleneck (measurements.md).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from radiolatent.config import VDVAEConfig, get_vdvae_config
from radiolatent.models.likelihood import make_likelihood

#: `get_config(name)`: the named VDVAE setup ("tiny", "cpu", "paper").
get_config = get_vdvae_config

_TOKEN = re.compile(r"^(\d+)([xdm])(\d+)$")


@dataclass(frozen=True)
class BlockSpec:
    """One token of a block string.

    kind "block": `count` blocks at `res`; "down": average-pool `res` -> res // factor;
    "up": upsample from `source` to `res`.
    """

    kind: str
    res: int
    count: int = 1
    source: int = 0


def parse_blocks(spec: str, direction: str) -> list[BlockSpec]:
    """Parse an encoder ("down") or decoder ("up") block string into `BlockSpec`s.

    Checks that each token's resolution follows from the previous tokens, so a typo
    fails here instead of as a shape error deep in a forward pass.
    """
    if direction not in ("down", "up"):
        raise ValueError(f"direction must be 'down' or 'up', got {direction!r}")
    items: list[BlockSpec] = []
    res = None
    for token in spec.replace(" ", "").split(","):
        match = _TOKEN.match(token)
        if not match:
            raise ValueError(f"bad block token {token!r} in {spec!r} (want e.g. 64x2, 64d2, 8m4)")
        left, op, right = int(match[1]), match[2], int(match[3])
        if op == "x":
            if res is not None and left != res:
                raise ValueError(f"{token!r}: blocks at {left} but the stream is at {res}")
            if right < 1:
                raise ValueError(f"{token!r}: need at least one block")
            items.append(BlockSpec("block", left, count=right))
            res = left
        elif op == "d":
            if direction != "down" or (res is not None and left != res):
                raise ValueError(f"{token!r}: pooling token out of place in {spec!r}")
            if right < 2 or left % right:
                raise ValueError(f"{token!r}: {left} is not divisible by factor {right}")
            items.append(BlockSpec("down", left, count=right))
            res = left // right
        else:
            if direction != "up" or res is None or right != res or left <= right or left % right:
                raise ValueError(f"{token!r}: upsampling token out of place in {spec!r}")
            items.append(BlockSpec("up", left, source=right))
            res = left
    if not any(item.kind == "block" for item in items):
        raise ValueError(f"{spec!r} has no blocks")
    return items


def parse_widths(spec: str) -> dict[int, int]:
    """Parse "64:32,32:64,..." into {resolution: channels}."""
    widths = {}
    for token in spec.replace(" ", "").split(","):
        parts = token.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"bad width token {token!r} in {spec!r} (want e.g. 64:32)")
        widths[int(parts[0])] = int(parts[1])
    return widths


def stage_counts(items: list[BlockSpec]) -> dict[int, int]:
    """Blocks per resolution, e.g. {64: 3, 32: 3, ...} for the paper's encoder."""
    counts: dict[int, int] = {}
    for item in items:
        if item.kind == "block":
            counts[item.res] = counts.get(item.res, 0) + item.count
    return counts


def gaussian_kl(mean_q, logstd_q, mean_p, logstd_p) -> torch.Tensor:
    """Elementwise KL(N(mean_q, std_q^2) || N(mean_p, std_p^2))."""
    var_ratio = torch.exp(2.0 * (logstd_q - logstd_p))
    mean_term = (mean_q - mean_p) ** 2 * torch.exp(-2.0 * logstd_p)
    return 0.5 * (var_ratio + mean_term - 1.0) - (logstd_q - logstd_p)


def _conv(in_w: int, out_w: int, kernel: int, he: bool = False) -> nn.Conv2d:
    """A same-padded convolution; `he` draws its weights for unit gain through GELU/ReLU
    (He et al. 2015) instead of PyTorch's default, which shrinks the signal ~3x a layer."""
    conv = nn.Conv2d(in_w, out_w, kernel, padding=kernel // 2)
    if he:
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    return conv


class ResBlock(nn.Module):
    """GELU -> 1x1 -> GELU -> 3x3 -> GELU -> 3x3 -> GELU -> 1x1, optionally residual."""

    def __init__(self, in_w: int, mid_w: int, out_w: int, use_3x3: bool,
                 residual: bool, last_scale: float = 1.0, he: bool = False):
        super().__init__()
        kernel = 3 if use_3x3 else 1
        self.convs = nn.ModuleList([
            _conv(in_w, mid_w, 1, he), _conv(mid_w, mid_w, kernel, he),
            _conv(mid_w, mid_w, kernel, he), _conv(mid_w, out_w, 1, he),
        ])
        self.residual = residual
        # Deep residual stacks stay stable at init when each branch starts small.
        with torch.no_grad():
            self.convs[-1].weight.mul_(last_scale)

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
        self.proj = _conv(in_w, out_w, 1, he) if in_w != out_w else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "down":
            x = F.avg_pool2d(x, self.factor)
        else:
            x = F.interpolate(x, scale_factor=self.factor, mode="nearest")
        return self.proj(x)


class Encoder(nn.Module):
    """Bottom-up residual stages; returns {resolution: last activation there}."""

    def __init__(self, cfg: VDVAEConfig, items: list[BlockSpec], widths: dict[int, int]):
        super().__init__()
        first = items[0].res
        he = cfg.bottom_up_init == "he"
        self.stem = _conv(1, widths[first], 3, he)
        n_blocks = sum(item.count for item in items if item.kind == "block")
        layers, self.layer_res = [], []
        for item in items:
            if item.kind == "block":
                w = widths[item.res]
                for _ in range(item.count):
                    layers.append(ResBlock(w, _mid(cfg, w), w, item.res > cfg.max_res_1x1,
                                           residual=True, last_scale=math.sqrt(1 / n_blocks), he=he))
                    self.layer_res.append(item.res)
            else:
                low = item.res // item.count
                layers.append(Resample("down", item.count, widths[item.res], widths[low], he))
                self.layer_res.append(low)
        self.layers = nn.ModuleList(layers)

    def forward(self, x01: torch.Tensor) -> dict[int, torch.Tensor]:
        h = self.stem(x01 * 2.0 - 1.0)
        acts = {}
        for layer, res in zip(self.layers, self.layer_res):
            h = layer(h)
            acts[res] = h
        return acts


def _mid(cfg: VDVAEConfig, width: int) -> int:
    return max(1, int(round(width * cfg.bottleneck)))


class TopDownBlock(nn.Module):
    """One latent layer: prior, posterior, latent projection, output residual block."""

    def __init__(self, cfg: VDVAEConfig, res: int, width: int, z_channels: int,
                 head_width: int, n_blocks: int):
        super().__init__()
        use_3x3 = res > cfg.max_res_1x1
        self.res, self.width, self.z_channels = res, width, z_channels
        self.logstd_limit = cfg.logstd_limit
        self.posterior = ResBlock(2 * width, head_width, 2 * z_channels, use_3x3, residual=False,
                                  he=cfg.bottom_up_init == "he")
        # A zero last layer starts every prior at N(0, 1) with no stream feature, so the
        # first steps' KL is not dominated by a random prior.
        self.prior = ResBlock(width, head_width, 2 * z_channels + width, use_3x3,
                              residual=False, last_scale=0.0)
        self.z_proj = _conv(z_channels, width, 1)
        self.out = ResBlock(width, _mid(cfg, width), width, use_3x3, residual=True,
                            last_scale=math.sqrt(1 / n_blocks))
        with torch.no_grad():
            self.z_proj.weight.mul_(math.sqrt(1 / n_blocks))

    def _soft(self, logstd: torch.Tensor) -> torch.Tensor:
        return self.logstd_limit * torch.tanh(logstd / self.logstd_limit)

    def prior_params(self, h: torch.Tensor):
        """Prior mean, log-std and the feature the prior adds to the stream."""
        out = self.prior(h)
        zc = self.z_channels
        return out[:, :zc], self._soft(out[:, zc:2 * zc]), out[:, 2 * zc:]

    def posterior_params(self, h: torch.Tensor, act: torch.Tensor):
        out = self.posterior(torch.cat([h, act], dim=1))
        return out[:, :self.z_channels], self._soft(out[:, self.z_channels:])

    def forward(self, h, act, mode: str, drop=None, temperature: float = 1.0):
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
            q_mean, q_logstd = self.posterior_params(h, act)
            if mode == "mean":
                z = q_mean
            else:
                z = q_mean + torch.exp(q_logstd) * torch.randn_like(q_mean)
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
        convs, w = [], width
        for i in range(n_up):
            out_w = max(8, width // 2) if i >= n_up - 2 else width
            convs.append(_conv(w, out_w, 3))
            w = out_w
        self.convs = nn.ModuleList(convs)
        self.head = _conv(w, n_params, 1)

    def forward(self, z0: torch.Tensor) -> torch.Tensor:
        h = self.fc(z0.flatten(1)).view(-1, self.width, self.start, self.start)
        for conv in self.convs:
            h = F.gelu(conv(F.interpolate(h, scale_factor=2, mode="nearest")))
        return self.head(h)


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
        self.aux = None
        if cfg.aux_likelihood not in ("same", "mse"):
            raise ValueError(f"aux_likelihood must be 'same' or 'mse', got {cfg.aux_likelihood!r}")
        if cfg.aux_weight > 0:
            top_res = dec_items[0].res
            n_params = self.likelihood.n_params if cfg.aux_likelihood == "same" else 1
            self.aux = AuxDecoder(cfg.z0_channels * top_res * top_res, cfg.aux_width, cfg.image_size, n_params)

    def _build_decoder(self, cfg, items, widths):
        n_blocks = sum(item.count for item in items if item.kind == "block")
        top_res = items[0].res
        self.stream_start = nn.Parameter(torch.zeros(1, widths[top_res], top_res, top_res))
        layers, self.layer_names = [], []
        for item in items:
            if item.kind == "up":
                layers.append(Resample("up", item.res // item.source,
                                       widths[item.source], widths[item.res]))
                continue
            for _ in range(item.count):
                top = not self.layer_names
                zc = cfg.z0_channels if top else cfg.z_channels
                head = cfg.top_head_width if top else _mid(cfg, widths[item.res])
                layers.append(TopDownBlock(cfg, item.res, widths[item.res], zc, head, n_blocks))
                self.layer_names.append(f"z{len(self.layer_names):02d}_r{item.res}")
        self.decoder = nn.ModuleList(layers)
        self.out_head = _conv(widths[items[-1].res], self.likelihood.n_params, 1)

    @property
    def code_dim(self) -> int:
        return self.cfg.z0_channels

    def _top_down(self, acts, mode: str, n: int, drop=None, temperature: float = 1.0):
        """Run the decoder; returns (likelihood params, KL per layer list, posterior means)."""
        h = self.stream_start.expand(n, -1, -1, -1)
        kls, means, index = [], [], 0
        for layer in self.decoder:
            if isinstance(layer, Resample):
                h = layer(h)
                continue
            act = acts[layer.res] if acts is not None else None
            layer_drop = drop if index > 0 else None
            h, kl, q_mean = layer(h, act, mode, layer_drop, temperature)
            kls.append(kl)
            means.append(q_mean)
            index += 1
        return self.out_head(h), kls, means

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Negative ELBO terms, batch means in nats per image.

        Returns loss (recon + kl), recon, kl, kl_per_layer (L,), bits_per_dim, aux_recon
        (0 without an auxiliary decoder) and kl_per_image (N, L) for custom objectives.
        """
        x = _as_images(x)
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
        if self.aux is not None:
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
        return ((params - x) ** 2).flatten(1).sum(1) / (2 * self.cfg.aux_sigma**2)

    @torch.no_grad()
    def encode_z0(self, x: torch.Tensor) -> torch.Tensor:
        """The representation: z0's posterior mean, (N, z0_channels). Deterministic."""
        x = _as_images(x)
        acts = self.encoder(x)
        top = self.decoder[0]
        h = self.stream_start.expand(x.shape[0], -1, -1, -1)
        mean, _ = top.posterior_params(h, acts[top.res])
        return mean.flatten(1)

    def z0_encoder(self) -> Z0Encoder:
        """`encode_z0` as a separate inference-only module that computes only what z0's
        posterior mean needs (embedding's fast path; same codes to ~1e-6)."""
        return Z0Encoder(self).eval()

    @torch.no_grad()
    def encode_layers(self, x: torch.Tensor, pool: int = 1) -> dict[str, torch.Tensor]:
        """Every layer's posterior mean, average-pooled to at most pool x pool and
        flattened: {layer name: (N, C * p * p)}. The top-down pass uses posterior means
        (not samples) so the features are deterministic.
        """
        x = _as_images(x)
        _, _, means = self._top_down(self.encoder(x), "mean", x.shape[0])
        feats = {}
        for name, mean in zip(self.layer_names, means):
            side = min(pool, mean.shape[-1])
            feats[name] = F.adaptive_avg_pool2d(mean, side).flatten(1)
        return feats

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Expected image given the posterior means of every layer, (N, 1, H, W) in [0, 1]."""
        x = _as_images(x)
        params, _, _ = self._top_down(self.encoder(x), "mean", x.shape[0])
        return self.likelihood.mean(params)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """Images from the prior (latent std scaled by `temperature`), shown as the
        likelihood's expected value (less pixel noise than a draw), (n, 1, H, W) in [0, 1]."""
        params, _, _ = self._top_down(None, "prior", n, temperature=temperature)
        return self.likelihood.mean(params)


class Z0Encoder(nn.Module):
    """Inference only: z0's posterior mean with nothing else computed (embedding's fast path).

    The same numbers as `VDVAE.encode_z0` to float rounding (~1e-6), for less work:
    - a residual block whose output is only average-pooled next is pooled before its
      last (1x1) convolution: pool(x + conv(u)) = pool(x) + conv(pool(u)), so the
      full-resolution residual sum and the widening 1x1 convolution never run at the
      higher resolution (at 64x64 they were ~25 % of the encoder's time on CPU);
    - the posterior head reads [stream_start, activation]: the stream half is the same
      for every image, so its share of the head's first 1x1 convolution is computed once;
    - only the mean half of the head's last convolution is computed (no log-std);
    - encoder layers below z0's resolution, if any, are skipped.
    It holds a snapshot of the derived head weights: build it from a trained model
    (`VDVAE.z0_encoder()`), not before training.
    """

    def __init__(self, model: VDVAE):
        super().__init__()
        encoder, top = model.encoder, model.decoder[0]
        last = max(i for i, res in enumerate(encoder.layer_res) if res == top.res)
        self.stem = encoder.stem
        self.layers = nn.ModuleList(encoder.layers[: last + 1])
        #: indices of residual blocks followed by average pooling (they run fused)
        self.pooled_blocks = {
            i for i, layer in enumerate(self.layers[:-1])
            if isinstance(layer, ResBlock) and layer.residual and layer.convs[-1].kernel_size == (1, 1)
            and isinstance(self.layers[i + 1], Resample) and self.layers[i + 1].mode == "down"
        }
        head = top.posterior.convs
        width = model.stream_start.shape[1]
        with torch.no_grad():
            first_w, first_b = head[0].weight.detach(), head[0].bias.detach()
            stream = F.gelu(model.stream_start.detach())
            self.register_buffer("head_in_w", first_w[:, width:].clone())
            self.register_buffer("head_in_const", F.conv2d(stream, first_w[:, :width], first_b))
            self.register_buffer("head_out_w", head[3].weight.detach()[: top.z_channels].clone())
            self.register_buffer("head_out_b", head[3].bias.detach()[: top.z_channels].clone())
        self.head_mid = nn.ModuleList([head[1], head[2]])

    @torch.inference_mode()
    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) or (N, H, W) images in [0, 1] -> (N, code length)."""
        h = self.stem(_as_images(x01) * 2.0 - 1.0)
        skip = False
        for i, layer in enumerate(self.layers):
            if skip:  # the pooling already ran inside the block before it
                skip = False
            elif i in self.pooled_blocks:
                h, skip = self._block_then_pool(layer, self.layers[i + 1], h), True
            elif isinstance(layer, ResBlock):
                h = self._block(layer, h)
            else:
                h = layer(h)
        t = F.conv2d(_gelu_(h), self.head_in_w).add_(self.head_in_const)
        for conv in self.head_mid:
            t = conv(_gelu_(t))
        return F.conv2d(_gelu_(t), self.head_out_w, self.head_out_b).flatten(1)

    @staticmethod
    def _block(block: ResBlock, x: torch.Tensor) -> torch.Tensor:
        """block.forward(x), overwriting x and its own intermediates (see `_gelu_`)."""
        u = block.convs[0](F.gelu(x))
        for conv in block.convs[1:]:
            u = conv(_gelu_(u))
        return x.add_(u) if block.residual else u

    @staticmethod
    def _block_then_pool(block: ResBlock, pool: Resample, x: torch.Tensor) -> torch.Tensor:
        """pool.forward(block.forward(x)), pooling before the block's last 1x1 convolution;
        overwrites x."""
        pooled = F.avg_pool2d(x, pool.factor)
        u = x
        for conv in block.convs[:-1]:
            u = conv(_gelu_(u))
        pooled.add_(block.convs[-1](F.avg_pool2d(_gelu_(u), pool.factor)))
        return pool.proj(pooled)


def _gelu_(x: torch.Tensor) -> torch.Tensor:
    """GELU in place: on CPU a fresh full-resolution tensor per activation costs more than
    the GELU itself (page faults on large allocations; 4-5x slower measured at 64 images
    of 32x64x64), and these intermediates are not needed afterwards."""
    return torch.ops.aten.gelu_(x)


def _as_images(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected images (N, 1, H, W) or (N, H, W), got {tuple(x.shape)}")
    return x


def _check_layout(cfg, enc_items, dec_items, widths) -> None:
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
