"""Settings of the training loop (VDVAE and SSL) and the named run presets."""

from __future__ import annotations

from dataclasses import dataclass

from radiolatent.config.core import CHECKS, _Problems, check_config
from radiolatent.config.models import SSL_METHODS, SSLAugmentConfig, SSLModelConfig, VDVAEConfig

VDVAE_OPTIMIZERS = ("adamw", "adam", "rmsprop")
KL_SCHEDULES = ("constant", "linear", "cyclic")
DDP_BACKENDS = ("gloo", "nccl", "mpi")
DEVICES = ("cpu", "cuda")
PRECISIONS = ("auto", "bf16", "fp32")
SSL_OPTIMIZERS = ("adam", "adamw", "sgd", "lars")
SSL_LR_SCHEDULES = ("cosine", "constant", "plateau")


# ---------------------------------------------------------------------------
# Training (training.py): optimiser, schedules, stability, collapse counter-measures
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. `batch_size` is global (split across DDP processes)."""

    epochs: int = 30
    batch_size: int = 32
    eval_batch_size: int = 128
    #: "adamw", "adam" or "rmsprop" (the paper's).
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    adam_betas: tuple[float, float] = (0.9, 0.99)
    #: linear learning-rate warm-up over this many steps (0 = none).
    lr_warmup_steps: int = 100
    #: ReduceLROnPlateau on validation loss: multiply lr by `plateau_factor` after
    #: `plateau_patience` epochs without a relative improvement of `plateau_threshold`.
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    plateau_threshold: float = 1e-4
    min_lr: float = 0.0
    #: gradient-norm clip (the objective is in nats per pixel, so the scale is image-size free).
    grad_clip: float = 200.0
    #: skip an update when the grad norm exceeds skip_factor x the median of the last
    #: skip_window finite grad norms (skipped ones included, so the threshold follows a
    #: genuine rise and cannot end up skipping everything); no outlier skipping until
    #: skip_min_history norms are seen. NaN/Inf losses or grad norms are always skipped.
    skip_factor: float = 10.0
    skip_window: int = 200
    skip_min_history: int = 20
    #: EMA of weights, used for validation, checkpoints' exported model and codes. The
    #: decay ramps up as min(ema_decay, (1 + step) / (10 + step)) so short runs work.
    ema_decay: float = 0.999
    #: KL weight (beta-VAE) and its schedule: "constant", "linear" (0 -> beta over
    #: kl_warmup_steps) or "cyclic" (linear ramp repeated every kl_cycle_steps).
    beta: float = 1.0
    kl_schedule: str = "linear"
    kl_warmup_steps: int = 500
    kl_cycle_steps: int = 2000
    #: free bits: each layer's batch-mean KL counts as at least this many nats in the
    #: objective (0 = off); z0 has its own floor.
    free_bits: float = 0.0
    free_bits_top: float = 0.0
    #: random flips and 90-degree rotations (radio sources have no preferred orientation).
    augment: bool = True
    valid_fraction: float = 0.1
    valid_max: int = 1000
    #: z0 dims whose posterior-mean variance over the validation set exceeds this are active.
    active_threshold: float = 0.01
    #: "gloo" on CPU; "nccl" is used automatically when training on CUDA.
    backend: str = "gloo"
    #: "cpu" or "cuda" (this process's GPU, cuda:LOCAL_RANK under torchrun); `train
    #: --device` (default auto: CUDA when present) sets it.
    device: str = "cpu"
    #: "auto" (bf16 autocast on CUDA, fp32 elsewhere), "bf16" or "fp32". The KL and the
    #: likelihood are computed in float32 in every case (docs/gpu.md).
    precision: str = "auto"
    #: torch threads per process.
    threads: int = 2


@dataclass(frozen=True)
class VDVAERunConfig:
    """A named VDVAE setup: the model and how it is trained."""

    name: str
    model: VDVAEConfig
    train: TrainConfig


def _vdvae_configs() -> dict[str, VDVAERunConfig]:
    tiny = VDVAERunConfig(
        "tiny",
        VDVAEConfig(
            encoder_blocks="64x1,64d4,16x1,16d4,4x1,4d4,1x1",
            decoder_blocks="1x1,4m1,4x1,16m4,16x1,64m16,64x1",
            widths="64:8,16:16,4:32,1:32",
            z_channels=4,
            # tests only: a 32-d z0 keeps them fast (the head is still full width).
            z0_channels=32,
            top_head_width=32,
            n_mixtures=3,
        ),
        TrainConfig(epochs=2, batch_size=16, eval_batch_size=64, lr=2e-3,
                    lr_warmup_steps=5, kl_warmup_steps=20, skip_min_history=5,
                    ema_decay=0.99, threads=1),
    )
    # The shipped checkpoint's setup. z0 is the 4x4x16 layer (256 numbers; the issue
    # allows 1x1x256 or 4x4x16): a 1x1 z0 collapsed in every CPU trial, the 4x4 one
    # stays informative when an auxiliary decoder reads it with a fixed-scale (MSE) loss
    # and the bottom-up path is He-initialised (docs/vdvae.md).
    # Two threads train at ~35 img/s on 2 idle cores: 20 epochs of the pool in ~19 min.
    cpu = VDVAERunConfig(
        "cpu",
        VDVAEConfig(
            encoder_blocks="64x1,64d2,32x1,32d2,16x1,16d2,8x1,8d2,4x1",
            decoder_blocks="4x1,8m4,8x1,16m8,16x1,32m16,32x1,64m32,64x1",
            widths="64:32,32:32,16:64,8:64,4:128",
            z0_channels=16,
            top_head_width=128,
            aux_weight=1.0,
            aux_likelihood="mse",
        ),
        TrainConfig(epochs=20, threads=2),
    )
    # Child's layout read in execution order: the decoder string starts at 1x1 with
    # 5 blocks, so the published {5,5,4,3,2,1} puts the cheap blocks at low resolution.
    paper = VDVAERunConfig(
        "paper",
        VDVAEConfig(
            encoder_blocks="64x3,64d2,32x3,32d2,16x2,16d2,8x2,8d2,4x2,4d4,1x1",
            decoder_blocks="1x5,4m1,4x5,8m4,8x4,16m8,16x3,32m16,32x2,64m32,64x1",
            widths="64:64,32:64,16:128,8:128,4:256,1:256",
            n_mixtures=10,
        ),
        TrainConfig(epochs=100, batch_size=32, optimizer="rmsprop", lr=2e-5,
                    momentum=0.9, weight_decay=1e-4, lr_warmup_steps=0,
                    kl_schedule="constant", ema_decay=0.9999),
    )
    return {c.name: c for c in (tiny, cpu, paper)}


VDVAE_CONFIGS = _vdvae_configs()


def get_vdvae_config(name: str) -> VDVAERunConfig:
    """The named VDVAE setup: "tiny" (tests), "cpu" (default) or "paper"."""
    if name not in VDVAE_CONFIGS:
        raise KeyError(f"unknown VDVAE config {name!r}; choose from {sorted(VDVAE_CONFIGS)}")
    return VDVAE_CONFIGS[name]


@dataclass(frozen=True)
class SSLTrainConfig:
    """How an SSL model is trained (the same loop as the VDVAE, training.py).

    Field names match `TrainConfig` where the meaning is the same, so the shared
    machinery (UpdateGuard, Plateau, EMA, checkpoints) reads either.
    """

    epochs: int = 10
    #: global batch (split across DDP processes); each image gives two views.
    batch_size: int = 128
    eval_batch_size: int = 256
    #: "adam", "adamw", "sgd" or "lars" (lightly's LARS; bias and BN parameters get no
    #: weight decay and no layer-wise scaling, as in SimCLR and BYOL).
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-6
    momentum: float = 0.9
    adam_betas: tuple[float, float] = (0.9, 0.999)
    #: "cosine" (to min_lr over the run, after the warm-up), "constant" or "plateau"
    #: (ReduceLROnPlateau on the validation loss, as the VDVAE).
    lr_schedule: str = "cosine"
    lr_warmup_steps: int = 0
    min_lr: float = 0.0
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    plateau_threshold: float = 1e-4
    grad_clip: float = 100.0
    skip_factor: float = 10.0
    skip_window: int = 200
    skip_min_history: int = 20
    #: EMA of the weights for validation and export; 0 = off (the online network is
    #: exported, as SSL papers evaluate it; BYOL's target network is its own EMA).
    ema_decay: float = 0.0
    valid_fraction: float = 0.05
    valid_max: int = 1000
    #: store the exported model's conv / linear weights as float16 (half the size; codes
    #: move by ~1e-3 relative). Norm layers and buffers stay float32.
    export_half: bool = True
    backend: str = "gloo"
    device: str = "cpu"
    #: as TrainConfig.precision: "auto" (bf16 autocast on CUDA, fp32 elsewhere), "bf16" or "fp32".
    precision: str = "auto"
    threads: int = 2


@dataclass(frozen=True)
class SSLRunConfig:
    """A named SSL setup: method + backbone + heads, views, and training."""

    name: str
    model: SSLModelConfig
    augment: SSLAugmentConfig
    train: SSLTrainConfig


def _ssl_heads(method: str) -> dict:
    """Head sizes per method. SimSiam's predictor is a bottleneck (its paper: 1/4 width)."""
    if method == "simclr":
        return {"projection_hidden": 512, "projection_dim": 128}
    if method == "byol":
        return {"projection_hidden": 1024, "projection_dim": 128, "prediction_hidden": 1024}
    return {"projection_hidden": 512, "projection_dim": 128, "prediction_hidden": 64}


