"""Settings of the training loop (VDVAE and SSL) and the run configs (their presets: `presets`).

`LoopConfig` holds what the one training loop (training/) reads for either model;
`TrainConfig` (VDVAE) and `SSLTrainConfig` add their own settings and defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from radiolatent.config.core import (
    CHECKS,
    MAX_THREADS,
    Settings,
    _Problems,
    check_config,
)
from radiolatent.config.models import SSLModelConfig, SSLViewConfig, VDVAEConfig

VDVAEOptimizer = Literal["adamw", "adam", "rmsprop"]
SSLOptimizer = Literal["adam", "adamw", "sgd", "lars"]
KLSchedule = Literal["constant", "linear", "cyclic"]
LRSchedule = Literal["cosine", "constant", "plateau"]
DDPBackend = Literal["gloo", "nccl", "mpi"]
Device = Literal["cpu", "cuda"]
Precision = Literal["auto", "bf16", "fp32"]
#: what early stopping and the exported model go by: the lowest validation loss, or the
#: highest validation ROC-AUC (a classifier's; ties go to the lower loss, then the earlier epoch).
Monitor = Literal["val_loss", "val_roc_auc"]
MONITORS: tuple[Monitor, ...] = get_args(Monitor)

VDVAE_OPTIMIZERS: tuple[VDVAEOptimizer, ...] = get_args(VDVAEOptimizer)
SSL_OPTIMIZERS: tuple[SSLOptimizer, ...] = get_args(SSLOptimizer)
KL_SCHEDULES: tuple[KLSchedule, ...] = get_args(KLSchedule)
SSL_LR_SCHEDULES: tuple[LRSchedule, ...] = get_args(LRSchedule)
DDP_BACKENDS: tuple[DDPBackend, ...] = get_args(DDPBackend)
DEVICES: tuple[Device, ...] = get_args(Device)
PRECISIONS: tuple[Precision, ...] = get_args(Precision)


# ---------------------------------------------------------------------------
# Training (training/): optimiser, schedules, stability, collapse counter-measures
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoopConfig(Settings):
    """What the training loop reads for any model; the defaults are the VDVAE's.
    `batch_size` is global (split across DDP processes). The shared machinery
    (UpdateGuard, Plateau, EMA, checkpoints) reads only these fields."""

    epochs: int = 20
    batch_size: int = 32
    eval_batch_size: int = 128
    optimizer: VDVAEOptimizer | SSLOptimizer = "adamw"
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
    #: gradient-norm clip (the VDVAE's objective is in nats per pixel, so the scale is image-size free).
    grad_clip: float = 200.0
    #: skip an update when the grad norm exceeds skip_factor x the median of the last
    #: skip_window finite grad norms (skipped ones included, so the threshold follows a
    #: genuine rise and cannot end up skipping everything); no outlier skipping until
    #: skip_min_history norms are seen. NaN/Inf losses or grad norms are always skipped.
    skip_factor: float = 10.0
    skip_window: int = 200
    skip_min_history: int = 20
    #: EMA of weights, used for validation, checkpoints' exported model and codes (0 = off).
    #: The decay ramps up as min(ema_decay, (1 + step) / (10 + step)) so short runs work.
    ema_decay: float = 0.999
    valid_fraction: float = 0.1
    valid_max: int = 1000
    #: times through the training images in one epoch (a few labelled images make epochs
    #: too short to validate and checkpoint after each).
    passes: int = 1
    #: early stopping: end the run after this many epochs without a lower validation loss,
    #: and export the model of the best epoch (0: run every epoch, export the last).
    patience: int = 0
    #: what "best" means for `patience` and the exported model.
    monitor: Monitor = "val_loss"
    #: "gloo" on CPU; "nccl" is used automatically when training on CUDA.
    backend: DDPBackend = "gloo"
    #: "cpu" or "cuda" (this process's GPU, cuda:LOCAL_RANK under torchrun); `train
    #: --device` (default auto: CUDA when present) sets it.
    device: Device = "cpu"
    #: "auto" (bf16 autocast on CUDA, fp32 elsewhere), "bf16" or "fp32". The VDVAE's KL and
    #: likelihood are computed in float32 in every case (docs/gpu.md).
    precision: Precision = "auto"
    #: torch threads per process.
    threads: int = 2


@dataclass(frozen=True)
class TrainConfig(LoopConfig):
    """How the VDVAE is trained: the loop's settings plus the KL schedule and free bits.
    The bare defaults are the `cpu` preset's (the shipped checkpoint's)."""

    #: "adamw", "adam" or "rmsprop" (the paper's).
    optimizer: VDVAEOptimizer = "adamw"
    #: KL weight (beta-VAE) and its schedule: "constant", "linear" (0 -> beta over
    #: kl_warmup_steps) or "cyclic" (linear ramp repeated every kl_cycle_steps).
    beta: float = 1.0
    kl_schedule: KLSchedule = "linear"
    kl_warmup_steps: int = 500
    kl_cycle_steps: int = 2000
    #: free bits: each layer's batch-mean KL counts as at least this many nats in the
    #: objective (0 = off); z0 has its own floor.
    free_bits: float = 0.0
    free_bits_top: float = 0.0
    #: random flips and 90-degree rotations (radio sources have no preferred orientation).
    flips_and_turns: bool = True
    #: z0 dims whose posterior-mean variance over the validation set exceeds this are active.
    active_threshold: float = 0.01


@dataclass(frozen=True)
class SSLTrainConfig(LoopConfig):
    """How an SSL model is trained (the same loop as the VDVAE): the loop's settings with
    SSL defaults, plus the learning-rate schedule and half-precision export."""

    epochs: int = 10
    #: global batch (split across DDP processes); each image gives two views.
    batch_size: int = 128
    eval_batch_size: int = 256
    #: "adam", "adamw", "sgd" or "lars" (lightly's LARS; bias and BN parameters get no
    #: weight decay and no layer-wise scaling, as in SimCLR and BYOL).
    optimizer: SSLOptimizer = "adamw"
    weight_decay: float = 1e-6
    adam_betas: tuple[float, float] = (0.9, 0.999)
    lr_warmup_steps: int = 0
    grad_clip: float = 100.0
    #: off: the online network is exported, as SSL papers evaluate it (BYOL's target
    #: network is its own EMA).
    ema_decay: float = 0.0
    valid_fraction: float = 0.05
    #: "cosine" (to min_lr over the run, after the warm-up), "constant" or "plateau"
    #: (ReduceLROnPlateau on the validation loss, as the VDVAE).
    lr_schedule: LRSchedule = "cosine"
    #: store the exported model's conv / linear weights as float16 (half the size; codes
    #: move by ~1e-3 relative). Norm layers and buffers stay float32.
    export_half: bool = True


# ---------------------------------------------------------------------------
# Named setups: "tiny" (tests), "cpu" (the shipped checkpoints), "paper" ([A]'s)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VDVAERunConfig(Settings):
    """A named VDVAE setup: the model and how it is trained."""

    name: str
    model: VDVAEConfig
    train: TrainConfig


@dataclass(frozen=True)
class SSLRunConfig(Settings):
    """A named SSL setup: method + backbone + heads, views, and training."""

    name: str
    model: SSLModelConfig
    views: SSLViewConfig
    train: SSLTrainConfig


def check_ssl_config(run: SSLRunConfig) -> SSLRunConfig:
    """Refuse settings that cannot work, with a message naming the setting (InputError,
    a ValueError). `override` and `dataclass_from_dict` already call this through
    `check_config`; it stays for code that builds a config with `dataclasses.replace`."""
    return check_config(run)


def _loop_problems(t: LoopConfig) -> list[str]:
    """Settings the VDVAE and SSL training configs share (the same training loop)."""
    p = _Problems()
    p.finite(t)
    p.need(t.epochs >= 1, "epochs", "must be at least 1", t.epochs)
    p.need(t.batch_size >= 1, "batch_size", "must be at least 1", t.batch_size)
    p.need(t.eval_batch_size >= 1, "eval_batch_size", "must be at least 1", t.eval_batch_size)
    p.need(t.lr > 0, "lr", "must be > 0", t.lr)
    p.need(t.weight_decay >= 0, "weight_decay", "must be >= 0", t.weight_decay)
    p.need(0 <= t.momentum < 1, "momentum", "must lie in [0, 1)", t.momentum)
    p.need(
        len(t.adam_betas) == 2 and all(0 <= b < 1 for b in t.adam_betas),
        "adam_betas",
        "must be two numbers in [0, 1)",
        t.adam_betas,
    )
    p.need(t.lr_warmup_steps >= 0, "lr_warmup_steps", "must be >= 0", t.lr_warmup_steps)
    p.need(0 < t.plateau_factor <= 1, "plateau_factor", "must lie in (0, 1]", t.plateau_factor)
    p.need(
        t.plateau_patience >= 0 and t.plateau_threshold >= 0, "plateau_patience and plateau_threshold", "must be >= 0"
    )
    p.need(t.min_lr >= 0, "min_lr", "must be >= 0", t.min_lr)
    p.need(t.grad_clip > 0, "grad_clip", "must be > 0", t.grad_clip)
    p.need(t.skip_factor > 1, "skip_factor", "must be > 1", t.skip_factor)
    p.need(t.skip_window >= 1 and t.skip_min_history >= 0, "skip_window and skip_min_history", "must be >= 1 and >= 0")
    p.need(0 <= t.ema_decay < 1, "ema_decay", "must lie in [0, 1)", t.ema_decay)
    p.need(0 < t.valid_fraction < 1, "valid_fraction", "must lie in (0, 1)", t.valid_fraction)
    p.need(t.valid_max >= 1, "valid_max", "must be at least 1", t.valid_max)
    p.need(t.patience >= 0, "patience", "must be >= 0 (0: no early stopping)", t.patience)
    p.need(t.monitor in MONITORS, "monitor", f"must be one of {', '.join(MONITORS)}", t.monitor)
    p.need(t.passes >= 1, "passes", "must be at least 1", t.passes)
    p.need(1 <= t.threads <= MAX_THREADS, "threads", f"must be 1..{MAX_THREADS}", t.threads)
    return p


def _train_problems(t: TrainConfig) -> list[str]:
    p = _Problems(_loop_problems(t))
    p.need(t.beta >= 0, "beta", "must be >= 0", t.beta)
    p.need(
        t.kl_warmup_steps >= 0 and t.kl_cycle_steps >= 1, "kl_warmup_steps and kl_cycle_steps", "must be >= 0 and >= 1"
    )
    p.need(t.free_bits >= 0 and t.free_bits_top >= 0, "free_bits and free_bits_top", "must be >= 0")
    p.need(t.active_threshold >= 0, "active_threshold", "must be >= 0", t.active_threshold)
    return p


def _ssl_train_problems(t: SSLTrainConfig) -> list[str]:
    p = _Problems(_loop_problems(t))
    p.need(t.batch_size >= 2, "batch_size", "must be >= 2 (BatchNorm, negatives)", t.batch_size)
    return p


CHECKS[LoopConfig] = _loop_problems
CHECKS[TrainConfig] = _train_problems
CHECKS[SSLTrainConfig] = _ssl_train_problems
