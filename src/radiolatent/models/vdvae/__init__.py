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
  (docs/vdvae.md).
- Residual block: 4 convolutions (1x1 bottleneck, 3x3, 3x3, 1x1), each after a GELU.
- Top-down block: a prior block on the decoder stream gives p(z | z_above) plus a
  feature added to the stream; a posterior block on [stream, encoder activation] gives
  q(z | x, z_above); z (a posterior sample when encoding, a prior sample when
  generating) is projected by a 1x1 convolution into the stream; an output residual
  block follows. KL(q || p) is analytic (diagonal Gaussians) per layer.
- z0 is the first decoder layer, at the decoder string's lowest resolution with
  `z0_channels` channels (the paper's 1x1; the shipped `cpu` model's 4x4x16 = 256
  numbers); its posterior mean is the representation. Its prior and posterior heads
  are `top_head_width` wide (>= the code length), so the code is not rank-limited by a
  W/4 bottleneck (docs/vdvae.md).
"""

from radiolatent.models.vdvae.blocks import BlockSpec, parse_blocks, parse_widths, stage_counts
from radiolatent.models.vdvae.layers import (
    AuxDecoder,
    Encoder,
    Resample,
    ResBlock,
    TopDownBlock,
    gaussian_kl,
)
from radiolatent.models.vdvae.model import VDVAE, build_vdvae
from radiolatent.models.vdvae.z0 import Z0Encoder, z0_encoder

__all__ = [
    "VDVAE",
    "AuxDecoder",
    "BlockSpec",
    "Encoder",
    "ResBlock",
    "Resample",
    "TopDownBlock",
    "Z0Encoder",
    "build_vdvae",
    "gaussian_kl",
    "parse_blocks",
    "parse_widths",
    "stage_counts",
    "z0_encoder",
]
