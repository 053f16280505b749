"""Settings of z0 distillation: a trained VDVAE's bottom-up path taught to give, in one
pass, the code its z0 gives averaged over an image's 8 flips and quarter turns
(training/recipes/distil.py; why and what it measured: docs/vdvae.md)."""

from __future__ import annotations

from dataclasses import dataclass

from radiolatent.config.core import CHECKS, Settings, _Problems, check_presets
from radiolatent.config.training import SSL_LR_SCHEDULES, LoopConfig, LRSchedule, _loop_problems


@dataclass(frozen=True)
class DistilTrainConfig(LoopConfig):
    """How the student is trained (the shared loop): AdamW with a cosine decay from the
    start, no EMA, a 5 % validation split scored on single-view against 8-view codes."""

    epochs: int = 16
    batch_size: int = 64
    eval_batch_size: int = 256
    #: a fine-tune of trained weights: a tenth of the VDVAE's peak lr, and no warm-up
    #: (the student starts where the teacher is, so its first steps are small anyway).
    lr: float = 3e-4
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    lr_warmup_steps: int = 0
    #: "cosine" (to min_lr over the run), "constant" or "plateau" (as SSLTrainConfig).
    lr_schedule: LRSchedule = "cosine"
    #: the loss sums 256 squared errors, so first gradient norms are in the hundreds.
    grad_clip: float = 1000.0
    ema_decay: float = 0.0
    valid_fraction: float = 0.05


@dataclass(frozen=True)
class DistilRunConfig(Settings):
    """A named distillation setup and the teacher it distils: a VDVAE model directory or
    run folder (`train distil --teacher`; the presets leave it empty). A resume with
    another teacher is refused, as with any other setting."""

    name: str
    train: DistilTrainConfig
    teacher: str = ""


def _distil_problems(t: DistilTrainConfig) -> list[str]:
    p = _Problems(_loop_problems(t))
    p.need(t.optimizer in ("adam", "adamw", "sgd"), "optimizer", "must be adam, adamw or sgd", t.optimizer)
    p.need(t.lr_schedule in SSL_LR_SCHEDULES, "lr_schedule", f"must be one of {', '.join(SSL_LR_SCHEDULES)}")
    return p


CHECKS[DistilTrainConfig] = _distil_problems

#: "tiny" (tests: seconds) and "cpu" (the shipped student: 16 epochs over the default pool).
DISTIL_CONFIGS = {
    "tiny": DistilRunConfig("tiny", DistilTrainConfig(epochs=2, batch_size=16, eval_batch_size=64, threads=1)),
    "cpu": DistilRunConfig("cpu", DistilTrainConfig()),
}
check_presets(*DISTIL_CONFIGS.values())
