"""The fine-tuning recipe: a pretrained encoder (a VDVAE's bottom-up path to z0, or an SSL
backbone) and a small head (models/classifier.py) learn classes from labelled images.

Each step sees a random view of every image (`augment`: the SSL encoders' views, any
rotation, flips, mild crops and jitter; or only flips and quarter turns: radio sources
have no preferred orientation) and minimises class-balanced cross-entropy. The head learns alone
for `freeze_epochs` (the encoder's lr is 0, so a fresh head cannot wreck the encoder with
its first large gradients); the encoder then learns at `encoder_lr_factor` of the head's
lr. The validation split is stratified by class; the loop keeps the epoch of the lowest
validation loss (or, with `train.monitor=val_roc_auc`, the highest ROC-AUC) and stops
`patience` epochs after it (`LoopConfig.patience`).
`training.finetune.finish` then fits the temperature and keeps the domain features."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radiolatent.config import SSLModelConfig, VDVAEConfig, dataclass_from_dict
from radiolatent.config.finetune import ENCODER_KINDS, ClassifierConfig, EncoderKind, FinetuneRunConfig
from radiolatent.core.errors import SettingError
from radiolatent.data.ssl_views import random_view
from radiolatent.models.checkpoint import (
    CLASSIFIER_KIND,
    MODEL_JSON,
    load_model,
    model_dir,
    model_kind,
    read_json,
    save_model,
)
from radiolatent.models.classifier import Classifier, VDVAEBottomUp, build_encoder
from radiolatent.models.shipped import model_path
from radiolatent.models.vdvae import VDVAE
from radiolatent.training.parts import EMA, Plateau, make_optimizer, random_flips_and_turns, scheduled_lr, to_tensor
from radiolatent.training.recipes import Batch, StepOutput

VALID_COLUMNS = ("val_loss", "val_accuracy", "val_roc_auc")


class FinetuneRecipe:
    """Classes from labelled images: `labels` (0..K-1, one per image the loop is given)
    named by `classes`."""

    kind = "finetune"
    config_class = FinetuneRunConfig

    def __init__(self, run: FinetuneRunConfig, labels: np.ndarray, classes: list[str]) -> None:
        self.run, self.cfg = run, run.train
        self.encoder_dir = model_dir(model_path(run.encoder))  # a folder or a shipped name
        kind = encoder_kind(self.encoder_dir)
        saved = read_json(self.encoder_dir / MODEL_JSON)
        self.encoder_kind = kind
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        counts = np.bincount(self.labels, minlength=len(classes)).astype(np.float32)
        # inverse class frequency: the minority class weighs as much as the majority
        self.class_weight = torch.from_numpy(counts.sum() / (len(classes) * np.maximum(counts, 1)))
        self.model_config = ClassifierConfig(
            encoder=kind,
            head_hidden=run.head_hidden,
            dropout=run.dropout,
            classes=tuple(self.classes),
            **_encoder_config(kind, saved.get("config", {}), run.stem),
        )
        self._encoder_meta = {"model": self.encoder_dir.name, "sha256": saved.get("sha256"), "init": run.init}

    @property
    def image_size(self) -> int:
        return self.model_config.image_size

    @property
    def strata(self) -> np.ndarray:
        return self.labels

    def build(self, seed: int) -> Classifier:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.run.init == "random":  # the same network from scratch
                return Classifier(self.model_config, build_encoder(self.model_config))
            pretrained = load_model(self.encoder_dir).train()
            encoder = VDVAEBottomUp(pretrained) if isinstance(pretrained, VDVAE) else pretrained
            return Classifier(self.model_config, encoder)

    def optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        classifier = _classifier(model)
        # group 0 the head (its lr is the one logged), group 1 the encoder
        groups = [{"params": list(classifier.head.parameters())}, {"params": list(classifier.encoder.parameters())}]
        return make_optimizer(self.cfg, groups)

    def inputs(self, x: torch.Tensor, rows: np.ndarray, rng: np.random.Generator) -> Batch:
        y = torch.from_numpy(self.labels[rows]).to(x.device)
        if self.run.augment == "views":
            return random_view(x, rng, self.run.views), y
        return random_flips_and_turns(x, rng), y

    def objective(self, net: torch.nn.Module, batch: Batch, step: int) -> StepOutput:
        x, y = batch
        logits = net(x).float()
        weight = self.class_weight.to(x.device) if self.cfg.class_balanced else None
        loss = nn.functional.cross_entropy(logits, y, weight=weight)
        accuracy = (logits.argmax(1) == y).float().mean()
        return StepOutput(loss, {"loss": loss.detach(), "accuracy": accuracy.detach()})

    def learning_rate(self, step: int, plateau: Plateau, total_steps: int) -> list[float]:
        """[the head's lr, the encoder's]: 0 for the encoder while it is frozen."""
        lr = scheduled_lr(self.cfg, self.cfg.lr_schedule, step, plateau, total_steps)
        frozen = step < total_steps * self.cfg.freeze_epochs // self.cfg.epochs
        return [lr, 0.0 if frozen else lr * self.cfg.encoder_lr_factor]

    def after_update(self, model: torch.nn.Module, step: int, total_steps: int) -> None:
        """Nothing beyond the optimiser step."""

    def schedule_row(self, step: int, total_steps: int) -> dict[str, float]:
        return {}

    def train_row(
        self, epoch: int, means: dict[str, float], grad_norm: float, model: torch.nn.Module
    ) -> dict[str, float]:
        return {"epoch": epoch, "loss": means["loss"], "accuracy": means["accuracy"], "grad_norm": grad_norm}

    def columns(self, model: torch.nn.Module) -> list[str]:
        return [
            "epoch",
            "step",
            "loss",
            "accuracy",
            "grad_norm",
            "skipped",
            "skipped_total",
            "lr",
            "images_per_s",
            *VALID_COLUMNS,
        ]

    @torch.no_grad()
    def evaluate(
        self, model: torch.nn.Module, images: np.ndarray, rows: np.ndarray, seed: int, device: torch.device
    ) -> dict[str, Any]:
        """Cross-entropy (unweighted), accuracy and ROC-AUC (two classes) of the clean
        validation images, one pass each."""
        from sklearn.metrics import roc_auc_score

        model.eval()
        logits = torch.cat(
            [
                model(to_tensor(images[i : i + self.cfg.eval_batch_size], device)).float().cpu()
                for i in range(0, len(images), self.cfg.eval_batch_size)
            ]
        )
        y = torch.from_numpy(self.labels[rows])
        p = torch.softmax(logits, 1).numpy()
        two = len(self.classes) == 2 and len(np.unique(y.numpy())) == 2
        return {
            "loss": float(nn.functional.cross_entropy(logits, y)),
            "accuracy": float((logits.argmax(1) == y).float().mean()),
            "roc_auc": float(roc_auc_score(y.numpy(), p[:, 1])) if two else float("nan"),
        }

    def val_row(self, val: dict[str, Any], model: torch.nn.Module) -> dict[str, float]:
        return {"val_loss": val["loss"], "val_accuracy": val["accuracy"], "val_roc_auc": val["roc_auc"]}

    def export(self, directory: Path, model: torch.nn.Module, ema: EMA | None, extra: dict[str, Any]) -> None:
        classifier = _classifier(ema.model if ema is not None else model)
        meta = {
            **extra,
            "trained_on": self.run.data,
            "labels": len(self.labels),
            "encoder_from": self._encoder_meta,
        }
        save_model(directory, classifier, kind=CLASSIFIER_KIND, extra=meta)


def encoder_kind(path: str | Path) -> EncoderKind:
    """The kind of the encoder saved in `path`; ValueError if it holds something else."""
    kind = model_kind(path)
    if kind not in ENCODER_KINDS:
        raise ValueError(f"{path} holds a {kind}, not an encoder ({', '.join(ENCODER_KINDS)})")
    return kind


def _classifier(model: torch.nn.Module) -> Classifier:
    if not isinstance(model, Classifier):
        raise TypeError(f"the finetune recipe got a {type(model).__name__}")
    return model


def _encoder_config(kind: str, config: dict[str, Any], stem: str) -> dict[str, Any]:
    """The ClassifierConfig field that holds the encoder's architecture, from its saved
    config; with `stem` "torchvision", an SSL ResNet's stem made torchvision's."""
    if kind == "vdvae":
        if stem != "encoder":
            raise SettingError("stem", f"{stem} is for an SSL encoder's ResNet; this encoder is a VDVAE")
        return {"vdvae": dataclass_from_dict(VDVAEConfig, config)}
    ssl = dataclass_from_dict(SSLModelConfig, config)
    if stem == "torchvision":
        ssl = dataclasses.replace(ssl, stem_stride=2, stem_max_pool=True)
    return {"ssl": ssl}