def _ssl_configs(method: str) -> dict[str, SSLRunConfig]:
    heads = _ssl_heads(method)
    tiny = SSLRunConfig(
        "tiny",
        # tests only: max-pool too (16x16 after the stem) keeps them to seconds.
        SSLModelConfig(method=method, backbone="resnet10", stem_stride=2, stem_max_pool=True,
                       projection_hidden=64, projection_dim=32,
                       prediction_hidden=16 if method == "simsiam" else 64),
        SSLAugmentConfig(),
        SSLTrainConfig(epochs=1, batch_size=16, eval_batch_size=64, lr=1e-3, skip_min_history=5,
                       valid_fraction=0.1, threads=1),
    )
    # The shipped checkpoints: ResNet-18 with a stride-2 stem (32x32 after it; stride 1
    # trains ~6x slower on two cores), AdamW with a short warm-up and a cosine decay,
    # which learns in a few hundred steps where the paper's LARS at lr 5e-4..1e-3 would
    # barely move. Batch 64 gives twice the updates of 128 for the same compute. Epochs:
    # ~15 minutes each on two idle cores (benchmarks/ssl_speed.py: BYOL's target network
    # makes its step ~1.3x dearer, so it gets fewer epochs).
    cpu = SSLRunConfig(
        "cpu",
        SSLModelConfig(method=method, backbone="resnet18", stem_stride=2, **heads),
        SSLAugmentConfig(),
        SSLTrainConfig(epochs=8 if method == "byol" else 10, batch_size=64, optimizer="adamw",
                       lr=1e-3, weight_decay=1e-6, lr_warmup_steps=30),
    )
    # [A]: ResNet-34, LARS, batch 1024, 1000 epochs, lr 1e-3 (SimCLR) / 5e-4 (BYOL, SimSiam).
    # Not published, our choice: momentum 0.9, weight decay 1e-6 (lightly's LARS examples),
    # cosine decay without warm-up, the heads above, stride-1 stem (full 64x64 grid).
    paper = SSLRunConfig(
        "paper",
        SSLModelConfig(method=method, backbone="resnet34", stem_stride=1, **heads),
        SSLAugmentConfig(),
        SSLTrainConfig(epochs=1000, batch_size=1024, eval_batch_size=1024, optimizer="lars",
                       lr=1e-3 if method == "simclr" else 5e-4, momentum=0.9, weight_decay=1e-6),
    )
    return {c.name: c for c in (tiny, cpu, paper)}


