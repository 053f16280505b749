"""The z0 encoder: the representation (z0's posterior mean) with nothing else computed.

This is what `radiolatent embed` runs; `VDVAE.encode_z0` is the reference it matches.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from radiolatent.models.vdvae.layers import Resample, ResBlock, as_images
from radiolatent.models.vdvae.model import VDVAE


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

    head_in_w: torch.Tensor
    head_in_const: torch.Tensor
    head_out_w: torch.Tensor
    head_out_b: torch.Tensor

    def __init__(self, model: VDVAE):
        super().__init__()
        encoder, top = model.encoder, model.top_block
        last = max(i for i, res in enumerate(encoder.layer_res) if res == top.res)
        self.stem = encoder.stem
        self.layers = nn.ModuleList(encoder.layers[: last + 1])
        #: (layer, the pooling that follows it when the two run fused, else None)
        self.steps = _fuse_pooling([cast(ResBlock | Resample, layer) for layer in self.layers])
        head = top.posterior.conv_layers
        width = model.stream_start.shape[1]
        with torch.no_grad():
            first_w, first_b = head[0].weight.detach(), _bias(head[0])
            stream = F.gelu(model.stream_start.detach())
            self.register_buffer("head_in_w", first_w[:, width:].clone())
            self.register_buffer("head_in_const", F.conv2d(stream, first_w[:, :width], first_b))
            self.register_buffer("head_out_w", head[3].weight.detach()[: top.z_channels].clone())
            self.register_buffer("head_out_b", _bias(head[3])[: top.z_channels].clone())
        self.head_mid = nn.ModuleList([head[1], head[2]])

    @torch.inference_mode()
    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) or (N, H, W) images in [0, 1] -> (N, code length)."""
        h = self.stem(as_images(x01) * 2.0 - 1.0)
        for layer, pool in self.steps:
            if pool is not None:
                h = self._block_then_pool(cast(ResBlock, layer), pool, h)
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
        convs = block.conv_layers
        u = convs[0](F.gelu(x))
        for conv in convs[1:]:
            u = conv(_gelu_(u))
        return x.add_(u) if block.residual else u

    @staticmethod
    def _block_then_pool(block: ResBlock, pool: Resample, x: torch.Tensor) -> torch.Tensor:
        """pool.forward(block.forward(x)), pooling before the block's last 1x1 convolution;
        overwrites x."""
        convs = block.conv_layers
        pooled = F.avg_pool2d(x, pool.factor)
        u = x
        for conv in convs[:-1]:
            u = conv(_gelu_(u))
        pooled.add_(convs[-1](F.avg_pool2d(_gelu_(u), pool.factor)))
        out: torch.Tensor = pool.proj(pooled)
        return out


def _fuse_pooling(layers: list[ResBlock | Resample]) -> list[tuple[ResBlock | Resample, Resample | None]]:
    """Pair each residual block that is followed by average pooling (and ends in a 1x1
    convolution, so pooling commutes with it) with that pooling; other layers run alone."""
    steps: list[tuple[ResBlock | Resample, Resample | None]] = []
    i = 0
    while i < len(layers):
        layer, after = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        if (
            isinstance(layer, ResBlock)
            and layer.residual
            and layer.conv_layers[-1].kernel_size == (1, 1)
            and isinstance(after, Resample)
            and after.mode == "down"
        ):
            steps.append((layer, after))
            i += 2
        else:
            steps.append((layer, None))
            i += 1
    return steps


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    if conv.bias is None:
        raise ValueError("the z0 head's convolutions have biases")
    return conv.bias.detach()


def _gelu_(x: torch.Tensor) -> torch.Tensor:
    """GELU in place: on CPU a fresh full-resolution tensor per activation costs more than
    the GELU itself (page faults on large allocations), and these intermediates are not
    needed afterwards."""
    out: torch.Tensor = torch.ops.aten.gelu_(x)
    return out


def z0_encoder(model: VDVAE) -> Z0Encoder:
    """`model.encode_z0` as a separate inference-only module that computes only what z0's
    posterior mean needs (embedding's fast path; the same codes to ~1e-6)."""
    return Z0Encoder(model).eval()
