"""Settings of the encoders: embedding, the VDVAE and the SSL baselines' models and views."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from radiolatent.config.core import CHECKS, MAX_IMAGE_SIZE, MAX_VDVAE_WIDTH, Settings, _Problems

Likelihood = Literal["dmol", "gaussian"]
LIKELIHOODS: tuple[Likelihood, ...] = get_args(Likelihood)
#: "cpu", "cuda" or "auto" (CUDA when present).
EmbedDevice = Literal["cpu", "cuda", "auto"]
EmbedPrecision = Literal["auto", "bf16", "fp32"]
SSLMethod = Literal["simclr", "byol", "simsiam"]
SSLBackbone = Literal["resnet10", "resnet18", "resnet34"]


# ---------------------------------------------------------------------------
# Embedding: codes from any encoder, and the no-learning floors
# ---------------------------------------------------------------------------


#: model ids of codes averaged over the 8 orientations carry this suffix (here, not in
#: embedding/, so the report can read ids without importing torch).
DIHEDRAL_SUFFIX = "+d8"


@dataclass(frozen=True)
class EmbedConfig(Settings):
    #: images per forward pass (32-64 beat 256 on 2 CPU cores: docs/defaults.md#embedding-configmodelspy-embedconfig).
    batch_size: int = 64
    #: torch's CPU threads while embedding; also how many VDVAE or SSL batches run at once on the
    #: CPU, each on one OpenMP thread (embedding.views.one_thread_per_batch; 1: one batch at
    #: a time on torch's threads).
    threads: int = 2
    #: "cpu", "cuda" (this process's GPU) or "auto" (CUDA when present); `embed --device`
    #: sets it. Codes on a GPU agree with the CPU's closely, not bit for bit.
    device: EmbedDevice = "cpu"
    #: pixels-pca floor: components kept (the paper's code length).
    pca_components: int = 256
    #: random-conv floor: an untrained encoder of stride-2 stages.
    random_conv_seed: int = 0
    random_conv_channels: tuple[int, ...] = (32, 64, 128, 256)
    #: average every encoder's codes over the 8 flips and quarter turns of each image:
    #: radio sources have no preferred orientation, so their codes should not either.
    #: Floors and models get the same treatment; False gives the paper's single pass.
    dihedral_average: bool = True
    #: the learned encoders' arithmetic on the CPU: "fp32" (the default: bf16 moved some of
    #: the study's Table 2 cells beyond noise: docs/defaults.md), "bf16" (bfloat16
    #: autocast: oneDNN's AMX and AVX512-BF16 kernels), or "auto": bf16 where the CPU
    #: computes it natively and the encoder's codes stay within ~1 % of fp32's (the SSL
    #: backbones; the VDVAE's z0 moves more and stays fp32). Floors and GPUs stay fp32.
    precision: EmbedPrecision = "fp32"
    #: `embed` also computes the explorer's map of a table of at least this many rows as it
    #: writes it (cached beside it, where `explore` reads it), so the explorer's first start
    #: does not wait for UMAP (docs/explore.md); 0: never.
    explorer_map_rows: int = 20_000


# ---------------------------------------------------------------------------
# Models: VDVAE (models/vdvae/, models/likelihood.py)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VDVAEConfig(Settings):
    """Architecture and likelihood of the Very Deep VAE, as readable strings.

    `encoder_blocks` runs from the image resolution down: "RxN" is N residual blocks
    at resolution R, "RdK" average-pools by K. `decoder_blocks` runs from the lowest
    resolution up: "RxN" is N top-down blocks (each one latent layer) at R, "RmS"
    upsamples (nearest neighbour) from S to R. `widths` gives the channel width per
    resolution ("R:W,..."), shared by encoder and decoder so activations can be
    concatenated. The first decoder block is z0, the representation.

    The bare defaults are the `cpu` preset's (the shipped checkpoint's): z0 is the 4x4
    layer with 16 channels (256 numbers), read by an auxiliary MSE decoder.
    """

    image_size: int = 64
    encoder_blocks: str = "64x1,64d2,32x1,32d2,16x1,16d2,8x1,8d2,4x1"
    decoder_blocks: str = "4x1,8m4,8x1,16m8,16x1,32m16,32x1,64m32,64x1"
    widths: str = "64:32,32:32,16:64,8:64,4:128"
    #: hidden width of residual blocks as a fraction of the stream width.
    bottleneck: float = 0.25
    #: latent channels of every layer except z0.
    z_channels: int = 16
    #: latent channels of z0 (the first decoder block); the code length is this times
    #: z0's resolution squared (4x4x16 = 256 here, 1x1x256 in the paper's layout).
    z0_channels: int = 16
    #: hidden width of z0's posterior and prior heads; must be >= z0_channels so the
    #: posterior mean is not rank-limited by a narrow bottleneck.
    top_head_width: int = 128
    #: resolutions at or below this use 1x1 instead of 3x3 middle convolutions
    #: (a 3x3 kernel on a 1x1 or 2x2 map is mostly padding).
    max_res_1x1: int = 2
    #: "dmol" (discretised mixture of logistics) or "gaussian" (discretised Gaussian).
    likelihood: Likelihood = "dmol"
    n_mixtures: int = 5
    #: log-scale floor of the likelihood's components (stops the density collapsing).
    min_log_scale: float = -7.0
    #: latent log-std values are soft-clamped to +-this (tanh), for numerical safety.
    logstd_limit: float = 5.0
    #: weight of an auxiliary decoder reconstructing the image from z0's mean alone
    #: (pushes information into z0); 0 builds no auxiliary decoder.
    aux_weight: float = 1.0
    aux_width: int = 32
    #: the auxiliary decoder's loss: "same" (the main likelihood) or "mse" (squared
    #: error / 2 aux_sigma^2 on [0, 1] pixels). A learned-scale likelihood lets the
    #: auxiliary decoder settle for each pixel's marginal and leave z0 empty; a fixed
    #: scale makes z0's posterior mean an autoencoder bottleneck that must hold the source.
    aux_likelihood: Literal["same", "mse"] = "mse"
    aux_sigma: float = 0.1
    #: probability, per training image, that every layer below z0 is sampled from the
    #: prior instead of the posterior (its KL then counts as 0), so the decoder must
    #: rely on z0 ("latent dropout"); 0 = off. Inactive in eval mode.
    latent_dropout: float = 0.0
    #: initialisation of the bottom-up path (encoder and posterior heads): "he" (unit
    #: gain through GELU) or "default" (PyTorch's): with the default, z0 of sparse radio
    #: images wakes up late (docs/defaults.md#vdvae-configmodelspy-configtrainingpy). The
    #: generative path keeps the default so first outputs stay near the mean image.
    bottom_up_init: Literal["he", "default"] = "he"


# ---------------------------------------------------------------------------
# Models: the SSL baselines (models/ssl.py, data/ssl_views.py, training/recipes/ssl.py): SimCLR, BYOL, SimSiam
# ---------------------------------------------------------------------------

SSL_METHODS: tuple[SSLMethod, ...] = get_args(SSLMethod)
#: torchvision ResNets with BasicBlocks; "resnet10" ([1, 1, 1, 1] blocks) is for tests.
SSL_BACKBONES: dict[SSLBackbone, tuple[int, int, int, int]] = {
    "resnet10": (1, 1, 1, 1),
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
}


@dataclass(frozen=True)
class SSLModelConfig(Settings):
    """Backbone and heads of one SSL method. The representation is the backbone's
    global-average-pooled output: 512-d for every backbone here.

    The stem reads one channel. torchvision's 7x7 stride-2 convolution + max-pool would
    leave a 16x16 map of a 64x64 image before the first block; a 3x3 stride-1 stem and no
    max-pool keeps all 64x64 (`paper`), stride 2 keeps 32x32 at a quarter of the cost (`cpu`).
    """

    method: SSLMethod = "byol"
    backbone: SSLBackbone = "resnet18"
    image_size: int = 64
    stem_kernel: int = 3
    stem_stride: int = 1
    stem_max_pool: bool = False
    #: projection head: one hidden layer (lightly heads), then `projection_dim`.
    projection_hidden: int = 512
    projection_dim: int = 128
    #: prediction head (BYOL, SimSiam): one hidden layer.
    prediction_hidden: int = 512
    #: NT-Xent temperature (SimCLR).
    temperature: float = 0.5
    #: BYOL target network momentum, cosine from start to end over the run.
    momentum_start: float = 0.99
    momentum_end: float = 1.0


@dataclass(frozen=True)
class SSLViewConfig(Settings):
    """Views for sparse radio images (data/ssl_views.py): keep the source, blur weakly ([B])."""

    #: horizontal and vertical flips, each with this probability.
    flip_p: float = 0.5
    #: rotation by a uniform angle in [0, 360) degrees with this probability.
    rotate_p: float = 1.0
    #: crop area fraction, resized back to the image size ([B]: crops must not cut off jets).
    crop_scale: tuple[float, float] = (0.8, 1.0)
    crop_ratio: tuple[float, float] = (0.75, 4.0 / 3.0)
    #: Gaussian blur: [B] found it must be weak for sparse images (3 px kernel, p 0.05).
    blur_p: float = 0.05
    blur_kernel: int = 3
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    #: brightness (x [1-b, 1+b]) and contrast jitter, applied together with probability jitter_p.
    jitter_p: float = 0.8
    brightness: float = 0.3
    contrast: float = 0.3
    #: shrink a view by a linear factor drawn log-uniformly in zoom_out, with this
    #: probability, after smoothing it by a beam of zoom_out_beam pixels (sigma, in the
    #: shrunk view): a coarser survey, e.g. NVSS (15"/px, 45" beam) beside FIRST (1.8"/px).
    zoom_out_p: float = 0.0
    zoom_out: tuple[float, float] = (2.0, 8.0)
    zoom_out_beam: float = 1.2


def _vdvae_problems(m: VDVAEConfig) -> list[str]:
    p = _Problems()
    p.finite(m)
    p.need(1 <= m.image_size <= MAX_IMAGE_SIZE, "image_size", f"must be 1..{MAX_IMAGE_SIZE}", m.image_size)
    for name in ("encoder_blocks", "decoder_blocks"):
        value = getattr(m, name)
        p.need(
            isinstance(value, str) and re.fullmatch(r"\d+[xdm]\d+(,\d+[xdm]\d+)*", value.replace(" ", "")) is not None,
            name,
            "must be tokens like 64x2,64d2 (encoder) or 4m1,4x2 (decoder)",
            value,
        )
    widths = re.fullmatch(r"\d+:\d+(,\d+:\d+)*", str(m.widths).replace(" ", ""))
    p.need(widths is not None, "widths", "must be R:W pairs like 64:32,32:64", m.widths)
    if widths is not None:
        channels = [int(t.split(":")[1]) for t in m.widths.replace(" ", "").split(",")]
        p.need(
            all(1 <= c <= MAX_VDVAE_WIDTH for c in channels),
            "widths",
            f"must give 1..{MAX_VDVAE_WIDTH} channels per resolution",
            m.widths,
        )
    p.need(0 < m.bottleneck <= 4, "bottleneck", "must lie in (0, 4]", m.bottleneck)
    for name in ("z_channels", "z0_channels", "top_head_width", "n_mixtures", "aux_width"):
        value = getattr(m, name)
        p.need(1 <= value <= MAX_VDVAE_WIDTH, name, f"must be 1..{MAX_VDVAE_WIDTH}", value)
    p.need(m.top_head_width >= m.z0_channels, "top_head_width", "must be >= z0_channels")
    p.need(m.max_res_1x1 >= 0, "max_res_1x1", "must be >= 0", m.max_res_1x1)
    p.need(m.logstd_limit > 0, "logstd_limit", "must be > 0", m.logstd_limit)
    p.need(m.aux_weight >= 0, "aux_weight", "must be >= 0", m.aux_weight)
    p.need(m.aux_sigma > 0, "aux_sigma", "must be > 0", m.aux_sigma)
    p.need(0 <= m.latent_dropout <= 1, "latent_dropout", "must lie in [0, 1]", m.latent_dropout)
    return p


def _ssl_model_problems(m: SSLModelConfig) -> list[str]:
    p = _Problems()
    p.finite(m)
    p.need(1 <= m.image_size <= MAX_IMAGE_SIZE, "image_size", f"must be 1..{MAX_IMAGE_SIZE}", m.image_size)
    p.need(
        m.stem_stride in (1, 2) and m.stem_kernel >= 1 and m.stem_kernel % 2 == 1,
        "stem_stride and stem_kernel",
        "must be 1 or 2, and odd",
    )
    for name in ("projection_hidden", "projection_dim", "prediction_hidden"):
        p.need(1 <= getattr(m, name) <= MAX_VDVAE_WIDTH, name, f"must be 1..{MAX_VDVAE_WIDTH}", getattr(m, name))
    p.need(m.temperature > 0, "temperature", "must be > 0", m.temperature)
    p.need(
        0 <= m.momentum_start <= m.momentum_end <= 1,
        "momentum_start and momentum_end",
        "need 0 <= momentum_start <= momentum_end <= 1",
    )
    return p


def _ssl_view_problems(a: SSLViewConfig) -> list[str]:
    p = _Problems()
    p.finite(a)
    p.need(
        len(a.crop_scale) == 2 and 0 < a.crop_scale[0] <= a.crop_scale[1] <= 1,
        "crop_scale",
        "needs 0 < crop_scale[0] <= crop_scale[1] <= 1",
        a.crop_scale,
    )
    p.need(
        len(a.crop_ratio) == 2 and 0 < a.crop_ratio[0] <= a.crop_ratio[1],
        "crop_ratio",
        "must be a positive range",
        a.crop_ratio,
    )
    p.need(a.blur_kernel >= 1 and a.blur_kernel % 2 == 1, "blur_kernel", "must be odd", a.blur_kernel)
    p.need(
        len(a.blur_sigma) == 2 and 0 < a.blur_sigma[0] <= a.blur_sigma[1],
        "blur_sigma",
        "must be a positive range",
        a.blur_sigma,
    )
    p.need(
        len(a.zoom_out) == 2 and 1 <= a.zoom_out[0] <= a.zoom_out[1],
        "zoom_out",
        "needs 1 <= zoom_out[0] <= zoom_out[1]",
        a.zoom_out,
    )
    p.need(a.zoom_out_beam >= 0, "zoom_out_beam", "must be >= 0", a.zoom_out_beam)
    for name in ("flip_p", "rotate_p", "blur_p", "jitter_p", "zoom_out_p"):
        p.need(0 <= getattr(a, name) <= 1, name, "is a probability and must lie in [0, 1]", getattr(a, name))
    p.need(0 <= a.brightness < 1 and 0 <= a.contrast < 1, "brightness and contrast", "must lie in [0, 1)")
    return p


CHECKS[VDVAEConfig] = _vdvae_problems
CHECKS[SSLModelConfig] = _ssl_model_problems
CHECKS[SSLViewConfig] = _ssl_view_problems
