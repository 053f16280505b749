"""Settings of the supervised ceiling: a ResNet-18 trained on a labelled set's train split
([B]'s supervised baseline, 92.42 % on MiraBest) and scored on its test split."""

from __future__ import annotations

from dataclasses import dataclass, field

from radiolatent.config.core import CHECKS, MAX_THREADS, _Problems
from radiolatent.config.models import SSL_BACKBONES, SSLBackbone, SSLViewConfig

#: the labelled sets the ceiling is trained on: train split -> (test split, the results' dataset name).
SUPERVISED_SETS = {"mbc:train": ("mbc:test", "mbc"), "frdeep-n:train": ("frdeep-n:test", "nvss")}
#: the encoder name the ceiling's rows carry in the classifier results.
ENCODER = "supervised-resnet18"
#: [B]'s supervised ResNet-18 on MiraBest (accuracy).
B_SUPERVISED_ACCURACY = 0.9242


@dataclass(frozen=True)
class SupervisedConfig:
    """A one-channel ResNet (the SSL encoders' backbone, models/ssl.py) + a linear FRI/FRII
    head, trained with class-balanced cross-entropy on the SSL views (flips, any
    rotation, crops of >= 80 % of the area, jitter, weak blur), AdamW with warm-up and a
    cosine schedule, stopped early on a stratified validation split of the train set; the
    weights of the best validation ROC-AUC are the ones scored."""

    backbone: SSLBackbone = "resnet18"
    #: stride 2 and a max-pool: 16x16 after the stem, torchvision's ResNet-18 layout on a
    #: 64x64 image; a quarter of the cost of the SSL encoders' 32x32, which matters on a
    #: shared 2-core CPU (docs/results.md gives the minutes).
    stem_stride: int = 2
    stem_max_pool: bool = True
    max_epochs: int = 30
    #: epochs without a higher validation ROC-AUC before stopping.
    patience: int = 6
    #: 16 rather than 32: twice the updates for the same compute on a short CPU budget.
    batch_size: int = 16
    #: AdamW's peak lr, reached after `warmup_epochs` and then cosine-annealed to zero at
    #: `max_epochs`; 1e-3 without a schedule collapsed a seed to always-FRII.
    lr: float = 3e-4
    warmup_epochs: int = 1
    weight_decay: float = 1e-4
    #: cross-entropy weighted by inverse class frequency (no class can win by majority).
    class_balanced: bool = True
    valid_fraction: float = 0.2
    views: SSLViewConfig = field(default_factory=SSLViewConfig)
    threads: int = 2


#: the shipped ceiling table's settings (src/radiolatent/weights/supervised/ceiling.csv;
#: docs/results.md gives its commands): ten epochs, stopped 3 without a better validation
#: ROC-AUC. `reproduce --retrain-ceiling` trains with these, so its rows compare with it.
CEILING_CONFIG = SupervisedConfig(max_epochs=10, patience=3)


def _supervised_problems(c: SupervisedConfig) -> list[str]:
    p = _Problems()
    p.finite(c)
    p.need(c.backbone in SSL_BACKBONES, "backbone", f"must be one of {sorted(SSL_BACKBONES)}", c.backbone)
    p.need(c.stem_stride in (1, 2), "stem_stride", "must be 1 or 2", c.stem_stride)
    p.need(c.max_epochs >= 1 and c.patience >= 1, "max_epochs and patience", "must be at least 1")
    p.need(c.batch_size >= 2, "batch_size", "must be >= 2 (batch norm)", c.batch_size)
    p.need(c.lr > 0 and c.weight_decay >= 0, "lr and weight_decay", "must be > 0 and >= 0")
    p.need(c.warmup_epochs >= 0, "warmup_epochs", "must be >= 0", c.warmup_epochs)
    p.need(0 < c.valid_fraction < 1, "valid_fraction", "must lie in (0, 1)", c.valid_fraction)
    p.need(1 <= c.threads <= MAX_THREADS, "threads", f"must be 1..{MAX_THREADS}", c.threads)
    return p


CHECKS[SupervisedConfig] = _supervised_problems