SSL_CONFIGS = {method: _ssl_configs(method) for method in SSL_METHODS}


def get_ssl_config(method: str, name: str) -> SSLRunConfig:
    """The named setup of an SSL method: "tiny" (tests), "cpu" (default) or "paper"."""
    if method not in SSL_CONFIGS:
        raise KeyError(f"unknown SSL method {method!r}; choose from {list(SSL_METHODS)}")
    if name not in SSL_CONFIGS[method]:
        raise KeyError(f"unknown {method} config {name!r}; choose from {sorted(SSL_CONFIGS[method])}")
    return SSL_CONFIGS[method][name]


def check_ssl_config(run: SSLRunConfig) -> SSLRunConfig:
    """Refuse settings that cannot work, with a message naming the setting (InputError,
    a ValueError). `override` and `dataclass_from_dict` already call this through
    `check_config`; it stays for code that builds a config with `dataclasses.replace`."""
    return check_config(run)


def _loop_problems(t: TrainConfig | SSLTrainConfig, optimizers: tuple[str, ...]) -> _Problems:
    """Settings the VDVAE and SSL training configs share (the same training loop)."""
    p = _Problems()
    p.finite(t)
    p.need(t.epochs >= 1, "epochs", "must be at least 1", t.epochs)
    p.need(t.batch_size >= 1, "batch_size", "must be at least 1", t.batch_size)
    p.need(t.eval_batch_size >= 1, "eval_batch_size", "must be at least 1", t.eval_batch_size)
    p.need(t.optimizer in optimizers, "optimizer", f"must be one of {list(optimizers)}", t.optimizer)
    p.need(t.lr > 0, "lr", "must be > 0", t.lr)
    p.need(t.weight_decay >= 0, "weight_decay", "must be >= 0", t.weight_decay)
    p.need(0 <= t.momentum < 1, "momentum", "must lie in [0, 1)", t.momentum)
    p.need(len(t.adam_betas) == 2 and all(0 <= b < 1 for b in t.adam_betas), "adam_betas",
           "must be two numbers in [0, 1)", t.adam_betas)
    p.need(t.lr_warmup_steps >= 0, "lr_warmup_steps", "must be >= 0", t.lr_warmup_steps)
    p.need(0 < t.plateau_factor <= 1, "plateau_factor", "must lie in (0, 1]", t.plateau_factor)
    p.need(t.plateau_patience >= 0 and t.plateau_threshold >= 0, "plateau_patience and plateau_threshold",
           "must be >= 0")
    p.need(t.min_lr >= 0, "min_lr", "must be >= 0", t.min_lr)
    p.need(t.grad_clip > 0, "grad_clip", "must be > 0", t.grad_clip)
    p.need(t.skip_factor > 1, "skip_factor", "must be > 1", t.skip_factor)
    p.need(t.skip_window >= 1 and t.skip_min_history >= 0, "skip_window and skip_min_history",
           "must be >= 1 and >= 0")
    p.need(0 <= t.ema_decay < 1, "ema_decay", "must lie in [0, 1)", t.ema_decay)
    p.need(0 < t.valid_fraction < 1, "valid_fraction", "must lie in (0, 1)", t.valid_fraction)
    p.need(t.valid_max >= 1, "valid_max", "must be at least 1", t.valid_max)
    p.need(t.backend in DDP_BACKENDS, "backend", f"must be one of {list(DDP_BACKENDS)}", t.backend)
    p.need(t.device in DEVICES, "device", f"must be one of {list(DEVICES)}", t.device)
    precision = getattr(t, "precision", "auto")
    p.need(precision in PRECISIONS, "precision", f"must be one of {list(PRECISIONS)}", precision)
    p.need(t.threads >= 1, "threads", "must be at least 1", t.threads)
    return p


