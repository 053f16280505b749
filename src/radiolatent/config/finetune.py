"""Settings of fine-tuning: a pretrained encoder (the VDVAE's bottom-up path to z0, or an
SSL backbone) with a small classification head, trained on labelled images in the shared
loop (training/recipes/finetune.py; what it measured: docs/finetune.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from radiolatent.config.core import CHECKS, Settings, _Problems, check_presets
from radiolatent.config.models import SSLModelConfig, SSLViewConfig, VDVAEConfig
from radiolatent.config.training import SSL_LR_SCHEDULES, LoopConfig, LRSchedule, _loop_problems

EncoderKind = Literal["vdvae", "simclr", "byol", "simsiam"]
ENCODER_KINDS: tuple[EncoderKind, ...] = get_args(EncoderKind)
Init = Literal["pretrained", "random"]
INITS: tuple[Init, ...] = get_args(Init)
Augment = Literal["flips", "views"]
Stem = Literal["encoder", "torchvision"]


@dataclass(frozen=True)
class ClassifierConfig(Settings):
    """A fine-tuned classifier's architecture, as saved with its weights: the encoder (its
    kind and its own config: `vdvae` for a VDVAE, `ssl` for an SSL backbone; the other is
    unused), then layer norm, dropout and a head with `head_hidden` units (0: linear)."""

    encoder: EncoderKind = "vdvae"
    vdvae: VDVAEConfig = field(default_factory=VDVAEConfig)
    ssl: SSLModelConfig = field(default_factory=SSLModelConfig)
    head_hidden: int = 128
    dropout: float = 0.2
    #: the class names, in the order of the head's outputs.
    classes: tuple[str, ...] = ("FRI", "FRII")
    #: labelled training rows whose features the model keeps for its in-domain score.
    domain_rows: int = 0

    @property
    def image_size(self) -> int:
        return self.vdvae.image_size if self.encoder == "vdvae" else self.ssl.image_size


@dataclass(frozen=True)
class FinetuneTrainConfig(LoopConfig):
    """How a classifier is fine-tuned (the shared loop): AdamW, a warm-up and a cosine
    decay, the head alone for the first `freeze_epochs`, the encoder at `encoder_lr_factor`
    of the head's lr after that, random flips and quarter turns, class-balanced
    cross-entropy, and the epoch of the lowest validation loss kept (early stopping)."""

    epochs: int = 60
    batch_size: int = 32
    eval_batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    adam_betas: tuple[float, float] = (0.9, 0.999)
    lr_warmup_steps: int = 20
    lr_schedule: LRSchedule = "cosine"
    grad_clip: float = 10.0
    #: cross-entropy has no spikes to guard against: skip only a wild update.
    skip_factor: float = 100.0
    ema_decay: float = 0.0
    #: stratified by class, carved from the labelled training rows.
    valid_fraction: float = 0.2
    patience: int = 15
    #: epochs at the start in which only the head learns (the encoder's lr is 0). The same
    #: for a random encoder (`init="random"`): at the head's lr from the first step it did
    #: not learn at all (docs/finetune.md).
    freeze_epochs: int = 5
    #: the encoder's lr as a fraction of the head's: a pretrained encoder moves less
    #: (1.0 and 0.03 both scored lower than 0.3: docs/finetune.md).
    encoder_lr_factor: float = 0.3
    #: train on a stratified subset of this many labelled rows (0: all of them).
    n_labels: int = 0
    #: cross-entropy weighted by inverse class frequency.
    class_balanced: bool = True
    #: never fewer optimiser steps than this in a run: a few labels get more epochs.
    min_steps: int = 400


@dataclass(frozen=True)
class FinetuneRunConfig(Settings):
    """A named fine-tuning setup: the encoder to start from (a shipped model name, a run
    folder or a model directory) and how (`init`: its trained weights, or "random" for
    the same network from scratch), the head, and the training."""

    name: str
    train: FinetuneTrainConfig
    encoder: str = "vdvae-cpu"
    init: Init = "pretrained"
    head_hidden: int = 128
    dropout: float = 0.2
    #: each step's images: a random flip or quarter turn ("flips"), or the SSL encoders'
    #: views (`views`: any rotation, flips, crops of 80-100 % of the area, brightness and
    #: contrast jitter, weak blur; data/ssl_views.py), which scored lower (docs/finetune.md).
    augment: Augment = "flips"
    views: SSLViewConfig = field(default_factory=SSLViewConfig)
    #: with init="random" and an SSL encoder: "encoder" builds the named encoder's network;
    #: "torchvision" its ResNet with a stride-2 stem and a max-pool (16x16 maps after the
    #: stem, torchvision's ResNet-18 on a 64x64 image: a quarter of the convolution work).
    stem: Stem = "encoder"
    #: the labelled rows trained on, as the command named them (saved with the model;
    #: a resume with other data is refused, as with any other setting).
    data: str = ""


def _finetune_problems(t: FinetuneTrainConfig) -> list[str]:
    p = _Problems(_loop_problems(t))
    p.need(t.optimizer in ("adam", "adamw", "sgd"), "optimizer", "must be adam, adamw or sgd", t.optimizer)
    p.need(t.lr_schedule in SSL_LR_SCHEDULES, "lr_schedule", f"must be one of {', '.join(SSL_LR_SCHEDULES)}")
    p.need(0 <= t.freeze_epochs < t.epochs, "freeze_epochs", "must be >= 0 and less than epochs", t.freeze_epochs)
    p.need(0 <= t.encoder_lr_factor <= 1, "encoder_lr_factor", "must lie in [0, 1]", t.encoder_lr_factor)
    p.need(t.n_labels >= 0, "n_labels", "must be >= 0 (0: every labelled row)", t.n_labels)
    p.need(t.min_steps >= 0, "min_steps", "must be >= 0", t.min_steps)
    p.need(t.batch_size >= 2, "batch_size", "must be >= 2 (batch norm)", t.batch_size)
    return p


def _run_problems(r: FinetuneRunConfig) -> list[str]:
    p = _Problems()
    p.need(r.head_hidden >= 0, "head_hidden", "must be >= 0 (0: a linear head)", r.head_hidden)
    p.need(0 <= r.dropout < 1, "dropout", "must lie in [0, 1)", r.dropout)
    p.need(bool(r.encoder), "encoder", "must name a model (e.g. vdvae-cpu)")
    p.need(r.stem == "encoder" or r.init == "random", "stem", "torchvision needs init=random", r.stem)
    return p


CHECKS[FinetuneTrainConfig] = _finetune_problems
CHECKS[FinetuneRunConfig] = _run_problems

#: "tiny" (tests: seconds), "cpu" (the shipped finetuned-mbc: docs/finetune.md) and
#: "ceiling": the supervised ceiling ([B]'s supervised ResNet-18), a ResNet-18 from random
#: weights with torchvision's stem and a linear head, trained on the SSL views with
#: AdamW, a warm-up and a cosine schedule, for at most 10 epochs, stopped 3 epochs after
#: the best validation ROC-AUC (the shipped ceiling table's settings: docs/results.md).
FINETUNE_CONFIGS = {
    "tiny": FinetuneRunConfig(
        "tiny",
        FinetuneTrainConfig(
            epochs=2, batch_size=8, eval_batch_size=64, lr_warmup_steps=2, freeze_epochs=1, min_steps=0, threads=1
        ),
        head_hidden=16,
    ),
    "cpu": FinetuneRunConfig("cpu", FinetuneTrainConfig()),
    "ceiling": FinetuneRunConfig(
        "ceiling",
        FinetuneTrainConfig(
            epochs=10,
            patience=3,
            monitor="val_roc_auc",
            # 16 rather than 32: twice the updates for the same compute on a short CPU budget
            batch_size=16,
            # 1e-3 without a schedule collapsed a seed to always-FRII
            lr=3e-4,
            lr_warmup_steps=30,
            freeze_epochs=0,
            encoder_lr_factor=1.0,
            min_steps=0,
        ),
        encoder="simclr-cpu",
        init="random",
        head_hidden=0,
        dropout=0.0,
        augment="views",
        stem="torchvision",
    ),
}
check_presets(*FINETUNE_CONFIGS.values())