def _train_problems(t: TrainConfig) -> list[str]:
    p = _loop_problems(t, VDVAE_OPTIMIZERS)
    p.need(t.beta >= 0, "beta", "must be >= 0", t.beta)
    p.need(t.kl_schedule in KL_SCHEDULES, "kl_schedule", f"must be one of {list(KL_SCHEDULES)}", t.kl_schedule)
    p.need(t.kl_warmup_steps >= 0 and t.kl_cycle_steps >= 1, "kl_warmup_steps and kl_cycle_steps",
           "must be >= 0 and >= 1")
    p.need(t.free_bits >= 0 and t.free_bits_top >= 0, "free_bits and free_bits_top", "must be >= 0")
    p.need(t.active_threshold >= 0, "active_threshold", "must be >= 0", t.active_threshold)
    return p


def _ssl_train_problems(t: SSLTrainConfig) -> list[str]:
    p = _loop_problems(t, SSL_OPTIMIZERS)
    p.need(t.batch_size >= 2, "batch_size", "must be >= 2 (BatchNorm, negatives)", t.batch_size)
    p.need(t.lr_schedule in SSL_LR_SCHEDULES, "lr_schedule", f"must be one of {list(SSL_LR_SCHEDULES)}",
           t.lr_schedule)
    return p


CHECKS[TrainConfig] = _train_problems
CHECKS[SSLTrainConfig] = _ssl_train_problems
